/**
 * The deploy converges: a run against a fake project (test/deploy/fake-cloud.ts) where
 * everything exists with drifted settings makes only the updates that close the gap;
 * --destroy removes in the reverse order; options change the plan as documented.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Command } from '../../deploy/commands.js';
import { executePlan, type Runner } from '../../deploy/execute.js';
import { planDeployment, planDestroy, type FirestoreIndexes } from '../../deploy/plan.js';
import { parseSettings, type SettingsInput } from '../../deploy/settings.js';
import { smokeTest } from '../../deploy/smoke.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { FakeCloud } from './fake-cloud.js';
import { spec as e2eSpec } from '../e2e/support.js';
import { silentLogger } from '../../shared/logging.js';

const ROOT = resolve(import.meta.dirname, '../..');
const INDEXES = JSON.parse(readFileSync(join(ROOT, 'firestore.indexes.json'), 'utf8')) as FirestoreIndexes;
const SECRETS = { claimTokens: 'claim-token-0123456789-abcdef', adminTokens: 'admin-token-0123456789-abcdef' };
const base: SettingsInput = { project: 'warmer-prod-1', region: 'europe-west1', sourceHash: 'abcdef0123456789' };

const apply = (plan: readonly Command[], cloud: FakeCloud, dryRun = false) =>
  executePlan(plan, { runner: cloud.runner, secrets: SECRETS, log: () => {}, dryRun, print: () => {}, sleep: async () => {} });
const fresh = (plan: readonly Command[], secrets: Record<string, string> = SECRETS) =>
  executePlan(plan, { runner: async () => ({ code: 1, stdout: '', stderr: 'NOT_FOUND' }), secrets, log: () => {}, dryRun: true, print: () => {} });

async function deployed(input: SettingsInput = base) {
  const s = parseSettings(input);
  const cloud = new FakeCloud(s, INDEXES);
  await apply(planDeployment(s, { firestoreIndexes: INDEXES }), cloud);
  return { s, cloud };
}

describe('a project where everything exists with drifted settings', () => {
  it('gets only the updates, and the next run nothing', async () => {
    const { cloud } = await deployed();
    // Drift: a health port changed (the rule still opens 22 only), a subscription lost its
    // dead letter, the connector was resized, the scheduler was edited, a function's memory
    // changed by hand, a permission was removed from the role, an allUsers binding was added.
    const changed = parseSettings({ ...base, healthPorts: [22, 8022] });
    cloud.state.get('sub:projects/p/subscriptions/eventarc-warmer-teardown').deadLetterPolicy = undefined;
    cloud.state.get('connector:warmer-conn').maxInstances = 10;
    cloud.state.get('job:warmer-tick').schedule = '*/5 * * * *';
    cloud.state.get('fn:warmer-admin').serviceConfig.availableMemory = '256Mi';
    const role = cloud.state.get('role:warmer_runtime');
    role.includedPermissions = role.includedPermissions.filter((p: string) => p !== 'datastore.databases.get');
    cloud.state.set('policy:run:warmer-claim', { bindings: [{ role: 'roles/run.invoker', members: ['allUsers'] }] });

    const plan = planDeployment(changed, { firestoreIndexes: INDEXES });
    const preview = await apply(plan, cloud, true);
    cloud.ran.length = 0;
    const changes = await apply(plan, cloud);
    expect(changes).toEqual(preview); // the dry run shows exactly what the run does
    const verbs = changes
      .filter((l) => l.startsWith('gcloud '))
      .map((l) =>
        l
          .replace(/ --project=.*$/, '')
          .split(' ')
          .slice(1, 6)
          .join(' '),
      );
    expect(verbs).toEqual(
      [
        'iam roles update warmer_runtime --title=warmer',
        'compute networks vpc-access connectors',
        'compute firewall-rules update warmer-health-checks',
        'functions deploy warmer-admin --gen2',
        'run services remove-iam-policy-binding warmer-claim',
        'pubsub subscriptions update projects/p/subscriptions/eventarc-warmer-teardown',
        'scheduler jobs update pubsub',
      ].map((v) => expect.stringContaining(v.split(' ').slice(0, 3).join(' '))),
    );
    expect(changes.find((l) => l.includes('firewall-rules update'))).toContain('--rules=tcp:22,tcp:8022');
    expect(changes.find((l) => l.includes('functions deploy'))).toContain('# differs: memory');
    expect(changes.some((l) => l.startsWith('npm run build'))).toBe(true); // the build precedes the one redeploy
    expect(changes.find((l) => l.includes('iam roles update'))).toContain('datastore.databases.get');
    // Converged: the next run changes nothing.
    expect(await apply(plan, cloud)).toEqual([]);
  });

  it('redeploys every function when the source changed, and only then', async () => {
    const { cloud } = await deployed();
    const changes = await apply(planDeployment(parseSettings({ ...base, sourceHash: '9999999999999999' }), { firestoreIndexes: INDEXES }), cloud);
    expect(changes.filter((l) => l.includes('functions deploy'))).toHaveLength(4);
    expect(changes.filter((l) => l.includes('functions deploy')).every((l) => l.includes('# differs: source'))).toBe(true);
    expect(changes.filter((l) => l === 'npm run build')).toHaveLength(1);
  });

  it('stops with what to do when the default database is in Datastore mode', async () => {
    const s = parseSettings(base);
    const cloud = new FakeCloud(s, INDEXES);
    cloud.state.set('db', { type: 'DATASTORE_MODE' });
    await expect(apply(planDeployment(s, { firestoreIndexes: INDEXES }), cloud, true)).rejects.toThrow(
      /Datastore mode; warmer needs Firestore in Native mode[\s\S]*another project/,
    );
  });
});

describe('plan options', () => {
  it('a fresh plan: no allUsers, the invoker check disabled, the passphrase secret only with per-machine keys', async () => {
    const changes = await fresh(planDeployment(parseSettings(base), { firestoreIndexes: INDEXES }));
    const text = changes.join('\n');
    expect(text).not.toMatch(/allUsers| --allow-unauthenticated/);
    expect(changes.filter((l) => l.includes('--no-invoker-iam-check'))).toHaveLength(2);
    expect(text).toContain('--no-allow-unauthenticated');
    expect(text).not.toContain('ssh-key-passphrase');
    const keyed = planDeployment(parseSettings({ ...base, perMachineKeys: true }), { firestoreIndexes: INDEXES });
    // Per-machine keys need the passphrase: without a value (and no version yet) a run stops and says so; a dry run flags it.
    expect((await fresh(keyed)).find((l) => l.includes('versions add warmer-ssh-key-passphrase'))).toContain(
      'NEEDED: no version yet, give WARMER_SSH_KEY_PASSPHRASE',
    );
    const cloud = new FakeCloud(parseSettings(base), INDEXES);
    await expect(apply(keyed, cloud)).rejects.toThrow(/warmer-ssh-key-passphrase has no enabled version: give its value in WARMER_SSH_KEY_PASSPHRASE/);
    const withKeys = (await fresh(keyed, { ...SECRETS, sshKeyPassphrase: 'correct horse battery staple' })).join('\n');
    expect(withKeys).toContain('gcloud secrets create warmer-ssh-key-passphrase');
    expect(withKeys).toContain('--set-secrets=WARMER_SSH_KEY_PASSPHRASE=warmer-ssh-key-passphrase:latest');
    // The Pub/Sub service agent is made to exist before the first grant to it.
    const agent = changes.findIndex((l) => l.includes('services identity create --service=pubsub.googleapis.com'));
    const firstGrant = changes.findIndex((l) => l.includes('gcp-sa-pubsub'));
    expect(agent).toBeGreaterThanOrEqual(0);
    expect(agent).toBeLessThan(firstGrant);
    expect(changes.filter((l) => l.includes('services identity create'))).toHaveLength(1);
    // Monitoring: the API, metrics, alert policies, the dashboard.
    expect(changes[0]).toContain('monitoring.googleapis.com');
    expect(changes.filter((l) => l.includes('logging metrics create'))).toHaveLength(7);
    expect(changes.filter((l) => l.includes('monitoring policies create'))).toHaveLength(5);
    expect(changes.filter((l) => l.includes('monitoring dashboards create'))).toHaveLength(1);
  });

  it('--invoker iam keeps the check and binds only the given members', async () => {
    const changes = await fresh(planDeployment(parseSettings({ ...base, invoker: 'iam', invokers: ['group:ci@example.com'] }), { firestoreIndexes: INDEXES }));
    expect(changes.filter((l) => l.includes('--invoker-iam-check') && !l.includes('--no-invoker'))).toHaveLength(2);
    expect(changes.filter((l) => l.includes('add-invoker-policy-binding') && l.includes('--member=group:ci@example.com'))).toHaveLength(2);
    expect(changes.join('\n')).not.toContain('allUsers');
  });

  it('Direct VPC egress: --network/--subnet on reconcile, no connector anywhere, the firewall opened to the subnet', async () => {
    const s = parseSettings({ ...base, egress: 'direct', network: 'vpc-1', subnet: 'fn-subnet' });
    const changes = await fresh(planDeployment(s, { firestoreIndexes: INDEXES }));
    const reconcile = changes.find((l) => l.includes('functions deploy warmer-reconcile'))!;
    expect(reconcile).toContain('--network=vpc-1 --subnet=fn-subnet --egress-settings=private-ranges-only');
    expect(reconcile).not.toContain('--vpc-connector');
    expect(changes.join('\n')).not.toMatch(/vpc-access|vpcaccess/);
    // Fresh dry run: the subnet range is read at run time.
    expect(changes.find((l) => l.includes('firewall-rules create'))).toContain('"--source-ranges=${SUBNET_RANGE}"');
    const cloud = new FakeCloud(s, INDEXES);
    await apply(planDeployment(s, { firestoreIndexes: INDEXES }), cloud);
    expect(cloud.state.get('firewall:warmer-health-checks').sourceRanges).toEqual(['10.128.0.0/20']);
    expect(() => parseSettings({ ...base, egress: 'direct', vpcConnector: 'x-conn' })).toThrow(/Direct VPC egress uses no connector/);
  });

  it('--create-build-service-account: the account, its least roles, and --build-service-account on every deploy', async () => {
    const changes = await fresh(planDeployment(parseSettings({ ...base, createBuildServiceAccount: true }), { firestoreIndexes: INDEXES }));
    expect(changes.join('\n')).toContain('gcloud iam service-accounts create warmer-build');
    for (const r of ['roles/logging.logWriter', 'roles/artifactregistry.writer', 'roles/storage.objectAdmin']) {
      expect(changes.some((l) => l.includes(`--member=serviceAccount:warmer-build@warmer-prod-1.iam.gserviceaccount.com --role=${r}`))).toBe(true);
    }
    const deploys = changes.filter((l) => l.includes('functions deploy'));
    expect(
      deploys.every((l) => l.includes('--build-service-account=projects/warmer-prod-1/serviceAccounts/warmer-build@warmer-prod-1.iam.gserviceaccount.com')),
    ).toBe(true);
    const given = await fresh(
      planDeployment(parseSettings({ ...base, buildServiceAccount: 'builder@warmer-prod-1.iam.gserviceaccount.com' }), { firestoreIndexes: INDEXES }),
    );
    expect(given.filter((l) => l.includes('--build-service-account=projects/warmer-prod-1/serviceAccounts/builder@'))).toHaveLength(4);
  });

  it('retries Firestore index operations that get 409 "underlying data changed", and only those', async () => {
    const s = parseSettings({ ...base, firestoreTool: 'gcloud' });
    let conflicts = 2;
    const cloud = new FakeCloud(s, INDEXES);
    const runner: Runner = async (argv, o) => {
      if (argv.includes('composite') && argv.includes('create') && conflicts-- > 0)
        return { code: 1, stdout: '', stderr: 'ERROR: (gcloud) ABORTED: 409 the underlying data changed' };
      return cloud.runner(argv, o);
    };
    await executePlan(planDeployment(s, { firestoreIndexes: INDEXES }), { runner, secrets: SECRETS, log: () => {}, sleep: async () => {} });
    expect(cloud.state.get('indexes')).toHaveLength(INDEXES.indexes.length);
    const denied: Runner = async (argv, o) =>
      argv.includes('composite') && argv.includes('create') ? { code: 1, stdout: '', stderr: 'PERMISSION_DENIED' } : cloud.runner(argv, o);
    let attempts = 0;
    cloud.state.delete('indexes');
    await expect(
      executePlan(planDeployment(s, { firestoreIndexes: INDEXES }), {
        runner: async (a, o) => {
          if (a.includes('composite') && a.includes('create')) attempts++;
          return denied(a, o);
        },
        secrets: SECRETS,
        log: () => {},
        sleep: async () => {},
      }),
    ).rejects.toThrow(/PERMISSION_DENIED/);
    expect(attempts).toBe(1);
  });
});

describe('--destroy', () => {
  it('removes what warmer created, dependents first, optionally the machines; then nothing is left to remove', async () => {
    const { s, cloud } = await deployed();
    cloud.state.set('vms', [{ name: 'ci-1', zone: 'https://www.googleapis.com/compute/v1/projects/p/zones/europe-west1-b' }]);
    const plan = planDestroy(s, { deleteVms: true });
    const changes = await apply(plan, cloud);
    const at = (needle: string) => changes.findIndex((l) => l.includes(needle));
    const order = [
      'scheduler jobs delete warmer-tick',
      'functions delete warmer-claim',
      'functions delete warmer-teardown',
      'compute instances delete ci-1 --zone=europe-west1-b',
      'monitoring policies delete',
      'monitoring dashboards delete',
      'logging metrics delete',
      'firewall-rules delete',
      'vpc-access connectors delete',
      'subscriptions delete warmer-dead-letter-pull',
      'topics delete warmer-teardown',
      'secrets delete warmer-claim-tokens',
      'projects remove-iam-policy-binding',
      'service-accounts delete warmer-fn@',
      'iam roles delete warmer_runtime',
    ].map(at);
    expect(
      order.every((i) => i >= 0),
      JSON.stringify(order),
    ).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // Nothing of warmer's is left (the Firestore database stays on purpose).
    const left = [...cloud.state.keys()].filter((k) => /^(fn|job|topic|sub|secret|sa|role|firewall|connector|metric):/.test(k));
    expect(left).toEqual([]);
    expect(cloud.state.get('db')).toBeDefined();
    expect(await apply(plan, cloud)).toEqual([]);
    // Without --delete-vms the machines stay.
    expect(planDestroy(s).some((c) => c.kind === 'converge' && c.what === 'warmer machines')).toBe(false);
  });
});

describe('the smoke test (against the local stack)', () => {
  let stack: LocalStack;
  const CLAIM = 'smoke-claim-token-0123456789';
  beforeAll(async () => {
    stack = await startLocalStack({
      claimTokens: [CLAIM],
      adminTokens: ['smoke-admin-token-0123456789'],
      scheduleMs: 1_000,
      bootDelayMs: 100,
      bootJitterMs: 0,
      operationDelayMs: 10,
      addressBase: '127.77.0.1',
      logger: silentLogger,
      pools: { smoke: e2eSpec({ targetReady: 1, maxSize: 3 }) as never },
    });
  }, 60_000);
  afterAll(async () => stack?.stop());

  it('claims a machine through the HTTP API and releases it', async () => {
    const log: string[] = [];
    const r = await smokeTest({
      url: stack.apiUrl,
      pool: 'smoke',
      claimToken: CLAIM,
      waitMs: 30_000,
      log: (l) => log.push(l),
      sleep: (ms) => new Promise((res) => setTimeout(res, Math.min(ms, 200))),
    });
    expect(r.instance).toMatch(/^smoke-/);
    const record = await stack.api.instances.get(r.instance);
    expect(['deleting', 'deleted']).toContain(record!.state);
    expect(log.join('\n')).toContain(`released ${r.instance}`);
    await expect(smokeTest({ url: stack.apiUrl, pool: 'smoke', claimToken: 'wrong-token-0123456789', waitMs: 0, log: () => {} })).rejects.toThrow(
      /answered 401/,
    );
  }, 60_000);
});
