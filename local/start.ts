/**
 * `npm start`: the whole of warmer on this machine, no cloud, no credentials.
 * Starts the embedded emulators and the functions, loads local/pools.yaml, serves the
 * API at http://127.0.0.1:8080 (PORT changes it) and shows the pools filling up.
 * State (pools, records, claims, machines) is kept in .warmer/state/ and comes back at the
 * next start; --fresh starts empty. Ctrl-C, SIGTERM, SIGHUP or the launching npm process
 * going away stop everything.
 */
import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import Table from 'cli-table3';
import { parse as parseYaml } from 'yaml';
import { ConfigError, loadLocalConfig } from '../shared/config.js';
import { createLogger, type Severity } from '../shared/logging.js';
import { toOpenSshRsa } from '../shared/machine-keys.js';
import type { PoolSpecInput } from '../shared/domain/pool-spec.js';
import { startLocalStack } from './stack.js';
import { watchLauncher } from './parent-watch.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

let env: ReturnType<typeof loadLocalConfig>;
try {
  env = loadLocalConfig();
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
}

const program = new Command()
  .name('npm start --')
  .description('run warmer locally against embedded emulators')
  .option('--port <n>', 'HTTP API port (env PORT)', String(env.port ?? 8080))
  .option('--firestore-port <n>', 'Firestore emulator port (0: any free port)', '0')
  .option('--pubsub-port <n>', 'Pub/Sub emulator port (0: any free port)', '0')
  .option('--compute-port <n>', 'Compute Engine emulator port (0: any free port)', '0')
  .option('--state-dir <dir>', 'where the state that survives a restart is kept', join(root, '.warmer/state'))
  .option('--fresh', 'start empty, ignoring the saved state (which is then overwritten)', false)
  .option('--state-interval <ms>', 'how often the state is saved when it changed', '2000')
  .option('--pools <file>', 'pools file (YAML)', join(root, 'local/pools.yaml'))
  .option('--boot-delay <ms>', 'local machines boot delay', '3000')
  .option('--schedule <ms>', 'scheduler period (Cloud Scheduler: 60000)', '10000')
  .option('--ssh-port <n>', 'SSH port of the local machines when port 22 cannot be bound (not root)', '2222')
  .option('--log-level <level>', 'DEBUG, INFO, NOTICE, WARNING or ERROR', env.logLevel ?? 'WARNING')
  .option('--no-table', 'do not draw the live table')
  .parse();
const o = program.opts<{
  port: string;
  firestorePort: string;
  pubsubPort: string;
  computePort: string;
  stateDir: string;
  fresh: boolean;
  stateInterval: string;
  pools: string;
  bootDelay: string;
  schedule: string;
  sshPort: string;
  logLevel: Severity;
  table: boolean;
}>();

function port(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) {
    console.error(`${flag}: must be a port number (0 to 65535), got ${JSON.stringify(value)}`);
    process.exit(1);
  }
  return n;
}

const tokens = (given: string[], kind: string): string[] => (given.length > 0 ? given : [`${kind}-${randomBytes(12).toString('hex')}`]);

/**
 * The passphrase that encrypts per-machine keys: WARMER_SSH_KEY_PASSPHRASE when set (never
 * printed), else one made once for this checkout and kept in .warmer/ (a local dev
 * secret, printed so a worker can be given it), so keys stay readable across restarts.
 */
function sshKeyPassphrase(): { value: string; shown: string } {
  if (env.sshKeyPassphrase) return { value: env.sshKeyPassphrase, shown: 'from WARMER_SSH_KEY_PASSPHRASE (not shown)' };
  const file = join(root, '.warmer', 'ssh_key_passphrase');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `local-${randomBytes(12).toString('hex')}\n`, { mode: 0o600 });
  }
  const value = readFileSync(file, 'utf8').trim();
  return { value, shown: `${value} (generated, in .warmer/ssh_key_passphrase; set WARMER_SSH_KEY_PASSPHRASE to choose it)` };
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

// A stop asked for before the stack is up (a signal, the launcher gone) is kept and
// honoured as soon as it is: the handlers are in place from the first moment.
let requestStop: (why: string) => void = (why) => {
  earlyStop ??= why;
};
let earlyStop: string | null = null;
process.on('SIGINT', () => requestStop('SIGINT'));
process.on('SIGTERM', () => requestStop('SIGTERM'));
process.on('SIGHUP', () => requestStop('SIGHUP'));
// Killing only npm (or tsx) must not leave the stack running on its ports.
watchLauncher((why) => requestStop(why));

async function main() {
  const claimTokens = tokens(env.claimTokens, 'claim');
  const adminTokens = tokens(env.adminTokens, 'admin');
  const passphrase = sshKeyPassphrase();
  const key = adminKey();
  const file = parseYaml(readFileSync(o.pools, 'utf8')) as { pools?: Record<string, PoolSpecInput> };
  const pools = Object.fromEntries(
    Object.entries(file.pools ?? {}).map(([name, spec]) => [name, { ...spec, sshAdminKeys: [...(spec.sshAdminKeys ?? []), key.entry] }]),
  );
  const logger = createLogger({ minSeverity: o.logLevel });
  const stack = await startLocalStack({
    port: port('--port', o.port),
    firestorePort: port('--firestore-port', o.firestorePort),
    pubsubPort: port('--pubsub-port', o.pubsubPort),
    computePort: port('--compute-port', o.computePort),
    stateDir: resolve(o.stateDir),
    fresh: o.fresh,
    stateIntervalMs: Math.max(100, Number(o.stateInterval) || 2000),
    sshKeyPassphrase: passphrase.value,
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
  const state = stack.state!;

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
  pools          ${o.pools}${state.keptPools.length ? ` (kept from the state, not reloaded: ${state.keptPools.join(', ')})` : ''}
  state          ${state.dir} (${o.fresh ? 'started fresh' : `${state.restoredDocuments} documents and ${state.restoredMachines} machines restored`}; --fresh starts empty)
  key passphrase ${passphrase.shown}
  process        ${process.pid}

Claim a machine and log in:
  curl -s -X POST ${stack.apiUrl}/claim -H 'authorization: Bearer ${claimTokens[0]}' \\
       -H 'content-type: application/json' -d '{"pool":"${first}"}'
  ssh -i ${key.privatePath} -p ${stack.compute.sshPort} -o StrictHostKeyChecking=no admin@<ip from the answer>
Give it back:
  curl -s -X DELETE ${stack.apiUrl}/instances/<name> -H 'authorization: Bearer ${claimTokens[0]}'
Pools and counts:
  curl -s ${stack.apiUrl}/pools -H 'authorization: Bearer ${adminTokens[0]}'

Ctrl-C stops everything (the state is saved).
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
    // The terminal or pipe may be gone with the launcher; stopping must not die on EPIPE.
    out.on('error', () => {});
    setTimeout(() => process.exit(1), 20_000).unref();
    out.write(`\n${signal}: stopping…\n`);
    await stack.stop();
    out.write('stopped; nothing left running.\n');
    process.exit(0);
  };
  requestStop = (why) => void stop(why);
  if (earlyStop) requestStop(earlyStop);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
