/**
 * The pure parts of `warmer pools apply`: reading a pools file (every problem with its
 * line, pool and field) and planning the changes field by field. Table-driven, no I/O.
 */
import { describe, expect, it } from 'vitest';
import { parsePoolSpec, type PoolSpec } from '../../shared/domain/pool-spec.js';
import { diffSpecs, planApply } from '../../cli/plan.js';
import { parsePoolsFile } from '../../cli/pools-file.js';
import { formatError, run, type CliIo } from '../../cli/program.js';
import { ApiError, UsageError } from '../../cli/errors.js';
// Type-checks the entry too (a type-only import runs nothing).
import type * as _entry from '../../cli/main.js';

const base = { image: 'projects/p/global/images/family/debian-12', machineType: 'e2-small', zones: ['us-central1-a'], targetReady: 1, maxSize: 3 };
const spec = (over: Record<string, unknown> = {}): PoolSpec => {
  const r = parsePoolSpec({ ...base, ...over });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.spec;
};

describe('diffSpecs', () => {
  it.each([
    ['same', spec(), spec(), []],
    ['a scalar', spec(), spec({ targetReady: 2 }), [{ field: 'targetReady', from: 1, to: 2 }]],
    ['a nested field', spec(), spec({ healthCheck: { port: 2222 } }), [{ field: 'healthCheck.port', from: 22, to: 2222 }]],
    [
      'an array, whole',
      spec(),
      spec({ zones: ['us-central1-a', 'us-central1-b'] }),
      [{ field: 'zones', from: ['us-central1-a'], to: ['us-central1-a', 'us-central1-b'] }],
    ],
    [
      'null to object',
      spec(),
      spec({ serviceAccount: { email: 'a@b.iam.gserviceaccount.com' } }),
      [{ field: 'serviceAccount', from: null, to: { email: 'a@b.iam.gserviceaccount.com', scopes: ['https://www.googleapis.com/auth/cloud-platform'] } }],
    ],
    ['a label added', spec(), spec({ labels: { team: 'ci' } }), [{ field: 'labels.team', from: undefined, to: 'ci' }]],
  ])('%s', (_n, from, to, expected) => {
    expect(diffSpecs(from, to)).toEqual(expected);
  });
});

describe('planApply', () => {
  const current = [
    { name: 'a', spec: spec() },
    { name: 'b', spec: spec() },
    { name: 'off', spec: spec({ enabled: false }) },
  ];
  it('creates, updates, keeps; leaves the others alone without --prune', () => {
    const plan = planApply(
      [
        { name: 'new', spec: spec() },
        { name: 'a', spec: spec({ maxSize: 5 }) },
        { name: 'b', spec: spec() },
      ],
      current,
      { prune: false },
    );
    expect(plan).toEqual([
      { pool: 'new', action: 'create' },
      { pool: 'a', action: 'update', fields: [{ field: 'maxSize', from: 3, to: 5 }] },
      { pool: 'b', action: 'unchanged' },
      { pool: 'off', action: 'ignore' },
    ]);
  });
  it('--prune disables enabled pools missing from the file; disabled ones are unchanged', () => {
    expect(planApply([{ name: 'a', spec: spec() }], current, { prune: true })).toEqual([
      { pool: 'a', action: 'unchanged' },
      { pool: 'b', action: 'disable' },
      { pool: 'off', action: 'unchanged', note: 'not in the file; already disabled' },
    ]);
  });
  it('re-enabling a disabled pool is an update of "enabled"', () => {
    expect(planApply([{ name: 'off', spec: spec() }], current.slice(2), { prune: false })).toEqual([
      { pool: 'off', action: 'update', fields: [{ field: 'enabled', from: false, to: true }] },
    ]);
  });
});

describe('parsePoolsFile', () => {
  const problems = (text: string): string[] => {
    try {
      parsePoolsFile(text, 'p.yaml');
    } catch (err) {
      if (err instanceof UsageError) return [err.message, ...err.lines];
      throw err;
    }
    return [];
  };

  it('reads local/pools.yaml-style files, keeping the raw input and the defaults-applied spec', () => {
    const file = parsePoolsFile(
      'pools:\n  ci:\n    image: x\n    machineType: e2-small\n    zones: [us-central1-a]\n    targetReady: 1\n    maxSize: 2\n',
      'p.yaml',
    );
    expect(file.pools).toHaveLength(1);
    expect(file.pools[0]!.input).toEqual({ image: 'x', machineType: 'e2-small', zones: ['us-central1-a'], targetReady: 1, maxSize: 2 });
    expect(file.pools[0]!.spec.healthCheck.port).toBe(22);
    expect(parsePoolsFile('pools: {}\n', 'p.yaml').pools).toEqual([]);
  });

  it.each([
    ['empty file', '', ['p.yaml: the file is empty; expected "pools:" with one entry per pool (name: spec)']],
    ['no pools key', 'ci: {}\n', ['p.yaml:1:1: expected a mapping with a "pools" key ("pools: {name: spec}", as in local/pools.yaml)']],
    ['pools is a list', 'pools:\n  - a\n', ['p.yaml:2:3: "pools" must be a mapping of pool name to spec']],
    [
      'an extra top-level key',
      'pools: {}\nextra: 1\n',
      ['p.yaml: 1 problem; nothing was sent', 'p.yaml:2:1: unknown top-level key "extra" (the file has only "pools")'],
    ],
    [
      'a spec that is not a mapping',
      'pools:\n  ci: 3\n',
      [
        'p.yaml: 1 problem; nothing was sent',
        'p.yaml:2:7: pool "ci": the spec must be a mapping of fields (image, machineType, zones, targetReady, maxSize, …)',
      ],
    ],
    [
      'a nested unknown field and a wrong type',
      'pools:\n  ci:\n    image: x\n    machineType: e2-small\n    zones: [us-central1-a]\n    targetReady: one\n    maxSize: 2\n    healthCheck:\n      port: 2222\n      bogus: 1\n',
      [
        'p.yaml: 2 problems; nothing was sent',
        'p.yaml:6:18: pool "ci", field "targetReady": targetReady is a whole number from 0 to 1000, or "fill"',
        'p.yaml:10:7: pool "ci", field "healthCheck.bogus": unknown field',
      ],
    ],
    [
      'a syntax error',
      'pools:\n  ci:\n    image: x\n  maxSize: 3: 4\n',
      [
        'p.yaml: not valid YAML; nothing was sent',
        'p.yaml:4:12: YAML syntax error: Nested mappings are not allowed in compact mappings\n      maxSize: 3: 4\n               ^',
      ],
    ],
  ])('%s', (_n, text, expected) => {
    expect(problems(text)).toEqual(expected);
  });
});

describe('run (in process)', () => {
  const io = (env: Record<string, string> = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const sink: CliIo = {
      env,
      stdout: (t) => void out.push(t),
      stderr: (t) => void err.push(t),
      fetch: () => Promise.reject(new Error('no network in this test')),
    };
    return { sink, out: () => out.join(''), err: () => err.join('') };
  };

  it.each([
    [['--help'], 0],
    [['status', '--help'], 0],
    [[], 2],
    [['status'], 2],
    [['claim'], 2],
    [['claim', 'ci', '--count', 'many'], 2],
    [['claim', 'ci', '--label', 'nolabel'], 2],
    [['status', '--url', 'ftp://x', '--token', 't'], 2],
    [['status', '--url', 'not a url', '--token', 't'], 2],
    [['status', '--token', 't'], 1],
  ])('%j exits %d', async (argv, code) => {
    const t = io();
    expect(await run(argv, t.sink)).toBe(code);
  });

  it('--json errors also go to stdout as JSON', async () => {
    const t = io();
    expect(await run(['status', '--json'], t.sink)).toBe(2);
    expect(JSON.parse(t.out())).toEqual({
      error: { code: 'usage', message: 'no admin token: set WARMER_ADMIN_TOKEN or pass --token (`npm start` prints the local tokens)' },
    });
  });

  it('formats API errors with their status, code, message and details', () => {
    expect(formatError(new ApiError(400, 'bad_request', 'invalid pool spec for "x"', [{ path: 'zones.0', message: 'bad zone' }], 'PUT', '/pools/x'))).toBe(
      'warmer: 400 bad_request: invalid pool spec for "x"\n  - zones.0: bad zone',
    );
    expect(formatError(new ApiError(503, 'pool_empty', 'empty', { available: 0, requested: 1 }, 'POST', '/claim'))).toBe(
      'warmer: 503 pool_empty: empty\n  details: {"available":0,"requested":1}',
    );
  });
});
