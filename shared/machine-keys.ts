/**
 * Per-machine SSH keys (the Travis route): an RSA key pair made for one machine. The
 * public half goes into the machine's `ssh-keys` metadata; the private half is kept only
 * encrypted — the traditional PKCS#1 PEM with `Proc-Type: 4,ENCRYPTED` and
 * `DEK-Info: AES-256-CBC,…` that the Travis worker decrypts with its passphrase.
 */
import { createPublicKey, generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';

const generate = promisify(generateKeyPair);

export interface MachineKey {
  /** `user:ssh-rsa AAAA… comment`, the form GCE's ssh-keys metadata takes. */
  sshKeysEntry: string;
  /** PKCS#1 PEM, AES-256-CBC encrypted under the passphrase. */
  privateKeyEncrypted: string;
}

function sshString(buf: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(buf.length);
  return Buffer.concat([len, buf]);
}

function mpint(b64url: string): Buffer {
  let bytes = Buffer.from(b64url, 'base64url');
  while (bytes.length > 1 && bytes[0] === 0) bytes = bytes.subarray(1);
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return sshString(bytes);
}

/** An RSA public key (PEM) in OpenSSH's one-line form. */
export function toOpenSshRsa(publicPem: string, comment: string): string {
  const jwk = createPublicKey(publicPem).export({ format: 'jwk' });
  if (jwk.kty !== 'RSA' || !jwk.n || !jwk.e) throw new Error('not an RSA public key');
  const blob = Buffer.concat([sshString(Buffer.from('ssh-rsa')), mpint(jwk.e), mpint(jwk.n)]);
  return `ssh-rsa ${blob.toString('base64')} ${comment}`;
}

export async function issueMachineKey(input: { user: string; machine: string; passphrase: string; bits?: number }): Promise<MachineKey> {
  const { publicKey, privateKey } = await generate('rsa', {
    modulusLength: input.bits ?? 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem', cipher: 'aes-256-cbc', passphrase: input.passphrase },
  });
  return {
    sshKeysEntry: `${input.user}:${toOpenSshRsa(publicKey, `warmer-${input.machine}`)}`,
    privateKeyEncrypted: privateKey,
  };
}
