/**
 * The Travis worker's whole flow against the local stack (see FACTS.md "The Travis
 * worker's contract"): request a machine, decrypt its key, log in as travis, upload
 * build.sh over SFTP, run it under a PTY, download /tmp/build.trace, then delete the VM
 * through the Compute Engine API itself; warmer closes the record.
 */
import { InstancesClient, ZoneOperationsClient } from '@google-cloud/compute';
import { PassThroughClient } from 'google-auth-library';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { putPool } from '../../shared/services/pools.js';
import type { LocalStack } from '../../local/stack.js';
import { startTestStack } from '../support/local-stack.js';
import { travisPoolSpec, travisRequestInstance, waitFor, waitForCounts } from './support.js';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    bootDelayMs: 100,
    bootJitterMs: 50,
    operationDelayMs: 50,
    scheduleMs: 300,
    orphanGraceMs: 2_000,
    addressBase: '127.52.0.1',
  });
});
afterAll(async () => stack?.stop());

const call = <T>(fn: (cb: (err: Error | null | undefined, v: T) => void) => void) =>
  new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));

it('runs a build the way the Travis worker does, and warmer closes the record after the worker deletes the VM', async () => {
  await putPool(
    stack.api,
    'travis',
    travisPoolSpec({ healthCheck: { port: stack.compute.sshPort, timeoutMs: 500, failuresBeforeUnhealthy: 2, intervalSeconds: 1 } }),
  );
  await waitForCounts(stack, 'travis', { ready: 1 });
  const answer = await travisRequestInstance(stack);
  expect(answer.status).toBe(200);
  const vm = answer.body;

  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) =>
    client
      .on('ready', resolve)
      .on('error', reject)
      .connect({
        host: vm.public_ip || vm.ip,
        port: stack.compute.sshPort,
        username: 'travis',
        privateKey: vm.ssh_private_key,
        passphrase: stack.config.sshKeyPassphrase!,
        readyTimeout: 5000,
      }),
  );
  const sftp = await call<ssh2.SFTPWrapper>((cb) => client.sftp(cb));
  // the worker refuses to overwrite: the file must not exist yet
  await expect(call((cb) => sftp.stat('build.sh', cb))).rejects.toThrow(/no such file/i);
  await call<void>((cb) =>
    sftp.writeFile('build.sh', 'echo "building on $(hostname)"\necho step-1 > /tmp/build.trace\ntty >> /tmp/build.trace\nexit 3\n', cb as never),
  );
  const run = await new Promise<{ out: string; code: number | null }>((resolve, reject) =>
    client.exec('bash ~/build.sh', { pty: { term: 'xterm', cols: 120, rows: 40 } }, (err, stream) => {
      if (err) return reject(err);
      let out = '';
      let code: number | null = null;
      stream.on('data', (d: Buffer) => (out += d.toString()));
      stream.on('exit', (c: number | null) => (code = c));
      stream.on('close', () => resolve({ out, code }));
    }),
  );
  expect(run.code).toBe(3);
  expect(run.out).toContain(`building on ${vm.name}`);
  const trace = (await call<Buffer>((cb) => sftp.readFile('/tmp/build.trace', cb))).toString();
  expect(trace).toMatch(/^step-1\n\/dev\/pts\/\d+\n$/);
  client.end();

  // the worker deletes the VM through the Compute Engine API, never telling warmer
  const opts = { apiEndpoint: stack.compute.endpoint.host, port: stack.compute.endpoint.port, protocol: 'http', authClient: new PassThroughClient() } as const;
  const instances = new InstancesClient(opts as never);
  const operations = new ZoneOperationsClient(opts as never);
  const [op] = await instances.delete({ project: stack.config.project, zone: vm.zone, instance: vm.name });
  let status = (op.latestResponse as { status?: string } | undefined)?.status;
  while (status !== 'DONE') {
    const [o] = await operations.wait({ project: stack.config.project, zone: vm.zone!, operation: String((op.latestResponse as { name?: string }).name) });
    status = o.status as string | undefined;
  }
  await instances.close();
  await operations.close();
  expect(await stack.compute.control.getInstance(vm.name!, vm.zone)).toBeNull();
  await waitFor('warmer closes the record of the deleted machine', async () => {
    await stack.tick();
    const open = await stack.api.instances.listByPool('travis', ['claimed']);
    return !open.some((i) => i.name === vm.name);
  });
}, 30_000);
