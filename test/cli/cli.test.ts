/**
 * The real `warmer` command (node cli/warmer.js, as `npx warmer` runs it) against a local
 * stack started here: apply a pools file (dry run, create, unchanged, a field diff,
 * prune), a bad file, status and list as JSON, claim and release, and the exit codes
 * and messages of API and usage errors.
 */
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { silentLogger } from '../../shared/logging.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** Every command is a fresh node process loading tsx: about a second each, more on a busy machine. */
const SLOW = { timeout: 180_000 };
const CLAIM = 'claim-token-cli-0123456789';
const ADMIN = 'admin-token-cli-0123456789';

let stack: LocalStack;
let dir: string;

beforeAll(async () => {
  stack = await startLocalStack({
    claimTokens: [CLAIM],
    adminTokens: [ADMIN],
    bootDelayMs: 200,
    bootJitterMs: 50,
    operationDelayMs: 20,
    scheduleMs: 500,
    addressBase: '127.60.0.1',
    logger: silentLogger,
  });
  dir = mkdtempSync(join(tmpdir(), 'warmer-cli-'));
});
afterAll(async () => {
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function warmer(args: string[], env: Record<string, string | undefined> = {}): Promise<Result> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(ROOT, 'cli/warmer.js'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, WARMER_URL: stack.apiUrl, WARMER_ADMIN_TOKEN: ADMIN, WARMER_CLAIM_TOKEN: CLAIM, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const json = (r: Result) => JSON.parse(r.stdout) as any;

const poolSpec = (over: Record<string, unknown> = {}) => ({
  image: 'projects/debian-cloud/global/images/family/debian-12',
  machineType: 'e2-small',
  zones: ['us-central1-a'],
  targetReady: 1,
  maxSize: 3,
  healthCheck: { port: 2222 },
  ...over,
});

function poolsFile(name: string, pools: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, stringify({ pools }));
  return path;
}

async function serverPools() {
  return Object.fromEntries((await stack.api.pools.listPools()).map((p) => [p.name, p.spec]));
}

async function until<T>(what: () => Promise<T | null | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('warmer pools apply', SLOW, () => {
  it('--dry-run shows what would be created and changes nothing', async () => {
    const file = poolsFile('pools.yaml', { alpha: poolSpec(), beta: poolSpec({ zones: ['europe-west4-a'] }) });
    const r = await warmer(['pools', 'apply', '-f', file, '--dry-run']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Plan for ${file}:`);
    expect(r.stdout).toContain('+ alpha: create');
    expect(r.stdout).toContain('+ beta: create');
    expect(r.stdout).toContain('2 to create, 0 to update, 0 to disable, 0 unchanged.');
    expect(r.stdout).toContain('Dry run: nothing was changed.');
    expect(await serverPools()).toEqual({});
  });

  it('creates the pools, then says they are unchanged', async () => {
    const file = join(dir, 'pools.yaml');
    const r = await warmer(['pools', 'apply', '-f', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/created alpha\ncreated beta\nApplied 2 changes\./);
    const pools = await serverPools();
    expect(Object.keys(pools).sort()).toEqual(['alpha', 'beta']);
    expect(pools.alpha).toMatchObject({ targetReady: 1, maxSize: 3, healthCheck: { port: 2222, expectSshBanner: true } });

    const again = await warmer(['pools', 'apply', '-f', file]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('= alpha: unchanged');
    expect(again.stdout).toContain('= beta: unchanged');
    expect(again.stdout).toContain('Nothing to change.');
  });

  it('an edited targetReady shows the field diff (text and --json), then applies it', async () => {
    const file = poolsFile('pools.yaml', { alpha: poolSpec({ targetReady: 2 }), beta: poolSpec({ zones: ['europe-west4-a'] }) });
    const dry = await warmer(['pools', 'apply', '-f', file, '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    const plan = json(dry);
    expect(plan).toMatchObject({ dryRun: true, summary: { create: 0, update: 1, unchanged: 1, disable: 0 }, results: [] });
    expect(plan.changes).toEqual([
      { pool: 'alpha', action: 'update', fields: [{ field: 'targetReady', from: 1, to: 2 }] },
      { pool: 'beta', action: 'unchanged' },
    ]);

    const r = await warmer(['pools', 'apply', '-f', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('~ alpha: update 1 field\n      targetReady: 1 → 2');
    expect(r.stdout).toContain('updated alpha');
    expect((await serverPools()).alpha!.targetReady).toBe(2);
  });

  it('a pool missing from the file is left alone, and disabled with --prune', async () => {
    const file = poolsFile('alpha-only.yaml', { alpha: poolSpec({ targetReady: 2 }) });
    const kept = await warmer(['pools', 'apply', '-f', file]);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toContain('? beta: not in the file; left alone (--prune would disable it)');
    expect((await serverPools()).beta!.enabled).toBe(true);

    const pruned = await warmer(['pools', 'apply', '-f', file, '--prune']);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toContain('- beta: disable (not in the file; --prune)');
    expect(pruned.stdout).toContain('disabled beta');
    const pools = await serverPools();
    expect(pools.beta!.enabled).toBe(false);
    expect(pools.alpha!.enabled).toBe(true);

    const again = await warmer(['pools', 'apply', '-f', file, '--prune']);
    expect(again.stdout).toContain('= beta: unchanged (not in the file; already disabled)');
    expect(again.stdout).toContain('Nothing to change.');
  });

  it('a bad file exits 2 naming the file, line, pool and field; nothing is sent', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(
      path,
      [
        'pools:',
        '  alpha:',
        '    image: projects/debian-cloud/global/images/family/debian-12',
        '    machineType: e2-small',
        '    zones: [nowhere]',
        '    targetReady: 9',
        '    maxSize: 4',
        '    colour: red',
        '  Bad_Name:',
        '    image: x',
        '  gamma:',
        '    machineType: e2-small',
        '    zones: [us-central1-a]',
        '    targetReady: 1',
        '    maxSize: 2',
        '',
      ].join('\n'),
    );
    const before = await serverPools();
    const r = await warmer(['pools', 'apply', '-f', path]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      [
        `warmer: ${path}: 5 problems; nothing was sent`,
        `  ${path}:5:13: pool "alpha", field "zones.0": zones look like us-central1-a`,
        `  ${path}:6:18: pool "alpha", field "targetReady": targetReady (9) exceeds maxSize (4)`,
        `  ${path}:8:5: pool "alpha", field "colour": unknown field`,
        `  ${path}:9:3: pool "Bad_Name": not a valid pool name (lowercase letters, digits and -, starting with a letter, at most 40 characters)`,
        `  ${path}:11:3: pool "gamma", field "image": is required`,
      ].join('\n'),
    );
    expect(await serverPools()).toEqual(before);
  });

  it('YAML syntax errors exit 2 with the line number', async () => {
    const path = join(dir, 'syntax.yaml');
    writeFileSync(path, 'pools:\n  alpha:\n    image: x\n    image: y\n');
    const r = await warmer(['pools', 'apply', '-f', path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${path}: not valid YAML; nothing was sent\n  ${path}:4:5: YAML syntax error: Map keys must be unique`);
  });

  it('a missing file or a file without "pools" exits 2', async () => {
    const missing = await warmer(['pools', 'apply', '-f', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.yaml: cannot read the file (no such file)');
    const other = join(dir, 'other.yaml');
    writeFileSync(other, 'alpha:\n  image: x\n');
    const r = await warmer(['pools', 'apply', '-f', other]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('expected a mapping with a "pools" key');
  });
});

describe('warmer status, pools list, pools get', SLOW, () => {
  it('--json parses and shows the pool; the tables show it too', async () => {
    const [status, list, get, table, listTable, getTable] = await Promise.all([
      warmer(['status', '--json']),
      warmer(['pools', 'list', '--json']),
      warmer(['pools', 'get', 'alpha', '--json']),
      warmer(['status']),
      warmer(['pools', 'list']),
      warmer(['pools', 'get', 'alpha']),
    ]);
    expect(status.code).toBe(0);
    const st = json(status);
    expect(st.perPool.find((p: { name: string }) => p.name === 'alpha')).toMatchObject({ enabled: true, targetReady: 2, maxSize: 3 });
    expect(st.perPool.find((p: { name: string }) => p.name === 'beta')).toMatchObject({ enabled: false });

    expect(list.code).toBe(0);
    expect(
      json(list)
        .pools.map((p: { name: string }) => p.name)
        .sort(),
    ).toEqual(['alpha', 'beta']);

    expect(json(get)).toMatchObject({ name: 'alpha', spec: { targetReady: 2 } });

    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/pool.*enabled.*target.*max.*booting.*ready.*claimed.*unhealthy.*deleting/);
    expect(table.stdout).toMatch(/│ alpha\s+│ yes\s+│ 2\s+│ 3\s+│/);
    expect(listTable.stdout).toMatch(/│ alpha\s+│ yes\s+│ e2-small/);
    expect(getTable.stdout).toMatch(/spec\.targetReady\s+│ 2/);
  });

  it('an unknown pool exits 1 with the API error', async () => {
    const r = await warmer(['pools', 'get', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('warmer: 404 not_found: pool "nope" does not exist');
  });
});

describe('warmer claim and release', SLOW, () => {
  it('claims a ready machine (idempotently) and releases it', async () => {
    await until(async () => (await stack.api.instances.countByState('alpha')).ready >= 1);
    const claimed = await warmer(['claim', 'alpha', '--assignee', 'ada@example.com', '--request-id', 'cli-job-1', '--label', 'team=infra', '--json']);
    expect(claimed.stderr).toBe('');
    expect(claimed.code).toBe(0);
    const res = json(claimed);
    expect(res.replayed).toBe(false);
    expect(res.instances).toHaveLength(1);
    const inst = res.instances[0];
    expect(inst).toMatchObject({ pool: 'alpha', state: 'claimed', assignee: 'ada@example.com', labels: { team: 'infra' }, requestId: 'cli-job-1' });
    expect((await stack.api.instances.get(inst.name))!.state).toBe('claimed');

    // A replay must ask for the same claim (assignee and labels included) ...
    const replay = await warmer(['claim', 'alpha', '--assignee', 'ada@example.com', '--request-id', 'cli-job-1', '--label', 'team=infra']);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain(inst.name);
    expect(replay.stdout).toContain('replayed');

    // ... a different one is refused (422 idempotency_key_reused), nothing claimed.
    const reused = await warmer(['claim', 'alpha', '--request-id', 'cli-job-1']);
    expect(reused.code).not.toBe(0);
    expect(reused.stderr).toContain('idempotency_key_reused');

    const shown = await warmer(['instance', inst.name, '--json']);
    expect(json(shown)).toMatchObject({ name: inst.name, state: 'claimed' });

    const released = await warmer(['release', inst.name, '--json']);
    expect(released.code).toBe(0);
    expect(json(released)).toMatchObject({ alreadyReleased: false, instance: { name: inst.name, state: 'deleting' } });
    const twice = await warmer(['release', inst.name]);
    expect(twice.code).toBe(0);
    expect(twice.stdout).toContain(`${inst.name} was already released`);
  });

  it('a claim from a disabled pool exits 1 with 409; a bad label lists the details', async () => {
    const disabled = await warmer(['claim', 'beta']);
    expect(disabled.code).toBe(1);
    expect(disabled.stderr).toContain('warmer: 409 pool_disabled: pool "beta" is disabled');
    const bad = await warmer(['claim', 'alpha', '--label', 'Team=x', '--json']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('warmer: 400 bad_request: invalid request body\n  - labels.Team: ');
    expect(json(bad)).toMatchObject({ error: { status: 400, code: 'bad_request', details: [{ path: 'labels.Team' }] } });
  });

  it('drain disables the pool', async () => {
    const r = await warmer(['drain', 'alpha']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('pool alpha disabled');
    expect((await serverPools()).alpha!.enabled).toBe(false);
  });
});

describe('errors and usage', SLOW, () => {
  it('a wrong token exits 1 with the 401 message; a claim token on an admin command gets 403', async () => {
    const [r, env, forbidden] = await Promise.all([
      warmer(['status', '--token', 'wrong-token-wrong-token']),
      warmer(['pools', 'list', '--json'], { WARMER_ADMIN_TOKEN: 'wrong-token-wrong-token' }),
      warmer(['status'], { WARMER_ADMIN_TOKEN: CLAIM }),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('warmer: 401 unauthorized: invalid token');
    expect(env.code).toBe(1);
    expect(json(env)).toEqual({ error: { status: 401, code: 'unauthorized', message: 'invalid token' } });
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toContain('warmer: 403 forbidden: this route needs an admin token');
  });

  it('no token, bad arguments and unknown commands exit 2; --help exits 0 with examples', async () => {
    const [noToken, count, noFile, unknown, nothing, help, applyHelp] = await Promise.all([
      warmer(['status'], { WARMER_ADMIN_TOKEN: undefined }),
      warmer(['claim', 'alpha', '--count', '0']),
      warmer(['pools', 'apply']),
      warmer(['frobnicate']),
      warmer([]),
      warmer(['--help']),
      warmer(['pools', 'apply', '--help']),
    ]);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('no admin token: set WARMER_ADMIN_TOKEN or pass --token');
    expect(count.code).toBe(2);
    expect(count.stderr).toContain("option '--count <n>' argument '0' is invalid");
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain("required option '-f, --file <path>' not specified");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    expect(nothing.code).toBe(2);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: warmer');
    expect(help.stdout).toContain('Examples:');
    expect(applyHelp.code).toBe(0);
    expect(applyHelp.stdout).toContain('--prune');
  });

  it('an unreachable API exits 1 and says so', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const { port } = closed.address() as AddressInfo;
    await new Promise((r) => closed.close(r));
    const r = await warmer(['status', '--url', `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`warmer: cannot reach warmer at http://127.0.0.1:${port}: connection refused`);
  });
});
