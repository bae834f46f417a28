/**
 * `warmer assign / assignments / extend / unassign` (node cli/warmer.js) against a local
 * stack started here: the table, --json, the expiry changes, usage and API errors.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ssh2 from 'ssh2';
import { silentLogger } from '../../shared/logging.js';
import { putPool } from '../../shared/services/pools.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { duration, sshKeyEntry } from '../../cli/assignments.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SLOW = { timeout: 180_000 };
const CLAIM = 'claim-token-cli-assign-0123';
const ADMIN = 'admin-token-cli-assign-0123';

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
    addressBase: '127.61.0.1',
    logger: silentLogger,
  });
  dir = mkdtempSync(join(tmpdir(), 'warmer-cli-assign-'));
  await putPool(stack.api, 'testers', {
    image: 'projects/debian-cloud/global/images/family/debian-12',
    machineType: 'e2-small',
    zones: ['us-central1-a'],
    targetReady: 1,
    maxSize: 3,
    healthCheck: { port: 2222 },
  });
});
afterAll(async () => {
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function warmer(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(ROOT, 'cli/warmer.js'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, WARMER_URL: stack.apiUrl, WARMER_ADMIN_TOKEN: ADMIN, WARMER_CLAIM_TOKEN: CLAIM },
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

async function waitReady(pool: string) {
  const deadline = Date.now() + 30_000;
  while ((await stack.api.instances.countByState(pool)).ready < 1) {
    if (Date.now() > deadline) throw new Error(`${pool} never got a ready machine`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('argument helpers', () => {
  it('durations and key entries', () => {
    expect([duration('90'), duration('90s'), duration('45m'), duration('12h'), duration('2d'), duration('1w')]).toEqual([90, 90, 2700, 43200, 172800, 604800]);
    expect(() => duration('soon')).toThrow(/duration/);
    expect(() => duration('0')).toThrow(/at least/);
    expect(sshKeyEntry('ssh-ed25519 AAAAC3Nz ada@laptop', 'Ada.Lovelace@example.com')).toBe('ada.lovelace:ssh-ed25519 AAAAC3Nz ada@laptop');
    expect(sshKeyEntry('bob:ssh-ed25519 AAAAC3Nz', 'ada')).toBe('bob:ssh-ed25519 AAAAC3Nz');
    expect(() => sshKeyEntry('-----BEGIN OPENSSH PRIVATE KEY-----', 'ada')).toThrow(/private key/);
  });
});

describe('warmer assign, assignments, extend, unassign', () => {
  it(
    'assigns a machine with a key file, lists it, extends it, and takes it back',
    async () => {
      await waitReady('testers');
      const pub = join(dir, 'ada.pub');
      writeFileSync(pub, `${ssh2.utils.generateKeyPairSync('ed25519').public} ada@laptop\n`);

      const assigned = await warmer(['assign', 'testers', '--assignee', 'ada', '--ssh-key', pub, '--lifetime', '4w', '--json']);
      expect(assigned.code, assigned.stderr).toBe(0);
      const m = JSON.parse(assigned.stdout).instances[0];
      expect(m).toMatchObject({ pool: 'testers', assignee: 'ada', sshKeys: [expect.stringMatching(/^ada:ssh-ed25519 AAAA\S+ ada@laptop$/)] });
      expect(Date.parse(m.expiresAt) - Date.parse(m.claimedAt)).toBe(28 * 86400_000);

      const table = await warmer(['assignments']);
      expect(table.code, table.stderr).toBe(0);
      for (const head of ['machine', 'pool', 'assignee', 'since', 'expires', 'address']) expect(table.stdout).toContain(head);
      expect(table.stdout).toContain(m.name);
      expect(table.stdout).toContain(m.ip);
      const listed = JSON.parse((await warmer(['assignments', '--assignee', 'ada', '--json'])).stdout);
      expect(listed.instances.map((i: { name: string }) => i.name)).toEqual([m.name]);
      expect(JSON.parse((await warmer(['assignments', '--assignee', 'bob', '--json'])).stdout).instances).toEqual([]);

      const by = await warmer(['extend', m.name, '--by', '1w', '--json']);
      expect(by.code, by.stderr).toBe(0);
      expect(Date.parse(JSON.parse(by.stdout).expiresAt)).toBe(Date.parse(m.expiresAt) + 7 * 86400_000);
      const until = await warmer(['extend', m.name, '--until', '2099-01-31T18:00:00Z']);
      expect(until.code, until.stderr).toBe(1); // more than a year ahead: the API says 400
      expect(until.stderr).toMatch(/400 bad_request: .*366 days/);
      const soon = new Date(Date.now() + 3 * 86400_000).toISOString();
      const ok = await warmer(['extend', m.name, '--until', soon]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toContain(`now expires ${soon}`);
      const both = await warmer(['extend', m.name]);
      expect(both.code).toBe(2);
      expect(both.stderr).toMatch(/exactly one of --by or --until/);

      const bad = await warmer(['assign', 'testers', '--assignee', 'ada', '--ssh-key', 'ssh-ed25519']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/400 bad_request[\s\S]*sshKeys\.0/);

      const gone = await warmer(['unassign', m.name]);
      expect(gone.code, gone.stderr).toBe(0);
      expect(gone.stdout).toContain(`unassigned ${m.name}`);
      expect((await stack.api.instances.get(m.name))!.state).toMatch(/deleting|deleted/);
    },
    SLOW.timeout,
  );
});
