/**
 * The deployment's settings: everything `planDeployment` needs, validated in one place
 * before any command is built. Every value that ends up in a command line is checked
 * against a strict pattern here, so nothing a user types can smuggle extra arguments or
 * shell syntax into a command (commands are run without a shell anyway).
 */
import { z } from 'zod';

/** Google Cloud project ids: 6–30 characters, lowercase letters, digits, hyphens. */
export const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
/** Cloud Run functions regions, e.g. europe-west1, us-central1, northamerica-northeast2. */
export const REGION = /^[a-z]+-[a-z]+[0-9]{1,2}$/;
/** Resource name prefix (service accounts, secrets, functions, jobs are derived from it). */
export const PREFIX = /^[a-z][a-z0-9-]{1,13}[a-z0-9]$/;
/** Pub/Sub topic ids as warmer uses them (a strict subset of what Pub/Sub allows). */
export const TOPIC = /^[a-z][a-z0-9-]{2,62}$/;
/** Serverless VPC Access connector names. */
export const CONNECTOR = /^[a-z][-a-z0-9]{0,23}[a-z0-9]$/;
/** VPC network names. */
export const NETWORK = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** An IPv4 /28 (what a Serverless VPC Access connector needs). */
export const CIDR28 = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\/28$/;
/** Service account e-mail addresses. */
export const SERVICE_ACCOUNT_EMAIL = /^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9-]+\.iam\.gserviceaccount\.com$|^[0-9]+-compute@developer\.gserviceaccount\.com$/;
/** Firestore locations: a region or a multi-region (nam5, eur3). */
export const FIRESTORE_LOCATION = /^[a-z]+-[a-z]+[0-9]{1,2}$|^(nam5|eur3|nam7)$/;

const port = z.coerce.number().int().min(1).max(65_535);

const seconds = z.coerce.number().int();

export const settingsSchema = z
  .object({
    project: z
      .string()
      .regex(
        PROJECT_ID,
        'must be a Google Cloud project id: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter (e.g. my-project-123)',
      ),
    region: z.string().regex(REGION, 'must be a Cloud Run functions region such as europe-west1 or us-central1'),
    prefix: z.string().regex(PREFIX, 'must be 3-15 lowercase letters, digits or hyphens, starting with a letter').default('warmer'),
    firestoreLocation: z.string().regex(FIRESTORE_LOCATION, 'must be a Firestore location such as europe-west1 or nam5').optional(),
    firestoreTool: z.enum(['firebase', 'gcloud']).default('firebase'),
    topics: z
      .object({
        teardown: z.string().regex(TOPIC, 'must be a topic id: 3-63 lowercase letters, digits or hyphens').default('warmer-teardown'),
        refill: z.string().regex(TOPIC, 'must be a topic id: 3-63 lowercase letters, digits or hyphens').default('warmer-refill'),
        deadLetter: z.string().regex(TOPIC, 'must be a topic id: 3-63 lowercase letters, digits or hyphens').default('warmer-dead-letter'),
      })
      .default({ teardown: 'warmer-teardown', refill: 'warmer-refill', deadLetter: 'warmer-dead-letter' }),
    /** Pub/Sub delivery of teardown and refill messages to the functions. */
    minRetryDelaySeconds: seconds.min(0).max(600).default(10),
    maxRetryDelaySeconds: seconds.min(0).max(600).default(600),
    maxDeliveryAttempts: z.coerce.number().int().min(5).max(100).default(10),
    /**
     * How reconcile reaches machines' internal addresses for health checks: Direct VPC
     * egress (the function gets an address on `subnet`) or a Serverless VPC Access
     * connector. One or the other, never both (they cannot be combined).
     */
    egress: z.enum(['direct', 'connector']).default('connector'),
    network: z.string().regex(NETWORK, 'must be a VPC network name').default('default'),
    /** Direct VPC egress: the subnet (in the region) the reconcile function's addresses come from. */
    subnet: z.string().regex(NETWORK, 'must be a subnet name').default('default'),
    vpcConnector: z.string().regex(CONNECTOR, 'must be a connector name: 2-25 lowercase letters, digits or hyphens').optional(),
    createConnector: z.boolean().default(true),
    connectorRange: z.string().regex(CIDR28, 'must be an unused IPv4 /28, e.g. 10.8.0.0/28').default('10.8.0.0/28'),
    /** Firewall rule letting the connector reach the machines' health ports. */
    firewall: z.boolean().default(true),
    healthPorts: z.array(port).min(1).default([22]),
    /** Whether pools give machines public IPs (adds compute.subnetworks.useExternalIp). */
    publicIps: z.boolean().default(true),
    /** Service accounts that pools attach to their machines: warmer must be able to act as them. */
    vmServiceAccounts: z.array(z.string().regex(SERVICE_ACCOUNT_EMAIL, 'must be a service account e-mail address')).default([]),
    claimMinInstances: z.coerce.number().int().min(0).max(100).default(1),
    claimMaxInstances: z.coerce.number().int().min(1).max(1000).default(100),
    claimIngress: z.enum(['all', 'internal-only', 'internal-and-gclb']).default('all'),
    adminIngress: z.enum(['all', 'internal-only', 'internal-and-gclb']).default('all'),
    logLevel: z.enum(['DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR']).default('INFO'),
    /**
     * Who may call the HTTP functions. 'tokens' (default): Cloud Run's invoker IAM check is
     * disabled and warmer's own bearer tokens decide (no allUsers binding, so domain-
     * restricted sharing does not refuse it). 'iam': the invoker check stays on; only
     * `invokers` (with a Google ID token) get through, and then warmer's token as well.
     */
    invoker: z.enum(['tokens', 'iam']).default('tokens'),
    invokers: z
      .array(
        z
          .string()
          .regex(
            /^(user|serviceAccount|group|domain):[A-Za-z0-9@._-]+$/,
            'must be an IAM member such as serviceAccount:ci@p.iam.gserviceaccount.com or group:ci@example.com',
          ),
      )
      .default([]),
    /** The service account Cloud Build runs the function builds as (new projects: the Compute default one often has no roles). */
    buildServiceAccount: z.string().regex(SERVICE_ACCOUNT_EMAIL, 'must be a service account e-mail address').optional(),
    /** Create `<prefix>-build` with the least roles a build needs and use it. */
    createBuildServiceAccount: z.boolean().default(false),
    /** Whether some pool issues per-machine SSH keys (only then the passphrase secret is needed). */
    perMachineKeys: z.boolean().default(false),
    /** Log-based metrics, alert policies and a dashboard. */
    monitoring: z.boolean().default(true),
    /** Notification channels (projects/P/notificationChannels/ID) the alert policies page. */
    notificationChannels: z
      .array(z.string().regex(/^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/notificationChannels\/[0-9]+$/, 'must be projects/P/notificationChannels/ID'))
      .default([]),
    /** A hash of the functions' source: a function whose label has it and whose settings match is not redeployed. */
    sourceHash: z
      .string()
      .regex(/^[a-f0-9]{8,40}$/)
      .optional(),
    /** Where the built functions are staged (package.json + dist), relative to the repository. */
    sourceDir: z
      .string()
      .regex(/^[A-Za-z0-9._/-]+$/, 'must be a plain relative path')
      .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must stay inside the repository')
      .default('.warmer/deploy-source'),
  })
  .refine((s) => s.minRetryDelaySeconds <= s.maxRetryDelaySeconds, {
    message: 'the minimum retry delay must not exceed the maximum',
    path: ['minRetryDelaySeconds'],
  })
  .refine((s) => s.claimMinInstances <= s.claimMaxInstances, {
    message: 'claim min instances must not exceed claim max instances',
    path: ['claimMinInstances'],
  })
  .refine((s) => !(s.buildServiceAccount && s.createBuildServiceAccount), {
    message: 'give either a build service account or --create-build-service-account, not both',
    path: ['buildServiceAccount'],
  })
  .refine((s) => s.invoker === 'iam' || s.invokers.length === 0, { message: 'invoker members need --invoker iam', path: ['invokers'] })
  .refine((s) => s.egress === 'connector' || (s.vpcConnector === undefined && s.createConnector), {
    message: 'Direct VPC egress uses no connector: drop --vpc-connector / --no-create-connector',
    path: ['egress'],
  });

export type SettingsInput = z.input<typeof settingsSchema>;
export type DeploySettings = z.output<typeof settingsSchema>;

export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid deployment settings:\n  ${problems.join('\n  ')}`);
    this.name = 'SettingsError';
  }
}

/** Validates the settings, reporting every bad value at once (never echoing secrets: there are none here). */
export function parseSettings(input: SettingsInput): DeploySettings {
  const parsed = settingsSchema.safeParse(input);
  if (!parsed.success) {
    throw new SettingsError(parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'settings'}: ${i.message}`));
  }
  return parsed.data;
}

/** The names every resource gets, derived from the settings in one place. */
export interface ResourceNames {
  runtimeAccount: string;
  runtimeAccountEmail: string;
  invokerAccount: string;
  invokerAccountEmail: string;
  runtimeRole: string;
  actAsRole: string;
  functions: { claim: string; admin: string; reconcile: string; teardown: string };
  secrets: { claimTokens: string; adminTokens: string; sshKeyPassphrase: string };
  deadLetterSubscription: string;
  schedulerJob: string;
  connector: string;
  firewallRule: string;
  buildAccount: string;
  buildAccountEmail: string;
}

export function resourceNames(s: DeploySettings): ResourceNames {
  const roleBase = s.prefix.replace(/-/g, '_');
  return {
    runtimeAccount: `${s.prefix}-fn`,
    runtimeAccountEmail: `${s.prefix}-fn@${s.project}.iam.gserviceaccount.com`,
    invokerAccount: `${s.prefix}-invoker`,
    invokerAccountEmail: `${s.prefix}-invoker@${s.project}.iam.gserviceaccount.com`,
    runtimeRole: `${roleBase}_runtime`,
    actAsRole: `${roleBase}_vm_act_as`,
    functions: { claim: `${s.prefix}-claim`, admin: `${s.prefix}-admin`, reconcile: `${s.prefix}-reconcile`, teardown: `${s.prefix}-teardown` },
    secrets: { claimTokens: `${s.prefix}-claim-tokens`, adminTokens: `${s.prefix}-admin-tokens`, sshKeyPassphrase: `${s.prefix}-ssh-key-passphrase` },
    deadLetterSubscription: `${s.topics.deadLetter}-pull`,
    schedulerJob: `${s.prefix}-tick`,
    connector: s.vpcConnector ?? `${s.prefix}-conn`,
    firewallRule: `${s.prefix}-health-checks`,
    buildAccount: `${s.prefix}-build`,
    buildAccountEmail: `${s.prefix}-build@${s.project}.iam.gserviceaccount.com`,
  };
}
