/** Tokens as principals: parsing the configured entries, identifying a presented token. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildTokenSet, hashToken, identifyToken, parseTokenEntries } from '../../shared/auth.js';
import { ConfigError, loadConfig } from '../../shared/config.js';

const TOKEN_A = 'alpha-token-0123456789';
const TOKEN_B = 'bravo-token-0123456789';
const derived = (token: string) => `token-${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;

describe('parseTokenEntries', () => {
  it.each([
    ['a plain token: principal derived from its hash', TOKEN_A, derived(TOKEN_A)],
    ['a hashed token: the same derived principal', hashToken(TOKEN_A), derived(TOKEN_A)],
    ['NAME=TOKEN', `ci-gitlab=${TOKEN_A}`, 'ci-gitlab'],
    ['NAME=sha256:HEX', `travis.org=${hashToken(TOKEN_A)}`, 'travis.org'],
    ['a base64 token with = padding stays one unnamed token', 'QUJDREVGR0hJSktMTU5PUA==', derived('QUJDREVGR0hJSktMTU5PUA==')],
  ])('%s', (_n, entry, principal) => {
    const r = parseTokenEntries([entry]);
    expect(r).toMatchObject({ ok: true, entries: [{ principal }] });
  });

  it.each([
    ['a short token', 'short', /at least 16 characters/],
    ['a named short token', 'ci=short', /at least 16 characters/],
    ['a bad hash', 'sha256:1234', /sha256:<64/],
    ['a named bad hash', `ci=sha256:${'Z'.repeat(64)}`, /sha256:<64/],
    ['a bad name', `9lives=${TOKEN_A}`, /name before "="/],
    ['a name with a space', `my team=${TOKEN_A}`, /name before "="/],
    ['a reserved derived-looking name', `token-0123456789ab=${TOKEN_A}`, /reserved/],
  ])('refuses %s, naming the entry by position and never echoing it', (_n, entry, message) => {
    const r = parseTokenEntries([TOKEN_B, entry]);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(/^entry 2: /);
    expect(r.problems[0]).toMatch(message);
    expect(r.problems[0]).not.toContain(entry);
  });
});

describe('identifyToken', () => {
  const set = buildTokenSet([`gitlab=${TOKEN_A}`, TOKEN_B], [`ops=${hashToken('ops-admin-token-012345')}`]);

  it.each([
    [TOKEN_A, { role: 'claim', principal: 'gitlab' }],
    [TOKEN_B, { role: 'claim', principal: derived(TOKEN_B) }],
    ['ops-admin-token-012345', { role: 'admin', principal: 'ops' }],
    ['nobody-token-0123456789', null],
  ])('%s → %j', (presented, caller) => {
    expect(identifyToken(set, presented)).toEqual(caller);
  });
});

describe('loadConfig: tokens', () => {
  const base = { WARMER_PROJECT: 'p' };

  it('accepts named and unnamed entries in both lists', () => {
    const c = loadConfig({ ...base, WARMER_CLAIM_TOKENS: `gitlab=${TOKEN_A}, ${TOKEN_B}`, WARMER_ADMIN_TOKENS: `ops=${hashToken('ops-admin-token-012345')}` });
    expect(c.claimTokens).toEqual([`gitlab=${TOKEN_A}`, TOKEN_B]);
    expect(identifyToken(buildTokenSet(c.claimTokens, c.adminTokens), TOKEN_A)).toEqual({ role: 'claim', principal: 'gitlab' });
  });

  it('reports every bad entry together with the other bad variables, never the token text', () => {
    const err = (() => {
      try {
        loadConfig({ ...base, WARMER_CLAIM_TOKENS: `ok=${TOKEN_A},bad name=${TOKEN_B}`, WARMER_ADMIN_TOKENS: 'tiny', WARMER_DRY_RUN: 'maybe' });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(err).toBeInstanceOf(ConfigError);
    const text = err.problems.join('\n');
    expect(text).toMatch(/WARMER_CLAIM_TOKENS: entry 2: the name/);
    expect(text).toMatch(/WARMER_ADMIN_TOKENS: entry 1: each token/);
    expect(text).toMatch(/WARMER_DRY_RUN/);
    expect(text).not.toContain(TOKEN_B);
    expect(text).not.toContain('tiny');
  });

  it.each([
    ['the same name twice in one list', { WARMER_CLAIM_TOKENS: `ci=${TOKEN_A},ci=${TOKEN_B}` }, /principal "ci" is configured twice/],
    ['the same token twice (plain and hashed)', { WARMER_CLAIM_TOKENS: `${TOKEN_A},${hashToken(TOKEN_A)}` }, /same token is configured twice/],
    ['one name as claim and admin', { WARMER_CLAIM_TOKENS: `ci=${TOKEN_A}`, WARMER_ADMIN_TOKENS: `ci=${TOKEN_B}` }, /principal "ci" is configured twice/],
  ])('refuses %s', (_n, env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });
});
