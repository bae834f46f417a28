/**
 * The pool spec: what a pool of warm machines looks like. Validated with a schema on
 * every read and write; every problem is reported at once.
 */
import { z } from 'zod';
import { cronProblem } from './sizing.js';
import { placementProblems, placementSchema } from './pool-placement.js';

/** Compute Engine resource names: lowercase, start with a letter, at most 63 chars. */
export const RESOURCE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** Pool names become part of instance names, so they are kept shorter. */
export const POOL_NAME = /^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/;
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
const ZONE = /^[a-z]+-[a-z]+[0-9]+-[a-z]$/;
/** A public key in the form GCE's `ssh-keys` metadata takes: `user:type base64 [comment]`. */
const SSH_KEY_ENTRY =
  /^[a-z_][a-z0-9_.-]{0,31}:(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/=]+( [^\n]*)?$/;

/** One `ssh-keys` entry, public half only: the pool's admin keys and an assignee's keys (claims) alike. */
export const sshKeyEntrySchema = z
  .string()
  .max(16_384)
  .refine((k) => !/PRIVATE KEY/.test(k), 'that is a private key: give only public keys')
  .refine((k) => SSH_KEY_ENTRY.test(k), 'SSH keys look like "user:ssh-ed25519 AAAA… comment"');

const labels = z
  .record(
    z.string().regex(LABEL_KEY, 'label keys are lowercase letters, digits, _ and -, starting with a letter, at most 63 characters'),
    z.string().regex(LABEL_VALUE, 'label values are lowercase letters, digits, _ and -, at most 63 characters'),
  )
  .refine((l) => Object.keys(l).length <= 48, 'at most 48 labels')
  .refine((l) => !Object.keys(l).some((k) => k.startsWith('warmer-') || k === 'warmth'), 'labels starting with "warmer-" and the label "warmth" are reserved');

const seconds = (min: number, max: number) => z.number().int().min(min).max(max);

export const healthCheckSchema = z
  .object({
    port: z.number().int().min(1).max(65535).default(22),
    expectSshBanner: z.boolean().default(true),
    intervalSeconds: seconds(1, 3600).default(10),
    timeoutMs: z.number().int().min(50).max(30_000).default(2000),
    failuresBeforeUnhealthy: z.number().int().min(1).max(100).default(3),
    /**
     * Which address the probe dials: `internal` (networkIP), `public` (the external
     * address, where people connect from outside) or `both` (ready only when both answer).
     * public and both need `publicIp`.
     */
    address: z.enum(['internal', 'public', 'both']).default('internal'),
  })
  .strict();

/** A cron floor: while `cron` matches the current minute, keep at least `minReady` ready. */
export const sizingScheduleSchema = z
  .object({
    cron: z.string().min(1).max(256),
    minReady: z.number().int().min(0).max(1000),
    /** IANA time zone the cron is read in. */
    timezone: z.string().min(1).max(64).default('UTC'),
  })
  .strict()
  .superRefine((s, ctx) => {
    const problem = cronProblem(s.cron, s.timezone);
    if (problem !== null) ctx.addIssue({ code: 'custom', path: ['cron'], message: `not a valid cron expression (${problem})` });
  });

/** How the ready target is chosen: fixed (targetReady) or from the pool's own demand. */
export const sizingSchema = z
  .object({
    mode: z.enum(['fixed', 'demand']).default('fixed'),
    /** Share of claims that should find a ready machine (demand mode). */
    warmHitTarget: z.number().gt(0, 'warmHitTarget is above 0').lt(1, 'warmHitTarget is below 1').default(0.95),
    minReady: z.number().int().min(0).max(1000).default(0),
    /** null: up to maxSize. */
    maxReady: z.number().int().min(0).max(5000).nullable().default(null),
    schedules: z.array(sizingScheduleSchema).max(32).default([]),
  })
  .strict()
  .refine((s) => s.maxReady === null || s.minReady <= s.maxReady, { path: ['minReady'], message: 'minReady exceeds maxReady' });
/**
 * The claim-time check (off by default): before answering a claim, each machine it got is
 * probed like the health check (TCP connect to its port + the SSH banner when the health
 * check expects one) within `timeoutMs`; a machine that does not answer is torn down
 * (reason `claim_check_failed`) and replaced by another ready one, all within `budgetMs`
 * of added latency. Needs the claim function to reach the machines (VPC egress).
 */
export const claimCheckSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** One probe's timeout. */
    timeoutMs: z.number().int().min(20).max(5_000).default(300),
    /** The most the check may add to a claim, over every probe and replacement. */
    budgetMs: z.number().int().min(20).max(10_000).default(1_000),
  })
  .strict();

export const poolSpecSchema = z
  .object({
    /** An image or image family, as a URL or a resource path (projects/P/global/images[/family]/X). */
    image: z.string().min(1).max(1024),
    /** A machine type name (e2-standard-2) or URL; only the last path segment is used. */
    machineType: z.string().min(1).max(1024),
    zones: z.array(z.string().regex(ZONE, 'zones look like us-central1-a')).min(1).max(16),
    /** A count, or `fill`: as many as fit on the pool's node group (needs `placement`; maxSize still caps). */
    targetReady: z.union([z.number().int().min(0).max(1000), z.literal('fill')], {
      error: 'targetReady is a whole number from 0 to 1000, or "fill"',
    }),
    /** Cap on ALL machines of the pool: creating + booting + ready + claimed + deleting … */
    maxSize: z.number().int().min(1).max(5000),
    network: z.string().min(1).max(1024).nullable().default(null),
    subnetwork: z.string().min(1).max(1024).nullable().default(null),
    publicIp: z.boolean().default(false),
    labels: labels.default({}),
    networkTags: z.array(z.string().regex(RESOURCE_NAME, 'network tags are lowercase resource names')).max(64).default([]),
    serviceAccount: z
      .object({
        email: z.email(),
        scopes: z.array(z.string().min(1)).default(['https://www.googleapis.com/auth/cloud-platform']),
      })
      .strict()
      .nullable()
      .default(null),
    /** Admin SSH keys, public halves only, as `user:ssh-ed25519 AAAA… comment`. */
    sshAdminKeys: z.array(sshKeyEntrySchema).max(64).default([]),
    startupScript: z
      .string()
      .max(256 * 1024)
      .nullable()
      .default(null),
    /** Issue a key pair per machine (the Travis route returns the private half). */
    perMachineSshKeys: z.boolean().default(false),
    /** The user the per-machine key is installed for. */
    perMachineSshUser: z
      .string()
      .regex(/^[a-z_][a-z0-9_.-]{0,31}$/)
      .default('travis'),
    healthCheck: healthCheckSchema.default(healthCheckSchema.parse({})),
    claimCheck: claimCheckSchema.default(claimCheckSchema.parse({})),
    bootTimeoutSeconds: seconds(10, 24 * 3600).default(600),
    /** Recycle ready machines older than this; null keeps them forever. */
    maxIdleAgeSeconds: seconds(60, 90 * 24 * 3600)
      .nullable()
      .default(null),
    /** Tear down claimed machines older than this; null for long-lived assignments. */
    claimLifetimeSeconds: seconds(60, 365 * 24 * 3600)
      .nullable()
      .default(null),
    /** Compute Engine's own maximum run duration (scheduling.maxRunDuration, DELETE). */
    maxRunDurationSeconds: seconds(60, 120 * 24 * 3600)
      .nullable()
      .default(null),
    /** At most this many creations per reconcile pass. */
    createThrottle: z.number().int().min(1).max(500).default(20),
    /** vCPUs of one machine, for quota headroom; derived from the machine type when null. */
    cpusPerMachine: z.number().int().min(1).max(416).nullable().default(null),
    /** A disabled pool serves no claims and is drained; claimed machines stay until released. */
    enabled: z.boolean().default(true),
    /** A paused pool serves claims but creates nothing new. */
    paused: z.boolean().default(false),
    /** A sole-tenant node group the machines are placed on; null: anywhere in the zones. */
    placement: placementSchema.nullable().default(null),
    /** Demand-aware sizing; absent means a fixed targetReady. */
    sizing: sizingSchema.optional(),
  })
  .strict();

/** What a client sends (defaults not yet applied). */
export type PoolSpecInput = z.input<typeof poolSpecSchema>;
/** A validated spec with every default applied. */
export type PoolSpec = z.output<typeof poolSpecSchema>;
export type PoolSizing = z.output<typeof sizingSchema>;
export type PoolPlacement = z.output<typeof placementSchema>;

export interface Pool {
  name: string;
  spec: PoolSpec;
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
}

export interface SpecProblem {
  path: string;
  message: string;
}

export type SpecResult = { ok: true; spec: PoolSpec } | { ok: false; problems: SpecProblem[] };

/** Validates a spec and returns every problem at once. */
export function parsePoolSpec(input: unknown): SpecResult {
  const result = poolSpecSchema.safeParse(input);
  // Cross-field rules run on the raw input too, so they are reported alongside field errors.
  const problems = crossFieldProblems(input);
  if (result.success && problems.length === 0) return { ok: true, spec: result.data };
  if (!result.success) {
    problems.unshift(
      ...result.error.issues.map((issue) => ({
        path: issue.path.map(String).join('.') || '(spec)',
        message: issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message,
      })),
    );
  }
  return { ok: false, problems };
}

function crossFieldProblems(input: unknown): SpecProblem[] {
  if (typeof input !== 'object' || input === null) return [];
  const s = input as Record<string, unknown>;
  const problems: SpecProblem[] = [];
  if (typeof s.targetReady === 'number' && typeof s.maxSize === 'number' && s.targetReady > s.maxSize) {
    problems.push({ path: 'targetReady', message: `targetReady (${s.targetReady}) exceeds maxSize (${s.maxSize})` });
  }
  const sizing = typeof s.sizing === 'object' && s.sizing !== null ? (s.sizing as Record<string, unknown>) : null;
  if (sizing !== null && typeof s.maxSize === 'number') {
    if (typeof sizing.maxReady === 'number' && sizing.maxReady > s.maxSize) {
      problems.push({ path: 'sizing.maxReady', message: `sizing.maxReady (${sizing.maxReady}) exceeds maxSize (${s.maxSize})` });
    }
    if (typeof sizing.minReady === 'number' && sizing.minReady > s.maxSize) {
      problems.push({ path: 'sizing.minReady', message: `sizing.minReady (${sizing.minReady}) exceeds maxSize (${s.maxSize})` });
    }
    if (Array.isArray(sizing.schedules)) {
      sizing.schedules.forEach((sch: unknown, i: number) => {
        const m = typeof sch === 'object' && sch !== null ? (sch as Record<string, unknown>).minReady : undefined;
        if (typeof m === 'number' && m > (s.maxSize as number))
          problems.push({ path: `sizing.schedules.${i}.minReady`, message: `minReady (${m}) exceeds maxSize (${s.maxSize})` });
      });
    }
  }
  problems.push(...placementProblems(s));
  const hc = typeof s.healthCheck === 'object' && s.healthCheck !== null ? (s.healthCheck as Record<string, unknown>) : null;
  if ((hc?.address === 'public' || hc?.address === 'both') && s.publicIp !== true) {
    problems.push({ path: 'healthCheck.address', message: `healthCheck.address "${String(hc.address)}" needs publicIp: true` });
  }
  if (Array.isArray(s.zones) && new Set(s.zones).size !== s.zones.length) {
    problems.push({ path: 'zones', message: 'zones must not repeat' });
  }
  return problems;
}

/** The fixed ready target, or null for `fill` (resolved per pass from placement). */
export function fixedTargetReady(spec: Pick<PoolSpec, 'targetReady'>): number | null {
  return spec.targetReady === 'fill' ? null : spec.targetReady;
}

export function isValidPoolName(name: string): boolean {
  return POOL_NAME.test(name);
}
