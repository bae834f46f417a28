import { describe, expect, it } from 'vitest';
import { classifyComputeError, factsOfError, type ComputeErrorFacts } from '../../../shared/adapters/gce-errors.js';
import { instanceResource, labelFilter, toMachine } from '../../../shared/adapters/gce-resources.js';
import type { ErrorCode } from '../../../shared/errors.js';
import { parseFilter } from '../../../local/compute/filter.js';
import { spec } from '../../support/builders.js';

describe('classifyComputeError', () => {
  const cases: Array<[string, ComputeErrorFacts, ErrorCode]> = [
    ['stock-out operation', { operationCodes: ['ZONE_RESOURCE_POOL_EXHAUSTED'] }, 'zone_stockout'],
    ['stock-out with details', { operationCodes: ['ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS'] }, 'zone_stockout'],
    ['503 insufficientCapacity', { httpStatus: 503, reasons: ['insufficientCapacity'] }, 'zone_stockout'],
    ['quota operation', { operationCodes: ['QUOTA_EXCEEDED'] }, 'quota_exceeded'],
    ['403 quotaExceeded', { httpStatus: 403, reasons: ['quotaExceeded'] }, 'quota_exceeded'],
    ['403 rateLimitExceeded', { httpStatus: 403, reasons: ['rateLimitExceeded'] }, 'rate_limited'],
    ['403 userRateLimitExceeded', { httpStatus: 403, reasons: ['userRateLimitExceeded'] }, 'rate_limited'],
    ['429', { httpStatus: 429 }, 'rate_limited'],
    ['409 alreadyExists', { httpStatus: 409, reasons: ['alreadyExists'] }, 'already_exists'],
    ['operation RESOURCE_ALREADY_EXISTS', { operationCodes: ['RESOURCE_ALREADY_EXISTS'] }, 'already_exists'],
    ['404', { httpStatus: 404, reasons: ['notFound'] }, 'not_found'],
    ['404 without body', { httpStatus: 404 }, 'not_found'],
    ['other 403', { httpStatus: 403, reasons: ['forbidden'] }, 'permission_denied'],
    ['401', { httpStatus: 401 }, 'permission_denied'],
    ['500', { httpStatus: 500, reasons: ['backendError'] }, 'transient'],
    ['503 without reason', { httpStatus: 503 }, 'transient'],
    ['412 conditionNotMet', { httpStatus: 412, reasons: ['conditionNotMet'] }, 'transient'],
    ['connection refused', { networkCode: 'ECONNREFUSED' }, 'transient'],
    ['connection reset', { networkCode: 'ECONNRESET' }, 'transient'],
    ['gax deadline', { grpcCode: 4 }, 'transient'],
    ['gax unavailable', { grpcCode: 14 }, 'transient'],
    ['failed operation, missing image', { operationCodes: ['RESOURCE_NOT_FOUND'] }, 'operation_failed'],
    ['failed operation, internal error', { operationCodes: ['INTERNAL_ERROR'] }, 'operation_failed'],
    ['400 invalid', { httpStatus: 400, reasons: ['invalid'] }, 'operation_failed'],
    ['nothing known', {}, 'operation_failed'],
  ];
  it.each(cases)('%s', (_name, facts, expected) => {
    expect(classifyComputeError(facts)).toBe(expected);
  });
});

describe('factsOfError', () => {
  it('reads a GaxiosError-like error (status in code, JSON body in message)', () => {
    const err = Object.assign(new Error(JSON.stringify({ error: { code: 403, message: 'Rate Limit Exceeded', errors: [{ reason: 'rateLimitExceeded' }] } })), {
      code: 403,
      status: 403,
    });
    expect(factsOfError(err)).toMatchObject({ httpStatus: 403, reasons: ['rateLimitExceeded'], message: 'Rate Limit Exceeded' });
  });
  it('reads a network error', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(factsOfError(err)).toMatchObject({ httpStatus: null, networkCode: 'ECONNREFUSED' });
  });
  it('reads a gax error with a gRPC code', () => {
    expect(factsOfError(Object.assign(new Error('deadline'), { code: 4 }))).toMatchObject({ httpStatus: null, grpcCode: 4 });
  });
});

describe('resource shapes', () => {
  it('builds the instance resource from the spec', () => {
    const s = spec({
      image: 'https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/family/debian-12',
      machineType: 'https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/machineTypes/n2-standard-4',
      publicIp: true,
      labels: { team: 'ci' },
      networkTags: ['ssh'],
      subnetwork: 'regions/us-central1/subnetworks/warm',
      serviceAccount: { email: 'vm@p.iam.gserviceaccount.com' },
      sshAdminKeys: ['admin:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey admin@x'],
      startupScript: 'echo hi',
      maxRunDurationSeconds: 3600,
    });
    const r = instanceResource({ pool: 'ci', spec: s, name: 'ci-abc', zone: 'us-central1-a', requestId: 'r', extraSshKeys: ['travis:ssh-rsa AAAAB3 k'] });
    expect(r.machineType).toBe('zones/us-central1-a/machineTypes/n2-standard-4');
    expect(r.labels).toEqual({ team: 'ci', 'warmer-pool': 'ci', 'warmer-managed': 'true', warmth: 'warmed' });
    expect(r.disks?.[0]).toMatchObject({ boot: true, autoDelete: true, initializeParams: { sourceImage: s.image } });
    expect(r.networkInterfaces?.[0]).toEqual({
      subnetwork: 'regions/us-central1/subnetworks/warm',
      accessConfigs: [{ type: 'ONE_TO_ONE_NAT', name: 'External NAT' }],
    });
    expect(r.tags).toEqual({ items: ['ssh'] });
    expect(r.serviceAccounts).toEqual([{ email: 'vm@p.iam.gserviceaccount.com', scopes: ['https://www.googleapis.com/auth/cloud-platform'] }]);
    expect(r.metadata?.items).toEqual([
      { key: 'ssh-keys', value: 'admin:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey admin@x\ntravis:ssh-rsa AAAAB3 k' },
      { key: 'startup-script', value: 'echo hi' },
    ]);
    expect(r.scheduling).toEqual({ maxRunDuration: { seconds: 3600 }, instanceTerminationAction: 'DELETE' });
  });

  it('gives a private machine on the default network no access config and no scheduling', () => {
    const r = instanceResource({ pool: 'ci', spec: spec(), name: 'ci-x', zone: 'us-central1-b', requestId: 'r' });
    expect(r.networkInterfaces).toEqual([{ network: 'global/networks/default' }]);
    expect(r.scheduling).toBeUndefined();
  });

  it("derives the maximum run duration when the pool bounds every phase of a machine's life", () => {
    const bounded = spec({ bootTimeoutSeconds: 600, maxIdleAgeSeconds: 86_400, claimLifetimeSeconds: 10_800 });
    const r = instanceResource({ pool: 'ci', spec: bounded, name: 'ci-y', zone: 'us-central1-b', requestId: 'r' });
    expect(r.scheduling).toEqual({ maxRunDuration: { seconds: 600 + 86_400 + 10_800 + 3600 }, instanceTerminationAction: 'DELETE' });
    // a claim with no lifetime (long-lived assignments): nothing derived
    expect(
      instanceResource({ pool: 'ci', spec: spec({ maxIdleAgeSeconds: 86_400 }), name: 'ci-z', zone: 'us-central1-b', requestId: 'r' }).scheduling,
    ).toBeUndefined();
  });

  it('reads a machine from an instance', () => {
    const m = toMachine({
      name: 'a',
      zone: 'https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a',
      status: 'RUNNING',
      networkInterfaces: [{ networkIP: '10.0.0.2', accessConfigs: [{ natIP: '34.1.2.3' }] }],
      labels: { x: 'y' },
      labelFingerprint: 'abc=',
      creationTimestamp: '2026-11-01T10:00:00.000-07:00',
    });
    expect(m).toEqual({
      name: 'a',
      zone: 'us-central1-a',
      status: 'RUNNING',
      ip: '10.0.0.2',
      publicIp: '34.1.2.3',
      labels: { x: 'y' },
      labelFingerprint: 'abc=',
      createdAt: Date.parse('2026-11-01T17:00:00Z'),
    });
  });

  it('writes a label filter the emulator (and Compute Engine) accept', () => {
    const filter = labelFilter({ 'warmer-pool': 'ci', 'warmer-managed': 'true' });
    expect(filter).toBe('(labels.warmer-managed = "true") AND (labels.warmer-pool = "ci")');
    const match = parseFilter(filter);
    expect(match({ labels: { 'warmer-pool': 'ci', 'warmer-managed': 'true', x: '1' } })).toBe(true);
    expect(match({ labels: { 'warmer-pool': 'cd', 'warmer-managed': 'true' } })).toBe(false);
  });
});

describe('emulator filter language', () => {
  const r = { name: 'ci-abc', status: 'RUNNING', labels: { 'warmer-pool': 'ci', env: 'prod' } };
  const cases: Array<[string, boolean]> = [
    ['labels.warmer-pool=ci', true],
    ['labels.warmer-pool = "cd"', false],
    ['labels.env:*', true],
    ['labels.missing:*', false],
    ['status != RUNNING', false],
    ['name = "ci-*"', true],
    ['(labels.env = "prod") (status = "RUNNING")', true],
    ['labels.env = "dev" OR labels.warmer-pool = "ci"', true],
    ['NOT labels.env = "prod"', false],
    ['name eq ci-.*', true],
    ['', true],
  ];
  it.each(cases)('%s', (filter, expected) => {
    expect(parseFilter(filter)(r)).toBe(expected);
  });
  it('rejects a malformed filter with a 400', () => {
    expect(() => parseFilter('(labels.a = "b"')).toThrow(expect.objectContaining({ status: 400 }));
    expect(() => parseFilter('labels.a')).toThrow(expect.objectContaining({ status: 400 }));
  });
});
