/**
 * The instance record and its state machine. Pure: no I/O, no clock.
 *
 *   creating ─▶ booting ─▶ ready ─▶ claimed ─▶ deleting ─▶ deleted
 *       │          │         │         │
 *       └──▶ failed ◀┘        └▶ unhealthy ─▶ deleting
 *
 * Every transition in the stores is a compare-and-set on the current state, so a
 * duplicate message, an overlapping run or a retry never applies one twice.
 */
import type { AddressVerdicts } from './probe.js';
export const INSTANCE_STATES = [
  'creating', // record written, insert not yet confirmed by Compute Engine
  'booting', // the machine exists; not yet answering its health check
  'ready', // healthy and waiting in the pool
  'claimed', // handed to a claimer
  'unhealthy', // a ready machine that failed N consecutive probes
  'failed', // creation or boot failed (boot timeout, insert error)
  'deleting', // a teardown was requested; the machine may still exist
  'deleted', // gone from Compute Engine; kept for audit until its TTL
] as const;

export type InstanceState = (typeof INSTANCE_STATES)[number];

/** The states in which a machine may exist in Compute Engine (counted against maxSize). */
export const LIVE_STATES: readonly InstanceState[] = ['creating', 'booting', 'ready', 'claimed', 'unhealthy', 'failed', 'deleting'];

const TRANSITIONS: Record<InstanceState, readonly InstanceState[]> = {
  creating: ['booting', 'failed', 'deleting', 'deleted'],
  booting: ['ready', 'failed', 'deleting', 'deleted'],
  ready: ['claimed', 'unhealthy', 'deleting', 'deleted'],
  claimed: ['deleting', 'deleted'],
  unhealthy: ['deleting', 'deleted'],
  failed: ['deleting', 'deleted'],
  deleting: ['deleted'],
  deleted: [],
};

export function canTransition(from: InstanceState, to: InstanceState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isInstanceState(value: unknown): value is InstanceState {
  return typeof value === 'string' && (INSTANCE_STATES as readonly string[]).includes(value);
}

export interface ClaimInfo {
  /**
   * Who claimed it: the principal of the claim token (shared/auth.ts). Only that
   * principal (and admin tokens) may read or release the machine. null: claimed before
   * claims had owners — only admin tokens see those.
   */
  principal: string | null;
  /** The client's idempotency key (or a generated one), scoped by the principal. */
  requestId: string;
  /** Who the machine is assigned to, if the claimer said. */
  assignee: string | null;
  labels: Record<string, string>;
  /** Epoch ms. */
  claimedAt: number;
  /** Epoch ms; null for long-lived assignments. */
  expiresAt: number | null;
  /** Seconds a renewal extends the claim by (absent on older records: expiresAt − claimedAt). */
  lifetimeSeconds?: number | null;
  /** The assignee's public keys, as `ssh-keys` entries (absent: none). */
  sshKeys?: string[];
  /** Whether those keys (and removals of earlier assignees' keys) are on the machine; null: no keys involved. */
  access?: ClaimAccess | null;
}

/**
 * The assignee's SSH access, applied to the machine's `ssh-keys` metadata by reconcile,
 * off the claim path (shared/services/claim-access.ts). `version` moves on every change,
 * so an apply that raced a reassignment never marks the newer keys applied.
 */
export interface ClaimAccess {
  state: 'pending' | 'applied';
  version: number;
  /** Keys of earlier assignees still to be removed from the machine. */
  revoke: string[];
  /** Epoch ms of the last apply; null before the first. */
  appliedAt: number | null;
}

export interface HealthInfo {
  consecutiveFailures: number;
  /** Epoch ms of the last probe. */
  lastProbeAt: number | null;
  lastError: string | null;
  /** The last probe's verdict per address, for health checks that probe the public address (additive). */
  byAddress?: AddressVerdicts;
}

/** All times are epoch milliseconds. */
export interface InstanceRecord {
  name: string;
  pool: string;
  zone: string;
  state: InstanceState;
  /** Compute Engine idempotency key for instances.insert. */
  requestId: string;
  /** Compute Engine idempotency key for instances.delete (set when teardown starts). */
  deleteRequestId: string | null;
  ip: string | null;
  publicIp: string | null;
  createdAt: number;
  /** When the record entered each state it has been in. */
  stateChangedAt: Partial<Record<InstanceState, number>>;
  /** When the record last changed state. */
  updatedAt: number;
  claim: ClaimInfo | null;
  health: HealthInfo;
  /** Why it is being (or was) torn down. */
  reason: string | null;
  /** For pools that issue per-machine keys: the private key, encrypted (PKCS#1 PEM). */
  sshPrivateKeyEncrypted: string | null;
  /** Its public half as an `ssh-keys` entry, so a retried insert installs the same key. */
  sshPublicKeyEntry: string | null;
}

export function newInstanceRecord(input: {
  name: string;
  pool: string;
  zone: string;
  requestId: string;
  now: number;
  sshPrivateKeyEncrypted?: string | null;
  sshPublicKeyEntry?: string | null;
}): InstanceRecord {
  return {
    name: input.name,
    pool: input.pool,
    zone: input.zone,
    state: 'creating',
    requestId: input.requestId,
    deleteRequestId: null,
    ip: null,
    publicIp: null,
    createdAt: input.now,
    stateChangedAt: { creating: input.now },
    updatedAt: input.now,
    claim: null,
    health: { consecutiveFailures: 0, lastProbeAt: null, lastError: null },
    reason: null,
    sshPrivateKeyEncrypted: input.sshPrivateKeyEncrypted ?? null,
    sshPublicKeyEntry: input.sshPublicKeyEntry ?? null,
  };
}

/** A ready record as it becomes when claimed (the stores apply it compare-and-set). */
export function claimedRecord(
  current: InstanceRecord,
  claim: {
    principal: string;
    requestId: string;
    assignee: string | null;
    labels: Record<string, string>;
    sshKeys?: string[];
    lifetimeSeconds: number | null;
    now: number;
  },
): InstanceRecord {
  const sshKeys = [...(claim.sshKeys ?? [])];
  return {
    ...current,
    state: 'claimed',
    updatedAt: claim.now,
    stateChangedAt: { ...current.stateChangedAt, claimed: claim.now },
    claim: {
      principal: claim.principal,
      requestId: claim.requestId,
      assignee: claim.assignee,
      labels: { ...claim.labels },
      claimedAt: claim.now,
      expiresAt: claim.lifetimeSeconds === null ? null : claim.now + claim.lifetimeSeconds * 1000,
      lifetimeSeconds: claim.lifetimeSeconds,
      sshKeys,
      access: sshKeys.length > 0 ? { state: 'pending', version: 1, revoke: [], appliedAt: null } : null,
    },
  };
}

/**
 * A record as it becomes after moving to `to` (the stores apply it compare-and-set).
 * Refuses a move the state machine does not allow: that is a bug, never data.
 */
export function transitionedRecord(
  current: InstanceRecord,
  to: InstanceState,
  now: number,
  patch: Partial<Omit<InstanceRecord, 'name' | 'pool' | 'state'>> = {},
): InstanceRecord {
  if (!canTransition(current.state, to)) {
    throw new Error(`instance ${current.name}: ${current.state} → ${to} is not a transition of the state machine`);
  }
  return {
    ...current,
    ...patch,
    state: to,
    updatedAt: now,
    stateChangedAt: { ...current.stateChangedAt, ...(patch.stateChangedAt ?? {}), [to]: now },
  };
}
