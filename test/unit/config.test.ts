import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadLocalConfig } from '../../shared/config.js';

const TOKEN = 'a-claim-token-of-24-chars';
const HASH = `sha256:${'ab'.repeat(32)}`;
const good = { WARMER_PROJECT: 'warmer-prod-1', WARMER_CLAIM_TOKENS: TOKEN, WARMER_ADMIN_TOKENS: HASH };

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig: each bad variable alone is reported, naming the variable', () => {
  const cases: Array<[string, Record<string, string | undefined>, string]> = [
    ['no project', { WARMER_PROJECT: undefined }, 'WARMER_PROJECT'],
    ['empty project counts as unset', { WARMER_PROJECT: '' }, 'WARMER_PROJECT'],
    ['short claim token', { WARMER_CLAIM_TOKENS: 'short' }, 'WARMER_CLAIM_TOKENS'],
    ['one short admin token among good ones', { WARMER_ADMIN_TOKENS: `${TOKEN},short` }, 'WARMER_ADMIN_TOKENS'],
    ['malformed sha256 token', { WARMER_CLAIM_TOKENS: 'sha256:xyz' }, 'WARMER_CLAIM_TOKENS'],
    ['short passphrase', { WARMER_SSH_KEY_PASSPHRASE: 'short' }, 'WARMER_SSH_KEY_PASSPHRASE'],
    ['bad log level', { WARMER_LOG_LEVEL: 'VERBOSE' }, 'WARMER_LOG_LEVEL'],
    ['lower-case log level', { WARMER_LOG_LEVEL: 'info' }, 'WARMER_LOG_LEVEL'],
    ['boolean "yes"', { WARMER_DRY_RUN: 'yes' }, 'WARMER_DRY_RUN'],
    ['boolean "False"', { WARMER_DRY_RUN: 'False' }, 'WARMER_DRY_RUN'],
    ['body limit not a number', { WARMER_MAX_BODY_BYTES: 'lots' }, 'WARMER_MAX_BODY_BYTES'],
    ['body limit too small', { WARMER_MAX_BODY_BYTES: '10' }, 'WARMER_MAX_BODY_BYTES'],
    ['retry-after zero', { WARMER_EMPTY_RETRY_AFTER_SECONDS: '0' }, 'WARMER_EMPTY_RETRY_AFTER_SECONDS'],
    ['fractional concurrency', { WARMER_PROBE_CONCURRENCY: '1.5' }, 'WARMER_PROBE_CONCURRENCY'],
    ['create concurrency too high', { WARMER_CREATE_CONCURRENCY: '1000' }, 'WARMER_CREATE_CONCURRENCY'],
    ['negative orphan grace', { WARMER_ORPHAN_GRACE_SECONDS: '-1' }, 'WARMER_ORPHAN_GRACE_SECONDS'],
    ['lease too short', { WARMER_LEASE_SECONDS: '1' }, 'WARMER_LEASE_SECONDS'],
    ['emulator host without port', { FIRESTORE_EMULATOR_HOST: 'localhost' }, 'FIRESTORE_EMULATOR_HOST'],
    ['emulator host as URL', { PUBSUB_EMULATOR_HOST: 'http://127.0.0.1:8085' }, 'PUBSUB_EMULATOR_HOST'],
    ['compute emulator host', { WARMER_COMPUTE_EMULATOR_HOST: '127.0.0.1' }, 'WARMER_COMPUTE_EMULATOR_HOST'],
  ];
  it.each(cases)('%s', (_name, change, variable) => {
    const problems = problemsOf(() => loadConfig({ ...good, ...change }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${variable}: `));
  });
});

describe('loadConfig: several bad variables are all reported at once', () => {
  it('a bad log level does not hide a missing project and a too-short token', () => {
    const problems = problemsOf(() => loadConfig({ WARMER_LOG_LEVEL: 'LOUD', WARMER_CLAIM_TOKENS: 'short' }));
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['WARMER_CLAIM_TOKENS', 'WARMER_LOG_LEVEL', 'WARMER_PROJECT']);
  });

  it('every kind of problem together', () => {
    const problems = problemsOf(() =>
      loadConfig({
        WARMER_ADMIN_TOKENS: 'tiny',
        WARMER_CLAIM_TOKENS: 'sha256:00',
        WARMER_SSH_KEY_PASSPHRASE: 'abc',
        WARMER_DRY_RUN: 'no',
        WARMER_MAX_BODY_BYTES: 'x',
        WARMER_LEASE_SECONDS: '0',
        FIRESTORE_EMULATOR_HOST: 'nohost',
      }),
    );
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(
      [
        'FIRESTORE_EMULATOR_HOST',
        'WARMER_ADMIN_TOKENS',
        'WARMER_CLAIM_TOKENS',
        'WARMER_DRY_RUN',
        'WARMER_LEASE_SECONDS',
        'WARMER_MAX_BODY_BYTES',
        'WARMER_PROJECT',
        'WARMER_SSH_KEY_PASSPHRASE',
      ].sort(),
    );
    const error = (() => {
      try {
        loadConfig({ WARMER_LOG_LEVEL: 'LOUD' });
      } catch (err) {
        return err as Error;
      }
      return null;
    })();
    expect(error?.message).toContain('WARMER_PROJECT');
    expect(error?.message).toContain('WARMER_LOG_LEVEL');
  });

  it('never echoes a secret back in a problem', () => {
    const problems = problemsOf(() => loadConfig({ ...good, WARMER_CLAIM_TOKENS: 'secret-xy', WARMER_SSH_KEY_PASSPHRASE: 'pass' }));
    expect(problems.join('\n')).not.toContain('secret-xy');
    expect(problems.join('\n')).not.toMatch(/\bpass\b/);
  });
});

describe('loadConfig: good configurations', () => {
  const cases: Array<[string, Record<string, string>, (c: ReturnType<typeof loadConfig>) => void]> = [
    [
      'defaults',
      { WARMER_PROJECT: 'p' },
      (c) => {
        expect(c).toMatchObject({
          project: 'p',
          claimTokens: [],
          adminTokens: [],
          sshKeyPassphrase: null,
          logLevel: 'INFO',
          dryRun: false,
          maxBodyBytes: 65_536,
          emptyRetryAfterSeconds: 5,
        });
        expect(c.topics).toEqual({ teardown: 'warmer-teardown', refill: 'warmer-refill', deadLetter: 'warmer-dead-letter' });
        expect(c).toMatchObject({
          firestoreEmulatorHost: null,
          pubsubEmulatorHost: null,
          computeEmulatorHost: null,
          probeConcurrency: 64,
          createConcurrency: 10,
          orphanGraceSeconds: 600,
          leaseSeconds: 120,
        });
      },
    ],
    ['GOOGLE_CLOUD_PROJECT stands in', { GOOGLE_CLOUD_PROJECT: 'gcp' }, (c) => expect(c.project).toBe('gcp')],
    ['WARMER_PROJECT wins', { GOOGLE_CLOUD_PROJECT: 'gcp', WARMER_PROJECT: 'w' }, (c) => expect(c.project).toBe('w')],
    [
      'tokens are split and trimmed',
      { ...good, WARMER_CLAIM_TOKENS: ` ${TOKEN} , sha256:${'cd'.repeat(32)},` },
      (c) => expect(c.claimTokens).toEqual([TOKEN, `sha256:${'cd'.repeat(32)}`]),
    ],
    ['dry run "false" is false', { ...good, WARMER_DRY_RUN: 'false' }, (c) => expect(c.dryRun).toBe(false)],
    ['dry run "0" is false', { ...good, WARMER_DRY_RUN: '0' }, (c) => expect(c.dryRun).toBe(false)],
    ['dry run "true" is true', { ...good, WARMER_DRY_RUN: 'true' }, (c) => expect(c.dryRun).toBe(true)],
    ['dry run "1" is true', { ...good, WARMER_DRY_RUN: '1' }, (c) => expect(c.dryRun).toBe(true)],
    [
      'empty values count as unset',
      { ...good, WARMER_DRY_RUN: '', WARMER_LOG_LEVEL: '', WARMER_MAX_BODY_BYTES: '' },
      (c) => {
        expect(c).toMatchObject({ dryRun: false, logLevel: 'INFO', maxBodyBytes: 65_536 });
      },
    ],
    [
      'numbers and hosts',
      {
        ...good,
        WARMER_MAX_BODY_BYTES: '2048',
        WARMER_LEASE_SECONDS: '30',
        FIRESTORE_EMULATOR_HOST: '127.0.0.1:8081',
        PUBSUB_EMULATOR_HOST: 'localhost:8085',
        WARMER_COMPUTE_EMULATOR_HOST: '127.0.0.1:8082',
        WARMER_SSH_KEY_PASSPHRASE: 'a long passphrase',
        WARMER_LOG_LEVEL: 'DEBUG',
      },
      (c) => {
        expect(c).toMatchObject({ maxBodyBytes: 2048, leaseSeconds: 30, firestoreEmulatorHost: '127.0.0.1:8081', pubsubEmulatorHost: 'localhost:8085' });
        expect(c).toMatchObject({ computeEmulatorHost: '127.0.0.1:8082', sshKeyPassphrase: 'a long passphrase', logLevel: 'DEBUG' });
      },
    ],
  ];
  it.each(cases)('%s', (_name, env, check) => check(loadConfig(env)));
});

describe('loadLocalConfig (npm start)', () => {
  it('nothing set: the local stack makes its own', () => {
    expect(loadLocalConfig({})).toEqual({ port: null, claimTokens: [], adminTokens: [], sshKeyPassphrase: null, logLevel: null });
  });

  it('takes PORT, tokens, the passphrase and the log level', () => {
    expect(
      loadLocalConfig({
        PORT: '9090',
        WARMER_CLAIM_TOKENS: TOKEN,
        WARMER_ADMIN_TOKENS: HASH,
        WARMER_SSH_KEY_PASSPHRASE: 'long enough',
        WARMER_LOG_LEVEL: 'ERROR',
      }),
    ).toEqual({
      port: 9090,
      claimTokens: [TOKEN],
      adminTokens: [HASH],
      sshKeyPassphrase: 'long enough',
      logLevel: 'ERROR',
    });
  });

  it('reports every bad variable at once', () => {
    const problems = problemsOf(() =>
      loadLocalConfig({ PORT: 'http', WARMER_CLAIM_TOKENS: 'short', WARMER_SSH_KEY_PASSPHRASE: 'x', WARMER_LOG_LEVEL: 'LOUD' }),
    );
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['PORT', 'WARMER_CLAIM_TOKENS', 'WARMER_LOG_LEVEL', 'WARMER_SSH_KEY_PASSPHRASE']);
  });
});
