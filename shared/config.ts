/**
 * Configuration: the only file that reads the environment. Every bad variable is
 * reported at once; booleans accept exactly true/false/1/0 (never coerce "false" to true).
 */
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0'], { message: 'must be true, false, 1 or 0' })
  .transform((v) => v === 'true' || v === '1');

const list = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0));

const hostPort = z.string().regex(/^[^:/\s]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:8081');

const envSchema = z.object({
  WARMER_PROJECT: z.string().min(1).optional(),
  GOOGLE_CLOUD_PROJECT: z.string().min(1).optional(),
  WARMER_CLAIM_TOKENS: list.default([]),
  WARMER_ADMIN_TOKENS: list.default([]),
  WARMER_SSH_KEY_PASSPHRASE: z.string().min(8, 'must be at least 8 characters').optional(),
  WARMER_TEARDOWN_TOPIC: z.string().min(1).default('warmer-teardown'),
  WARMER_REFILL_TOPIC: z.string().min(1).default('warmer-refill'),
  WARMER_DEAD_LETTER_TOPIC: z.string().min(1).default('warmer-dead-letter'),
  WARMER_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(10 * 1024 * 1024).default(64 * 1024),
  WARMER_EMPTY_RETRY_AFTER_SECONDS: z.coerce.number().int().min(1).max(3600).default(5),
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
  claimTokens: string[];
  adminTokens: string[];
  sshKeyPassphrase: string | null;
  topics: { teardown: string; refill: string; deadLetter: string };
  maxBodyBytes: number;
  emptyRetryAfterSeconds: number;
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

/** Reads the configuration from `env` (a parameter, so tests pass their own). */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings count as unset, as shells tend to export them.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const project = e.WARMER_PROJECT ?? e.GOOGLE_CLOUD_PROJECT;
  const problems: string[] = [];
  if (!project) problems.push('WARMER_PROJECT: required (or GOOGLE_CLOUD_PROJECT)');
  for (const [name, tokens] of [['WARMER_CLAIM_TOKENS', e.WARMER_CLAIM_TOKENS], ['WARMER_ADMIN_TOKENS', e.WARMER_ADMIN_TOKENS]] as const) {
    for (const t of tokens) {
      if (t.startsWith('sha256:') ? !/^sha256:[0-9a-f]{64}$/.test(t) : t.length < 16) {
        problems.push(`${name}: each token must be at least 16 characters, or sha256:<64 hex digits>`);
        break;
      }
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    project: project!,
    claimTokens: e.WARMER_CLAIM_TOKENS,
    adminTokens: e.WARMER_ADMIN_TOKENS,
    sshKeyPassphrase: e.WARMER_SSH_KEY_PASSPHRASE ?? null,
    topics: { teardown: e.WARMER_TEARDOWN_TOPIC, refill: e.WARMER_REFILL_TOPIC, deadLetter: e.WARMER_DEAD_LETTER_TOPIC },
    maxBodyBytes: e.WARMER_MAX_BODY_BYTES,
    emptyRetryAfterSeconds: e.WARMER_EMPTY_RETRY_AFTER_SECONDS,
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
