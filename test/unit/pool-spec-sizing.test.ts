import { describe, expect, it } from 'vitest';
import { parsePoolSpec } from '../../shared/domain/pool-spec.js';

const minimal = {
  image: 'projects/debian-cloud/global/images/family/debian-12',
  machineType: 'e2-small',
  zones: ['us-central1-a'],
  targetReady: 2,
  maxSize: 50,
};

describe('pool spec: sizing', () => {
  it('is optional, and absent means fixed sizing (no field added)', () => {
    const r = parsePoolSpec(minimal);
    expect(r.ok && r.spec.sizing).toBeUndefined();
  });

  it('applies the sizing defaults', () => {
    const r = parsePoolSpec({ ...minimal, sizing: { mode: 'demand' } });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.spec.sizing).toEqual({ mode: 'demand', warmHitTarget: 0.95, minReady: 0, maxReady: null, schedules: [] });
  });

  it('accepts a full demand sizing with cron floors', () => {
    const sizing = {
      mode: 'demand',
      warmHitTarget: 0.99,
      minReady: 1,
      maxReady: 40,
      schedules: [{ cron: '* 8-18 * * 1-5', minReady: 10, timezone: 'Europe/Berlin' }],
    };
    const r = parsePoolSpec({ ...minimal, sizing });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.spec.sizing).toEqual(sizing);
  });

  it.each([
    ['warmHitTarget of 1', { mode: 'demand', warmHitTarget: 1 }, 'sizing.warmHitTarget'],
    ['warmHitTarget of 0', { mode: 'demand', warmHitTarget: 0 }, 'sizing.warmHitTarget'],
    ['an unknown mode', { mode: 'magic' }, 'sizing.mode'],
    ['minReady above maxReady', { mode: 'demand', minReady: 5, maxReady: 3 }, 'sizing.minReady'],
    ['maxReady above maxSize', { mode: 'demand', maxReady: 51 }, 'sizing.maxReady'],
    ['minReady above maxSize', { mode: 'demand', minReady: 60 }, 'sizing.minReady'],
    ['a bad cron', { mode: 'demand', schedules: [{ cron: 'every morning', minReady: 2 }] }, 'sizing.schedules.0.cron'],
    ['a cron out of range', { mode: 'demand', schedules: [{ cron: '* 25 * * *', minReady: 2 }] }, 'sizing.schedules.0.cron'],
    ['a schedule floor above maxSize', { mode: 'demand', schedules: [{ cron: '* * * * *', minReady: 99 }] }, 'sizing.schedules.0.minReady'],
    ['an unknown sizing field', { mode: 'demand', target: 3 }, 'sizing'],
  ])('rejects %s with a problem at %s', (_label, sizing, path) => {
    const r = parsePoolSpec({ ...minimal, sizing });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.path)).toContain(path);
  });

  it('reports sizing problems together with other field problems', () => {
    const r = parsePoolSpec({ ...minimal, targetReady: -1, sizing: { mode: 'demand', maxReady: 99 } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.path).sort()).toEqual(['sizing.maxReady', 'targetReady']);
  });
});
