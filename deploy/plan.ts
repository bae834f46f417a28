/**
 * planDeployment: the whole deployment as a list of commands, a pure function of the
 * settings (and, for `--firestore-tool gcloud`, of firestore.indexes.json). Every command
 * is idempotent by itself (describe-then-create, create-or-update, add-binding, deploy),
 * so running the plan twice converges on the same state, and planning twice gives the
 * same commands.
 *
 * Order:
 *   1. build the functions (tsc) and stage package.json + dist as the upload source
 *   2. enable the APIs; read the project number (for the Pub/Sub service agent)
 *   3. Firestore database, indexes, TTL, security rules
 *   4. IAM: custom roles, service accounts, bindings
 *   5. Secret Manager secrets (claim tokens, admin tokens, SSH key passphrase)
 *   6. Pub/Sub topics, the dead-letter subscription
 *   7. VPC egress for health checks: Serverless VPC Access connector and firewall rule
 *   8. the four functions (gen2, nodejs22)
 *   9. the Eventarc push subscriptions: retry policy, dead letter; who may invoke
 *  10. the Cloud Scheduler tick (every minute)
 */
import type { Argv, Command } from './commands.js';
import { ACT_AS_PERMISSIONS, runtimePermissions } from './permissions.js';
import { resourceNames, type DeploySettings } from './settings.js';

export const RUNTIME = 'nodejs22';
export const SCHEDULE = '* * * * *';
export const SCHEDULE_MESSAGE = JSON.stringify({ pool: '*', reason: 'schedule' });
export const DEFAULT_DATABASE = '(default)';

export const REQUIRED_APIS = [
  'artifactregistry.googleapis.com', // built function images
  'cloudbuild.googleapis.com', // builds the functions from source
  'cloudfunctions.googleapis.com',
  'cloudresourcemanager.googleapis.com', // project IAM policy
  'cloudscheduler.googleapis.com', // the reconcile tick
  'compute.googleapis.com', // the machines
  'eventarc.googleapis.com', // Pub/Sub triggers of gen2 functions
  'firestore.googleapis.com',
  'iam.googleapis.com', // service accounts, custom roles
  'logging.googleapis.com', // log-based metrics
  'pubsub.googleapis.com',
  'run.googleapis.com', // gen2 functions run on Cloud Run
  'secretmanager.googleapis.com',
  'vpcaccess.googleapis.com', // the connector health checks go through
] as const;

/** firestore.indexes.json, as far as the gcloud path reads it. */
export interface FirestoreIndexes {
  indexes: Array<{ collectionGroup: string; queryScope?: string; fields: Array<{ fieldPath: string; order?: string; arrayConfig?: string }> }>;
  fieldOverrides?: Array<{ collectionGroup: string; fieldPath: string; ttl?: boolean; indexes?: unknown[] }>;
}

export interface PlanInputs {
  /** Needed only with `firestoreTool: 'gcloud'`. */
  firestoreIndexes?: FirestoreIndexes;
}

interface FunctionShape {
  name: string;
  entryPoint: 'claim' | 'admin' | 'reconcile' | 'teardown';
  trigger: { http: true; ingress: string } | { topic: string };
  memory: string;
  cpu: string;
  concurrency: number;
  timeoutSeconds: number;
  minInstances: number;
  maxInstances: number;
  secrets: Array<'claimTokens' | 'adminTokens' | 'sshKeyPassphrase'>;
  vpc: boolean;
}

const SECRET_ENV = { claimTokens: 'WARMER_CLAIM_TOKENS', adminTokens: 'WARMER_ADMIN_TOKENS', sshKeyPassphrase: 'WARMER_SSH_KEY_PASSPHRASE' } as const;

/** The functions and their sizes: claim stays warm and concurrent; the event functions get the longest timeout an event function may have. */
export function functionShapes(s: DeploySettings): FunctionShape[] {
  const n = resourceNames(s);
  return [
    {
      name: n.functions.claim, entryPoint: 'claim', trigger: { http: true, ingress: s.claimIngress },
      memory: '512Mi', cpu: '1', concurrency: 80, timeoutSeconds: 60,
      minInstances: s.claimMinInstances, maxInstances: s.claimMaxInstances,
      secrets: ['claimTokens', 'adminTokens'], vpc: false,
    },
    {
      name: n.functions.admin, entryPoint: 'admin', trigger: { http: true, ingress: s.adminIngress },
      memory: '512Mi', cpu: '1', concurrency: 20, timeoutSeconds: 60, minInstances: 0, maxInstances: 5,
      secrets: ['claimTokens', 'adminTokens'], vpc: false,
    },
    {
      // Probes machines' internal addresses: needs the VPC connector.
      name: n.functions.reconcile, entryPoint: 'reconcile', trigger: { topic: s.topics.refill },
      memory: '1Gi', cpu: '1', concurrency: 10, timeoutSeconds: 540, minInstances: 0, maxInstances: 20,
      secrets: ['sshKeyPassphrase'], vpc: true,
    },
    {
      name: n.functions.teardown, entryPoint: 'teardown', trigger: { topic: s.topics.teardown },
      memory: '512Mi', cpu: '1', concurrency: 20, timeoutSeconds: 540, minInstances: 0, maxInstances: 20,
      secrets: [], vpc: false,
    },
  ];
}

export function planDeployment(s: DeploySettings, inputs: PlanInputs = {}): Command[] {
  const n = resourceNames(s);
  const P = s.project;
  const R = s.region;
  const gcloud = (...args: string[]): Argv => ['gcloud', ...args, `--project=${P}`, '--quiet'];
  const pubsubAgent = 'serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com';
  const runtimeMember = `serviceAccount:${n.runtimeAccountEmail}`;
  const invokerMember = `serviceAccount:${n.invokerAccountEmail}`;
  const cmds: Command[] = [];

  // 1. Build and stage: the functions are TypeScript; Cloud Build gets package.json + dist.
  cmds.push({ kind: 'run', argv: ['npm', 'run', 'build'] });
  cmds.push({ kind: 'run', argv: ['npx', 'tsx', 'deploy/stage.ts', `--out=${s.sourceDir}`] });

  // 2. APIs and the project number.
  cmds.push({ kind: 'run', argv: gcloud('services', 'enable', ...REQUIRED_APIS, ...(s.firestoreTool === 'firebase' ? ['firebaserules.googleapis.com'] : [])) });
  cmds.push({ kind: 'capture', variable: 'PROJECT_NUMBER', argv: gcloud('projects', 'describe', P, '--format=value(projectNumber)') });

  // 3. Firestore.
  cmds.push({
    kind: 'ensure',
    check: gcloud('firestore', 'databases', 'describe', `--database=${DEFAULT_DATABASE}`),
    create: gcloud('firestore', 'databases', 'create', `--database=${DEFAULT_DATABASE}`, `--location=${s.firestoreLocation ?? R}`, '--type=firestore-native'),
  });
  if (s.firestoreTool === 'firebase') {
    // Rules (deny every client SDK), composite indexes and TTL overrides, from firebase.json.
    cmds.push({ kind: 'run', argv: ['firebase', 'deploy', '--only=firestore', `--project=${P}`, '--config=firebase.json', '--non-interactive'] });
  } else {
    cmds.push(...firestoreWithGcloud(inputs.firestoreIndexes, gcloud));
  }

  // 4. IAM.
  cmds.push(upsertRole(gcloud, n.runtimeRole, 'warmer runtime', 'Only what the warmer functions use (deploy/permissions.ts)', runtimePermissions(s.publicIps)));
  if (s.vmServiceAccounts.length > 0) {
    cmds.push(upsertRole(gcloud, n.actAsRole, 'warmer acts as VM service accounts', 'Attach pool service accounts to warmer machines', ACT_AS_PERMISSIONS.map((p) => p.permission)));
  }
  cmds.push(ensureServiceAccount(gcloud, n.runtimeAccount, n.runtimeAccountEmail, 'warmer functions'));
  cmds.push(ensureServiceAccount(gcloud, n.invokerAccount, n.invokerAccountEmail, 'warmer Pub/Sub push (Eventarc) invoker'));
  cmds.push({ kind: 'run', retries: 5, argv: gcloud('projects', 'add-iam-policy-binding', P, `--member=${runtimeMember}`, `--role=projects/${P}/roles/${n.runtimeRole}`, '--condition=None') });
  for (const vmAccount of s.vmServiceAccounts) {
    cmds.push({ kind: 'run', retries: 5, argv: gcloud('iam', 'service-accounts', 'add-iam-policy-binding', vmAccount, `--member=${runtimeMember}`, `--role=projects/${P}/roles/${n.actAsRole}`) });
  }
  // The Pub/Sub service agent mints the OIDC tokens of authenticated pushes.
  cmds.push({ kind: 'run', retries: 5, argv: gcloud('iam', 'service-accounts', 'add-iam-policy-binding', n.invokerAccountEmail, `--member=${pubsubAgent}`, '--role=roles/iam.serviceAccountTokenCreator') });

  // 5. Secrets: created if missing, a new version only when the given value differs.
  for (const source of ['claimTokens', 'adminTokens', 'sshKeyPassphrase'] as const) {
    const secret = n.secrets[source];
    cmds.push({
      kind: 'ensure',
      check: gcloud('secrets', 'describe', secret),
      create: gcloud('secrets', 'create', secret, '--replication-policy=automatic', '--labels=app=warmer'),
    });
    cmds.push({
      kind: 'secret-version',
      secret,
      source,
      envName: SECRET_ENV[source],
      access: gcloud('secrets', 'versions', 'access', 'latest', `--secret=${secret}`),
      add: gcloud('secrets', 'versions', 'add', secret, '--data-file=-'),
      list: gcloud('secrets', 'versions', 'list', secret, '--filter=state:ENABLED', '--limit=1', '--format=value(name)'),
    });
    cmds.push({ kind: 'run', retries: 5, argv: gcloud('secrets', 'add-iam-policy-binding', secret, `--member=${runtimeMember}`, '--role=roles/secretmanager.secretAccessor') });
  }

  // 6. Pub/Sub topics and the dead letter (a pull subscription keeps dead-lettered messages for inspection).
  for (const topic of [s.topics.teardown, s.topics.refill, s.topics.deadLetter]) {
    cmds.push({ kind: 'ensure', check: gcloud('pubsub', 'topics', 'describe', topic), create: gcloud('pubsub', 'topics', 'create', topic, '--labels=app=warmer') });
  }
  cmds.push({
    kind: 'ensure',
    check: gcloud('pubsub', 'subscriptions', 'describe', n.deadLetterSubscription),
    create: gcloud('pubsub', 'subscriptions', 'create', n.deadLetterSubscription, `--topic=${s.topics.deadLetter}`, '--message-retention-duration=7d', '--expiration-period=never', '--ack-deadline=60', '--labels=app=warmer'),
  });
  cmds.push({ kind: 'run', retries: 5, argv: gcloud('pubsub', 'topics', 'add-iam-policy-binding', s.topics.deadLetter, `--member=${pubsubAgent}`, '--role=roles/pubsub.publisher') });

  // 7. VPC egress: health checks reach machines' internal addresses through the connector.
  if (s.createConnector) {
    cmds.push({
      kind: 'ensure',
      check: gcloud('compute', 'networks', 'vpc-access', 'connectors', 'describe', n.connector, `--region=${R}`),
      create: gcloud('compute', 'networks', 'vpc-access', 'connectors', 'create', n.connector, `--region=${R}`, `--network=${s.network}`, `--range=${s.connectorRange}`, '--min-instances=2', '--max-instances=3', '--machine-type=e2-micro'),
    });
  }
  if (s.firewall) {
    cmds.push({
      kind: 'ensure',
      check: gcloud('compute', 'firewall-rules', 'describe', n.firewallRule),
      create: gcloud('compute', 'firewall-rules', 'create', n.firewallRule, `--network=${s.network}`, '--direction=INGRESS', '--action=ALLOW', `--rules=${s.healthPorts.map((p) => `tcp:${p}`).join(',')}`, `--source-ranges=${s.connectorRange}`, '--description=warmer health checks from the functions VPC connector'),
    });
  }

  // 8. The functions.
  const envVars = [
    `WARMER_PROJECT=${P}`,
    `WARMER_TEARDOWN_TOPIC=${s.topics.teardown}`,
    `WARMER_REFILL_TOPIC=${s.topics.refill}`,
    `WARMER_DEAD_LETTER_TOPIC=${s.topics.deadLetter}`,
    `WARMER_LOG_LEVEL=${s.logLevel}`,
  ].join(',');
  const connectorPath = `projects/${P}/locations/${R}/connectors/${n.connector}`;
  const shapes = functionShapes(s);
  for (const f of shapes) {
    const argv = [
      'functions', 'deploy', f.name, '--gen2', `--region=${R}`, `--runtime=${RUNTIME}`,
      `--source=${s.sourceDir}`, `--entry-point=${f.entryPoint}`,
      ...('http' in f.trigger
        ? ['--trigger-http', '--allow-unauthenticated', `--ingress-settings=${f.trigger.ingress}`]
        : [`--trigger-topic=${f.trigger.topic}`, '--retry', `--trigger-service-account=${n.invokerAccountEmail}`, '--ingress-settings=internal-only']),
      `--memory=${f.memory}`, `--cpu=${f.cpu}`, `--concurrency=${f.concurrency}`, `--timeout=${f.timeoutSeconds}s`,
      `--min-instances=${f.minInstances}`, `--max-instances=${f.maxInstances}`,
      `--service-account=${n.runtimeAccountEmail}`,
      `--set-env-vars=${envVars}`,
      ...(f.secrets.length > 0 ? [`--set-secrets=${f.secrets.map((k) => `${SECRET_ENV[k]}=${n.secrets[k]}:latest`).join(',')}`] : ['--clear-secrets']),
      ...(f.vpc ? [`--vpc-connector=${connectorPath}`, '--egress-settings=private-ranges-only'] : ['--clear-vpc-connector']),
      '--update-labels=app=warmer',
    ];
    cmds.push({ kind: 'run', argv: gcloud(...argv) });
  }

  // 9. The Eventarc subscriptions behind --trigger-topic: retry policy and dead letter.
  for (const f of shapes) {
    if ('http' in f.trigger) continue;
    const v = f.entryPoint.toUpperCase();
    cmds.push({ kind: 'run', retries: 5, argv: gcloud('functions', 'add-invoker-policy-binding', f.name, `--region=${R}`, `--member=${invokerMember}`) });
    cmds.push({ kind: 'capture', variable: `${v}_TRIGGER`, argv: gcloud('functions', 'describe', f.name, '--gen2', `--region=${R}`, '--format=value(eventTrigger.trigger)') });
    cmds.push({ kind: 'capture', variable: `${v}_SUBSCRIPTION`, argv: gcloud('eventarc', 'triggers', 'describe', `\${${v}_TRIGGER}`, `--location=${R}`, '--format=value(transport.pubsub.subscription)') });
    cmds.push({
      kind: 'run',
      argv: gcloud(
        'pubsub', 'subscriptions', 'update', `\${${v}_SUBSCRIPTION}`,
        '--ack-deadline=600',
        `--min-retry-delay=${s.minRetryDelaySeconds}s`,
        `--max-retry-delay=${s.maxRetryDelaySeconds}s`,
        `--dead-letter-topic=${s.topics.deadLetter}`,
        `--max-delivery-attempts=${s.maxDeliveryAttempts}`,
      ),
    });
    cmds.push({ kind: 'run', retries: 5, argv: gcloud('pubsub', 'subscriptions', 'add-iam-policy-binding', `\${${v}_SUBSCRIPTION}`, `--member=${pubsubAgent}`, '--role=roles/pubsub.subscriber') });
  }

  // 10. The scheduler's tick: reconcile every pool once a minute.
  const job = [`--location=${R}`, `--schedule=${SCHEDULE}`, '--time-zone=Etc/UTC', `--topic=${s.topics.refill}`, `--message-body=${SCHEDULE_MESSAGE}`, '--description=warmer: reconcile every pool'];
  cmds.push({
    kind: 'upsert',
    check: gcloud('scheduler', 'jobs', 'describe', n.schedulerJob, `--location=${R}`),
    create: gcloud('scheduler', 'jobs', 'create', 'pubsub', n.schedulerJob, ...job),
    update: gcloud('scheduler', 'jobs', 'update', 'pubsub', n.schedulerJob, ...job),
  });
  return cmds;
}

function upsertRole(gcloud: (...a: string[]) => Argv, role: string, title: string, description: string, permissions: string[]): Command {
  const common = [`--title=${title}`, `--description=${description}`, '--stage=GA', `--permissions=${permissions.join(',')}`];
  return {
    kind: 'upsert',
    check: gcloud('iam', 'roles', 'describe', role),
    create: gcloud('iam', 'roles', 'create', role, ...common),
    update: gcloud('iam', 'roles', 'update', role, ...common),
  };
}

function ensureServiceAccount(gcloud: (...a: string[]) => Argv, id: string, email: string, displayName: string): Command {
  return {
    kind: 'ensure',
    check: gcloud('iam', 'service-accounts', 'describe', email),
    create: gcloud('iam', 'service-accounts', 'create', id, `--display-name=${displayName}`),
  };
}

const ALREADY_EXISTS = /ALREADY_EXISTS|already exists/i;

/** The gcloud equivalent of `firebase deploy --only firestore:indexes` (rules have no gcloud command). */
function firestoreWithGcloud(file: FirestoreIndexes | undefined, gcloud: (...a: string[]) => Argv): Command[] {
  if (!file) throw new Error('planDeployment: firestoreTool "gcloud" needs the contents of firestore.indexes.json');
  const cmds: Command[] = [];
  for (const index of file.indexes) {
    const fields = index.fields.map((f) => `--field-config=field-path=${f.fieldPath},${f.arrayConfig ? `array-config=${f.arrayConfig.toLowerCase()}` : `order=${(f.order ?? 'ASCENDING').toLowerCase()}`}`);
    cmds.push({
      kind: 'run',
      tolerate: ALREADY_EXISTS,
      argv: gcloud('firestore', 'indexes', 'composite', 'create', `--database=${DEFAULT_DATABASE}`, `--collection-group=${index.collectionGroup}`, `--query-scope=${(index.queryScope ?? 'COLLECTION').toLowerCase()}`, ...fields, '--async'),
    });
  }
  for (const o of file.fieldOverrides ?? []) {
    if (o.ttl) {
      cmds.push({ kind: 'run', argv: gcloud('firestore', 'fields', 'ttls', 'update', o.fieldPath, `--database=${DEFAULT_DATABASE}`, `--collection-group=${o.collectionGroup}`, '--enable-ttl', '--async') });
    }
    if (Array.isArray(o.indexes) && o.indexes.length === 0) {
      cmds.push({ kind: 'run', argv: gcloud('firestore', 'indexes', 'fields', 'update', o.fieldPath, `--database=${DEFAULT_DATABASE}`, `--collection-group=${o.collectionGroup}`, '--disable-indexes', '--async') });
    }
  }
  return cmds;
}
