/** How records look on the wire: ISO times, no internal fields, keys only where asked. */
import type { InstanceRecord } from '../../shared/domain/instance.js';
import type { PoolStatus } from '../../shared/services/pools.js';
import type { StoredDecision } from '../../shared/sizing-store.js';

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export function instanceView(r: InstanceRecord, options: { withKey?: boolean } = {}) {
  return {
    name: r.name,
    pool: r.pool,
    zone: r.zone,
    state: r.state,
    ip: r.ip,
    publicIp: r.publicIp,
    createdAt: iso(r.createdAt),
    readyAt: iso(r.stateChangedAt.ready),
    claimedAt: iso(r.claim?.claimedAt),
    expiresAt: iso(r.claim?.expiresAt),
    principal: r.claim?.principal ?? null,
    assignee: r.claim?.assignee ?? null,
    labels: r.claim?.labels ?? {},
    requestId: r.claim?.requestId ?? null,
    sshKeys: r.claim?.sshKeys ?? [],
    access: r.claim?.access ? { state: r.claim.access.state, appliedAt: iso(r.claim.access.appliedAt) } : null,
    reason: r.reason,
    health: { consecutiveFailures: r.health.consecutiveFailures, lastProbeAt: iso(r.health.lastProbeAt), lastError: r.health.lastError },
    ...(options.withKey && r.sshPrivateKeyEncrypted ? { sshPrivateKey: r.sshPrivateKeyEncrypted } : {}),
  };
}

/** A sized pool's computed target and the inputs that drove it. */
export function sizingView(d: StoredDecision) {
  return { target: d.target, mode: d.mode, computedAt: iso(d.computedAt), leadMs: d.leadMs, why: d.why };
}

export function poolView(st: PoolStatus) {
  return {
    name: st.pool.name,
    spec: st.pool.spec,
    createdAt: iso(st.pool.createdAt),
    updatedAt: iso(st.pool.updatedAt),
    counts: st.counts,
    total: st.total,
    sizing: st.sizing ? sizingView(st.sizing) : null,
  };
}
