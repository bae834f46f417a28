/**
 * Deploys warmer to a Google Cloud project; every run converges (describe, compare,
 * update only what differs).
 *
 *   npm run deploy -- --project my-project --region europe-west1 --dry-run
 *   WARMER_CLAIM_TOKENS=… WARMER_ADMIN_TOKENS=… \
 *     npm run deploy -- --project my-project --region europe-west1
 *   npm run deploy -- --project my-project --region europe-west1 --destroy [--delete-vms]
 *   WARMER_CLAIM_TOKENS=… npm run deploy -- --project my-project --region europe-west1 --smoke-test --pool ci
 *
 * The commands come from planDeployment / planDestroy (deploy/plan.ts). --dry-run runs
 * only the reads (describes) and prints the changes a run would make, one shell line
 * each, on stdout; --offline plans for an empty project without running anything.
 * Secret values come from the environment or from files, are checked with the same rules
 * the functions apply (shared/config.ts), and are never printed. See docs/operations.md.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command as Cli, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig } from '../shared/config.js';
import { renderCommand } from './commands.js';
import { DeployError, executePlan, spawnRunner, type Runner, type SecretValues } from './execute.js';
import { writeMonitoringFiles } from './monitoring.js';
import { planDeployment, planDestroy, type FirestoreIndexes } from './plan.js';
import { smokeTest, SmokeError } from './smoke.js';
import { parseSettings, resourceNames, SettingsError, type SettingsInput } from './settings.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

interface CliOptions {
  project: string;
  region: string;
  dryRun?: boolean;
  offline?: boolean;
  destroy?: boolean;
  deleteVms?: boolean;
  smokeTest?: boolean;
  pool?: string;
  url?: string;
  idTokenFile?: string;
  egress?: 'direct' | 'connector';
  subnet?: string;
  invoker?: 'tokens' | 'iam';
  invokerMember?: string[];
  buildServiceAccount?: string;
  createBuildServiceAccount?: boolean;
  perMachineKeys?: boolean;
  monitoring: boolean;
  notificationChannel?: string[];
  prefix?: string;
  firestoreLocation?: string;
  firestoreTool?: 'firebase' | 'gcloud';
  teardownTopic?: string;
  refillTopic?: string;
  deadLetterTopic?: string;
  minRetryDelay?: string;
  maxRetryDelay?: string;
  maxDeliveryAttempts?: string;
  network?: string;
  vpcConnector?: string;
  createConnector: boolean;
  connectorRange?: string;
  firewall: boolean;
  healthPort?: string[];
  publicIps: boolean;
  vmServiceAccount?: string[];
  claimMinInstances?: string;
  claimMaxInstances?: string;
  claimIngress?: 'all' | 'internal-only' | 'internal-and-gclb';
  adminIngress?: 'all' | 'internal-only' | 'internal-and-gclb';
  logLevel?: 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR';
  sourceDir?: string;
  claimTokensFile?: string;
  adminTokensFile?: string;
  sshPassphraseFile?: string;
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
const seconds = (value: string) => {
  const m = /^(\d+)s?$/.exec(value);
  if (!m) throw new InvalidArgumentError('must be a number of seconds, e.g. 10 or 10s');
  return m[1]!;
};

function buildCli(io: Io): Cli {
  return new Cli()
    .name('deploy')
    .description('Create or update everything warmer needs in a Google Cloud project (idempotent).')
    .requiredOption('--project <id>', 'Google Cloud project id')
    .requiredOption('--region <region>', 'region of the functions, connector, scheduler job (e.g. europe-west1)')
    .option('--dry-run', 'read the project and print the changes a run would make (one shell line each); change nothing')
    .option('--offline', 'with --dry-run: plan for an empty project without reading it (no gcloud needed)')
    .option('--destroy', 'remove what warmer created (functions, tick, topics, secrets, IAM, network, monitoring); the Firestore database stays')
    .option('--delete-vms', 'with --destroy: also delete every machine labelled warmer-pool')
    .option('--smoke-test', 'claim one machine of --pool through the deployed API and release it')
    .option('--pool <name>', 'pool of the smoke test')
    .option('--url <url>', 'smoke test: the API base URL (default: the claim function URL from gcloud)')
    .option('--id-token-file <path>', 'smoke test with --invoker iam: a Google ID token (e.g. from gcloud auth print-identity-token)')
    .addOption(
      new Option('--egress <mode>', 'how reconcile reaches machines: direct (Direct VPC egress on --network/--subnet) or connector')
        .choices(['direct', 'connector'])
        .default('connector'),
    )
    .option('--subnet <name>', 'Direct VPC egress: the subnet of the function addresses', 'default')
    .addOption(
      new Option('--invoker <mode>', 'tokens: invoker IAM check disabled, warmer tokens decide; iam: Google ID token of --invoker-member needed too')
        .choices(['tokens', 'iam'])
        .default('tokens'),
    )
    .option(
      '--invoker-member <member>',
      'with --invoker iam: who may call the HTTP functions (repeatable), e.g. serviceAccount:ci@p.iam.gserviceaccount.com',
      collect,
    )
    .option('--build-service-account <email>', 'the service account Cloud Build builds the functions as')
    .option('--create-build-service-account', 'create <prefix>-build with the least roles a build needs, and use it')
    .option('--per-machine-keys', 'some pool issues per-machine SSH keys: create the passphrase secret and give it to reconcile')
    .option('--no-monitoring', 'skip the log-based metrics, alert policies and dashboard')
    .option('--notification-channel <name>', 'projects/P/notificationChannels/ID the alerts page (repeatable)', collect)
    .option('--prefix <name>', 'prefix of the resource names (functions, service accounts, secrets, job)', 'warmer')
    .option('--firestore-location <location>', 'location of a new Firestore database (default: the region)')
    .addOption(
      new Option('--firestore-tool <tool>', 'deploy rules/indexes with the firebase CLI or with gcloud (gcloud: indexes and TTL only)')
        .choices(['firebase', 'gcloud'])
        .default('firebase'),
    )
    .option('--teardown-topic <id>', 'teardown topic', 'warmer-teardown')
    .option('--refill-topic <id>', 'refill topic (the scheduler publishes here)', 'warmer-refill')
    .option('--dead-letter-topic <id>', 'dead-letter topic', 'warmer-dead-letter')
    .option('--min-retry-delay <seconds>', 'Pub/Sub retry policy: minimum backoff', seconds, '10')
    .option('--max-retry-delay <seconds>', 'Pub/Sub retry policy: maximum backoff', seconds, '600')
    .option('--max-delivery-attempts <n>', 'deliveries before a message is dead-lettered', '10')
    .option('--network <name>', 'VPC network of the machines', 'default')
    .option('--vpc-connector <name>', 'Serverless VPC Access connector (default: <prefix>-conn)')
    .option('--no-create-connector', 'use an existing connector (e.g. Shared VPC) instead of creating one')
    .option('--connector-range <cidr>', 'the connector /28 (also the firewall rule source)', '10.8.0.0/28')
    .option('--no-firewall', 'do not create the firewall rule for health checks')
    .option('--health-port <port>', 'health-check port the firewall opens (repeatable)', collect)
    .option('--no-public-ips', 'pools never give machines public IPs (drops compute.subnetworks.useExternalIp)')
    .option('--vm-service-account <email>', 'a service account pools attach to machines (repeatable)', collect)
    .option('--claim-min-instances <n>', 'warm instances of the claim function', '1')
    .option('--claim-max-instances <n>', 'max instances of the claim function', '100')
    .addOption(new Option('--claim-ingress <setting>', 'ingress of the claim function').choices(['all', 'internal-only', 'internal-and-gclb']).default('all'))
    .addOption(new Option('--admin-ingress <setting>', 'ingress of the admin function').choices(['all', 'internal-only', 'internal-and-gclb']).default('all'))
    .addOption(new Option('--log-level <level>', 'WARMER_LOG_LEVEL of the functions').choices(['DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR']).default('INFO'))
    .option('--source-dir <dir>', 'staging directory of the upload source', '.warmer/deploy-source')
    .option('--claim-tokens-file <path>', 'claim tokens (comma-separated), instead of $WARMER_CLAIM_TOKENS')
    .option('--admin-tokens-file <path>', 'admin tokens (comma-separated), instead of $WARMER_ADMIN_TOKENS')
    .option('--ssh-passphrase-file <path>', 'SSH key passphrase, instead of $WARMER_SSH_KEY_PASSPHRASE')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
}

export function toSettingsInput(o: CliOptions): SettingsInput {
  return {
    project: o.project,
    region: o.region,
    prefix: o.prefix,
    firestoreLocation: o.firestoreLocation,
    firestoreTool: o.firestoreTool,
    topics: { teardown: o.teardownTopic, refill: o.refillTopic, deadLetter: o.deadLetterTopic },
    minRetryDelaySeconds: o.minRetryDelay,
    maxRetryDelaySeconds: o.maxRetryDelay,
    maxDeliveryAttempts: o.maxDeliveryAttempts,
    network: o.network,
    egress: o.egress,
    subnet: o.subnet,
    invoker: o.invoker,
    invokers: o.invokerMember,
    buildServiceAccount: o.buildServiceAccount,
    createBuildServiceAccount: o.createBuildServiceAccount ?? false,
    perMachineKeys: o.perMachineKeys ?? false,
    monitoring: o.monitoring,
    notificationChannels: o.notificationChannel,
    vpcConnector: o.vpcConnector,
    createConnector: o.createConnector,
    connectorRange: o.connectorRange,
    firewall: o.firewall,
    healthPorts: o.healthPort,
    publicIps: o.publicIps,
    vmServiceAccounts: o.vmServiceAccount,
    claimMinInstances: o.claimMinInstances,
    claimMaxInstances: o.claimMaxInstances,
    claimIngress: o.claimIngress,
    adminIngress: o.adminIngress,
    logLevel: o.logLevel,
    sourceDir: o.sourceDir,
  } as SettingsInput;
}

/** Secret values from files (preferred) or the environment; checked, never echoed. */
export function readSecrets(o: CliOptions, env: Record<string, string | undefined>, project: string): SecretValues {
  const fromFile = (path: string | undefined) => (path === undefined ? undefined : readFileSync(path, 'utf8').replace(/\r?\n+$/, ''));
  const pick = (file: string | undefined, name: string) => {
    const v = fromFile(file) ?? env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const secrets: SecretValues = {
    claimTokens: pick(o.claimTokensFile, 'WARMER_CLAIM_TOKENS'),
    adminTokens: pick(o.adminTokensFile, 'WARMER_ADMIN_TOKENS'),
    sshKeyPassphrase: pick(o.sshPassphraseFile, 'WARMER_SSH_KEY_PASSPHRASE'),
  };
  // The functions' own rules (token length/format, passphrase length); messages name the variable, never the value.
  loadConfig({
    WARMER_PROJECT: project,
    WARMER_CLAIM_TOKENS: secrets.claimTokens,
    WARMER_ADMIN_TOKENS: secrets.adminTokens,
    WARMER_SSH_KEY_PASSPHRASE: secrets.sshKeyPassphrase,
  });
  return Object.fromEntries(Object.entries(secrets).filter(([, v]) => v !== undefined)) as SecretValues;
}

export interface MainOptions {
  io?: Io;
  runner?: Runner;
  root?: string;
  /** The smoke test's HTTP client (tests). */
  fetchImpl?: typeof fetch;
}

/** What the functions are built from: a changed file means a redeploy of the functions. */
export function sourceHash(root: string): string {
  const h = createHash('sha256');
  const walk = (rel: string) => {
    const abs = join(root, rel);
    if (!existsSync(abs)) return;
    if (statSync(abs).isDirectory()) {
      for (const e of readdirSync(abs).sort()) walk(`${rel}/${e}`);
      return;
    }
    h.update(rel).update('\0').update(readFileSync(abs)).update('\0');
  };
  for (const rel of ['functions', 'shared', 'api', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'deploy/stage.ts']) walk(rel);
  return h.digest('hex').slice(0, 16);
}

/** The CLI; returns the exit code (0 done, 1 a command failed, 2 bad input). */
export async function main(argv: readonly string[], env: Record<string, string | undefined>, opts: MainOptions = {}): Promise<number> {
  const io = opts.io ?? processIo;
  const root = opts.root ?? REPO_ROOT;
  const cli = buildCli(io);
  try {
    cli.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  const o = cli.opts<CliOptions>();
  try {
    const runner = opts.runner ?? spawnRunner(root);
    const log = (line: string) => io.err(line + '\n');
    if (o.smokeTest) return await runSmokeTest(o, env, runner, io, opts.fetchImpl);
    const settings = parseSettings({ ...toSettingsInput(o), sourceHash: existsSync(join(root, 'package.json')) ? sourceHash(root) : undefined });
    if (o.destroy) {
      const plan = planDestroy(settings, { deleteVms: o.deleteVms });
      if (o.dryRun && o.offline) {
        for (const cmd of plan) io.out(renderCommand(cmd) + '\n');
        return 0;
      }
      const changes = await executePlan(plan, { runner, secrets: {}, log, dryRun: o.dryRun, print: (l) => io.out(l + '\n') });
      io.err(
        o.dryRun
          ? `\n${changes.length} change(s) would be made.\n`
          : `\ndestroyed (${changes.length} deletion(s)). The Firestore database and the enabled APIs stay.\n`,
      );
      return 0;
    }
    const secrets = readSecrets(o, env, settings.project);
    const firestoreIndexes = JSON.parse(readFileSync(join(root, 'firestore.indexes.json'), 'utf8')) as FirestoreIndexes;
    if (settings.firestoreTool === 'gcloud') {
      io.err('note: --firestore-tool gcloud deploys indexes and TTL only; deploy firestore.rules with the firebase CLI (see docs/operations.md)\n');
    }
    const plan = planDeployment(settings, { firestoreIndexes });
    if (o.dryRun && o.offline) {
      // Nothing is read: every resource counts as missing (a new project).
      const changes = await executePlan(plan, {
        runner: async () => ({ code: 1, stdout: '', stderr: 'NOT_FOUND (offline plan)' }),
        secrets,
        log: () => {},
        dryRun: true,
        print: (l) => io.out(l + '\n'),
      });
      io.err(`\n${changes.length} change(s) for a new project.\n`);
      return 0;
    }
    if (!existsSync(join(root, 'package.json'))) throw new DeployError(`not a warmer checkout: ${root}`);
    if (settings.monitoring) writeMonitoringFiles(root, settings);
    const changes = await executePlan(plan, { runner, secrets, log, dryRun: o.dryRun, print: (l) => io.out(l + '\n') });
    if (o.dryRun) {
      io.err(`\n${changes.length} change(s) would be made.\n`);
      return 0;
    }
    const n = resourceNames(settings);
    io.err(
      `\ndeployed (${changes.length} change(s)). Functions: ${Object.values(n.functions).join(', ')} in ${settings.region}.\n` +
        `Claim URL: gcloud functions describe ${n.functions.claim} --gen2 --region=${settings.region} --project=${settings.project} --format='value(serviceConfig.uri)'\n` +
        `Verify: npm run deploy -- --project ${settings.project} --region ${settings.region} --smoke-test --pool <pool>\n`,
    );
    return 0;
  } catch (err) {
    if (err instanceof SettingsError || err instanceof ConfigError) {
      io.err(`deploy: ${err.message}\n`);
      return 2;
    }
    if (err instanceof DeployError || err instanceof SmokeError) {
      io.err(`deploy: ${err.message}\n`);
      return 1;
    }
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      io.err(`deploy: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
}

async function runSmokeTest(o: CliOptions, env: Record<string, string | undefined>, runner: Runner, io: Io, fetchImpl?: typeof fetch): Promise<number> {
  if (!o.pool) throw new SettingsError(['pool: --smoke-test needs --pool <name>']);
  const settings = parseSettings(toSettingsInput(o));
  const secrets = readSecrets(o, env, settings.project);
  const claimToken = secrets.claimTokens?.split(',')[0]?.trim();
  if (!claimToken) throw new SettingsError(['WARMER_CLAIM_TOKENS: the smoke test needs a claim token (or --claim-tokens-file)']);
  let url = o.url;
  if (!url) {
    const n = resourceNames(settings);
    const r = await runner(
      [
        'gcloud',
        'functions',
        'describe',
        n.functions.claim,
        '--gen2',
        `--region=${settings.region}`,
        `--project=${settings.project}`,
        '--format=value(serviceConfig.uri)',
      ],
      {},
    );
    if (r.code !== 0 || !/^https:\/\//.test(r.stdout.trim())) throw new DeployError(`could not read the claim URL: ${r.stderr.trim() || r.stdout.trim()}`);
    url = r.stdout.trim();
  }
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw new SettingsError(['url: must be an http(s) URL']);
  const idToken = o.idTokenFile ? readFileSync(o.idTokenFile, 'utf8').trim() : undefined;
  const result = await smokeTest({ url, pool: o.pool, claimToken, idToken, log: (l) => io.err(l + '\n'), fetchImpl });
  io.out(`smoke test passed: claimed and released ${result.instance} (claim ${result.claimMs} ms)\n`);
  return 0;
}
