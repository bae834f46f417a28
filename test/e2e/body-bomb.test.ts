/**
 * Issue 9 item 1: no request body, compressed or not, may cost more memory than the body
 * limit, and no unauthenticated request more than its headers. A real functions-framework
 * process (its CLI, `--target=claim`, our entry module) is sent gzip bombs (~200 KB that
 * inflate to ~200 MiB each), several at once, with and without a token, plus an endless
 * chunked body; its peak resident memory (VmHWM in /proc) must stay near its baseline.
 * The child runs with a 384 MiB heap, about what a 512 MiB function gets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TOKEN = 'bomb-claim-token-0123456789';
const MiB = 1024 * 1024;
const INFLATED_MIB = 200;

let child: ChildProcess;
let port: number;
let bomb: Buffer;
/** Under the 64 KiB limit compressed (so only its encoding refuses it): ~60 MiB inflated. */
let smallBomb: Buffer;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

/** A JSON body that is ~all spaces, gzipped: ~INFLATED_MIB MiB inflated, a few hundred KB sent. */
async function makeBomb(inflatedMiB: number): Promise<Buffer> {
  const gz = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((r) => gz.on('end', r));
  gz.write('{"pool":"ci"');
  const spaces = Buffer.alloc(MiB, ' ');
  for (let i = 0; i < inflatedMiB; i++) if (!gz.write(spaces)) await new Promise((r) => gz.once('drain', r));
  gz.end('}');
  await done;
  return Buffer.concat(out);
}

function memory(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
  return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024 };
}

/** Sends one request; resolves with its status, or 'reset' if the server closed first. */
function send(opts: { path: string; headers: Record<string, string>; body?: Buffer; chunkedMiB?: number; method?: string }): Promise<number | 'reset'> {
  return new Promise((resolve) => {
    let answered = false;
    const req = request({ host: '127.0.0.1', port, path: opts.path, method: opts.method ?? 'POST', headers: opts.headers }, (res) => {
      answered = true;
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
      res.on('error', () => resolve(res.statusCode!));
    });
    req.on('error', () => {
      if (!answered) resolve('reset');
    });
    if (opts.chunkedMiB !== undefined) {
      // An endless-looking chunked body without Content-Length: stop when answered.
      const chunk = Buffer.alloc(64 * 1024, ' ');
      let sent = 0;
      const pump = () => {
        while (!answered && !req.destroyed && sent < opts.chunkedMiB! * MiB) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      req.write('{"pool":"ci","assignee":"');
      pump();
    } else {
      req.end(opts.body);
    }
  });
}

beforeAll(async () => {
  [bomb, smallBomb, port] = await Promise.all([makeBomb(INFLATED_MIB), makeBomb(60), freePort()]);
  child = spawn(
    process.execPath,
    [
      '--max-old-space-size=384',
      '--import',
      'tsx',
      'node_modules/@google-cloud/functions-framework/build/src/main.js',
      '--target=claim',
      '--source=functions/index.ts',
      `--port=${port}`,
    ],
    {
      env: { ...process.env, WARMER_PROJECT: 'bomb-test', WARMER_CLAIM_TOKENS: TOKEN, METADATA_SERVER_DETECTION: 'none', NODE_ENV: 'production' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  // Ready when it answers (GET /openapi.json needs no token and no store).
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await send({ path: '/openapi.json', method: 'GET', headers: {} }).catch(() => 'reset' as const);
    if (status === 200) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('the function process did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
}, 60_000);

afterAll(() => {
  child?.kill();
});

describe('body bombs against a real functions-framework process', () => {
  it(`gzip bombs (${INFLATED_MIB} MiB inflated each, with and without a token) and a chunked flood cost no memory`, async () => {
    expect(bomb.length).toBeLessThan(400 * 1024);
    expect(smallBomb.length).toBeLessThan(64 * 1024);
    // Warm the paths first (JIT, sockets), then take the baseline.
    for (let i = 0; i < 3; i++) {
      expect(
        await send({ path: '/claim', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: Buffer.from('{"pool":') }),
      ).toBe(400);
      expect(await send({ path: '/claim', headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') })).toBe(401);
    }
    const before = memory(child.pid!);
    const gzipHeaders = (b: Buffer) => ({ 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(b.length) });
    const basic = `Basic ${Buffer.from(`w:${TOKEN}`).toString('base64')}`;
    const results = await Promise.all([
      ...[1, 2, 3].map(() => send({ path: '/claim', headers: { ...gzipHeaders(bomb), authorization: `Bearer ${TOKEN}` }, body: bomb })),
      ...[1, 2, 3].map(() => send({ path: '/claim', headers: gzipHeaders(bomb), body: bomb })),
      ...[1, 2, 3].map(() => send({ path: '/claim', headers: { ...gzipHeaders(smallBomb), authorization: `Bearer ${TOKEN}` }, body: smallBomb })),
      ...[1, 2, 3].map(() => send({ path: '/request-instance', headers: { ...gzipHeaders(smallBomb), authorization: basic }, body: smallBomb })),
      send({ path: '/claim', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, chunkedMiB: 64 }),
      send({ path: '/claim', headers: { 'content-type': 'application/json', 'content-length': String(1024 * MiB), authorization: `Bearer ${TOKEN}` } }),
    ]);
    const after = memory(child.pid!);
    const grewMiB = after.peakMiB - before.peakMiB;
    console.log(`body bomb: peak RSS ${before.peakMiB.toFixed(1)} MiB before, ${after.peakMiB.toFixed(1)} MiB after (+${grewMiB.toFixed(1)} MiB)`);
    expect(child.exitCode).toBeNull();
    // With a token: 413 (its Content-Length is over the limit) or 415 (under it, but
    // compressed: never inflated); without a token: 401 (never read).
    expect(results.slice(0, 3)).toEqual([413, 413, 413]);
    expect(results.slice(3, 6)).toEqual([401, 401, 401]);
    expect(results.slice(6, 12)).toEqual([415, 415, 415, 415, 415, 415]);
    // The chunked flood stops at the cap; the declared gigabyte is refused unread.
    expect(results.slice(12)).toEqual([413, 413]);
    expect(grewMiB).toBeLessThan(8);
    // The process still serves.
    expect(await send({ path: '/claim', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: Buffer.from('[') })).toBe(400);
  }, 60_000);
});
