/**
 * Bearer-token authentication. Tokens come from configuration, either in plain text or
 * as `sha256:<hex>` of the token; every presented token is hashed and compared in
 * constant time against every configured hash, so neither the match nor its position
 * leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export type TokenKind = 'claim' | 'admin';

export interface TokenSet {
  claim: Buffer[];
  admin: Buffer[];
}

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

function toHash(configured: string): Buffer {
  return configured.startsWith('sha256:') ? Buffer.from(configured.slice('sha256:'.length), 'hex') : sha256(configured);
}

export function buildTokenSet(claimTokens: string[], adminTokens: string[]): TokenSet {
  return { claim: claimTokens.map(toHash), admin: adminTokens.map(toHash) };
}

function matchesAny(hash: Buffer, candidates: Buffer[]): boolean {
  let found = false;
  for (const c of candidates) {
    // Every comparison runs; `found` is only OR-ed, never short-circuits the loop.
    if (c.length === hash.length && timingSafeEqual(c, hash)) found = true;
  }
  return found;
}

/** The kind of a presented token, or null when it matches none. Admin wins if both. */
export function identifyToken(tokens: TokenSet, presented: string): TokenKind | null {
  const hash = sha256(presented);
  const admin = matchesAny(hash, tokens.admin);
  const claim = matchesAny(hash, tokens.claim);
  if (admin) return 'admin';
  if (claim) return 'claim';
  return null;
}

/** Extracts the credential: `Bearer <token>`, or the password of HTTP Basic (the Travis worker). */
export function credentialFrom(authorization: string | undefined, allowBasic: boolean): string | null {
  if (!authorization) return null;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (bearer) return bearer[1]!;
  if (allowBasic) {
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const password = colon === -1 ? decoded : decoded.slice(colon + 1);
      return password.length > 0 ? password : null;
    }
  }
  return null;
}

export const hashToken = (token: string): string => `sha256:${sha256(token).toString('hex')}`;
