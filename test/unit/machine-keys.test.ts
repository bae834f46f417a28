import { createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import ssh2 from 'ssh2';
import { issueMachineKey } from '../../shared/machine-keys.js';

describe('issueMachineKey', () => {
  it('makes the encrypted PKCS#1 PEM the Travis worker decrypts, and a matching ssh-keys entry', async () => {
    const key = await issueMachineKey({ user: 'travis', machine: 'ci-abc', passphrase: 'correct horse battery', bits: 1024 });
    expect(key.privateKeyEncrypted).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,[0-9A-F]{32}\n/);
    expect(() => createPrivateKey({ key: key.privateKeyEncrypted, passphrase: 'wrong passphrase' })).toThrow();
    const priv = createPrivateKey({ key: key.privateKeyEncrypted, passphrase: 'correct horse battery' });
    expect(priv.asymmetricKeyType).toBe('rsa');
    expect(key.sshKeysEntry).toMatch(/^travis:ssh-rsa [A-Za-z0-9+/=]+ warmer-ci-abc$/);
    // ssh2 parses both halves and they are one pair: the public blobs agree.
    const parsedPub = ssh2.utils.parseKey(key.sshKeysEntry.slice('travis:'.length));
    const parsedPriv = ssh2.utils.parseKey(key.privateKeyEncrypted, 'correct horse battery');
    if (parsedPub instanceof Error || parsedPriv instanceof Error) throw new Error('unparseable key');
    const pub = Array.isArray(parsedPub) ? parsedPub[0]! : parsedPub;
    const prv = Array.isArray(parsedPriv) ? parsedPriv[0]! : parsedPriv;
    expect(pub.getPublicSSH().equals(prv.getPublicSSH())).toBe(true);
  });
});
