/** The SSH host key every machine of one emulator presents. */
import ssh2 from 'ssh2';

const { utils } = ssh2;

/** One host key per emulator: ed25519 generates in microseconds. */
export function makeHostKey(privateKey?: string): string {
  const pem = privateKey ?? generateEd25519().private;
  const parsed = utils.parseKey(pem);
  if (parsed instanceof Error) throw parsed;
  return pem;
}

/**
 * ssh2's ed25519 key generation strips leading zero bytes of the public key, so about 1
 * key in 256 cannot be parsed back (mscdex/ssh2#1513, #1390): make another until both
 * halves parse.
 */
export function generateEd25519(comment?: string): { private: string; public: string } {
  for (;;) {
    const pair = utils.generateKeyPairSync('ed25519', comment ? { comment } : undefined);
    if (!(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error)) return pair;
  }
}
