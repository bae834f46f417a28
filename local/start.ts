/**
 * `npm start`: the whole of warmer on this machine, no cloud, no credentials.
 * Starts the embedded emulators and the functions, loads local/pools.yaml, serves the
 * API at http://127.0.0.1:8080 (PORT changes it) and shows the pools filling up.
 * Ctrl-C stops everything.
 */
import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import Table from 'cli-table3';
import { parse as parseYaml } from 'yaml';
import { createLogger, type Severity } from '../shared/logging.js';
import { toOpenSshRsa } from '../shared/machine-keys.js';
import type { PoolSpecInput } from '../shared/domain/pool-spec.js';
import { startLocalStack } from './stack.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const program = new Command()
  .name('npm start --')
  .description('run warmer locally against embedded emulators')
  .option('--port <n>', 'HTTP API port (env PORT)', process.env.PORT ?? '8080')
  .option('--pools <file>', 'pools file (YAML)', join(root, 'local/pools.yaml'))
  .option('--boot-delay <ms>', 'local machines boot delay', '3000')
  .option('--schedule <ms>', 'scheduler period (Cloud Scheduler: 60000)', '10000')
  .option('--ssh-port <n>', 'SSH port of the local machines when port 22 cannot be bound (not root)', '2222')
  .option('--log-level <level>', 'DEBUG, INFO, NOTICE, WARNING or ERROR', process.env.WARMER_LOG_LEVEL ?? 'WARNING')
  .option('--no-table', 'do not draw the live table')
  .parse();
const o = program.opts<{ port: string; pools: string; bootDelay: string; schedule: string; sshPort: string; logLevel: Severity; table: boolean }>();

function tokens(envName: string, kind: string): string[] {
  const fromEnv = (process.env[envName] ?? '').split(',').map((t) => t.trim()).filter(Boolean);
  return fromEnv.length > 0 ? fromEnv : [`${kind}-${randomBytes(12).toString('hex')}`];
}

/** An admin key pair for the example pools, made once and kept in .warmer/. */
function adminKey(): { privatePath: string; entry: string } {
  const dir = join(root, '.warmer');
  const privatePath = join(dir, 'admin_key');
  const publicPath = `${privatePath}.pub`;
  if (!existsSync(privatePath) || !existsSync(publicPath)) {
    mkdirSync(dir, { recursive: true });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    writeFileSync(privatePath, privateKey, { mode: 0o600 });
    chmodSync(privatePath, 0o600);
    writeFileSync(publicPath, `${toOpenSshRsa(publicKey, 'warmer-local-admin')}\n`);
  }
  return { privatePath, entry: `admin:${readFileSync(publicPath, 'utf8').trim()}` };
}

async function main() {
  const claimTokens = tokens('WARMER_CLAIM_TOKENS', 'claim');
  const adminTokens = tokens('WARMER_ADMIN_TOKENS', 'admin');
  const key = adminKey();
  const file = parseYaml(readFileSync(o.pools, 'utf8')) as { pools?: Record<string, PoolSpecInput> };
  const pools = Object.fromEntries(
    Object.entries(file.pools ?? {}).map(([name, spec]) => [name, { ...spec, sshAdminKeys: [...(spec.sshAdminKeys ?? []), key.entry] }]),
  );
  const logger = createLogger({ minSeverity: o.logLevel });
  const stack = await startLocalStack({
    port: Number(o.port),
    claimTokens,
    adminTokens,
    pools,
    bootDelayMs: Number(o.bootDelay),
    bootJitterMs: Math.round(Number(o.bootDelay) / 3),
    sshPort: Number(o.sshPort),
    preferPort22: true,
    scheduleMs: Number(o.schedule),
    orphanGraceMs: 60_000,
    logger,
  });
  await stack.tick();

  const first = Object.keys(pools)[0] ?? 'ci-linux';
  const out = process.stdout;
  out.write(`
warmer is running locally.

  API            ${stack.apiUrl}
  claim token    ${claimTokens[0]}
  admin token    ${adminTokens[0]}
  Firestore      ${stack.firestore.hostPort} (embedded emulator)
  Pub/Sub        ${stack.pubsub.hostPort} (embedded emulator)
  Compute Engine ${stack.compute.url} (local machines on 127.x.y.z:${stack.compute.sshPort})
  pools          ${o.pools}

Claim a machine and log in:
  curl -s -X POST ${stack.apiUrl}/claim -H 'authorization: Bearer ${claimTokens[0]}' \\
       -H 'content-type: application/json' -d '{"pool":"${first}"}'
  ssh -i ${key.privatePath} -p ${stack.compute.sshPort} -o StrictHostKeyChecking=no admin@<ip from the answer>
Give it back:
  curl -s -X DELETE ${stack.apiUrl}/instances/<name> -H 'authorization: Bearer ${claimTokens[0]}'
Pools and counts:
  curl -s ${stack.apiUrl}/pools -H 'authorization: Bearer ${adminTokens[0]}'

Ctrl-C stops everything.
`);

  let stopping = false;
  let lastText = '';
  const draw = async () => {
    const table = new Table({ head: ['pool', 'target', 'max', 'creating', 'booting', 'ready', 'claimed', 'unhealthy', 'deleting'] });
    for (const pool of await stack.api.pools.listPools()) {
      const c = await stack.api.instances.countByState(pool.name);
      table.push([pool.name, pool.spec.targetReady, pool.spec.maxSize, c.creating, c.booting, c.ready, c.claimed, c.unhealthy + c.failed, c.deleting]);
    }
    const text = table.toString();
    if (text === lastText) return;
    lastText = text;
    out.write(`\n${new Date().toISOString()}\n${text}\n`);
  };
  const timer = setInterval(() => {
    if (!stopping && o.table) draw().catch(() => {});
  }, 2000);

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    out.write(`\n${signal}: stopping…\n`);
    await stack.stop();
    out.write('stopped; nothing left running.\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
