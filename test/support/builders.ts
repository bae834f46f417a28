import { newInstanceRecord, type InstanceRecord, type InstanceState } from '../../shared/domain/instance.js';
import { parsePoolSpec, type PoolSpec, type PoolSpecInput } from '../../shared/domain/pool-spec.js';

export function spec(overrides: Partial<PoolSpecInput> = {}): PoolSpec {
  const r = parsePoolSpec({
    image: 'projects/debian-cloud/global/images/family/debian-12',
    machineType: 'e2-small',
    zones: ['us-central1-a', 'us-central1-b'],
    targetReady: 3,
    maxSize: 10,
    ...overrides,
  });
  if (!r.ok) throw new Error(`bad test spec: ${JSON.stringify(r.problems)}`);
  return r.spec;
}

let seq = 0;
/** A record in the given state, with the state's timestamps filled in. */
export function record(input: { pool: string; state: InstanceState; at?: number; name?: string; zone?: string }): InstanceRecord {
  const at = input.at ?? 1_700_000_000_000;
  const name = input.name ?? `${input.pool}-${(++seq).toString(36).padStart(6, '0')}`;
  const r = newInstanceRecord({ name, pool: input.pool, zone: input.zone ?? 'us-central1-a', requestId: `req-${name}`, now: at });
  r.state = input.state;
  r.stateChangedAt[input.state] = at;
  r.updatedAt = at;
  if (input.state !== 'creating') r.ip = `127.0.0.${(seq % 250) + 1}`;
  return r;
}
