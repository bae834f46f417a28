import { describe, expect, it } from 'vitest';
import { cpusOf, effectiveMaxRunDurationSeconds } from '../../shared/domain/machine-limits.js';
import { isValidPoolName, parsePoolSpec } from '../../shared/domain/pool-spec.js';
import { lastSegment, regionOfZone } from '../../shared/domain/resource-path.js';

const minimal = {
  image: 'projects/debian-cloud/global/images/family/debian-12',
  machineType: 'e2-small',
  zones: ['us-central1-a'],
  targetReady: 2,
  maxSize: 5,
};

describe('parsePoolSpec', () => {
  it('applies defaults to a minimal spec', () => {
    const r = parsePoolSpec(minimal);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.spec.publicIp).toBe(false);
    expect(r.spec.healthCheck).toEqual({
      port: 22,
      expectSshBanner: true,
      intervalSeconds: 10,
      timeoutMs: 2000,
      failuresBeforeUnhealthy: 3,
      address: 'internal',
    });
    expect(r.spec.placement).toBeNull();
    expect(r.spec.bootTimeoutSeconds).toBe(600);
    expect(r.spec.enabled).toBe(true);
    expect(r.spec.claimLifetimeSeconds).toBeNull();
  });

  it.each([
    ['targetReady above maxSize', { ...minimal, targetReady: 9 }, 'targetReady'],
    ['unknown field', { ...minimal, colour: 'red' }, '(spec)'],
    ['bad zone', { ...minimal, zones: ['moon'] }, 'zones.0'],
    ['repeated zone', { ...minimal, zones: ['us-central1-a', 'us-central1-a'] }, 'zones'],
    ['private key', { ...minimal, sshAdminKeys: ['-----BEGIN OPENSSH PRIVATE KEY-----'] }, 'sshAdminKeys.0'],
    ['upper-case label', { ...minimal, labels: { Team: 'x' } }, 'labels.Team'],
    ['reserved label', { ...minimal, labels: { warmth: 'x' } }, 'labels'],
    ['negative target', { ...minimal, targetReady: -1 }, 'targetReady'],
    ['string where number', { ...minimal, maxSize: '5' }, 'maxSize'],
    ['missing image', { ...minimal, image: undefined }, 'image'],
  ])('rejects %s', (_name, input, path) => {
    const r = parsePoolSpec(input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.path)).toContain(path);
  });

  it('reports every problem at once', () => {
    const r = parsePoolSpec({ ...minimal, targetReady: -1, maxSize: 0, zones: [] });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.path).sort()).toEqual(['maxSize', 'targetReady', 'zones']);
  });

  it('accepts admin public keys in ssh-keys form', () => {
    const r = parsePoolSpec({ ...minimal, sshAdminKeys: ['admin:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx admin@example'] });
    expect(r.ok).toBe(true);
  });
});

describe('naming helpers', () => {
  it.each([
    ['ci', true],
    ['ci-linux-2', true],
    ['Ci', false],
    ['2ci', false],
    ['ci-', false],
    ['a'.repeat(41), false],
  ])('pool name %s valid=%s', (name, ok) => expect(isValidPoolName(name)).toBe(ok));

  it.each([
    ['https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/machineTypes/n1-standard-2', 'n1-standard-2'],
    ['projects/p/global/images/travis-ci-garnet', 'travis-ci-garnet'],
    ['e2-small', 'e2-small'],
  ])('lastSegment(%s) = %s', (input, out) => expect(lastSegment(input)).toBe(out));

  it('regionOfZone', () => expect(regionOfZone('europe-west4-b')).toBe('europe-west4'));

  it.each([
    ['n1-standard-4', 4],
    ['e2-small', 2],
    ['f1-micro', 1],
    ['n2-custom-6-8192', 6],
    ['custom-8-16384', 8],
  ])('cpusOf(%s) = %d', (machineType, cpus) => {
    const r = parsePoolSpec({ ...minimal, machineType });
    if (!r.ok) throw new Error('spec');
    expect(cpusOf(r.spec)).toBe(cpus);
  });
});

describe('effectiveMaxRunDurationSeconds', () => {
  it.each([
    ['explicit setting wins', { maxRunDurationSeconds: 7200, maxIdleAgeSeconds: 600, claimLifetimeSeconds: 600 }, 7200],
    [
      'every phase bounded: boot + idle + claim + 1 h',
      { bootTimeoutSeconds: 300, maxIdleAgeSeconds: 3600, claimLifetimeSeconds: 1800 },
      300 + 3600 + 1800 + 3600,
    ],
    ['no claim lifetime: none', { maxIdleAgeSeconds: 3600 }, null],
    ['no idle age: none', { claimLifetimeSeconds: 3600 }, null],
    ["capped at Compute Engine's 120 days", { maxIdleAgeSeconds: 90 * 86_400, claimLifetimeSeconds: 90 * 86_400 }, 120 * 86_400],
  ])('%s', (_n, overrides, expected) => {
    const r = parsePoolSpec({ ...minimal, ...overrides });
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(effectiveMaxRunDurationSeconds(r.spec)).toBe(expected);
  });
});
