/**
 * `npm start` as a process: the ports it is given, the passphrase it is given (never
 * printed), state that survives the stack being killed (SIGKILL) and the launcher being
 * killed, and stopping: killing only the npm process stops the stack, so the next start
 * on the same ports does not fail with "address already in use"; SIGTERM stops it cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../e2e/support.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(join(tmpdir(), 'warmer-npm-start-'));
const CLAIM = 'npm-start-claim-token-0123';
const ADMIN = 'npm-start-admin-token-0123';
const PASSPHRASE = 'npm-start-passphrase-secret';
writeFileSync(
  join(dir, 'pools.yaml'),
  `pools:
  tiny:
    image: projects/debian-cloud/global/images/family/debian-12
    machineType: e2-small
    zones: [us-central1-a]
    targetReady: 1
    maxSize: 4
    healthCheck: { timeoutMs: 500, intervalSeconds: 1 }
`,
);

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

interface Started {
  child: ChildProcess;
  output: () => string;
  /** The stack's own process (not npm's). */
  pid: number;
  api: string;
  exited: Promise<number | null>;
}

async function start(via: 'npm' | 'node', ports: Record<'api' | 'firestore' | 'pubsub' | 'compute', number>, state = 'state'): Promise<Started> {
  const args = [
    '--port',
    String(ports.api),
    '--firestore-port',
    String(ports.firestore),
    '--pubsub-port',
    String(ports.pubsub),
    '--compute-port',
    String(ports.compute),
    '--pools',
    join(dir, 'pools.yaml'),
    '--state-dir',
    join(dir, state),
    '--state-interval',
    '200',
    '--boot-delay',
    '200',
    '--schedule',
    '500',
    '--no-table',
  ];
  const [command, argv] = via === 'npm' ? ['npm', ['start', '--', ...args]] : [process.execPath, ['--import', 'tsx', 'local/start.ts', ...args]];
  const child = spawn(command, argv, {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      METADATA_SERVER_DETECTION: 'none',
      WARMER_CLAIM_TOKENS: CLAIM,
      WARMER_ADMIN_TOKENS: ADMIN,
      WARMER_SSH_KEY_PASSPHRASE: PASSPHRASE,
      WARMER_LOG_LEVEL: 'ERROR',
    },
  });
  children.push(child);
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const how = () => `exit code ${child.exitCode}, signal ${child.signalCode}`;
  const pid = await waitFor(
    'the banner',
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${via} ended before the banner (${how()}): ${text}`);
      const m = /process\s+(\d+)/.exec(text);
      return m ? Number(m[1]) : null;
    },
    60_000,
    100,
  );
  return { child, output: () => text, pid, api: `http://127.0.0.1:${ports.api}`, exited };
}

const call = async (s: Started, method: string, path: string, token: string, body?: unknown) => {
  const res = await fetch(`${s.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: (await res.json()) as any };
};

const gone = (s: Started) => waitFor(`process ${s.pid} to exit`, async () => !alive(s.pid), 15_000, 100);

describe('npm start as a process', () => {
  it('SIGTERM to the stack itself stops it with exit code 0', { timeout: 120_000 }, async () => {
    const ports = { api: await freePort(), firestore: await freePort(), pubsub: await freePort(), compute: await freePort() };
    const s = await start('node', ports, 'state-sigterm');
    process.kill(s.pid, 'SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.output()).toContain('SIGTERM: stopping');
    expect(s.output()).toContain('stopped; nothing left running.');
    for (const p of Object.values(ports)) expect(await listening(p)).toBe(false);
  });

  it('honours ports and the passphrase; survives kill -9 and a killed npm; stops on SIGTERM', { timeout: 240_000 }, async () => {
    const ports = { api: await freePort(), firestore: await freePort(), pubsub: await freePort(), compute: await freePort() };

    // 1. Through npm: the given ports, the passphrase from the environment, never printed.
    const a = await start('npm', ports);
    expect(a.pid).not.toBe(a.child.pid);
    expect(a.output()).toContain(`Firestore      127.0.0.1:${ports.firestore}`);
    expect(a.output()).toContain(`Pub/Sub        127.0.0.1:${ports.pubsub}`);
    expect(a.output()).toContain(`Compute Engine http://127.0.0.1:${ports.compute}`);
    expect(a.output()).toContain('from WARMER_SSH_KEY_PASSPHRASE');
    expect(a.output()).not.toContain(PASSPHRASE);
    for (const p of Object.values(ports)) expect(await listening(p)).toBe(true);
    const tiny = (await call(a, 'GET', '/pools/tiny', ADMIN)).json;
    expect((await call(a, 'PUT', '/pools/tiny', ADMIN, { ...tiny.spec, targetReady: 2 })).status).toBe(200);
    await waitFor('a ready machine', async () => (await call(a, 'GET', '/pools/tiny', ADMIN)).json.counts?.ready >= 1, 60_000, 200);
    const claimed = await call(a, 'POST', '/claim', CLAIM, { pool: 'tiny', requestId: 'npm-req-1' });
    expect(claimed.status).toBe(200);
    const machine = claimed.json.instances[0];

    // Killing only npm stops the stack: no process, no port left behind.
    process.kill(a.child.pid!, 'SIGKILL');
    await gone(a);
    expect(a.output()).toContain('stopped; nothing left running.');
    for (const p of Object.values(ports)) expect(await listening(p)).toBe(false);

    // 2. Same ports again (no "address already in use"), state back.
    const b = await start('node', ports);
    expect(b.output()).toContain('kept from the state, not reloaded: tiny');
    expect((await call(b, 'GET', '/pools/tiny', ADMIN)).json.spec.targetReady).toBe(2);
    const held = await call(b, 'GET', `/instances/${machine.name}`, CLAIM);
    expect(held.status).toBe(200);
    expect(held.json).toMatchObject({ name: machine.name, state: 'claimed', ip: machine.ip });
    const replay = await call(b, 'POST', '/claim', CLAIM, { pool: 'tiny', requestId: 'npm-req-1' });
    expect(replay.json.replayed).toBe(true);
    expect(replay.json.instances.map((i: { name: string }) => i.name)).toEqual([machine.name]);
    await waitFor('a ready machine', async () => (await call(b, 'GET', '/pools/tiny', ADMIN)).json.counts?.ready >= 1, 60_000, 200);
    const second = await call(b, 'POST', '/claim', CLAIM, { pool: 'tiny', requestId: 'npm-req-2' });
    expect(second.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_000)); // > --state-interval
    // kill -9 of the stack itself: at most the last interval is lost.
    process.kill(b.pid, 'SIGKILL');
    await gone(b);

    // 3. Again on the same ports: both claims are there; SIGTERM to npm stops it cleanly.
    const c = await start('npm', ports);
    const both = await call(c, 'POST', '/claim', CLAIM, { pool: 'tiny', requestId: 'npm-req-2' });
    expect(both.json.replayed).toBe(true);
    expect(both.json.instances[0].name).toBe(second.json.instances[0].name);
    expect((await call(c, 'GET', `/instances/${machine.name}`, CLAIM)).json.state).toBe('claimed');
    process.kill(c.child.pid!, 'SIGTERM');
    await gone(c);
    expect(c.output()).toContain('stopped; nothing left running.');
    for (const p of Object.values(ports)) expect(await listening(p)).toBe(false);
  });
});
