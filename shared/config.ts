/**
 * Configuration: the only file that reads the environment. Every bad variable is
 * reported at once; booleans accept exactly true/false/1/0 (never coerce "false" to true).
 */
import { z } from 'zod';
import { duplicateProblems, parseTokenEntries } from './auth.js';

const bool = z.enum(['true', 'false', '1', '0'], { message: 'must be true, false, 1 or 0' }).transform((v) => v === 'true' || v === '1');

const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

/**
 * Tokens are principals (shared/auth.ts): `TOKEN`, `sha256:HEX`, `NAME=TOKEN` or
 * `NAME=sha256:HEX`, comma-separated. Every bad entry is reported (by position, never by
 * its text: it may be a secret), and a principal or a token listed twice is refused.
 */
const tokenList = list.superRefine((entries, ctx) => {
  const r = parseTokenEntries(entries);
  if (!r.ok) for (const message of r.problems) ctx.addIssue({ code: 'custom', message });
  else for (const message of duplicateProblems(r.entries, [])) ctx.addIssue({ code: 'custom', message });
});

const hostPort = z.string().regex(/^[^:/\s]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:8081');

const envSchema = z.object({
  WARMER_PROJECT: z.string().min(1).optional(),
  GOOGLE_CLOUD_PROJECT: z.string().min(1).optional(),
  WARMER_CLAIM_TOKENS: tokenList.default([]),
  WARMER_ADMIN_TOKENS: tokenList.default([]),
  WARMER_SSH_KEY_PASSPHRASE: z.string().min(8, 'must be at least 8 characters').optional(),
  WARMER_TEARDOWN_TOPIC: z.string().min(1).default('warmer-teardown'),
  WARMER_REFILL_TOPIC: z.string().min(1).default('warmer-refill'),
  WARMER_DEAD_LETTER_TOPIC: z.string().min(1).default('warmer-dead-letter'),
  WARMER_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(10 * 1024 * 1024)
    .default(64 * 1024),
  WARMER_EMPTY_RETRY_AFTER_SECONDS: z.coerce.number().int().min(1).max(3600).default(5),
  /**
   * How long POST /request-instance may take to answer; keep it below the Travis worker's
   * WARMER_TIMEOUT (default 5 s). A machine claimed later is released (`answer_late`).
   */
  WARMER_TRAVIS_ANSWER_BUDGET_MS: z.coerce.number().int().min(100).max(120_000).default(4000),
  WARMER_LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR']).default('INFO'),
  WARMER_DRY_RUN: bool.default(false),
  FIRESTORE_EMULATOR_HOST: hostPort.optional(),
  PUBSUB_EMULATOR_HOST: hostPort.optional(),
  /** The local Compute Engine, e.g. 127.0.0.1:8082 (the REST API is plain HTTP there). */
  WARMER_COMPUTE_EMULATOR_HOST: hostPort.optional(),
  /** Health probes: concurrency and the reconcile pass's per-pool settings. */
  WARMER_PROBE_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(64),
  WARMER_CREATE_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(10),
  WARMER_ORPHAN_GRACE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(600),
  WARMER_LEASE_SECONDS: z.coerce.number().int().min(5).max(3600).default(120),
  /** Pools the scheduled pass reconciles at once. */
  WARMER_POOL_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  /**
   * After the scheduled pass, probe rounds run until this long after the tick was
   * published (pools probed at their own healthCheck.intervalSeconds); keep it below the
   * schedule's period (50 s for the 60 s tick) and the function's timeout. 0: no rounds.
   */
  WARMER_PROBE_ROUND_BUDGET_SECONDS: z.coerce.number().int().min(0).max(3600).default(50),
});

export interface Config {
  project: string;
  /** The configured entries, validated (shared/auth.ts parses them into principals). */
  claimTokens: string[];
  adminTokens: string[];
  sshKeyPassphrase: string | null;
  topics: { teardown: string; refill: string; deadLetter: string };
  maxBodyBytes: number;
  emptyRetryAfterSeconds: number;
  travisAnswerBudgetMs: number;
  logLevel: 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR';
  dryRun: boolean;
  firestoreEmulatorHost: string | null;
  pubsubEmulatorHost: string | null;
  computeEmulatorHost: string | null;
  probeConcurrency: number;
  createConcurrency: number;
  orphanGraceSeconds: number;
  leaseSeconds: number;
  poolConcurrency: number;
  probeRoundBudgetSeconds: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Empty strings count as unset, as shells tend to export them. */
const present = (env: Env): Record<string, string> =>
  Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));

const describe = (issues: readonly z.core.$ZodIssue[]): string[] => issues.map((i) => `${i.path.join('.')}: ${i.message}`);

/**
 * Reads the configuration from `env` (a parameter, so tests pass their own). Every
 * problem is collected before anything is thrown: a bad log level does not hide a
 * missing project or a short token.
 */
export function loadConfig(env: Env = process.env): Config {
  const cleaned = present(env);
  const parsed = envSchema.safeParse(cleaned);
  const problems = parsed.success ? [] : describe(parsed.error.issues);
  if (!cleaned.WARMER_PROJECT && !cleaned.GOOGLE_CLOUD_PROJECT) problems.unshift('WARMER_PROJECT: required (or GOOGLE_CLOUD_PROJECT)');
  if (parsed.success) {
    // A principal or a token configured in both lists is refused too (each list's own
    // entries and duplicates are checked by the schema, with the other variables).
    const claimEntries = parseTokenEntries(parsed.data.WARMER_CLAIM_TOKENS);
    const adminEntries = parseTokenEntries(parsed.data.WARMER_ADMIN_TOKENS);
    if (claimEntries.ok && adminEntries.ok) {
      problems.push(...duplicateProblems(claimEntries.entries, adminEntries.entries).map((p) => `WARMER_CLAIM_TOKENS/WARMER_ADMIN_TOKENS: ${p}`));
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  const e = parsed.data;
  const project = e.WARMER_PROJECT ?? e.GOOGLE_CLOUD_PROJECT;
  return {
    project: project!,
    claimTokens: e.WARMER_CLAIM_TOKENS,
    adminTokens: e.WARMER_ADMIN_TOKENS,
    sshKeyPassphrase: e.WARMER_SSH_KEY_PASSPHRASE ?? null,
    topics: { teardown: e.WARMER_TEARDOWN_TOPIC, refill: e.WARMER_REFILL_TOPIC, deadLetter: e.WARMER_DEAD_LETTER_TOPIC },
    maxBodyBytes: e.WARMER_MAX_BODY_BYTES,
    emptyRetryAfterSeconds: e.WARMER_EMPTY_RETRY_AFTER_SECONDS,
    travisAnswerBudgetMs: e.WARMER_TRAVIS_ANSWER_BUDGET_MS,
    logLevel: e.WARMER_LOG_LEVEL,
    dryRun: e.WARMER_DRY_RUN,
    firestoreEmulatorHost: e.FIRESTORE_EMULATOR_HOST ?? null,
    pubsubEmulatorHost: e.PUBSUB_EMULATOR_HOST ?? null,
    computeEmulatorHost: e.WARMER_COMPUTE_EMULATOR_HOST ?? null,
    probeConcurrency: e.WARMER_PROBE_CONCURRENCY,
    createConcurrency: e.WARMER_CREATE_CONCURRENCY,
    orphanGraceSeconds: e.WARMER_ORPHAN_GRACE_SECONDS,
    leaseSeconds: e.WARMER_LEASE_SECONDS,
    poolConcurrency: e.WARMER_POOL_CONCURRENCY,
    probeRoundBudgetSeconds: e.WARMER_PROBE_ROUND_BUDGET_SECONDS,
  };
}

const localEnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  WARMER_CLAIM_TOKENS: tokenList.default([]),
  WARMER_ADMIN_TOKENS: tokenList.default([]),
  WARMER_SSH_KEY_PASSPHRASE: z.string().min(8, 'must be at least 8 characters').optional(),
  WARMER_LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR']).optional(),
});

/** What `npm start` takes from the environment; null/empty where it makes its own. */
export interface LocalConfig {
  /** The API port (PORT), when set. */
  port: number | null;
  claimTokens: string[];
  adminTokens: string[];
  /** WARMER_SSH_KEY_PASSPHRASE, when set (the local stack makes one otherwise). */
  sshKeyPassphrase: string | null;
  logLevel: Config['logLevel'] | null;
}

/** The local stack's settings from `env`; every bad variable is reported at once. */
export function loadLocalConfig(env: Env = process.env): LocalConfig {
  const parsed = localEnvSchema.safeParse(present(env));
  if (!parsed.success) throw new ConfigError(describe(parsed.error.issues));
  const e = parsed.data;
  return {
    port: e.PORT ?? null,
    claimTokens: e.WARMER_CLAIM_TOKENS,
    adminTokens: e.WARMER_ADMIN_TOKENS,
    sshKeyPassphrase: e.WARMER_SSH_KEY_PASSPHRASE ?? null,
    logLevel: e.WARMER_LOG_LEVEL ?? null,
  };
}
