/**
 * A small stateful fake of the gcloud (and firebase) commands the deploy runs: each
 * describe answers from the state that earlier creates/updates left (in the JSON shape
 * gcloud prints), so a plan can be run twice and the second run must change nothing, and
 * a state can be drifted by hand to see exactly which updates a run makes.
 */
import type { ProcessResult, Runner } from '../../deploy/execute.js';
import { monitoringFiles } from '../../deploy/monitoring.js';
import type { FirestoreIndexes } from '../../deploy/plan.js';
import type { DeploySettings } from '../../deploy/settings.js';

const ok = (stdout: unknown = ''): ProcessResult => ({ code: 0, stdout: typeof stdout === 'string' ? stdout : JSON.stringify(stdout), stderr: '' });
const notFound = (what: string): ProcessResult => ({ code: 1, stdout: '', stderr: `ERROR: (gcloud) NOT_FOUND: ${what} was not found` });
const INGRESS: Record<string, string> = { all: 'ALLOW_ALL', 'internal-only': 'ALLOW_INTERNAL_ONLY', 'internal-and-gclb': 'ALLOW_INTERNAL_AND_GCLB' };
const MUTATING = /\b(create|update|enable|deploy|delete|add-iam-policy-binding|remove-iam-policy-binding|add-invoker-policy-binding|undelete|add)\b/;

export class FakeCloud {
  readonly state = new Map<string, any>();
  readonly ran: Array<{ argv: string[]; stdin?: string }> = [];
  private seq = 0;

  constructor(
    private readonly settings?: DeploySettings,
    private readonly indexes?: FirestoreIndexes,
  ) {}

  /** The commands that changed something (reads excluded). */
  mutations(): string[] {
    return this.ran
      .map((r) => r.argv)
      .filter(
        (a) =>
          a[0] === 'npm' ||
          a[0] === 'npx' ||
          a[0] === 'firebase' ||
          (MUTATING.test(a.slice(1, 6).join(' ')) && !a.includes('describe') && !a.includes('access')),
      )
      .map((a) => a.join(' '));
  }

  readonly runner: Runner = async (argv, opts) => {
    this.ran.push({ argv: [...argv], stdin: opts.stdin });
    return this.handle([...argv], opts.stdin);
  };

  private handle(argv: string[], stdin?: string): ProcessResult {
    if (argv[0] === 'npm' || argv[0] === 'npx') return ok();
    const flags = new Map<string, string>();
    const pos: string[] = [];
    for (const a of argv.slice(1)) {
      const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(a);
      if (m) flags.set(m[1]!, m[2] ?? 'true');
      else pos.push(a);
    }
    const value = flags.get('format')?.startsWith('value(');
    if (argv[0] === 'firebase') {
      this.state.set(
        'indexes',
        (this.indexes?.indexes ?? []).map((i, n) => ({
          name: `projects/p/databases/(default)/collectionGroups/${i.collectionGroup}/indexes/i${n}`,
          queryScope: i.queryScope ?? 'COLLECTION',
          fields: i.fields,
        })),
      );
      return ok();
    }
    const cmd = pos.slice(0, 4).join(' ');
    const key = (kind: string, name: string) => `${kind}:${name}`;
    const get = (k: string) => this.state.get(k);
    const put = (k: string, v: any) => void this.state.set(k, v);
    const describe = (k: string) => (get(k) === undefined ? notFound(k) : ok(get(k)));
    const policy = (k: string) => ok(get(`policy:${k}`) ?? { bindings: [] });
    const bind = (k: string) => {
      const p = get(`policy:${k}`) ?? { bindings: [] };
      const role = flags.get('role')!;
      const member = flags.get('member')!;
      let b = p.bindings.find((x: any) => x.role === role);
      if (!b) p.bindings.push((b = { role, members: [] }));
      if (!b.members.includes(member)) b.members.push(member);
      put(`policy:${k}`, p);
      return ok();
    };
    const unbind = (k: string) => {
      const p = get(`policy:${k}`) ?? { bindings: [] };
      for (const b of p.bindings) if (b.role === flags.get('role')) b.members = b.members.filter((m: string) => m !== flags.get('member'));
      put(`policy:${k}`, p);
      return ok();
    };
    const P = flags.get('project');
    const tail = (s: string) => s.slice(s.lastIndexOf('/') + 1);
    const fromFile = (path: string): any => {
      const f = monitoringFiles(this.settings!);
      return (
        f.metrics.find((m) => m.path === path)?.config ??
        f.policies.find((p) => p.path === path)?.policy ??
        (f.dashboard.path === path ? f.dashboard.config : undefined)
      );
    };

    if (cmd.startsWith('services list')) return ok(get('apis') ?? []);
    if (cmd.startsWith('services enable')) {
      const have = new Set((get('apis') ?? []).map((a: any) => a.config.name));
      for (const api of pos.slice(2)) have.add(api);
      put(
        'apis',
        [...have].map((name) => ({ config: { name } })),
      );
      return ok();
    }
    if (cmd.startsWith('beta services identity create')) return ok();
    if (cmd.startsWith('projects describe')) return ok('123456789\n');
    if (cmd.startsWith('projects get-iam-policy')) return policy('project');
    if (cmd.startsWith('projects add-iam-policy-binding')) return bind('project');
    if (cmd.startsWith('projects remove-iam-policy-binding')) return unbind('project');
    if (cmd.startsWith('firestore databases describe')) return describe('db');
    if (cmd.startsWith('firestore databases create')) return (put('db', { type: 'FIRESTORE_NATIVE', locationId: flags.get('location') }), ok());
    if (cmd.startsWith('firestore indexes composite list')) return ok(get('indexes') ?? []);
    if (cmd.startsWith('firestore indexes composite create')) {
      const fields = [...argv.filter((a) => a.startsWith('--field-config='))].map((a) => {
        const kv = Object.fromEntries(
          a
            .slice('--field-config='.length)
            .split(',')
            .map((x) => x.split('=')),
        );
        return kv['array-config']
          ? { fieldPath: kv['field-path'], arrayConfig: kv['array-config'].toUpperCase() }
          : { fieldPath: kv['field-path'], order: kv.order.toUpperCase() };
      });
      put('indexes', [
        ...(get('indexes') ?? []),
        {
          name: `projects/p/databases/(default)/collectionGroups/${flags.get('collection-group')}/indexes/i${++this.seq}`,
          queryScope: flags.get('query-scope')!.toUpperCase(),
          fields,
        },
      ]);
      return ok();
    }
    if (cmd.startsWith('firestore fields describe'))
      return ok(get(key('field', `${flags.get('collection-group')}.${pos[3]}`)) ?? { indexConfig: { usesAncestorConfig: true } });
    if (cmd.startsWith('firestore fields ttls update')) {
      const k = key('field', `${flags.get('collection-group')}.${pos[4]}`);
      return (put(k, { ...(get(k) ?? { indexConfig: { usesAncestorConfig: true } }), ttlConfig: { state: 'ACTIVE' } }), ok());
    }
    if (cmd.startsWith('firestore indexes fields update')) {
      const k = key('field', `${flags.get('collection-group')}.${pos[4]}`);
      return (put(k, { ...(get(k) ?? {}), indexConfig: { usesAncestorConfig: false, indexes: [] } }), ok());
    }
    if (cmd.startsWith('iam roles describe')) return describe(key('role', pos[3]!));
    if (cmd.startsWith('iam roles create') || cmd.startsWith('iam roles update')) {
      return (
        put(key('role', pos[3]!), { includedPermissions: flags.get('permissions')!.split(','), title: flags.get('title'), stage: flags.get('stage') }),
        ok()
      );
    }
    if (cmd.startsWith('iam roles delete')) return (this.state.delete(key('role', pos[3]!)), ok());
    if (cmd.startsWith('iam service-accounts describe')) return describe(key('sa', pos[3]!));
    if (cmd.startsWith('iam service-accounts create'))
      return (put(key('sa', `${pos[3]}@${P}.iam.gserviceaccount.com`), { email: `${pos[3]}@${P}.iam.gserviceaccount.com` }), ok());
    if (cmd.startsWith('iam service-accounts delete')) return (this.state.delete(key('sa', pos[3]!)), ok());
    if (cmd.startsWith('iam service-accounts get-iam-policy')) return policy(key('sa', pos[3]!));
    if (cmd.startsWith('iam service-accounts add-iam-policy-binding')) return bind(key('sa', pos[3]!));
    if (cmd.startsWith('secrets describe')) return describe(key('secret', pos[2]!));
    if (cmd.startsWith('secrets create')) return (put(key('secret', pos[2]!), { versions: [] }), ok());
    if (cmd.startsWith('secrets delete')) return (this.state.delete(key('secret', pos[2]!)), ok());
    if (cmd.startsWith('secrets get-iam-policy')) return policy(key('secret', pos[2]!));
    if (cmd.startsWith('secrets add-iam-policy-binding')) return bind(key('secret', pos[2]!));
    if (cmd.startsWith('secrets versions access')) {
      const v = get(key('secret', flags.get('secret')!))?.versions ?? [];
      return v.length ? ok(v[v.length - 1]) : notFound('version');
    }
    if (cmd.startsWith('secrets versions add')) return (get(key('secret', pos[3]!)).versions.push(stdin ?? ''), ok());
    if (cmd.startsWith('secrets versions list')) return ok((get(key('secret', pos[3]!))?.versions ?? []).length ? 'projects/p/secrets/s/versions/1\n' : '');
    if (cmd.startsWith('pubsub topics describe')) return describe(key('topic', pos[3]!));
    if (cmd.startsWith('pubsub topics create')) return (put(key('topic', pos[3]!), { name: `projects/${P}/topics/${pos[3]}` }), ok());
    if (cmd.startsWith('pubsub topics delete')) return (this.state.delete(key('topic', pos[3]!)), ok());
    if (cmd.startsWith('pubsub topics get-iam-policy')) return policy(key('topic', pos[3]!));
    if (cmd.startsWith('pubsub topics add-iam-policy-binding')) return bind(key('topic', pos[3]!));
    if (cmd.startsWith('pubsub subscriptions describe')) return describe(key('sub', pos[3]!));
    if (cmd.startsWith('pubsub subscriptions delete')) return (this.state.delete(key('sub', pos[3]!)), ok());
    if (cmd.startsWith('pubsub subscriptions create') || cmd.startsWith('pubsub subscriptions update')) {
      const k = key('sub', pos[3]!);
      if (cmd.endsWith('update') && !get(k)) return notFound(k);
      const sub = { ...(get(k) ?? { ackDeadlineSeconds: 10, messageRetentionDuration: '604800s', expirationPolicy: { ttl: '2678400s' } }) };
      if (flags.has('ack-deadline')) sub.ackDeadlineSeconds = Number(flags.get('ack-deadline'));
      if (flags.get('message-retention-duration') === '7d') sub.messageRetentionDuration = '604800s';
      if (flags.get('expiration-period') === 'never') sub.expirationPolicy = {};
      if (flags.has('min-retry-delay')) sub.retryPolicy = { minimumBackoff: flags.get('min-retry-delay'), maximumBackoff: flags.get('max-retry-delay') };
      if (flags.has('dead-letter-topic'))
        sub.deadLetterPolicy = {
          deadLetterTopic: `projects/${P}/topics/${flags.get('dead-letter-topic')}`,
          maxDeliveryAttempts: Number(flags.get('max-delivery-attempts')),
        };
      return (put(k, sub), ok());
    }
    if (cmd.startsWith('pubsub subscriptions get-iam-policy')) return policy(key('sub', pos[3]!));
    if (cmd.startsWith('pubsub subscriptions add-iam-policy-binding')) return bind(key('sub', pos[3]!));
    if (pos[0] === 'compute' && pos[1] === 'networks' && pos[2] === 'vpc-access') {
      const k = key('connector', pos[5]!);
      if (pos[4] === 'describe') return describe(k);
      if (pos[4] === 'delete') return (this.state.delete(k), ok());
      const c = {
        ...(get(k) ?? { network: flags.get('network'), ipCidrRange: flags.get('range') }),
        minInstances: Number(flags.get('min-instances')),
        maxInstances: Number(flags.get('max-instances')),
        machineType: flags.get('machine-type'),
      };
      return (put(k, c), ok());
    }
    if (pos[0] === 'compute' && pos[1] === 'networks' && pos[2] === 'subnets') return ok('10.128.0.0/20\n');
    if (pos[0] === 'compute' && pos[1] === 'firewall-rules') {
      const k = key('firewall', pos[3]!);
      if (pos[2] === 'describe') return describe(k);
      if (pos[2] === 'delete') return (this.state.delete(k), ok());
      const fw = {
        ...(get(k) ?? { network: `https://www.googleapis.com/compute/v1/projects/${P}/global/networks/${flags.get('network')}`, direction: 'INGRESS' }),
      };
      fw.allowed = Object.entries(
        flags
          .get('rules')!
          .split(',')
          .reduce<Record<string, string[]>>((acc, r) => {
            const [proto, port] = r.split(':');
            (acc[proto!] ??= []).push(port!);
            return acc;
          }, {}),
      ).map(([IPProtocol, ports]) => ({ IPProtocol, ports }));
      fw.sourceRanges = flags.get('source-ranges')!.split(',');
      fw.disabled = false;
      return (put(k, fw), ok());
    }
    if (pos[0] === 'compute' && pos[1] === 'instances' && pos[2] === 'list') return ok(get('vms') ?? []);
    if (pos[0] === 'compute' && pos[1] === 'instances' && pos[2] === 'delete')
      return (
        put(
          'vms',
          (get('vms') ?? []).filter((m: any) => m.name !== pos[3]),
        ),
        ok()
      );
    if (cmd.startsWith('functions describe')) {
      const f = get(key('fn', pos[2]!));
      if (!f) return notFound(pos[2]!);
      return value ? ok(`${f.eventTrigger?.trigger ?? ''}\n`) : ok(f);
    }
    if (cmd.startsWith('functions delete')) {
      const f = get(key('fn', pos[2]!));
      if (f?.eventTrigger) this.state.delete(key('sub', `projects/p/subscriptions/eventarc-${pos[2]}`));
      return (this.state.delete(key('fn', pos[2]!)), this.state.delete(key('run', pos[2]!)), ok());
    }
    if (cmd.startsWith('functions deploy')) {
      const name = pos[2]!;
      const env = Object.fromEntries(
        flags
          .get('set-env-vars')!
          .split(',')
          .map((kv) => kv.split('=')),
      );
      const secrets = flags.has('set-secrets')
        ? flags
            .get('set-secrets')!
            .split(',')
            .map((kv) => {
              const [k, v] = kv.split('=');
              const [secret, version] = v!.split(':');
              return { key: k, secret, version };
            })
        : [];
      const labels = Object.fromEntries(
        flags
          .get('update-labels')!
          .split(',')
          .map((kv) => kv.split('=')),
      );
      const topic = flags.get('trigger-topic');
      const fn: any = {
        buildConfig: {
          runtime: flags.get('runtime'),
          entryPoint: flags.get('entry-point'),
          ...(flags.has('build-service-account') ? { serviceAccount: flags.get('build-service-account') } : {}),
        },
        serviceConfig: {
          availableMemory: flags.get('memory'),
          availableCpu: flags.get('cpu'),
          maxInstanceRequestConcurrency: Number(flags.get('concurrency')),
          timeoutSeconds: Number(flags.get('timeout')!.replace(/s$/, '')),
          minInstanceCount: Number(flags.get('min-instances')),
          maxInstanceCount: Number(flags.get('max-instances')),
          serviceAccountEmail: flags.get('service-account'),
          environmentVariables: { ...env, LOG_EXECUTION_ID: 'true' },
          secretEnvironmentVariables: secrets,
          ingressSettings: INGRESS[flags.get('ingress-settings')!],
          ...(flags.has('vpc-connector') ? { vpcConnector: flags.get('vpc-connector'), vpcConnectorEgressSettings: 'PRIVATE_RANGES_ONLY' } : {}),
          ...(flags.has('network')
            ? {
                directVpcNetworkInterface: [{ network: flags.get('network'), subnetwork: flags.get('subnet') }],
                directVpcEgress: 'VPC_EGRESS_PRIVATE_RANGES_ONLY',
              }
            : {}),
        },
        labels,
        ...(topic
          ? {
              eventTrigger: {
                pubsubTopic: `projects/${P}/topics/${topic}`,
                retryPolicy: 'RETRY_POLICY_RETRY',
                serviceAccountEmail: flags.get('trigger-service-account'),
                trigger: `projects/p/locations/r/triggers/${name}`,
              },
            }
          : {}),
      };
      put(key('fn', name), fn);
      if (!get(key('run', name))) put(key('run', name), { metadata: { annotations: {} } });
      if (topic && !get(key('sub', `projects/p/subscriptions/eventarc-${name}`)))
        put(key('sub', `projects/p/subscriptions/eventarc-${name}`), { ackDeadlineSeconds: 10 });
      return ok();
    }
    if (cmd.startsWith('eventarc triggers describe')) return ok(`projects/p/subscriptions/eventarc-${tail(pos[3]!)}\n`);
    if (cmd.startsWith('functions add-invoker-policy-binding')) return (flags.set('role', 'roles/run.invoker'), bind(key('run', pos[2]!)));
    if (cmd.startsWith('run services describe')) return describe(key('run', pos[3]!));
    if (cmd.startsWith('run services get-iam-policy')) return policy(key('run', pos[3]!));
    if (cmd.startsWith('run services remove-iam-policy-binding')) return unbind(key('run', pos[3]!));
    if (cmd.startsWith('run services update')) {
      const svc = get(key('run', pos[3]!));
      if (!svc) return notFound(pos[3]!);
      svc.metadata.annotations['run.googleapis.com/invoker-iam-disabled'] = flags.has('no-invoker-iam-check') ? 'true' : 'false';
      return ok();
    }
    if (pos[0] === 'scheduler') {
      const name = pos[2] === 'describe' || pos[2] === 'delete' ? pos[3]! : pos[4]!;
      const k = key('job', name);
      if (pos[2] === 'describe') return describe(k);
      if (pos[2] === 'delete') return (this.state.delete(k), ok());
      return (
        put(k, {
          schedule: flags.get('schedule'),
          timeZone: flags.get('time-zone'),
          pubsubTarget: { topicName: `projects/${P}/topics/${flags.get('topic')}`, data: Buffer.from(flags.get('message-body')!).toString('base64') },
        }),
        ok()
      );
    }
    if (cmd.startsWith('logging metrics')) {
      const k = key('metric', pos[3]!);
      if (pos[2] === 'describe') return describe(k);
      if (pos[2] === 'delete') return (this.state.delete(k), ok());
      const c = fromFile(flags.get('config-from-file')!);
      return (put(k, { name: pos[3], ...c }), ok());
    }
    if (pos[0] === 'alpha' && pos[2] === 'policies') {
      const all: any[] = get('policies') ?? [];
      if (pos[3] === 'list') return ok(all.filter((p) => `displayName="${p.displayName}"` === flags.get('filter')));
      if (pos[3] === 'delete')
        return (
          put(
            'policies',
            all.filter((p) => p.name !== pos[4]),
          ),
          ok()
        );
      const body = fromFile(flags.get('policy-from-file')!);
      if (pos[3] === 'create') return (put('policies', [...all, { ...body, name: `projects/${P}/alertPolicies/${++this.seq}` }]), ok());
      return (
        put(
          'policies',
          all.map((p) => (p.name === pos[4] ? { ...body, name: p.name } : p)),
        ),
        ok()
      );
    }
    if (pos[0] === 'monitoring' && pos[1] === 'dashboards') {
      const all: any[] = get('dashboards') ?? [];
      if (pos[2] === 'list') return ok(all.filter((d) => `displayName="${d.displayName}"` === flags.get('filter')));
      if (pos[2] === 'delete')
        return (
          put(
            'dashboards',
            all.filter((d) => d.name !== pos[3]),
          ),
          ok()
        );
      return (put('dashboards', [...all, { ...fromFile(flags.get('config-from-file')!), name: `projects/${P}/dashboards/${++this.seq}` }]), ok());
    }
    return { code: 2, stdout: '', stderr: `fake gcloud: unknown command ${argv.join(' ')}` };
  }
}
