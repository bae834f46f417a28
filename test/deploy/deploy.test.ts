import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderCommand, type Command } from '../../deploy/commands.js';
import { main, sourceHash } from '../../deploy/deploy.js';
import { FakeCloud } from './fake-cloud.js';
import { executePlan, type Runner } from '../../deploy/execute.js';
import { RUNTIME_PERMISSIONS, runtimePermissions } from '../../deploy/permissions.js';
import { planDeployment, REQUIRED_APIS, type FirestoreIndexes } from '../../deploy/plan.js';
import { parseSettings, SettingsError } from '../../deploy/settings.js';
import { stageSource, stagedPackageJson } from '../../deploy/stage.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLAIM_SECRET = 'claim-token-0123456789-abcdef';
const ADMIN_SECRET = 'admin-token-0123456789-abcdef';
const PASSPHRASE = 'correct horse battery staple';

const settings = parseSettings({
  project: 'warmer-prod-1',
  region: 'europe-west1',
  vmServiceAccounts: ['pool-vm@warmer-prod-1.iam.gserviceaccount.com'],
  perMachineKeys: true,
});
const INDEXES = JSON.parse(readFileSync(join(ROOT, 'firestore.indexes.json'), 'utf8')) as FirestoreIndexes;
const plan = planDeployment(settings, { firestoreIndexes: INDEXES });
const lines = plan.map(renderCommand);
const text = lines.join('\n');

/** Nothing exists: every describe answers NOT_FOUND. */
const emptyProject: Runner = async () => ({ code: 1, stdout: '', stderr: 'ERROR: NOT_FOUND' });
/** The changes a run would make in a new project (a dry run against an empty one). */
export async function freshChanges(
  p: readonly Command[],
  secrets = { claimTokens: CLAIM_SECRET, adminTokens: ADMIN_SECRET, sshKeyPassphrase: PASSPHRASE },
): Promise<string[]> {
  return executePlan(p, { runner: emptyProject, secrets, log: () => {}, dryRun: true, print: () => {} });
}

/** The lines whose gcloud/firebase part starts with `prefix` (any branch of a line). */
const having = (needle: string) => lines.filter((l) => l.includes(needle));

function memoryIo() {
  const io = { outText: '', errText: '', out: (t: string) => void (io.outText += t), err: (t: string) => void (io.errText += t) };
  return io;
}

describe('planDeployment', () => {
  it('enables every API the design needs', () => {
    const enable = having('gcloud services enable')[0]!;
    for (const api of REQUIRED_APIS) expect(enable).toContain(api);
  });

  it('deploys the four functions as gen2 nodejs22 with the right triggers, service account and secrets', () => {
    const deploys = having('gcloud functions deploy');
    expect(deploys).toHaveLength(4);
    for (const d of deploys) {
      expect(d).toContain('--gen2');
      expect(d).toContain('--runtime=nodejs22');
      expect(d).toContain('--source=.warmer/deploy-source');
      expect(d).toContain('--service-account=warmer-fn@warmer-prod-1.iam.gserviceaccount.com');
      expect(d).toContain('WARMER_PROJECT=warmer-prod-1');
      expect(d).toMatch(/--max-instances=\d+/);
      expect(d).toMatch(/--timeout=\d+s/);
      expect(d).toMatch(/--memory=\d+(Mi|Gi)/);
      expect(d).toMatch(/--ingress-settings=/);
    }
    const claim = having('functions deploy warmer-claim ')[0]!;
    expect(claim).toContain('--entry-point=claim');
    expect(claim).toContain('--trigger-http');
    expect(claim).toContain('--min-instances=1');
    expect(claim).toContain('--set-secrets=WARMER_CLAIM_TOKENS=warmer-claim-tokens:latest,WARMER_ADMIN_TOKENS=warmer-admin-tokens:latest');
    expect(having('functions deploy warmer-admin ')[0]).toContain('--entry-point=admin');
    const reconcile = having('functions deploy warmer-reconcile ')[0]!;
    expect(reconcile).toContain('--trigger-topic=warmer-refill');
    expect(reconcile).toContain('--retry');
    expect(reconcile).toContain('WARMER_SSH_KEY_PASSPHRASE=warmer-ssh-key-passphrase:latest');
    // Health checks reach internal addresses through the connector.
    expect(reconcile).toContain('--vpc-connector=projects/warmer-prod-1/locations/europe-west1/connectors/warmer-conn');
    expect(reconcile).toContain('--egress-settings=private-ranges-only');
    const teardown = having('functions deploy warmer-teardown ')[0]!;
    expect(teardown).toContain('--trigger-topic=warmer-teardown');
    expect(teardown).toContain('--retry');
  });

  it('creates the topics and the dead-letter subscription if missing', () => {
    for (const topic of ['warmer-teardown', 'warmer-refill', 'warmer-dead-letter']) {
      expect(text).toContain(`gcloud pubsub topics describe ${topic} --project=warmer-prod-1 --quiet >/dev/null 2>&1 || gcloud pubsub topics create ${topic}`);
    }
    expect(text).toContain('gcloud pubsub subscriptions create warmer-dead-letter-pull --topic=warmer-dead-letter');
  });

  it('gives both event subscriptions a retry policy and the dead-letter topic', () => {
    const updates = having('gcloud pubsub subscriptions update');
    expect(updates).toHaveLength(2);
    for (const u of updates) {
      expect(u).toContain('--min-retry-delay=10s');
      expect(u).toContain('--max-retry-delay=600s');
      expect(u).toContain('--dead-letter-topic=warmer-dead-letter');
      expect(u).toContain('--max-delivery-attempts=10');
    }
    // The subscription is the one Eventarc made for the function's trigger.
    expect(text).toContain('TEARDOWN_SUBSCRIPTION=$(gcloud eventarc triggers describe "${TEARDOWN_TRIGGER}"');
    expect(text).toContain('RECONCILE_SUBSCRIPTION=$(gcloud eventarc triggers describe "${RECONCILE_TRIGGER}"');
    // The Pub/Sub service agent may publish dead letters and ack the source subscriptions.
    expect(having('topics add-iam-policy-binding warmer-dead-letter')[0]).toContain('--role=roles/pubsub.publisher');
    expect(having('subscriptions add-iam-policy-binding')).toHaveLength(2);
  });

  it('schedules the reconcile tick every minute on the refill topic', async () => {
    const job = having('gcloud scheduler jobs')[0]!;
    expect(job).toContain("'--schedule=* * * * *'");
    expect(job).toContain('--topic=warmer-refill');
    expect(job).toContain(`'--message-body={"pool":"*","reason":"schedule"}'`);
    // Missing: created; existing with another schedule: updated (the converge of plan.test.ts covers the rest).
    const fresh = (await freshChanges(plan)).filter((l) => l.includes('scheduler jobs'));
    expect(fresh).toHaveLength(1);
    expect(fresh[0]).toMatch(/^gcloud scheduler jobs create pubsub warmer-tick .*--schedule=/);
  });

  it('grants the service account a custom role with exactly the listed permissions', () => {
    const role = having('gcloud iam roles describe warmer_runtime')[0]!;
    const perms = /--permissions=([^ ]+)/.exec(role)![1]!.split(',');
    expect(perms).toEqual([...RUNTIME_PERMISSIONS.map((p) => p.permission), 'compute.subnetworks.useExternalIp'].sort());
    expect(perms).not.toContain('iam.serviceAccounts.actAs');
    expect(text).toContain(
      'gcloud projects add-iam-policy-binding warmer-prod-1 --member=serviceAccount:warmer-fn@warmer-prod-1.iam.gserviceaccount.com --role=projects/warmer-prod-1/roles/warmer_runtime',
    );
    // actAs only on the pools' VM service account.
    expect(text).toContain(
      'gcloud iam service-accounts add-iam-policy-binding pool-vm@warmer-prod-1.iam.gserviceaccount.com --member=serviceAccount:warmer-fn@warmer-prod-1.iam.gserviceaccount.com --role=projects/warmer-prod-1/roles/warmer_vm_act_as',
    );
    const noPublic = planDeployment(parseSettings({ project: 'warmer-prod-1', region: 'europe-west1', publicIps: false }))
      .map(renderCommand)
      .join('\n');
    expect(noPublic).not.toContain('useExternalIp');
    expect(noPublic).not.toContain('warmer_vm_act_as');
  });

  it('creates the three secrets if missing and lets only the service account read them', () => {
    for (const secret of ['warmer-claim-tokens', 'warmer-admin-tokens', 'warmer-ssh-key-passphrase']) {
      expect(text).toContain(`gcloud secrets describe ${secret} --project=warmer-prod-1 --quiet >/dev/null 2>&1 || gcloud secrets create ${secret}`);
      expect(text).toContain(`printf %s '<redacted>' | gcloud secrets versions add ${secret} --data-file=-`);
      expect(text).toContain(
        `gcloud secrets add-iam-policy-binding ${secret} --member=serviceAccount:warmer-fn@warmer-prod-1.iam.gserviceaccount.com --role=roles/secretmanager.secretAccessor`,
      );
    }
  });

  it('builds and stages JavaScript before deploying, and deploys Firestore rules and indexes', async () => {
    const fresh = await freshChanges(plan);
    const build = fresh.indexOf('npm run build');
    expect(fresh.filter((l) => l === 'npm run build')).toHaveLength(1); // once, however many functions deploy
    expect(fresh[build + 1]).toBe('npx tsx deploy/stage.ts --out=.warmer/deploy-source');
    expect(fresh.findIndex((l) => l.includes('functions deploy'))).toBeGreaterThan(build + 1);
    expect(text).toContain('firebase deploy --only=firestore --project=warmer-prod-1 --config=firebase.json --non-interactive');
    expect(text).toContain('gcloud firestore databases create');
    expect(text).toContain('gcloud compute networks vpc-access connectors create warmer-conn --region=europe-west1 --network=default --range=10.8.0.0/28');
    expect(text).toContain(
      'gcloud compute firewall-rules create warmer-health-checks --network=default --direction=INGRESS --action=ALLOW --rules=tcp:22 --source-ranges=10.8.0.0/28',
    );
  });

  it('with --firestore-tool gcloud, creates every index and TTL override of firestore.indexes.json', async () => {
    const indexes = JSON.parse(readFileSync(join(ROOT, 'firestore.indexes.json'), 'utf8')) as FirestoreIndexes;
    const g = await freshChanges(
      planDeployment(parseSettings({ project: 'warmer-prod-1', region: 'europe-west1', firestoreTool: 'gcloud' }), { firestoreIndexes: indexes }),
    );
    expect(g.filter((l) => l.includes('indexes composite create'))).toHaveLength(indexes.indexes.length);
    expect(g.some((l) => l.includes('--field-config=field-path=readyAt,order=ascending'))).toBe(true);
    expect(g.filter((l) => l.includes('fields ttls update expireAt'))).toHaveLength(indexes.fieldOverrides!.length);
    expect(g.join('\n')).not.toContain('firebase deploy');
  });

  it('is idempotent by construction: planning twice gives the same commands, and every create is guarded', () => {
    expect(planDeployment(settings, { firestoreIndexes: INDEXES }).map(renderCommand)).toEqual(lines);
    for (const cmd of plan) {
      if (cmd.kind !== 'run') continue;
      const verb = cmd.argv.slice(0, 6).join(' ');
      // Bare runs are only idempotent verbs: enable, add-binding, deploy, update, build.
      expect(verb).toMatch(
        /services enable|add-iam-policy-binding|add-invoker-policy-binding|functions deploy|subscriptions update|npm run build|deploy\/stage\.ts|firebase deploy/,
      );
    }
    // Every ${VAR} is captured before it is used.
    const captured = new Set<string>();
    for (const line of lines) {
      for (const m of line.matchAll(/\$\{([A-Z_]+)\}/g)) expect(captured.has(m[1]!), `${m[1]} used before capture in: ${line}`).toBe(true);
      const c = /^([A-Z_]+)=\$\(/.exec(line);
      if (c) captured.add(c[1]!);
    }
  });
});

describe('settings validation', () => {
  it.each([
    ['project', { project: 'My_Project', region: 'europe-west1' }],
    ['project', { project: 'p; rm -rf /', region: 'europe-west1' }],
    ['project', { project: 'abc', region: 'europe-west1' }],
    ['region', { project: 'warmer-prod-1', region: 'europe west1' }],
    ['region', { project: 'warmer-prod-1', region: '--impersonate-service-account=x' }],
    ['prefix', { project: 'warmer-prod-1', region: 'europe-west1', prefix: 'Warmer!' }],
    ['vmServiceAccounts', { project: 'warmer-prod-1', region: 'europe-west1', vmServiceAccounts: ['not-an-email'] }],
    ['topics', { project: 'warmer-prod-1', region: 'europe-west1', topics: { teardown: 'a,b' } }],
  ])('rejects a bad %s', (field, input) => {
    expect(() => parseSettings(input as never)).toThrow(SettingsError);
    try {
      parseSettings(input as never);
    } catch (err) {
      expect((err as SettingsError).problems.join('\n')).toContain(field);
    }
  });

  it('rejects an invalid region with a clear message and exit code 2, running nothing', async () => {
    const io = memoryIo();
    const runner: Runner = async () => {
      throw new Error('nothing may run');
    };
    const code = await main(['--project', 'warmer-prod-1', '--region', 'Mars'], {}, { io, runner });
    expect(code).toBe(2);
    expect(io.errText).toContain('region: must be a Cloud Run functions region');
    expect(io.outText).toBe('');
  });

  it('rejects a weak token without echoing it', async () => {
    const io = memoryIo();
    const code = await main(['--project', 'warmer-prod-1', '--region', 'europe-west1', '--dry-run'], { WARMER_CLAIM_TOKENS: 'short-Secret' }, { io });
    expect(code).toBe(2);
    expect(io.errText).toContain('WARMER_CLAIM_TOKENS');
    expect(io.errText + io.outText).not.toContain('short-Secret');
  });
});

describe('executePlan', () => {
  it('creates what is missing, substitutes captured values, and sends secrets only on stdin; a second run changes nothing', async () => {
    const cloud = new FakeCloud(settings, INDEXES);
    const log: string[] = [];
    await executePlan(plan, {
      runner: cloud.runner,
      secrets: { claimTokens: CLAIM_SECRET, adminTokens: ADMIN_SECRET, sshKeyPassphrase: PASSPHRASE },
      log: (l) => log.push(l),
    });
    const creates = cloud.ran.filter((r) => r.argv.includes('create'));
    expect(creates.length).toBeGreaterThan(10);
    expect(cloud.ran.some((r) => r.argv.join(' ').includes('subscriptions update projects/p/subscriptions/eventarc-warmer-reconcile'))).toBe(true);
    expect(cloud.ran.some((r) => r.argv.includes('--member=serviceAccount:service-123456789@gcp-sa-pubsub.iam.gserviceaccount.com'))).toBe(true);
    const adds = cloud.ran.filter((r) => r.argv.join(' ').includes('versions add'));
    expect(adds.map((r) => r.stdin)).toEqual([CLAIM_SECRET, ADMIN_SECRET, PASSPHRASE]);
    for (const r of cloud.ran) for (const s of [CLAIM_SECRET, ADMIN_SECRET, PASSPHRASE]) expect(r.argv.join(' ')).not.toContain(s);
    expect(log.join('\n')).not.toMatch(new RegExp(`${CLAIM_SECRET}|${ADMIN_SECRET}|${PASSPHRASE}`));

    // Second run: everything exists with the desired settings and the secrets are unchanged: no change at all.
    cloud.ran.length = 0;
    const changes = await executePlan(plan, { runner: cloud.runner, secrets: { claimTokens: CLAIM_SECRET }, log: () => {} });
    expect(changes).toEqual([]);
    expect(cloud.mutations()).toEqual([]);
  });

  it('stops at the first failing command and says which', async () => {
    const runner: Runner = async (argv) =>
      argv.includes('enable') ? { code: 1, stdout: '', stderr: 'PERMISSION_DENIED' } : { code: 0, stdout: '', stderr: '' };
    await expect(executePlan(plan, { runner, secrets: {}, log: () => {} })).rejects.toThrow(
      /command failed \(exit 1\): gcloud services (list --enabled|enable)[\s\S]*PERMISSION_DENIED/,
    );
  });

  it('retries IAM bindings that race a new service account', async () => {
    let calls = 0;
    const cmd: Command = { kind: 'run', retries: 3, argv: ['gcloud', 'projects', 'add-iam-policy-binding', 'p'] };
    const runner: Runner = async () => (++calls < 3 ? { code: 1, stdout: '', stderr: 'does not exist' } : { code: 0, stdout: '', stderr: '' });
    await executePlan([cmd], { runner, secrets: {}, log: () => {}, sleep: async () => {} });
    expect(calls).toBe(3);
  });
});

describe('staging the upload source', () => {
  it('ships package.json (main: dist/functions/index.js, no scripts), the lock file and dist only', () => {
    const root = mkdtempSync(join(tmpdir(), 'warmer-stage-'));
    try {
      writeFileSync(
        join(root, 'package.json'),
        JSON.stringify({ name: 'warmer', version: '1.0.0', type: 'module', scripts: { build: 'tsc' }, dependencies: { zod: '4' } }),
      );
      writeFileSync(join(root, 'package-lock.json'), '{}');
      mkdirSync(join(root, 'dist/functions'), { recursive: true });
      mkdirSync(join(root, 'dist/shared'), { recursive: true });
      mkdirSync(join(root, 'dist/local'), { recursive: true });
      writeFileSync(join(root, 'dist/functions/index.js'), 'export {};');
      writeFileSync(join(root, 'dist/shared/config.js'), 'export {};');
      mkdirSync(join(root, 'api'), { recursive: true });
      writeFileSync(join(root, 'api/openapi.yaml'), 'openapi: 3.1.0\n');
      stageSource({ root, out: '.warmer/src' });
      expect(readFileSync(join(root, '.warmer/src/api/openapi.yaml'), 'utf8')).toBe('openapi: 3.1.0\n');
      const pkg = JSON.parse(readFileSync(join(root, '.warmer/src/package.json'), 'utf8'));
      expect(pkg.main).toBe('dist/functions/index.js');
      expect(pkg.type).toBe('module');
      expect(pkg.scripts).toBeUndefined();
      expect(existsSync(join(root, '.warmer/src/package-lock.json'))).toBe(true);
      expect(existsSync(join(root, '.warmer/src/dist/shared/config.js'))).toBe(true);
      expect(existsSync(join(root, '.warmer/src/dist/local'))).toBe(false);
      expect(() => stageSource({ root, out: '../outside' })).toThrow(/inside/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    expect(stagedPackageJson({ name: 'x', dependencies: {} }).main).toBe('dist/functions/index.js');
  });
});

describe('the CLI (spawned)', () => {
  it('--dry-run --offline prints every change for a new project, one per line, never a secret, and exits 0', async () => {
    const r = spawnSync(
      'npx',
      ['tsx', 'deploy/main.ts', '--dry-run', '--offline', '--per-machine-keys', '--project', 'warmer-prod-1', '--region', 'europe-west1'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, WARMER_CLAIM_TOKENS: CLAIM_SECRET, WARMER_ADMIN_TOKENS: ADMIN_SECRET, WARMER_SSH_KEY_PASSPHRASE: PASSPHRASE },
        timeout: 60_000,
      },
    );
    expect(r.stderr).not.toContain('Error');
    expect(r.status).toBe(0);
    const out = r.stdout.trimEnd().split('\n');
    const indexes = JSON.parse(readFileSync(join(ROOT, 'firestore.indexes.json'), 'utf8')) as FirestoreIndexes;
    const local = parseSettings({ project: 'warmer-prod-1', region: 'europe-west1', perMachineKeys: true, sourceHash: sourceHash(ROOT) });
    expect(out).toEqual(await freshChanges(planDeployment(local, { firestoreIndexes: indexes })));
    // The role with every permission the adapters need, and no allUsers binding.
    expect(r.stdout).toContain(`--permissions=${runtimePermissions(true).join(',')}`);
    expect(r.stdout).toContain('datastore.databases.get');
    expect(r.stdout).not.toContain('allUsers');
    expect(r.stdout).not.toContain('--allow-unauthenticated');
    expect(r.stdout).toContain('--no-invoker-iam-check');
    expect(r.stdout).toContain('<redacted>');
    for (const s of [CLAIM_SECRET, ADMIN_SECRET, PASSPHRASE]) expect(r.stdout + r.stderr).not.toContain(s);
  });

  it('rejects an invalid project with a clear message and a non-zero exit', () => {
    const r = spawnSync('npx', ['tsx', 'deploy/main.ts', '--dry-run', '--project', 'Bad_Project', '--region', 'europe-west1'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('project: must be a Google Cloud project id');
    expect(r.stdout).toBe('');
  });
});

describe('firebase.json, rules and indexes', () => {
  it('references the rules and indexes, denies every client access, and indexes every query of the store', () => {
    const firebase = JSON.parse(readFileSync(join(ROOT, 'firebase.json'), 'utf8'));
    expect(firebase.firestore).toMatchObject({ rules: 'firestore.rules', indexes: 'firestore.indexes.json' });
    const rules = readFileSync(join(ROOT, 'firestore.rules'), 'utf8');
    expect(rules).toMatch(/match \/\{document=\*\*\}\s*\{\s*allow read, write: if false;\s*\}/);
    expect(rules).not.toMatch(/if true|if request\.auth/);
    const file = JSON.parse(readFileSync(join(ROOT, 'firestore.indexes.json'), 'utf8')) as FirestoreIndexes;
    const shapes = file.indexes.map((i) => `${i.collectionGroup}:${i.fields.map((f) => `${f.fieldPath} ${f.order}`).join(',')}`);
    expect(shapes).toContain('instances:pool ASCENDING,state ASCENDING,readyAt ASCENDING');
    expect(shapes).toContain('instances:pool ASCENDING,state ASCENDING');
    for (const group of ['instances', 'claims']) {
      expect(file.fieldOverrides).toContainEqual(expect.objectContaining({ collectionGroup: group, fieldPath: 'expireAt', ttl: true }));
    }
  });
});
