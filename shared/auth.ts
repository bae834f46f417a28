/**
 * Bearer-token authentication. Tokens are principals: each configured entry is
 * `TOKEN`, `sha256:<hex>` (the token's hash), or either of those prefixed with a name
 * (`NAME=TOKEN`, `NAME=sha256:<hex>`). A named token's principal is its name; an unnamed
 * one's is derived from its hash (`token-<first 12 hex of sha256>`), so it is stable
 * across restarts and never reveals the token. Every presented token is hashed and
 * compared in constant time against every configured hash, so neither the match nor its
 * position leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export type TokenKind = 'claim' | 'admin';

/** Who is calling: the role of the token and the principal it stands for. */
export interface Caller {
  role: TokenKind;
  principal: string;
}

/** One configured token: its SHA-256 and the principal it stands for. */
export interface TokenEntry {
  principal: string;
  hash: Buffer;
}

export interface TokenSet {
  claim: TokenEntry[];
  admin: TokenEntry[];
}

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Principal names: a letter, then letters, digits, `.`, `_`, `-`; at most 64 characters. */
export const PRINCIPAL_NAME = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;
/** The form of derived principals; refused as a configured name so the two never collide. */
const DERIVED_PRINCIPAL = /^token-[0-9a-f]{12}$/;
const HASHED = /^sha256:[0-9a-f]{64}$/;
/**
 * `NAME=` followed by something that does not start with `=`: a base64 token that ends
 * in `=` padding (`abc…xyz==`) is then still read as one unnamed token.
 */
const NAMED = /^([^=]+)=([^=].*)$/s;
const MIN_TOKEN_LENGTH = 16;

/** The principal of an unnamed token, from its hash. */
export const derivedPrincipal = (hash: Buffer): string => `token-${hash.toString('hex').slice(0, 12)}`;

export type ParsedTokens = { ok: true; entries: TokenEntry[] } | { ok: false; problems: string[] };

/**
 * Parses configured token entries (one variable's list). Problems name the entry by its
 * position only, never by its text: it may be a secret.
 */
/**
 * One configured entry split into its name (null: unnamed, or not a valid name) and its
 * secret (the token, or `sha256:<hex>`); `badName` when it reads as `NAME=…` with a name
 * that is not one (and is not a hash).
 */
export function splitTokenEntry(raw: string): { name: string | null; secret: string; badName: boolean } {
  const named = NAMED.exec(raw);
  const name = named && PRINCIPAL_NAME.test(named[1]!) ? named[1]! : null;
  return { name, secret: name === null ? raw : named![2]!, badName: named !== null && name === null && !raw.startsWith('sha256:') };
}

export function parseTokenEntries(entries: readonly string[]): ParsedTokens {
  const problems: string[] = [];
  const parsed: TokenEntry[] = [];
  entries.forEach((raw, i) => {
    const at = `entry ${i + 1}`;
    const { name, secret, badName } = splitTokenEntry(raw);
    if (badName) {
      problems.push(`${at}: the name before "=" must be a letter then letters, digits, . _ - (at most 64 characters)`);
      return;
    }
    if (name !== null && DERIVED_PRINCIPAL.test(name)) {
      problems.push(`${at}: names of the form token-<12 hex> are reserved for unnamed tokens`);
      return;
    }
    if (secret.startsWith('sha256:') ? !HASHED.test(secret) : secret.length < MIN_TOKEN_LENGTH) {
      problems.push(`${at}: each token must be at least ${MIN_TOKEN_LENGTH} characters, or sha256:<64 lowercase hex digits>`);
      return;
    }
    const hash = secret.startsWith('sha256:') ? Buffer.from(secret.slice('sha256:'.length), 'hex') : sha256(secret);
    parsed.push({ principal: name ?? derivedPrincipal(hash), hash });
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, entries: parsed };
}

/** Duplicates across both lists: the same principal twice, or the same token twice. */
export function duplicateProblems(claim: readonly TokenEntry[], admin: readonly TokenEntry[]): string[] {
  const problems: string[] = [];
  const principals = new Set<string>();
  const hashes = new Set<string>();
  for (const e of [...claim, ...admin]) {
    const hex = e.hash.toString('hex');
    if (hashes.has(hex)) problems.push(`principal "${e.principal}": the same token is configured twice`);
    else if (principals.has(e.principal)) problems.push(`principal "${e.principal}" is configured twice`);
    principals.add(e.principal);
    hashes.add(hex);
  }
  return problems;
}

/**
 * Builds the token set from configured entries (validated by the configuration already;
 * a bad entry here is a programming error and throws).
 */
export function buildTokenSet(claimTokens: readonly string[], adminTokens: readonly string[]): TokenSet {
  const claim = parseTokenEntries(claimTokens);
  const admin = parseTokenEntries(adminTokens);
  const problems = [...(claim.ok ? [] : claim.problems.map((p) => `claim tokens: ${p}`)), ...(admin.ok ? [] : admin.problems.map((p) => `admin tokens: ${p}`))];
  if (claim.ok && admin.ok) problems.push(...duplicateProblems(claim.entries, admin.entries));
  if (problems.length > 0 || !claim.ok || !admin.ok) throw new Error(`invalid tokens: ${problems.join('; ')}`);
  return { claim: claim.entries, admin: admin.entries };
}

/** The principal of the entry matching `hash`; every comparison runs (no short circuit). */
function matchAny(hash: Buffer, candidates: readonly TokenEntry[]): string | null {
  let found: string | null = null;
  for (const c of candidates) {
    if (c.hash.length === hash.length && timingSafeEqual(c.hash, hash)) found = c.principal;
  }
  return found;
}

/** Who a presented token is, or null when it matches none. Admin wins if both. */
export function identifyToken(tokens: TokenSet, presented: string): Caller | null {
  const hash = sha256(presented);
  const admin = matchAny(hash, tokens.admin);
  const claim = matchAny(hash, tokens.claim);
  if (admin !== null) return { role: 'admin', principal: admin };
  if (claim !== null) return { role: 'claim', principal: claim };
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
