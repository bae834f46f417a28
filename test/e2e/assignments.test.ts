/**
 * Assignments end to end on the local stack: a claim with Ada's key lets Ada log in over
 * SSH with her own key (and she could not before); listing and filters; extend;
 * reassignment to Bob (Ada's key stops working, Bob's works, the admin key stays);
 * unassign; renewal keeps a short claim alive and stopping it lets reconcile reclaim it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ssh2 from 'ssh2';
import { memoryLogger } from '../../shared/logging.js';
import { putPool } from '../../shared/services/pools.js';
import type { LocalStack } from '../../local/stack.js';
import { startTestStack } from '../support/local-stack.js';
import { ADMIN_TOKEN, CLAIM_TOKEN, claim, expectConsistent, spec, waitFor, waitForCounts } from './support.js';

const logger = memoryLogger();
let stack: LocalStack;

const keyPair = (user: string) => {
  const k = ssh2.utils.generateKeyPairSync('ed25519');
  return { user, private: k.private, entry: `${user}:${k.public.trim()} ${user}@laptop` };
};
const admin = keyPair('admin');
const ada = keyPair('ada');
const bob = keyPair('bob');

beforeAll(async () => {
  stack = await startTestStack({
    bootDelayMs: 500,
    bootJitterMs: 100,
    operationDelayMs: 50,
    scheduleMs: 500,
    addressBase: '127.54.0.1',
    logger,
  });
  await putPool(stack.api, 'testers', spec({ targetReady: 2, sshAdminKeys: [admin.entry] }));
});
afterAll(async () => stack?.stop());

async function api(method: string, path: string, body?: unknown, token = CLAIM_TOKEN) {
  const res = await fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as any };
}

/** Logs in as `user` with `key` and runs `whoami`: the user's name, or the error. */
function sshWhoami(host: string, who: { user: string; private: string }): Promise<string> {
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    client
      .on('ready', () =>
        client.exec('whoami', (err, stream) => {
          if (err) return resolve(`error: ${err.message}`);
          let out = '';
          stream.on('data', (d: Buffer) => (out += d.toString())).stderr.on('data', () => {});
          stream.on('close', () => {
            client.end();
            resolve(out.trim());
          });
        }),
      )
      .on('error', (err) => resolve(`error: ${err.message}`))
      .connect({ host, port: 2222, username: who.user, privateKey: who.private, readyTimeout: 5000 });
  });
}

const accessOf = async (name: string) => (await api('GET', `/instances/${name}`)).json.access?.state;

describe('onboarding a tester', () => {
  it('claim with Ada’s key → Ada logs in; list; extend; reassign to Bob; unassign', async () => {
    await waitForCounts(stack, 'testers', { ready: 2 }, 30_000);
    const ready = await stack.api.instances.listByPool('testers', ['ready']);
    for (const r of ready) expect(await sshWhoami(r.ip!, ada)).toMatch(/authentication/i);
    for (const r of ready) expect(await sshWhoami(r.ip!, admin)).toBe('admin');

    const claimed = await claim(stack, 'testers', { assignee: 'ada', sshKeys: [ada.entry] });
    expect(claimed.status).toBe(200);
    const m = claimed.json.instances[0];
    expect(m).toMatchObject({ assignee: 'ada', sshKeys: [ada.entry], access: { state: 'pending' } });
    await waitFor('Ada’s access to be applied', async () => (await accessOf(m.name)) === 'applied', 20_000);
    expect(await sshWhoami(m.ip, ada)).toBe('ada');
    expect(await sshWhoami(m.ip, admin)).toBe('admin');
    // Only that machine: the other ready machine still refuses Ada.
    const other = ready.find((r) => r.name !== m.name)!;
    expect(await sshWhoami(other.ip!, ada)).toMatch(/authentication/i);

    // List and filter.
    const mine = await api('GET', '/instances?pool=testers&state=claimed&assignee=ada');
    expect(mine.json.instances.map((i: { name: string }) => i.name)).toEqual([m.name]);
    expect((await api('GET', '/instances?assignee=bob')).json.instances).toEqual([]);
    const all = await api('GET', '/instances?pool=testers', undefined, ADMIN_TOKEN);
    expect(all.json.instances.length).toBeGreaterThanOrEqual(2);

    // Extend to a date weeks ahead.
    const until = new Date(Date.now() + 21 * 86400_000).toISOString();
    expect((await api('PATCH', `/instances/${m.name}`, { expiresAt: until })).json.expiresAt).toBe(until);
    expect((await stack.api.instances.get(m.name))!.claim!.expiresAt).toBe(Date.parse(until));

    // Reassign to Bob: Ada's key stops working, Bob's works, the admin key stays.
    const re = await api('PATCH', `/instances/${m.name}`, { assignee: 'bob', sshKeys: [bob.entry] });
    expect(re.json).toMatchObject({ assignee: 'bob', access: { state: 'pending' } });
    await waitFor('Bob’s access to be applied', async () => (await accessOf(m.name)) === 'applied', 20_000);
    expect(await sshWhoami(m.ip, bob)).toBe('bob');
    expect(await sshWhoami(m.ip, ada)).toMatch(/authentication/i);
    expect(await sshWhoami(m.ip, admin)).toBe('admin');

    // Unassign: the machine goes, and the pool refills.
    expect((await api('DELETE', `/instances/${m.name}`)).status).toBe(202);
    await waitFor('the machine to be deleted', async () => (await stack.api.instances.get(m.name))?.state === 'deleted', 20_000);
    expect(await stack.compute.control.getInstance(m.name)).toBeNull();
    await waitForCounts(stack, 'testers', { ready: 2 }, 30_000);
    await expectConsistent(stack, 'testers');
  }, 120_000);

  it('renewing keeps a short claim alive past its lifetime; once renewals stop, reconcile reclaims it', async () => {
    await waitForCounts(stack, 'testers', { ready: 2 }, 30_000);
    const res = await claim(stack, 'testers', { assignee: 'ci-job', lifetimeSeconds: 10 });
    const m = res.json.instances[0];
    const firstExpiry = Date.parse(m.expiresAt);
    // Renew every 2 s for 14 s: longer than the lifetime.
    const until = Date.now() + 14_000;
    while (Date.now() < until) {
      const renewed = await api('POST', `/instances/${m.name}/renew`);
      expect(renewed.status).toBe(200);
      await new Promise((r) => setTimeout(r, 2000));
    }
    expect(Date.now()).toBeGreaterThan(firstExpiry);
    expect((await stack.api.instances.get(m.name))!.state).toBe('claimed');
    expect(await stack.compute.control.getInstance(m.name)).not.toBeNull();
    // Stop renewing: it expires within a lifetime, and reconcile tears it down.
    await waitFor('the expired claim to be reclaimed', async () => (await stack.api.instances.get(m.name))?.state === 'deleted', 25_000, 250);
    expect((await stack.api.instances.get(m.name))!.reason).toBe('claim_expired');
    expect((await api('POST', `/instances/${m.name}/renew`)).status).toBe(409);
    await expectConsistent(stack, 'testers');
  }, 90_000);
});
