/**
 * The assignment commands: `warmer assignments` (who has which machine), `warmer assign`
 * (claim a machine for a person with their SSH keys), `warmer extend` and `warmer unassign`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import type { InstanceView, WarmerClient } from './client.js';
import { UsageError } from './errors.js';
import { assignmentsTable } from './output.js';

export interface AssignmentHelpers {
  common: (cmd: Command, kind: 'admin' | 'claim') => Command;
  client: (opts: { url?: string; token?: string; json?: boolean }, kind: 'admin' | 'claim') => WarmerClient;
  out: (value: unknown, text: string) => void;
  now: () => number;
}

/** `90s`, `45m`, `12h`, `30d`, `2w` or plain seconds → seconds. */
export function duration(value: string): number {
  const m = /^(\d+)([smhdw]?)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError('expected a duration like 90s, 45m, 12h, 30d or 2w');
  const n = Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as '' | 's' | 'm' | 'h' | 'd' | 'w'];
  if (n < 1) throw new InvalidArgumentError('expected a duration of at least 1 second');
  return n;
}

/**
 * `--ssh-key` takes a public key file (e.g. ~/.ssh/id_ed25519.pub) or the key itself; a
 * key without `user:` gets the assignee's name as its user (the `ssh-keys` entry format).
 */
export function sshKeyEntry(value: string, assignee: string): string {
  const text = (existsSync(value) ? readFileSync(value, 'utf8') : value).trim();
  if (text.includes('\n')) throw new UsageError(`--ssh-key ${value}: give one public key per --ssh-key`);
  if (/PRIVATE KEY/.test(text)) throw new UsageError(`--ssh-key ${value}: that is a private key; give the public one (.pub)`);
  if (/^[a-z_][a-z0-9_.-]{0,31}:/.test(text)) return text;
  const user = assignee
    .split('@')[0]!
    .toLowerCase()
    .replace(/[^a-z0-9_.-]/g, '_')
    .replace(/^[^a-z_]/, '_')
    .slice(0, 32);
  return `${user}:${text}`;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function addAssignmentCommands(program: Command, h: AssignmentHelpers): void {
  h.common(
    program
      .command('assignments')
      .description('claimed machines and who has them: machine, pool, assignee, since, expires, address')
      .option('--pool <pool>', 'only this pool')
      .option('--assignee <who>', 'only this assignee')
      .option('--state <states>', 'machines in these states instead (comma-separated, e.g. ready,claimed)', 'claimed'),
    'claim',
  )
    .addHelpText('after', '\nExamples:\n  warmer assignments\n  warmer assignments --pool testers --assignee ada --json')
    .action(async (opts: { pool?: string; assignee?: string; state: string; url?: string; token?: string; json?: boolean }) => {
      const c = h.client(opts, 'claim');
      const all: InstanceView[] = [];
      let pageToken: string | undefined;
      do {
        const page = await c.listInstances({ pool: opts.pool, assignee: opts.assignee, state: opts.state, limit: 500, pageToken });
        all.push(...page.instances);
        pageToken = page.nextPageToken ?? undefined;
      } while (pageToken);
      h.out({ instances: all }, all.length === 0 ? 'no machines match' : assignmentsTable(all, h.now()));
    });

  h.common(
    program
      .command('assign')
      .description('claim a ready machine for someone: their SSH keys are added to it (the admin keys stay)')
      .argument('<pool>', 'pool name')
      .requiredOption('--assignee <who>', 'who the machine is for')
      .option('--ssh-key <file|key>', 'their public key: a .pub file or the key itself (repeatable)', collect)
      .option('--lifetime <duration>', "how long the claim lasts (90s, 12h, 30d, 2w); default: the pool's claim lifetime", duration)
      .option('--request-id <id>', 'idempotency key: retrying with the same id returns the same machine'),
    'claim',
  )
    .addHelpText('after', '\nExamples:\n  warmer assign testers --assignee ada --ssh-key ~/ada.pub --lifetime 4w')
    .action(
      async (
        pool: string,
        opts: { assignee: string; sshKey?: string[]; lifetime?: number; requestId?: string; url?: string; token?: string; json?: boolean },
      ) => {
        const sshKeys = (opts.sshKey ?? []).map((k) => sshKeyEntry(k, opts.assignee));
        const res = await h.client(opts, 'claim').claim({
          pool,
          assignee: opts.assignee,
          ...(sshKeys.length > 0 ? { sshKeys } : {}),
          ...(opts.lifetime === undefined ? {} : { lifetimeSeconds: opts.lifetime }),
          ...(opts.requestId === undefined ? {} : { requestId: opts.requestId }),
        });
        const m = res.instances[0]!;
        const users = [...new Set(sshKeys.map((k) => k.slice(0, k.indexOf(':'))))];
        h.out(
          res,
          `${assignmentsTable(res.instances, h.now())}\nassigned ${m.name} to ${opts.assignee}` +
            (users.length > 0 ? `; their keys are being added (access ${m.access?.state ?? 'pending'}): ssh ${users[0]}@${m.publicIp ?? m.ip}` : '') +
            `\nextend with: warmer extend ${m.name} --by 1w; take back with: warmer unassign ${m.name}`,
        );
      },
    );

  h.common(
    program
      .command('extend')
      .description("move a claimed machine's expiry: later by a duration, or to a date")
      .argument('<name>', 'instance name')
      .option('--by <duration>', 'later by this much (90s, 12h, 30d, 2w)', duration)
      .option('--until <time>', 'to this time (ISO 8601, e.g. 2027-01-31T18:00:00Z)'),
    'claim',
  )
    .addHelpText('after', '\nExamples:\n  warmer extend testers-4k2m9x --by 2w\n  warmer extend testers-4k2m9x --until 2027-01-31T18:00:00Z')
    .action(async (name: string, opts: { by?: number; until?: string; url?: string; token?: string; json?: boolean }) => {
      if ((opts.by === undefined) === (opts.until === undefined)) throw new UsageError('give exactly one of --by or --until');
      let body: { extendBySeconds: number } | { expiresAt: string };
      if (opts.by !== undefined) body = { extendBySeconds: opts.by };
      else {
        const at = Date.parse(opts.until!);
        if (Number.isNaN(at)) throw new UsageError(`--until ${opts.until}: not a time (ISO 8601, e.g. 2027-01-31T18:00:00Z)`);
        body = { expiresAt: new Date(at).toISOString() };
      }
      const m = await h.client(opts, 'claim').patchInstance(name, body);
      h.out(m, `${name} now expires ${m.expiresAt ?? 'never'}`);
    });

  h.common(
    program.command('unassign').description('take a machine back: it is released, torn down, and its pool refills').argument('<name>', 'instance name'),
    'claim',
  )
    .addHelpText('after', '\nExamples:\n  warmer unassign testers-4k2m9x')
    .action(async (name: string, opts: { url?: string; token?: string; json?: boolean }) => {
      const res = await h.client(opts, 'claim').release(name);
      h.out(
        res,
        res.alreadyReleased ? `${name} was already released (${res.instance.state})` : `unassigned ${name}: it is torn down and ${res.instance.pool} refills`,
      );
    });
}
