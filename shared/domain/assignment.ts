/**
 * Assignments: a claimed machine handed to a person (or a CI job) with their own SSH
 * keys, for as long as its expiry says. Pure: every change is a function of the record,
 * the request and `now`; the stores apply them compare-and-set.
 */
import type { ClaimAccess, InstanceRecord, InstanceState } from './instance.js';

/** The furthest an expiry may be set ahead: a year. */
export const MAX_EXPIRY_AHEAD_MS = 366 * 24 * 3600 * 1000;

/** What GET /instances asks the store for. `principal`: only that principal's claims. */
export interface InstanceQuery {
  pool?: string;
  states?: readonly InstanceState[];
  assignee?: string;
  principal?: string;
  /** The last name of the previous page (names ascend). */
  after?: string;
  limit: number;
}

export interface InstancePage {
  records: InstanceRecord[];
  /** The name to continue after; null on the last page. */
  next: string | null;
}

export interface AssignmentChange {
  /** A new expiry (epoch ms), or null for none. */
  expiresAt?: number | null;
  /** Moves the current expiry this much later (a claim without one cannot be extended by). */
  extendBySeconds?: number;
  /** A new assignee with their keys; the earlier assignee's keys are removed from the machine. */
  reassign?: { assignee: string; sshKeys: string[] };
}

export type ChangeOutcome = { ok: true; record: InstanceRecord } | { ok: false; code: 'conflict' | 'bad_request'; message: string };

const fail = (code: 'conflict' | 'bad_request', message: string): ChangeOutcome => ({ ok: false, code, message });

/** The lifetime a renewal extends by: the claim's own, else what its first expiry implies. */
export function claimLifetimeSeconds(r: InstanceRecord): number | null {
  const c = r.claim;
  if (!c) return null;
  if (c.lifetimeSeconds !== undefined) return c.lifetimeSeconds;
  return c.expiresAt === null ? null : Math.round((c.expiresAt - c.claimedAt) / 1000);
}

function nextAccess(current: ClaimAccess | null | undefined, revoke: string[]): ClaimAccess {
  return { state: 'pending', version: (current?.version ?? 0) + 1, revoke, appliedAt: current?.appliedAt ?? null };
}

/** A claimed record with its expiry and/or assignee changed. */
export function changedAssignment(r: InstanceRecord, change: AssignmentChange, now: number): ChangeOutcome {
  if (r.state !== 'claimed' || !r.claim) return fail('conflict', `instance "${r.name}" is ${r.state}, not claimed`);
  let claim = { ...r.claim };
  if (change.extendBySeconds !== undefined) {
    if (claim.expiresAt === null) return fail('bad_request', `instance "${r.name}" has no expiry to extend; give expiresAt`);
    change = { ...change, expiresAt: claim.expiresAt + change.extendBySeconds * 1000 };
  }
  if (change.expiresAt !== undefined) {
    if (change.expiresAt !== null && change.expiresAt <= now) return fail('bad_request', 'the new expiry is in the past');
    if (change.expiresAt !== null && change.expiresAt - now > MAX_EXPIRY_AHEAD_MS) return fail('bad_request', 'the new expiry is more than 366 days ahead');
    claim.expiresAt = change.expiresAt;
  }
  if (change.reassign) {
    const keep = new Set(change.reassign.sshKeys);
    const old = [...(claim.sshKeys ?? []), ...(claim.access?.revoke ?? [])].filter((k) => !keep.has(k));
    const revoke = [...new Set(old)];
    claim = {
      ...claim,
      assignee: change.reassign.assignee,
      sshKeys: [...change.reassign.sshKeys],
      access: change.reassign.sshKeys.length === 0 && revoke.length === 0 && !claim.access ? null : nextAccess(claim.access, revoke),
    };
  }
  return { ok: true, record: { ...r, claim } };
}

/** A claimed record renewed: it expires one claim lifetime from now. */
export function renewedAssignment(r: InstanceRecord, now: number): ChangeOutcome {
  if (r.state !== 'claimed' || !r.claim) return fail('conflict', `instance "${r.name}" is ${r.state}, not claimed`);
  const lifetime = claimLifetimeSeconds(r);
  if (lifetime === null) return fail('conflict', `instance "${r.name}" has no claim lifetime: it does not expire, so there is nothing to renew`);
  return { ok: true, record: { ...r, claim: { ...r.claim, expiresAt: now + lifetime * 1000 } } };
}

/** The record once access `version` is on the machine; null when it moved on (or nothing was pending). */
export function accessApplied(r: InstanceRecord, version: number, now: number): InstanceRecord | null {
  const access = r.claim?.access;
  if (r.state !== 'claimed' || !access || access.version !== version || access.state === 'applied') return null;
  return { ...r, claim: { ...r.claim!, access: { state: 'applied', version, revoke: [], appliedAt: now } } };
}

/** What the machine's `ssh-keys` must gain and lose for the record's pending access. */
export function pendingKeyChange(r: InstanceRecord): { add: string[]; remove: string[]; version: number } | null {
  const access = r.claim?.access;
  if (r.state !== 'claimed' || !access || access.state !== 'pending') return null;
  return { add: [...(r.claim!.sshKeys ?? [])], remove: [...access.revoke], version: access.version };
}

/**
 * The `ssh-keys` metadata value with `remove` taken out and `add` put in: one
 * `USERNAME:KEY_VALUE` entry per line
 * (https://cloud.google.com/compute/docs/connect/add-ssh-keys). Every other line
 * (the pool's admin keys, a per-machine key, keys others added) stays as it is; a key is
 * compared by its type and base64 body, so a changed comment is still the same key.
 */
export function editSshKeys(value: string, add: readonly string[], remove: readonly string[]): string {
  const id = (line: string) => {
    const colon = line.indexOf(':');
    const [type, blob] = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    return `${line.slice(0, colon)}:${type ?? ''} ${blob ?? ''}`;
  };
  const adding = new Set(add.map(id));
  const removing = new Set(remove.map(id));
  const kept = value
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((l) => !removing.has(id(l)) && !adding.has(id(l)));
  return [...kept, ...add].join('\n');
}
