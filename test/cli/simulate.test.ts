/**
 * `warmer simulate`, in process (it is local: no server): usage errors, the JSON shape,
 * a pool's own spec from a pools file, the text tables.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../cli/program.js';
import { syntheticTrace, traceCsv } from '../../shared/sim/synthetic.js';
import { parsePoolSpec } from '../../shared/domain/pool-spec.js';

let dir: string;
let tracePath: string;
let poolsPath: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'warmer-sim-'));
  tracePath = join(dir, 'trace.csv');
  writeFileSync(tracePath, traceCsv(syntheticTrace({ days: 1, peakBurstsPerHour: 2, meanBurstExtra: 2 })));
  poolsPath = join(dir, 'pools.yaml');
  writeFileSync(
    poolsPath,
    `pools:
  ci:
    image: projects/debian-cloud/global/images/family/debian-12
    machineType: e2-standard-4
    zones: [us-central1-a]
    targetReady: 4
    maxSize: 12
    sizing: {mode: demand, warmHitTarget: 0.9, schedules: [{cron: "* 9-17 * * 1-5", minReady: 2}]}
`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { env: {}, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

describe('warmer simulate', () => {
  it.each([
    ['no --trace', ['simulate'], /--trace/],
    ['a missing trace file', ['simulate', '--trace', '/nonexistent/trace.csv'], /no such file/],
    ['--pool without a file', ['simulate', '--trace', '__TRACE__', '--pool', 'ci'], /--pool needs -f/],
    ['a pool not in the file', ['simulate', '--trace', '__TRACE__', '-f', '__POOLS__', '--pool', 'nope'], /no pool "nope"/],
    ['a bad price', ['simulate', '--trace', '__TRACE__', '--price', 'free'], /expected a number/],
  ])('%s is a usage error (exit 2)', async (_l, args, message) => {
    const r = await cli(args.map((a) => a.replace('__TRACE__', tracePath).replace('__POOLS__', poolsPath)));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('a file that is not a trace is a usage error naming the missing column', async () => {
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'a,b\n1,2\n');
    const r = await cli(['simulate', '--trace', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/started_epoch/);
  });

  it('--json prints one object with the issue shape; -f/--pool adds the pool own sizing', async () => {
    const r = await cli(['simulate', '--trace', tracePath, '-f', poolsPath, '--pool', 'ci', '--json', '--max-fixed', '12']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out).sort()).toEqual(['comparison', 'policies', 'trace']);
    expect(out.trace.jobs).toBeGreaterThan(0);
    expect(out.comparison.map((c: { warmHitTarget: number }) => c.warmHitTarget)).toEqual([0.9, 0.95, 0.99]);
    const own = out.policies.find((p: { name: string }) => p.name.startsWith('pool ci'));
    expect(own.name).toBe('pool ci (demand-0.9)');
    expect(own.warmHitRate).toBeGreaterThan(0);
    // maxSize 12 bounds every fixed target searched
    for (const p of out.policies) if (p.name.startsWith('fixed-')) expect(Number(p.name.slice(6))).toBeLessThanOrEqual(12);
  }, 180_000);

  it('--bounds adds the schedule bounds: a row per class kind and target, in JSON and as a table', async () => {
    const three = join(dir, 'three-days.csv');
    writeFileSync(three, traceCsv(syntheticTrace({ days: 3, peakBurstsPerHour: 2, meanBurstExtra: 2 })));
    const r = await cli(['simulate', '--trace', three, '--no-peers', '--max-fixed', '12', '--bounds', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.bounds).toHaveLength(15);
    expect(new Set(out.bounds.map((b: { classes: string }) => b.classes))).toEqual(new Set(['one', 'hour-of-day', 'hour-of-week', 'weekpart-hour', 'recency']));
    for (const b of out.bounds) {
      expect(b.inSample.hitRate).toBeGreaterThanOrEqual(0);
      expect(b.inSample.hitRate).toBeLessThanOrEqual(1);
      expect(b.outOfSample).not.toBeNull(); // 3 days: a first and a second half
    }
    // One class is a fixed target: the cheapest fixed pool reaching its own hit rate is itself.
    for (const b of out.bounds.filter((x: { classes: string }) => x.classes === 'one')) expect(b.inSample.ratio).toBe(1);
    expect(out.trace.bounds.maxTarget).toBeGreaterThan(0);
    const text = await cli(['simulate', '--trace', three, '--no-peers', '--max-fixed', '12', '--bounds']);
    expect(text.stdout).toMatch(/the best target schedule per class kind/);
    expect(text.stdout).toMatch(/weekpart-hour \(48\)/);
    const without = JSON.parse((await cli(['simulate', '--trace', three, '--no-peers', '--max-fixed', '12', '--json'])).stdout);
    expect(without.bounds).toBeUndefined();
    // With a pool's own spec, no bound measures a fixed target past its maxSize (12).
    const own = JSON.parse((await cli(['simulate', '--trace', three, '-f', poolsPath, '--pool', 'ci', '--no-peers', '--bounds', '--json'])).stdout);
    expect(own.trace.bounds.maxTarget).toBeLessThanOrEqual(12);
    expect(own.bounds).toHaveLength(15);
  }, 180_000);

  it('prints tables without --json', async () => {
    const r = await cli(['simulate', '--trace', tracePath, '--no-peers', '--max-fixed', '8']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/warm hit/);
    expect(r.stdout).toMatch(/demand-0\.95/);
    expect(r.stdout).toMatch(/cheapest fixed/);
  }, 180_000);
});

describe('warmer simulate --pool NAME (a running warmer’s recorded claims)', () => {
  const poolSpec = {
    image: 'projects/debian-cloud/global/images/family/debian-12',
    machineType: 'e2-standard-4',
    zones: ['us-central1-a'],
    targetReady: 3,
    maxSize: 10,
    sizing: { mode: 'demand', warmHitTarget: 0.9 },
  };
  const jobs = syntheticTrace({ days: 1, peakBurstsPerHour: 2, meanBurstExtra: 2 }).map((j, i) => ({
    startedEpoch: Math.floor(j.startMs / 1000),
    durationS: j.durationMs / 1000,
    warm: i % 4 !== 0,
  }));

  function fakeApi(demandJobs: unknown[]) {
    const calls: Array<{ url: string; auth: string | null }> = [];
    const fetch = (async (input: string | URL, init?: RequestInit) => {
      const url = String(input);
      calls.push({ url, auth: new Headers(init?.headers).get('authorization') });
      const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
      if (url.endsWith('/pools/ci')) return json({ name: 'ci', spec: parsed(), createdAt: null, updatedAt: null, counts: {}, total: 0, sizing: null });
      if (url.includes('/pools/ci/demand'))
        return json({ pool: 'ci', since: '2026-01-01T00:00:00.000Z', until: '2026-01-04T00:00:00.000Z', jobs: demandJobs, missedDurationS: 600 });
      return new Response(JSON.stringify({ error: { code: 'not_found', message: 'no' } }), { status: 404, headers: { 'content-type': 'application/json' } });
    }) as typeof globalThis.fetch;
    return { fetch, calls };
  }
  const parsed = () => {
    const r = parsePoolSpec(poolSpec);
    if (!r.ok) throw new Error('bad spec');
    return r.spec;
  };
  async function cliWith(args: string[], fetch: typeof globalThis.fetch) {
    let stdout = '';
    let stderr = '';
    const code = await run(args, { env: { WARMER_ADMIN_TOKEN: 'admin-token-0123456789' }, fetch, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
    return { code, stdout, stderr };
  }

  it('reads the pool and its recorded claims through the API (admin token) and simulates the pool’s own sizing next to fixed targets', async () => {
    const api = fakeApi(jobs);
    const r = await cliWith(['simulate', '--pool', 'ci', '--url', 'http://warmer.test', '--days', '3', '--json', '--max-fixed', '10', '--no-peers'], api.fetch);
    expect(r.code, r.stderr).toBe(0);
    expect(api.calls.map((c) => c.url).sort()).toEqual(['http://warmer.test/pools/ci', 'http://warmer.test/pools/ci/demand?days=3']);
    expect(api.calls.every((c) => c.auth === 'Bearer admin-token-0123456789')).toBe(true);
    const out = JSON.parse(r.stdout);
    expect(out.trace.jobs).toBe(jobs.length);
    expect(out.trace.file).toMatch(/pool ci: claims recorded .* \(\d+ missed\)/);
    expect(out.policies.find((p: { name: string }) => p.name.startsWith('pool ci')).name).toBe('pool ci (demand-0.9)');
    expect(out.policies.some((p: { name: string }) => p.name.startsWith('fixed-'))).toBe(true);
    for (const p of out.policies) if (p.name.startsWith('fixed-')) expect(Number(p.name.slice(6))).toBeLessThanOrEqual(10);
  }, 180_000);

  it.each([
    ['a pool with no recorded claims', ['simulate', '--pool', 'ci', '--url', 'http://warmer.test'], /recorded no claims/],
    ['a pools file without --trace', ['simulate', '--pool', 'ci', '-f', '/tmp/pools.yaml', '--url', 'http://warmer.test'], /needs --trace/],
    ['bad --days', ['simulate', '--pool', 'ci', '--days', '0', '--url', 'http://warmer.test'], /expected a number/],
  ])('%s is a usage error (exit 2)', async (_l, args, message) => {
    const r = await cliWith(args, fakeApi([]).fetch);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
