import { describe, expect, it } from 'vitest';
import { instanceName } from '../../shared/domain/naming.js';
import { newRequestId } from '../../shared/services/request-id.js';
import { RESOURCE_NAME } from '../../shared/domain/pool-spec.js';

describe('instanceName', () => {
  it.each([
    ['ci', '3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f', 'ci-3f2a9c1e7b'],
    ['onboarding-testers', 'ABCDEF01-2345-4678-9abc-def012345678', 'onboarding-testers-abcdef0123'],
    ['p', '0000000000', 'p-0000000000'],
  ])('%s + %s → %s', (pool, requestId, expected) => {
    expect(instanceName(pool, requestId)).toBe(expected);
  });

  it('is deterministic: the same pool and request id always give the same name', () => {
    const id = newRequestId();
    expect(instanceName('ci', id)).toBe(instanceName('ci', id));
  });

  it('hashes request ids that are not UUIDs into a valid name, still deterministically', () => {
    const a = instanceName('ci', 'client-key: Build #42');
    expect(a).toMatch(/^ci-[0-9a-f]{10}$/);
    expect(instanceName('ci', 'client-key: Build #42')).toBe(a);
    expect(instanceName('ci', 'client-key: Build #43')).not.toBe(a);
  });

  it('gives a valid Compute Engine name for the longest pool name', () => {
    const pool = 'a'.repeat(39) + '9';
    const name = instanceName(pool, newRequestId());
    expect(name).toMatch(RESOURCE_NAME);
    expect(name.length).toBeLessThanOrEqual(63);
  });

  it('refuses a pool name that cannot make a valid instance name', () => {
    expect(() => instanceName('Bad_Pool', newRequestId())).toThrow();
  });

  it('gives distinct names for distinct fresh request ids', () => {
    const names = new Set(Array.from({ length: 1000 }, () => instanceName('ci', newRequestId())));
    expect(names.size).toBe(1000);
  });
});

describe('newRequestId', () => {
  it('is a UUID', () => {
    expect(newRequestId()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
