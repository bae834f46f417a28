/**
 * planDeployment: the whole deployment as a list of commands, a pure function of the
 * settings (and of firestore.indexes.json). Nearly every step is a `converge`: describe
 * the resource, create it if missing, else compare it with the desired settings and run
 * only the updates that close the gap. So every run brings every resource to the desired
 * settings (a changed health port reaches the firewall rule, subscription settings reach
 * the subscriptions), and a dry run prints exactly what would change.
 *
 * Order:
 *   1. APIs (only the missing ones); the project number
 *   2. Firestore database (a Datastore-mode one stops the deploy with what to do), indexes, TTL, rules
 *   3. IAM: custom roles, service accounts (functions, push invoker, optional build), bindings
 *   4. Secret Manager secrets (claim tokens, admin tokens; the SSH key passphrase only if pools use per-machine keys)
 *   5. Pub/Sub topics, the dead-letter subscription
 *   6. VPC egress for health checks: Direct VPC egress or a connector (never both); firewall rule
 *   7. the four functions (gen2, nodejs22), built and staged once, only if code or settings changed;
 *      HTTP functions without an allUsers binding
 *   8. the Eventarc push subscriptions: retry policy, dead letter; who may invoke
 *   9. the Cloud Scheduler tick (every minute)
 *  10. monitoring: log-based metrics, alert policies, dashboard
 *
 * planDestroy removes what warmer created, in the reverse order (optionally its machines).
 */
import type { Argv, Command, Resolve, RunCommand } from './commands.js';
import { monitoringFiles } from './monitoring.js';
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
  'monitoring.googleapis.com', // alert policies, dashboard
  'pubsub.googleapis.com',
  'run.googleapis.com', // gen2 functions run on Cloud Run
  'secretmanager.googleapis.com',
  'vpcaccess.googleapis.com', // the connector health checks go through (connector egress)
] as const;

/**
 * The least roles a Cloud Build service account needs to build a function from source:
 * https://cloud.google.com/run/docs/configuring/services/build-service-account
 * (logs, the built image in Artifact Registry, the uploaded source in Cloud Storage).
 */
export const BUILD_ROLES = ['roles/logging.logWriter', 'roles/artifactregistry.writer', 'roles/storage.objectAdmin'] as const;

/** firestore.indexes.json, as far as the deploy reads it. */
export interface FirestoreIndexes {
  indexes: Array<{ collectionGroup: string; queryScope?: string; fields: Array<{ fieldPath: string; order?: string; arrayConfig?: string }> }>;
  fieldOverrides?: Array<{ collectionGroup: string; fieldPath: string; ttl?: boolean; indexes?: unknown[] }>;
}

export interface PlanInputs {
  /** The indexes to converge on (both tools). Without it the firebase path deploys every run. */
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
const INGRESS = { all: 'ALLOW_ALL', 'internal-only': 'ALLOW_INTERNAL_ONLY', 'internal-and-gclb': 'ALLOW_INTERNAL_AND_GCLB' } as const;
/** Firestore index and field operations fired back to back: 409 "underlying data changed" (retry). */
const FIRESTORE_CONFLICT = /409|ABORTED|underlying data changed|concurrent/i;
const IAM_RETRY = 5;

/** The functions and their sizes: claim stays warm and concurrent; the event functions get the longest timeout an event function may have. */
export function functionShapes(s: DeploySettings): FunctionShape[] {
  const n = resourceNames(s);
  return [
    {
      name: n.functions.claim,
      entryPoint: 'claim',
      trigger: { http: true, ingress: s.claimIngress },
      memory: '512Mi',
      cpu: '1',
      concurrency: 80,
      timeoutSeconds: 60,
      minInstances: s.claimMinInstances,
      maxInstances: s.claimMaxInstances,
      secrets: ['claimTokens', 'adminTokens'],
      vpc: false,
    },
    {
      name: n.functions.admin,
      entryPoint: 'admin',
      trigger: { http: true, ingress: s.adminIngress },
      memory: '512Mi',
      cpu: '1',
      concurrency: 20,
      timeoutSeconds: 60,
      minInstances: 0,
      maxInstances: 5,
      secrets: ['claimTokens', 'adminTokens'],
      vpc: false,
    },
    {
      // Probes machines' internal addresses: needs VPC egress (Direct VPC or the connector).
      name: n.functions.reconcile,
      entryPoint: 'reconcile',
      trigger: { topic: s.topics.refill },
      memory: '1Gi',
      cpu: '1',
      concurrency: 10,
      timeoutSeconds: 540,
      minInstances: 0,
      maxInstances: 20,
      secrets: s.perMachineKeys ? ['sshKeyPassphrase'] : [],
      vpc: true,
    },
    {
      name: n.functions.teardown,
      entryPoint: 'teardown',
      trigger: { topic: s.topics.teardown },
      memory: '512Mi',
      cpu: '1',
      concurrency: 20,
      timeoutSeconds: 540,
      minInstances: 0,
      maxInstances: 20,
      secrets: [],
      vpc: false,
    },
  ];
}

type Gcloud = (...a: string[]) => Argv;

const run = (argv: Argv, extra: Omit<RunCommand, 'kind' | 'argv'> = {}): RunCommand => ({ kind: 'run', argv, ...extra });
const tail = (url: unknown) => String(url ?? '').slice(String(url ?? '').lastIndexOf('/') + 1);
const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/** Whether an IAM policy (get-iam-policy JSON) binds `member` to `role` without a condition. */
export function hasBinding(policy: any, role: string, member: string): boolean {
  return ((policy?.bindings ?? []) as Array<{ role?: string; members?: string[]; condition?: unknown }>).some(
    (b) => b.role === role && !b.condition && (b.members ?? []).includes(member),
  );
}

/** Grants `role` to `member` on a resource unless its policy already does. */
function binding(what: string, getPolicy: Argv, add: Argv, role: string, member: string, before: Command[] = []): Command {
  const grant = [...before, run(add, { retries: IAM_RETRY })];
  return {
    kind: 'converge',
    what: `${what}: ${role} for ${member}`,
    describe: getPolicy,
    create: grant,
    update: (policy, resolve) => (hasBinding(policy, role, resolve(member)) ? [] : grant),
  };
}

/** The settings of a function that differ from the desired ones (empty: up to date). */
export function functionDrift(
  current: any,
  want: {
    f: FunctionShape;
    env: Record<string, string>;
    secrets: Record<string, string>;
    serviceAccount: string;
    vpc: { connector?: string; network?: string; subnet?: string } | null;
    buildServiceAccount?: string;
    sourceHash?: string;
    triggerServiceAccount: string;
  },
): string[] {
  const sc = current?.serviceConfig ?? {};
  const bc = current?.buildConfig ?? {};
  const drift: string[] = [];
  const check = (name: string, ok: boolean) => {
    if (!ok) drift.push(name);
  };
  const { f } = want;
  check('runtime', bc.runtime === RUNTIME);
  check('entryPoint', bc.entryPoint === f.entryPoint);
  check('memory', sc.availableMemory === f.memory);
  check('cpu', String(sc.availableCpu ?? '') === f.cpu);
  check('concurrency', Number(sc.maxInstanceRequestConcurrency ?? 1) === f.concurrency);
  check('timeout', Number(sc.timeoutSeconds ?? 0) === f.timeoutSeconds);
  check('minInstances', Number(sc.minInstanceCount ?? 0) === f.minInstances);
  check('maxInstances', Number(sc.maxInstanceCount ?? 0) === f.maxInstances);
  check('serviceAccount', sc.serviceAccountEmail === want.serviceAccount);
  const env = { ...(sc.environmentVariables ?? {}) } as Record<string, string>;
  delete env.LOG_EXECUTION_ID; // added by the platform
  check('env', JSON.stringify(Object.entries(env).sort()) === JSON.stringify(Object.entries(want.env).sort()));
  const secrets = Object.fromEntries(
    ((sc.secretEnvironmentVariables ?? []) as Array<{ key: string; secret: string; version?: string }>).map((x) => [
      x.key,
      `${x.secret}:${x.version ?? 'latest'}`,
    ]),
  );
  check('secrets', JSON.stringify(Object.entries(secrets).sort()) === JSON.stringify(Object.entries(want.secrets).sort()));
  const http = 'http' in f.trigger;
  check('ingress', sc.ingressSettings === (http ? INGRESS[(f.trigger as { ingress: keyof typeof INGRESS }).ingress] : 'ALLOW_INTERNAL_ONLY'));
  if (want.vpc?.connector) {
    check('vpcConnector', sc.vpcConnector === want.vpc.connector && sc.vpcConnectorEgressSettings === 'PRIVATE_RANGES_ONLY');
  } else {
    check('vpcConnector', !sc.vpcConnector);
  }
  if (want.vpc?.network) {
    const nic = ((sc.directVpcNetworkInterface ?? []) as Array<{ network?: string; subnetwork?: string }>)[0];
    check(
      'directVpc',
      tail(nic?.network) === want.vpc.network && tail(nic?.subnetwork) === want.vpc.subnet && /PRIVATE_RANGES_ONLY/.test(String(sc.directVpcEgress ?? '')),
    );
  }
  if (want.buildServiceAccount) check('buildServiceAccount', tail(bc.serviceAccount) === want.buildServiceAccount);
  if (want.sourceHash) check('source', current?.labels?.['warmer-source'] === want.sourceHash);
  if (!http) {
    const et = current?.eventTrigger ?? {};
    check(
      'trigger',
      tail(et.pubsubTopic) === (f.trigger as { topic: string }).topic &&
        et.retryPolicy === 'RETRY_POLICY_RETRY' &&
        et.serviceAccountEmail === want.triggerServiceAccount,
    );
  }
  return drift;
}

export function planDeployment(s: DeploySettings, inputs: PlanInputs = {}): Command[] {
  const n = resourceNames(s);
  const P = s.project;
  const R = s.region;
  const gcloud: Gcloud = (...args) => ['gcloud', ...args, `--project=${P}`, '--quiet'];
  // The Pub/Sub service agent exists only once something asked for it: grants to it are
  // preceded (when they are needed) by `services identity create`, which makes it exist.
  // https://cloud.google.com/iam/docs/create-service-agents
  const pubsubAgent = 'serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com';
  const agentExists = run(gcloud('beta', 'services', 'identity', 'create', '--service=pubsub.googleapis.com'), { once: 'pubsub-agent', retries: 2 });
  const runtimeMember = `serviceAccount:${n.runtimeAccountEmail}`;
  const invokerMember = `serviceAccount:${n.invokerAccountEmail}`;
  const buildAccount = s.createBuildServiceAccount ? n.buildAccountEmail : s.buildServiceAccount;
  const cmds: Command[] = [];

  // 1. APIs (only those not enabled yet) and the project number.
  const apis = [...REQUIRED_APIS, ...(s.firestoreTool === 'firebase' ? ['firebaserules.googleapis.com'] : [])].filter(
    (a) => a !== 'vpcaccess.googleapis.com' || s.egress === 'connector',
  );
  cmds.push({
    kind: 'converge',
    what: 'APIs',
    describe: gcloud('services', 'list', '--enabled'),
    create: [run(gcloud('services', 'enable', ...apis))],
    update: (list: Array<{ config?: { name?: string }; name?: string }>) => {
      const enabled = new Set((list ?? []).map((x) => x.config?.name ?? tail(x.name)));
      const missing = apis.filter((a) => !enabled.has(a));
      return missing.length ? [run(gcloud('services', 'enable', ...missing))] : [];
    },
    exists: (list) => Array.isArray(list) && list.length > 0,
  });
  cmds.push({ kind: 'capture', variable: 'PROJECT_NUMBER', argv: gcloud('projects', 'describe', P, '--format=value(projectNumber)') });

  // 2. Firestore.
  cmds.push({
    kind: 'converge',
    what: `Firestore database ${DEFAULT_DATABASE}`,
    describe: gcloud('firestore', 'databases', 'describe', `--database=${DEFAULT_DATABASE}`),
    create: [
      run(gcloud('firestore', 'databases', 'create', `--database=${DEFAULT_DATABASE}`, `--location=${s.firestoreLocation ?? R}`, '--type=firestore-native')),
    ],
    update: (db) =>
      db?.type === 'DATASTORE_MODE'
        ? [
            {
              kind: 'fail',
              message:
                `project ${P} already has a (default) database in Datastore mode; warmer needs Firestore in Native mode. ` +
                'An empty Datastore-mode database can be switched to Native mode in the console (Firestore > Switch to Native mode); ' +
                'a database holding data cannot: deploy warmer to another project. See docs/operations.md, "Before the first deployment".',
            },
          ]
        : [],
  });
  cmds.push(...firestoreIndexes(s, inputs.firestoreIndexes, gcloud));

  // 3. IAM.
  cmds.push(role(gcloud, n.runtimeRole, 'warmer runtime', 'Only what the warmer functions use (deploy/permissions.ts)', runtimePermissions(s.publicIps)));
  if (s.vmServiceAccounts.length > 0) {
    cmds.push(
      role(
        gcloud,
        n.actAsRole,
        'warmer acts as VM service accounts',
        'Attach pool service accounts to warmer machines',
        ACT_AS_PERMISSIONS.map((p) => p.permission),
      ),
    );
  }
  cmds.push(serviceAccount(gcloud, n.runtimeAccount, n.runtimeAccountEmail, 'warmer functions'));
  cmds.push(serviceAccount(gcloud, n.invokerAccount, n.invokerAccountEmail, 'warmer Pub/Sub push (Eventarc) invoker'));
  const projectPolicy = gcloud('projects', 'get-iam-policy', P);
  const projectBinding = (member: string, r: string) =>
    binding(`project ${P}`, projectPolicy, gcloud('projects', 'add-iam-policy-binding', P, `--member=${member}`, `--role=${r}`, '--condition=None'), r, member);
  cmds.push(projectBinding(runtimeMember, `projects/${P}/roles/${n.runtimeRole}`));
  if (s.createBuildServiceAccount) {
    cmds.push(serviceAccount(gcloud, n.buildAccount, n.buildAccountEmail, 'warmer function builds (Cloud Build)'));
    for (const r of BUILD_ROLES) cmds.push(projectBinding(`serviceAccount:${n.buildAccountEmail}`, r));
  }
  for (const vmAccount of s.vmServiceAccounts) {
    cmds.push(
      binding(
        `service account ${vmAccount}`,
        gcloud('iam', 'service-accounts', 'get-iam-policy', vmAccount),
        gcloud('iam', 'service-accounts', 'add-iam-policy-binding', vmAccount, `--member=${runtimeMember}`, `--role=projects/${P}/roles/${n.actAsRole}`),
        `projects/${P}/roles/${n.actAsRole}`,
        runtimeMember,
      ),
    );
  }
  // The Pub/Sub service agent mints the OIDC tokens of authenticated pushes.
  cmds.push(
    binding(
      `service account ${n.invokerAccountEmail}`,
      gcloud('iam', 'service-accounts', 'get-iam-policy', n.invokerAccountEmail),
      gcloud(
        'iam',
        'service-accounts',
        'add-iam-policy-binding',
        n.invokerAccountEmail,
        `--member=${pubsubAgent}`,
        '--role=roles/iam.serviceAccountTokenCreator',
      ),
      'roles/iam.serviceAccountTokenCreator',
      pubsubAgent,
      [agentExists],
    ),
  );

  // 4. Secrets: created if missing, a new version only when the given value differs.
  const secretSources = ['claimTokens', 'adminTokens', ...(s.perMachineKeys ? ['sshKeyPassphrase' as const] : [])] as const;
  for (const source of secretSources) {
    const secret = n.secrets[source];
    cmds.push(
      exists(`secret ${secret}`, gcloud('secrets', 'describe', secret), [
        run(gcloud('secrets', 'create', secret, '--replication-policy=automatic', '--labels=app=warmer')),
      ]),
    );
    cmds.push({
      kind: 'secret-version',
      secret,
      source,
      envName: SECRET_ENV[source],
      access: gcloud('secrets', 'versions', 'access', 'latest', `--secret=${secret}`),
      add: gcloud('secrets', 'versions', 'add', secret, '--data-file=-'),
      list: gcloud('secrets', 'versions', 'list', secret, '--filter=state:ENABLED', '--limit=1', '--format=value(name)'),
    });
    cmds.push(
      binding(
        `secret ${secret}`,
        gcloud('secrets', 'get-iam-policy', secret),
        gcloud('secrets', 'add-iam-policy-binding', secret, `--member=${runtimeMember}`, '--role=roles/secretmanager.secretAccessor'),
        'roles/secretmanager.secretAccessor',
        runtimeMember,
      ),
    );
  }

  // 5. Pub/Sub topics and the dead letter (a pull subscription keeps dead-lettered messages for inspection).
  for (const topic of [s.topics.teardown, s.topics.refill, s.topics.deadLetter]) {
    cmds.push(
      exists(`topic ${topic}`, gcloud('pubsub', 'topics', 'describe', topic), [run(gcloud('pubsub', 'topics', 'create', topic, '--labels=app=warmer'))]),
    );
  }
  const dlSettings = ['--message-retention-duration=7d', '--expiration-period=never', '--ack-deadline=60'];
  cmds.push({
    kind: 'converge',
    what: `subscription ${n.deadLetterSubscription}`,
    describe: gcloud('pubsub', 'subscriptions', 'describe', n.deadLetterSubscription),
    create: [
      run(gcloud('pubsub', 'subscriptions', 'create', n.deadLetterSubscription, `--topic=${s.topics.deadLetter}`, ...dlSettings, '--labels=app=warmer')),
    ],
    update: (sub) => {
      const drift = [
        Number(sub?.ackDeadlineSeconds) !== 60 && 'ackDeadline',
        sub?.messageRetentionDuration !== '604800s' && 'retention',
        sub?.expirationPolicy?.ttl !== undefined && 'expiration',
      ].filter(Boolean);
      return drift.length
        ? [run(gcloud('pubsub', 'subscriptions', 'update', n.deadLetterSubscription, ...dlSettings), { note: `differs: ${drift.join(', ')}` })]
        : [];
    },
  });
  cmds.push(
    binding(
      `topic ${s.topics.deadLetter}`,
      gcloud('pubsub', 'topics', 'get-iam-policy', s.topics.deadLetter),
      gcloud('pubsub', 'topics', 'add-iam-policy-binding', s.topics.deadLetter, `--member=${pubsubAgent}`, '--role=roles/pubsub.publisher'),
      'roles/pubsub.publisher',
      pubsubAgent,
      [agentExists],
    ),
  );

  // 6. VPC egress: health checks reach machines' internal addresses. Direct VPC egress
  // (https://cloud.google.com/functions/docs/running/direct-vpc) or a Serverless VPC Access
  // connector; the two cannot be combined.
  let sourceRange = s.connectorRange;
  if (s.egress === 'direct') {
    cmds.push({
      kind: 'capture',
      variable: 'SUBNET_RANGE',
      argv: gcloud('compute', 'networks', 'subnets', 'describe', s.subnet, `--region=${R}`, '--format=value(ipCidrRange)'),
    });
    sourceRange = '${SUBNET_RANGE}';
  } else if (s.createConnector) {
    const sizing = ['--min-instances=2', '--max-instances=3', '--machine-type=e2-micro'];
    cmds.push({
      kind: 'converge',
      what: `VPC connector ${n.connector}`,
      describe: gcloud('compute', 'networks', 'vpc-access', 'connectors', 'describe', n.connector, `--region=${R}`),
      create: [
        run(
          gcloud(
            'compute',
            'networks',
            'vpc-access',
            'connectors',
            'create',
            n.connector,
            `--region=${R}`,
            `--network=${s.network}`,
            `--range=${s.connectorRange}`,
            ...sizing,
          ),
        ),
      ],
      update: (c) => {
        if (tail(c?.network) !== s.network || (c?.ipCidrRange ?? s.connectorRange) !== s.connectorRange) {
          return [
            {
              kind: 'fail',
              message: `connector ${n.connector} is on ${tail(c?.network)} ${c?.ipCidrRange ?? ''}, not ${s.network} ${s.connectorRange}: a connector's network and range cannot change. Delete it (gcloud compute networks vpc-access connectors delete ${n.connector} --region=${R}) after the reconcile function stops using it, or pass --vpc-connector with another name.`,
            },
          ];
        }
        const ok = Number(c?.minInstances) === 2 && Number(c?.maxInstances) === 3 && tail(c?.machineType) === 'e2-micro';
        return ok
          ? []
          : [run(gcloud('compute', 'networks', 'vpc-access', 'connectors', 'update', n.connector, `--region=${R}`, ...sizing), { note: 'differs: sizing' })];
      },
    });
  } else {
    cmds.push({
      kind: 'converge',
      what: `VPC connector ${n.connector} (existing)`,
      describe: gcloud('compute', 'networks', 'vpc-access', 'connectors', 'describe', n.connector, `--region=${R}`),
      create: [{ kind: 'fail', message: `connector ${n.connector} does not exist in ${R}; create it (or drop --no-create-connector), or use --egress direct` }],
      update: () => [],
    });
  }
  if (s.firewall) {
    const rules = s.healthPorts.map((p) => `tcp:${p}`).join(',');
    cmds.push({
      kind: 'converge',
      what: `firewall rule ${n.firewallRule}`,
      describe: gcloud('compute', 'firewall-rules', 'describe', n.firewallRule),
      create: [
        run(
          gcloud(
            'compute',
            'firewall-rules',
            'create',
            n.firewallRule,
            `--network=${s.network}`,
            '--direction=INGRESS',
            '--action=ALLOW',
            `--rules=${rules}`,
            `--source-ranges=${sourceRange}`,
            `--description=warmer health checks from the functions' VPC egress`,
          ),
        ),
      ],
      update: (fw, resolve: Resolve) => {
        if (tail(fw?.network) !== s.network) {
          return [
            {
              kind: 'fail',
              message: `firewall rule ${n.firewallRule} is on network ${tail(fw?.network)}, not ${s.network}: delete it (gcloud compute firewall-rules delete ${n.firewallRule}) and deploy again`,
            },
          ];
        }
        const ports = ((fw?.allowed ?? []) as Array<{ IPProtocol?: string; ports?: string[] }>).flatMap((a) =>
          (a.ports ?? []).map((p) => `${a.IPProtocol}:${p}`),
        );
        const drift = [
          !sameSet(ports, rules.split(',')) && 'ports',
          !sameSet(fw?.sourceRanges ?? [], [resolve(sourceRange)]) && 'source ranges',
          fw?.disabled === true && 'disabled',
        ].filter(Boolean);
        return drift.length
          ? [
              run(gcloud('compute', 'firewall-rules', 'update', n.firewallRule, `--rules=${rules}`, `--source-ranges=${sourceRange}`, '--no-disabled'), {
                note: `differs: ${drift.join(', ')}`,
              }),
            ]
          : [];
      },
    });
  }

  // 7. The functions: built and staged once, before the first deploy that is needed.
  const build = run(['npm', 'run', 'build'], { once: 'build' });
  const stage = run(['npx', 'tsx', 'deploy/stage.ts', `--out=${s.sourceDir}`], { once: 'stage' });
  const env = {
    WARMER_PROJECT: P,
    WARMER_TEARDOWN_TOPIC: s.topics.teardown,
    WARMER_REFILL_TOPIC: s.topics.refill,
    WARMER_DEAD_LETTER_TOPIC: s.topics.deadLetter,
    WARMER_LOG_LEVEL: s.logLevel,
  };
  const envFlag = Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const connectorPath = `projects/${P}/locations/${R}/connectors/${n.connector}`;
  const labels = ['app=warmer', ...(s.sourceHash ? [`warmer-source=${s.sourceHash}`] : [])].join(',');
  const shapes = functionShapes(s);
  for (const f of shapes) {
    const http = 'http' in f.trigger;
    const vpc = f.vpc ? (s.egress === 'direct' ? { network: s.network, subnet: s.subnet } : { connector: connectorPath }) : null;
    const secrets = Object.fromEntries(f.secrets.map((k) => [SECRET_ENV[k], `${n.secrets[k]}:latest`]));
    const argv = gcloud(
      'functions',
      'deploy',
      f.name,
      '--gen2',
      `--region=${R}`,
      `--runtime=${RUNTIME}`,
      `--source=${s.sourceDir}`,
      `--entry-point=${f.entryPoint}`,
      // No allUsers binding: HTTP functions are reachable per the invoker mode (step 8).
      ...(http
        ? ['--trigger-http', '--no-allow-unauthenticated', `--ingress-settings=${(f.trigger as { ingress: string }).ingress}`]
        : [
            `--trigger-topic=${(f.trigger as { topic: string }).topic}`,
            '--retry',
            `--trigger-service-account=${n.invokerAccountEmail}`,
            '--ingress-settings=internal-only',
          ]),
      `--memory=${f.memory}`,
      `--cpu=${f.cpu}`,
      `--concurrency=${f.concurrency}`,
      `--timeout=${f.timeoutSeconds}s`,
      `--min-instances=${f.minInstances}`,
      `--max-instances=${f.maxInstances}`,
      `--service-account=${n.runtimeAccountEmail}`,
      ...(buildAccount ? [`--build-service-account=projects/${P}/serviceAccounts/${buildAccount}`] : []),
      `--set-env-vars=${envFlag}`,
      ...(f.secrets.length > 0
        ? [
            `--set-secrets=${Object.entries(secrets)
              .map(([k, v]) => `${k}=${v}`)
              .join(',')}`,
          ]
        : ['--clear-secrets']),
      ...(vpc?.connector
        ? [`--vpc-connector=${vpc.connector}`, '--egress-settings=private-ranges-only']
        : vpc?.network
          ? [`--network=${vpc.network}`, `--subnet=${vpc.subnet}`, '--egress-settings=private-ranges-only']
          : ['--clear-vpc-connector']),
      `--update-labels=${labels}`,
    );
    cmds.push({
      kind: 'converge',
      what: `function ${f.name}`,
      describe: gcloud('functions', 'describe', f.name, '--gen2', `--region=${R}`),
      create: [build, stage, run(argv)],
      update: (current) => {
        const drift = functionDrift(current, {
          f,
          env,
          secrets,
          serviceAccount: n.runtimeAccountEmail,
          vpc,
          buildServiceAccount: buildAccount,
          sourceHash: s.sourceHash,
          triggerServiceAccount: n.invokerAccountEmail,
        });
        return drift.length ? [build, stage, run(argv, { note: `differs: ${drift.join(', ')}` })] : [];
      },
    });
  }

  // 8. Who may invoke. HTTP functions: warmer's own tokens decide, with Cloud Run's
  // invoker IAM check disabled (the documented way to be public without an allUsers
  // binding, which domain-restricted sharing refuses:
  // https://cloud.google.com/run/docs/authenticating/public#invoker_check); or, with
  // --invoker iam, only the given members with a Google ID token. Any allUsers binding
  // left by an older deploy is removed in both modes.
  for (const f of shapes) {
    const runService = gcloud('run', 'services', 'describe', f.name, `--region=${R}`);
    const runPolicy = gcloud('run', 'services', 'get-iam-policy', f.name, `--region=${R}`);
    if ('http' in f.trigger) {
      const wantDisabled = s.invoker === 'tokens';
      cmds.push({
        kind: 'converge',
        what: `invoker IAM check of ${f.name}`,
        describe: runService,
        create: [run(gcloud('run', 'services', 'update', f.name, `--region=${R}`, wantDisabled ? '--no-invoker-iam-check' : '--invoker-iam-check'))],
        update: (svc) => {
          const disabled = svc?.metadata?.annotations?.['run.googleapis.com/invoker-iam-disabled'] === 'true';
          return disabled === wantDisabled
            ? []
            : [run(gcloud('run', 'services', 'update', f.name, `--region=${R}`, wantDisabled ? '--no-invoker-iam-check' : '--invoker-iam-check'))];
        },
      });
      cmds.push({
        kind: 'converge',
        what: `no allUsers binding on ${f.name}`,
        describe: runPolicy,
        create: [],
        update: (policy) =>
          hasBinding(policy, 'roles/run.invoker', 'allUsers')
            ? [run(gcloud('run', 'services', 'remove-iam-policy-binding', f.name, `--region=${R}`, '--member=allUsers', '--role=roles/run.invoker'))]
            : [],
      });
      for (const member of s.invoker === 'iam' ? s.invokers : []) {
        cmds.push(
          binding(
            `function ${f.name}`,
            runPolicy,
            gcloud('functions', 'add-invoker-policy-binding', f.name, `--region=${R}`, `--member=${member}`),
            'roles/run.invoker',
            member,
          ),
        );
      }
      continue;
    }
    // 8b. The Eventarc subscriptions behind --trigger-topic: retry policy and dead letter.
    const v = f.entryPoint.toUpperCase();
    cmds.push(
      binding(
        `function ${f.name}`,
        runPolicy,
        gcloud('functions', 'add-invoker-policy-binding', f.name, `--region=${R}`, `--member=${invokerMember}`),
        'roles/run.invoker',
        invokerMember,
      ),
    );
    cmds.push({
      kind: 'capture',
      variable: `${v}_TRIGGER`,
      argv: gcloud('functions', 'describe', f.name, '--gen2', `--region=${R}`, '--format=value(eventTrigger.trigger)'),
    });
    cmds.push({
      kind: 'capture',
      variable: `${v}_SUBSCRIPTION`,
      argv: gcloud('eventarc', 'triggers', 'describe', `\${${v}_TRIGGER}`, `--location=${R}`, '--format=value(transport.pubsub.subscription)'),
    });
    const sub = `\${${v}_SUBSCRIPTION}`;
    const update = run(
      gcloud(
        'pubsub',
        'subscriptions',
        'update',
        sub,
        '--ack-deadline=600',
        `--min-retry-delay=${s.minRetryDelaySeconds}s`,
        `--max-retry-delay=${s.maxRetryDelaySeconds}s`,
        `--dead-letter-topic=${s.topics.deadLetter}`,
        `--max-delivery-attempts=${s.maxDeliveryAttempts}`,
      ),
    );
    cmds.push({
      kind: 'converge',
      what: `subscription of ${f.name}`,
      describe: gcloud('pubsub', 'subscriptions', 'describe', sub),
      create: [update],
      update: (cur) => {
        const drift = [
          Number(cur?.ackDeadlineSeconds) !== 600 && 'ackDeadline',
          cur?.retryPolicy?.minimumBackoff !== `${s.minRetryDelaySeconds}s` && 'minRetryDelay',
          cur?.retryPolicy?.maximumBackoff !== `${s.maxRetryDelaySeconds}s` && 'maxRetryDelay',
          tail(cur?.deadLetterPolicy?.deadLetterTopic) !== s.topics.deadLetter && 'deadLetterTopic',
          Number(cur?.deadLetterPolicy?.maxDeliveryAttempts) !== s.maxDeliveryAttempts && 'maxDeliveryAttempts',
        ].filter(Boolean);
        return drift.length ? [{ ...update, note: `differs: ${drift.join(', ')}` }] : [];
      },
    });
    cmds.push(
      binding(
        `subscription of ${f.name}`,
        gcloud('pubsub', 'subscriptions', 'get-iam-policy', sub),
        gcloud('pubsub', 'subscriptions', 'add-iam-policy-binding', sub, `--member=${pubsubAgent}`, '--role=roles/pubsub.subscriber'),
        'roles/pubsub.subscriber',
        pubsubAgent,
        [agentExists],
      ),
    );
  }

  // 9. The scheduler's tick: reconcile every pool once a minute.
  const job = [
    `--location=${R}`,
    `--schedule=${SCHEDULE}`,
    '--time-zone=Etc/UTC',
    `--topic=${s.topics.refill}`,
    `--message-body=${SCHEDULE_MESSAGE}`,
    '--description=warmer: reconcile every pool',
  ];
  cmds.push({
    kind: 'converge',
    what: `scheduler job ${n.schedulerJob}`,
    describe: gcloud('scheduler', 'jobs', 'describe', n.schedulerJob, `--location=${R}`),
    create: [run(gcloud('scheduler', 'jobs', 'create', 'pubsub', n.schedulerJob, ...job))],
    update: (j) => {
      const data = j?.pubsubTarget?.data ? Buffer.from(String(j.pubsubTarget.data), 'base64').toString('utf8') : '';
      const drift = [
        j?.schedule !== SCHEDULE && 'schedule',
        j?.timeZone !== 'Etc/UTC' && 'timeZone',
        tail(j?.pubsubTarget?.topicName) !== s.topics.refill && 'topic',
        data !== SCHEDULE_MESSAGE && 'message',
      ].filter(Boolean);
      return drift.length ? [run(gcloud('scheduler', 'jobs', 'update', 'pubsub', n.schedulerJob, ...job), { note: `differs: ${drift.join(', ')}` })] : [];
    },
  });

  // 10. Monitoring (files written by the CLI under .warmer/monitoring; see deploy/monitoring.ts).
  if (s.monitoring) cmds.push(...monitoring(s, gcloud));
  return cmds;
}

function monitoring(s: DeploySettings, gcloud: Gcloud): Command[] {
  const files = monitoringFiles(s);
  const cmds: Command[] = [];
  for (const m of files.metrics) {
    cmds.push({
      kind: 'converge',
      what: `log-based metric ${m.name}`,
      describe: gcloud('logging', 'metrics', 'describe', m.name),
      create: [run(gcloud('logging', 'metrics', 'create', m.name, `--config-from-file=${m.path}`))],
      update: (cur) => {
        const same =
          cur?.filter === m.config.filter &&
          cur?.description === m.config.description &&
          JSON.stringify(cur?.labelExtractors ?? {}) === JSON.stringify(m.config.labelExtractors) &&
          (cur?.valueExtractor ?? undefined) === m.config.valueExtractor;
        return same ? [] : [run(gcloud('logging', 'metrics', 'update', m.name, `--config-from-file=${m.path}`), { note: 'differs: definition' })];
      },
    });
  }
  for (const p of files.policies) {
    const create = run(gcloud('alpha', 'monitoring', 'policies', 'create', `--policy-from-file=${p.path}`));
    cmds.push({
      kind: 'converge',
      what: `alert policy ${p.policy.displayName}`,
      describe: gcloud('alpha', 'monitoring', 'policies', 'list', `--filter=displayName="${p.policy.displayName}"`),
      exists: (list) => Array.isArray(list) && list.length > 0,
      create: [create],
      update: (list: Array<{ name: string; userLabels?: Record<string, string> }>) =>
        list[0]!.userLabels?.['warmer-config'] === p.policy.userLabels['warmer-config']
          ? []
          : [run(gcloud('alpha', 'monitoring', 'policies', 'update', list[0]!.name, `--policy-from-file=${p.path}`), { note: 'differs: definition' })],
    });
  }
  const d = files.dashboard;
  const label = Object.keys(d.config.labels as Record<string, string>)[0]!;
  const create = run(gcloud('monitoring', 'dashboards', 'create', `--config-from-file=${d.path}`));
  cmds.push({
    kind: 'converge',
    what: `dashboard ${String(d.config.displayName)}`,
    describe: gcloud('monitoring', 'dashboards', 'list', `--filter=displayName="${String(d.config.displayName)}"`),
    exists: (list) => Array.isArray(list) && list.length > 0,
    create: [create],
    // A dashboard update needs its etag; replacing it is as good for a generated one.
    update: (list: Array<{ name: string; labels?: Record<string, string> }>) =>
      label in (list[0]!.labels ?? {}) ? [] : [run(gcloud('monitoring', 'dashboards', 'delete', list[0]!.name)), { ...create, note: 'differs: definition' }],
  });
  return cmds;
}

function role(gcloud: Gcloud, id: string, title: string, description: string, permissions: string[]): Command {
  const common = [`--title=${title}`, `--description=${description}`, '--stage=GA', `--permissions=${permissions.join(',')}`];
  return {
    kind: 'converge',
    what: `custom role ${id}`,
    describe: gcloud('iam', 'roles', 'describe', id),
    create: [run(gcloud('iam', 'roles', 'create', id, ...common))],
    update: (r) => {
      const fix: Command[] = [];
      if (r?.deleted) fix.push(run(gcloud('iam', 'roles', 'undelete', id)));
      const drift = [!sameSet(r?.includedPermissions ?? [], permissions) && 'permissions', r?.title !== title && 'title', r?.stage !== 'GA' && 'stage'].filter(
        Boolean,
      );
      if (r?.deleted || drift.length) fix.push(run(gcloud('iam', 'roles', 'update', id, ...common), { note: `differs: ${drift.join(', ') || 'deleted'}` }));
      return fix;
    },
  };
}

function serviceAccount(gcloud: Gcloud, id: string, email: string, displayName: string): Command {
  return {
    kind: 'converge',
    what: `service account ${email}`,
    describe: gcloud('iam', 'service-accounts', 'describe', email),
    create: [run(gcloud('iam', 'service-accounts', 'create', id, `--display-name=${displayName}`))],
    update: (sa) => (sa?.disabled ? [run(gcloud('iam', 'service-accounts', 'enable', email))] : []),
  };
}

/** A resource with nothing to compare: created when missing. */
function exists(what: string, describe: Argv, create: Command[]): Command {
  return { kind: 'converge', what, describe, create, update: () => [] };
}

const ALREADY_EXISTS = /ALREADY_EXISTS|already exists/i;

const indexKey = (group: string, scope: string | undefined, fields: Array<{ fieldPath?: string; order?: string; arrayConfig?: string }>) =>
  `${group}|${(scope ?? 'COLLECTION').toUpperCase()}|${fields
    .filter((f) => f.fieldPath !== '__name__')
    .map((f) => `${f.fieldPath}:${(f.arrayConfig ?? f.order ?? 'ASCENDING').toUpperCase()}`)
    .join(',')}`;

/** Composite indexes missing from a `gcloud firestore indexes composite list` answer. */
export function missingIndexes(
  file: FirestoreIndexes,
  listed: Array<{ name?: string; queryScope?: string; fields?: Array<{ fieldPath?: string; order?: string; arrayConfig?: string }> }>,
) {
  const have = new Set(listed.map((i) => indexKey(/collectionGroups\/([^/]+)\//.exec(i.name ?? '')?.[1] ?? '', i.queryScope, i.fields ?? [])));
  return file.indexes.filter((i) => !have.has(indexKey(i.collectionGroup, i.queryScope, i.fields)));
}

function firestoreIndexes(s: DeploySettings, file: FirestoreIndexes | undefined, gcloud: Gcloud): Command[] {
  const list = gcloud('firestore', 'indexes', 'composite', 'list', `--database=${DEFAULT_DATABASE}`);
  if (s.firestoreTool === 'firebase') {
    // Rules (deny every client SDK), composite indexes and TTL overrides, from firebase.json.
    const deploy = run(['firebase', 'deploy', '--only=firestore', `--project=${s.project}`, '--config=firebase.json', '--non-interactive'], {
      retries: 3,
      retryOn: FIRESTORE_CONFLICT,
    });
    if (!file) return [deploy];
    return [
      {
        kind: 'converge',
        what: 'Firestore rules and indexes',
        describe: list,
        exists: () => true,
        create: [deploy],
        update: (listed) => (missingIndexes(file, Array.isArray(listed) ? listed : []).length ? [{ ...deploy, note: 'indexes missing' }] : []),
      },
    ];
  }
  if (!file) throw new Error('planDeployment: firestoreTool "gcloud" needs the contents of firestore.indexes.json');
  const createIndex = (index: FirestoreIndexes['indexes'][number]) => {
    const fields = index.fields.map(
      (f) =>
        `--field-config=field-path=${f.fieldPath},${f.arrayConfig ? `array-config=${f.arrayConfig.toLowerCase()}` : `order=${(f.order ?? 'ASCENDING').toLowerCase()}`}`,
    );
    return run(
      gcloud(
        'firestore',
        'indexes',
        'composite',
        'create',
        `--database=${DEFAULT_DATABASE}`,
        `--collection-group=${index.collectionGroup}`,
        `--query-scope=${(index.queryScope ?? 'COLLECTION').toLowerCase()}`,
        ...fields,
        '--async',
      ),
      { tolerate: ALREADY_EXISTS, retries: 5, retryOn: FIRESTORE_CONFLICT },
    );
  };
  const cmds: Command[] = [
    {
      kind: 'converge',
      what: 'Firestore composite indexes',
      describe: list,
      exists: () => true,
      create: file.indexes.map(createIndex),
      update: (listed) => missingIndexes(file, Array.isArray(listed) ? listed : []).map(createIndex),
    },
  ];
  for (const o of file.fieldOverrides ?? []) {
    const field = gcloud('firestore', 'fields', 'describe', o.fieldPath, `--database=${DEFAULT_DATABASE}`, `--collection-group=${o.collectionGroup}`);
    const fixes = (cur: any): Command[] => [
      ...(o.ttl && !['ACTIVE', 'CREATING'].includes(cur?.ttlConfig?.state)
        ? [
            run(
              gcloud(
                'firestore',
                'fields',
                'ttls',
                'update',
                o.fieldPath,
                `--database=${DEFAULT_DATABASE}`,
                `--collection-group=${o.collectionGroup}`,
                '--enable-ttl',
                '--async',
              ),
              { retries: 5, retryOn: FIRESTORE_CONFLICT },
            ),
          ]
        : []),
      ...(Array.isArray(o.indexes) && o.indexes.length === 0 && (cur?.indexConfig?.usesAncestorConfig !== false || (cur?.indexConfig?.indexes ?? []).length > 0)
        ? [
            run(
              gcloud(
                'firestore',
                'indexes',
                'fields',
                'update',
                o.fieldPath,
                `--database=${DEFAULT_DATABASE}`,
                `--collection-group=${o.collectionGroup}`,
                '--disable-indexes',
                '--async',
              ),
              { retries: 5, retryOn: FIRESTORE_CONFLICT },
            ),
          ]
        : []),
    ];
    cmds.push({ kind: 'converge', what: `Firestore field ${o.collectionGroup}.${o.fieldPath}`, describe: field, create: fixes(null), update: fixes });
  }
  return cmds;
}

export interface DestroyOptions {
  /** Also delete every machine labelled warmer-pool (after the functions are gone, so none is recreated). */
  deleteVms?: boolean;
}

/**
 * Removes what the deployment created, dependents first: the tick and the functions (no
 * new work; deleting a function deletes its Eventarc trigger and subscription), then
 * optionally the machines, monitoring, network, Pub/Sub, secrets, bindings, service
 * accounts and roles. The Firestore database (data) and the enabled APIs stay.
 */
export function planDestroy(s: DeploySettings, opts: DestroyOptions = {}): Command[] {
  const n = resourceNames(s);
  const P = s.project;
  const R = s.region;
  const gcloud: Gcloud = (...args) => ['gcloud', ...args, `--project=${P}`, '--quiet'];
  const remove = (what: string, describe: Argv, del: Argv, extra: Partial<Extract<Command, { kind: 'converge' }>> = {}): Command => ({
    kind: 'converge',
    what,
    describe,
    create: [],
    update: () => [run(del)],
    ...extra,
  });
  const cmds: Command[] = [];
  cmds.push(
    remove(
      `scheduler job ${n.schedulerJob}`,
      gcloud('scheduler', 'jobs', 'describe', n.schedulerJob, `--location=${R}`),
      gcloud('scheduler', 'jobs', 'delete', n.schedulerJob, `--location=${R}`),
    ),
  );
  for (const f of Object.values(n.functions)) {
    cmds.push(
      remove(`function ${f}`, gcloud('functions', 'describe', f, '--gen2', `--region=${R}`), gcloud('functions', 'delete', f, '--gen2', `--region=${R}`)),
    );
  }
  if (opts.deleteVms) {
    cmds.push({
      kind: 'converge',
      what: 'warmer machines',
      describe: gcloud('compute', 'instances', 'list', '--filter=labels.warmer-pool:*'),
      exists: (list) => Array.isArray(list) && list.length > 0,
      create: [],
      update: (list: Array<{ name: string; zone: string }>) => list.map((m) => run(gcloud('compute', 'instances', 'delete', m.name, `--zone=${tail(m.zone)}`))),
    });
  }
  if (s.monitoring) {
    const files = monitoringFiles(s);
    for (const p of files.policies) {
      cmds.push({
        kind: 'converge',
        what: `alert policy ${p.policy.displayName}`,
        describe: gcloud('alpha', 'monitoring', 'policies', 'list', `--filter=displayName="${p.policy.displayName}"`),
        exists: (list) => Array.isArray(list) && list.length > 0,
        create: [],
        update: (list: Array<{ name: string }>) => list.map((x) => run(gcloud('alpha', 'monitoring', 'policies', 'delete', x.name))),
      });
    }
    const name = String(files.dashboard.config.displayName);
    cmds.push({
      kind: 'converge',
      what: `dashboard ${name}`,
      describe: gcloud('monitoring', 'dashboards', 'list', `--filter=displayName="${name}"`),
      exists: (list) => Array.isArray(list) && list.length > 0,
      create: [],
      update: (list: Array<{ name: string }>) => list.map((x) => run(gcloud('monitoring', 'dashboards', 'delete', x.name))),
    });
    for (const m of files.metrics)
      cmds.push(remove(`log-based metric ${m.name}`, gcloud('logging', 'metrics', 'describe', m.name), gcloud('logging', 'metrics', 'delete', m.name)));
  }
  if (s.firewall)
    cmds.push(
      remove(
        `firewall rule ${n.firewallRule}`,
        gcloud('compute', 'firewall-rules', 'describe', n.firewallRule),
        gcloud('compute', 'firewall-rules', 'delete', n.firewallRule),
      ),
    );
  if (s.egress === 'connector' && s.createConnector) {
    cmds.push(
      remove(
        `VPC connector ${n.connector}`,
        gcloud('compute', 'networks', 'vpc-access', 'connectors', 'describe', n.connector, `--region=${R}`),
        gcloud('compute', 'networks', 'vpc-access', 'connectors', 'delete', n.connector, `--region=${R}`),
      ),
    );
  }
  cmds.push(
    remove(
      `subscription ${n.deadLetterSubscription}`,
      gcloud('pubsub', 'subscriptions', 'describe', n.deadLetterSubscription),
      gcloud('pubsub', 'subscriptions', 'delete', n.deadLetterSubscription),
    ),
  );
  for (const topic of [s.topics.teardown, s.topics.refill, s.topics.deadLetter]) {
    cmds.push(remove(`topic ${topic}`, gcloud('pubsub', 'topics', 'describe', topic), gcloud('pubsub', 'topics', 'delete', topic)));
  }
  for (const secret of Object.values(n.secrets))
    cmds.push(remove(`secret ${secret}`, gcloud('secrets', 'describe', secret), gcloud('secrets', 'delete', secret)));
  // Project-level grants first (a deleted account's bindings would linger as deleted:… members).
  const projectPolicy = gcloud('projects', 'get-iam-policy', P);
  const unbind = (member: string, r: string): Command => ({
    kind: 'converge',
    what: `project ${P}: ${r} for ${member}`,
    describe: projectPolicy,
    create: [],
    update: (policy) =>
      hasBinding(policy, r, member) ? [run(gcloud('projects', 'remove-iam-policy-binding', P, `--member=${member}`, `--role=${r}`, '--condition=None'))] : [],
  });
  cmds.push(unbind(`serviceAccount:${n.runtimeAccountEmail}`, `projects/${P}/roles/${n.runtimeRole}`));
  if (s.createBuildServiceAccount) for (const r of BUILD_ROLES) cmds.push(unbind(`serviceAccount:${n.buildAccountEmail}`, r));
  const accounts = [n.runtimeAccountEmail, n.invokerAccountEmail, ...(s.createBuildServiceAccount ? [n.buildAccountEmail] : [])];
  for (const email of accounts)
    cmds.push(remove(`service account ${email}`, gcloud('iam', 'service-accounts', 'describe', email), gcloud('iam', 'service-accounts', 'delete', email)));
  for (const r of [n.runtimeRole, ...(s.vmServiceAccounts.length > 0 ? [n.actAsRole] : [])]) {
    cmds.push(
      remove(`custom role ${r}`, gcloud('iam', 'roles', 'describe', r), gcloud('iam', 'roles', 'delete', r), {
        update: (cur) => (cur?.deleted ? [] : [run(gcloud('iam', 'roles', 'delete', r))]),
      }),
    );
  }
  return cmds;
}
