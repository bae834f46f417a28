/**
 * Deploys warmer to a Google Cloud project, idempotently (safe to run again: it converges).
 *
 *   npm run deploy -- --project my-project --region europe-west1 --dry-run
 *   WARMER_CLAIM_TOKENS=… WARMER_ADMIN_TOKENS=… WARMER_SSH_KEY_PASSPHRASE=… \
 *     npm run deploy -- --project my-project --region europe-west1
 *
 * The commands come from planDeployment (deploy/plan.ts); --dry-run prints them, one per
 * line, and runs nothing. Secret values come from the environment or from files, are
 * checked with the same rules the functions apply (shared/config.ts), and are never printed.
 * See docs/operations.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command as Cli, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig } from '../shared/config.js';
import { renderCommand } from './commands.js';
import { DeployError, executePlan, spawnRunner, type Runner, type SecretValues } from './execute.js';
import { planDeployment, type FirestoreIndexes } from './plan.js';
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
    .option('--dry-run', 'print every command, one per line, and run nothing')
    .option('--prefix <name>', 'prefix of the resource names (functions, service accounts, secrets, job)', 'warmer')
    .option('--firestore-location <location>', 'location of a new Firestore database (default: the region)')
    .addOption(new Option('--firestore-tool <tool>', 'deploy rules/indexes with the firebase CLI or with gcloud (gcloud: indexes and TTL only)').choices(['firebase', 'gcloud']).default('firebase'))
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
    const settings = parseSettings(toSettingsInput(o));
    const secrets = readSecrets(o, env, settings.project);
    let firestoreIndexes: FirestoreIndexes | undefined;
    if (settings.firestoreTool === 'gcloud') {
      firestoreIndexes = JSON.parse(readFileSync(join(root, 'firestore.indexes.json'), 'utf8')) as FirestoreIndexes;
      io.err('note: --firestore-tool gcloud deploys indexes and TTL only; deploy firestore.rules with the firebase CLI (see docs/operations.md)\n');
    }
    const plan = planDeployment(settings, { firestoreIndexes });
    if (o.dryRun) {
      for (const cmd of plan) io.out(renderCommand(cmd) + '\n');
      return 0;
    }
    if (!existsSync(join(root, 'package.json'))) throw new DeployError(`not a warmer checkout: ${root}`);
    await executePlan(plan, {
      runner: opts.runner ?? spawnRunner(root),
      secrets,
      log: (line) => io.err(line + '\n'),
    });
    const n = resourceNames(settings);
    io.err(`\ndeployed. Functions: ${Object.values(n.functions).join(', ')} in ${settings.region}.\n` +
      `Claim URL: gcloud functions describe ${n.functions.claim} --gen2 --region=${settings.region} --project=${settings.project} --format='value(serviceConfig.uri)'\n`);
    return 0;
  } catch (err) {
    if (err instanceof SettingsError || err instanceof ConfigError) {
      io.err(`deploy: ${err.message}\n`);
      return 2;
    }
    if (err instanceof DeployError) {
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

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  main(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`deploy: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
