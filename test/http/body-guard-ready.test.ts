/**
 * The body guard's `ready` option (the entry point imports its configuration after its
 * own import): a request that arrives before it resolves waits for it, then is guarded
 * as usual (token, size, body parse); one whose wait fails gets a JSON 500 and reaches
 * nothing behind the guard.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { guardServer, type BodyGuardOptions } from '../../functions/http/body-guard.js';
import { buildTokenSet } from '../../shared/auth.js';
import { silentLogger } from '../../shared/logging.js';

const TOKEN = 'guard-ready-token-0123456789';
let server: Server | null = null;

afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = null;
});

async function serve(ready: BodyGuardOptions['ready'], seen: unknown[]): Promise<string> {
  server = createServer((req: IncomingMessage & { body?: unknown }, res) => {
    seen.push(req.body);
    res.end('ok');
  });
  guardServer(server, { tokens: () => buildTokenSet([TOKEN], []), logger: () => silentLogger, maxBodyBytes: () => 1024, ready });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const post = (url: string, body: string, token = TOKEN) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });

describe('body guard: ready', () => {
  it('holds a request until ready resolves, then guards it as usual', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let open = false;
    const seen: unknown[] = [];
    const url = await serve(() => (open ? null : gate), seen);
    const answer = post(url, '{"pool":"a"}').then(async (r) => ({ status: r.status, text: await r.text() }));
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([]);
    open = true;
    release();
    expect(await answer).toEqual({ status: 200, text: 'ok' });
    expect(seen).toEqual([{ pool: 'a' }]);
    // Once ready: a bad token is still refused, a good body still parsed.
    expect((await post(url, '{}', 'wrong-token-0123456789')).status).toBe(401);
    expect((await post(url, '{"pool":"b"}')).status).toBe(200);
    expect(seen).toEqual([{ pool: 'a' }, { pool: 'b' }]);
  });

  it('answers a JSON 500 and passes nothing on when the wait fails', async () => {
    const seen: unknown[] = [];
    const url = await serve(() => Promise.reject(new Error('no configuration module')), seen);
    const r = await post(url, '{"pool":"a"}');
    expect(r.status).toBe(500);
    expect(await r.json()).toEqual({ error: { code: 'internal', message: 'internal error' } });
    expect(seen).toEqual([]);
  });
});
