/**
 * Configuration: the only file that reads the environment. Every bad variable is
 * reported at once; booleans accept exactly true/false/1/0 (never coerce "false" to true).
 */
import { z } from 'zod';
import { duplicateProblems, parseTokenEntries } from './auth.js';

const bool = z
  .enum(['true', 'false', '1', '0'], { message: 'must be true, false, 1 or 0' })
  .transform((v) => v === 'true' || v === '1');

const list = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0));

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
  logLevel: 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR';
  dryRun: boolean;
  firestoreEmulatorHost: string | null;
  pubsubEmulatorHost: string | null;
  computeEmulatorHost: string | null;
  probeConcurrency: number;
  createConcurrency: number;
  orphanGraceSeconds: number;
  leaseSeconds: number;
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
  // A principal or a token configured in both lists is refused too (each list's own
  // entries and duplicates are checked by the schema, with the other variables).
  const claimEntries = parseTokenEntries(e.WARMER_CLAIM_TOKENS);
  const adminEntries = parseTokenEntries(e.WARMER_ADMIN_TOKENS);
  if (claimEntries.ok && adminEntries.ok) {
    problems.push(...duplicateProblems(claimEntries.entries, adminEntries.entries).map((p) => `WARMER_CLAIM_TOKENS/WARMER_ADMIN_TOKENS: ${p}`));
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
  };
}
