/**
 * The `warmer` command line: commands, options, help and exit codes. `run` takes the
 * arguments and its environment as parameters and returns the exit code, so it never
 * reads process state itself (cli/main.ts passes it in).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { WarmerClient } from './client.js';
import { ApiError, ConnectionError, EXIT_API, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { instanceDetail, instancesTable, planText, poolDetail, poolsTable, statusTable } from './output.js';
import { planApply, summarize, type PoolChange } from './plan.js';
import { simulateCommand, simulateText } from './simulate.js';
import { addAssignmentCommands } from './assignments.js';

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout(text: string): void;
  stderr(text: string): void;
  fetch?: typeof fetch;
}

export const DEFAULT_URL = 'http://127.0.0.1:8080';

interface CommonOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

type TokenKind = 'admin' | 'claim';

const EXAMPLES = `
Examples:
  # against the local stack (npm start prints the tokens)
  export WARMER_ADMIN_TOKEN=admin-… WARMER_CLAIM_TOKEN=claim-…
  warmer pools apply -f local/pools.yaml --dry-run   # show what would change
  warmer pools apply -f local/pools.yaml --prune     # make the server match the file
  warmer status
  warmer claim ci-linux --assignee ada@example.com --request-id job-42
  warmer release ci-linux-abc123
  warmer drain onboarding
  warmer pools list --json | jq '.pools[].name'

  # against another warmer
  WARMER_URL=https://warmer.example.com warmer status

Environment:
  WARMER_URL          API base URL (default ${DEFAULT_URL}); --url overrides it
  WARMER_ADMIN_TOKEN  token for pools, status and drain
  WARMER_CLAIM_TOKEN  token for claim, release and instance (the admin token works too)
  --token overrides both (prefer the environment: flags show in process lists).

Exit codes:
  0  done
  1  the API answered an error (its code and message are printed), or could not be reached
  2  usage error: bad arguments, no token, or an invalid pools file (nothing was sent)
`;

function positiveInt(max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
    const n = Number(value);
    if (n < 1 || n > max) throw new InvalidArgumentError(`expected 1 to ${max}`);
    return n;
  };
}

function label(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected key=value');
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

export function buildProgram(io: CliIo): { program: Command; wantsJson: () => boolean; exitCode: () => number } {
  let json = false;
  let exitCode: number = EXIT_OK;

  const client = (opts: CommonOptions, kind: TokenKind): WarmerClient => {
    json = opts.json === true;
    const url = opts.url ?? io.env.WARMER_URL ?? DEFAULT_URL;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`"${url}" is not a URL (expected e.g. ${DEFAULT_URL})`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`"${url}" is not an http(s) URL`);
    const token = opts.token ?? (kind === 'admin' ? io.env.WARMER_ADMIN_TOKEN : (io.env.WARMER_CLAIM_TOKEN ?? io.env.WARMER_ADMIN_TOKEN));
    if (!token) {
      const env = kind === 'admin' ? 'WARMER_ADMIN_TOKEN' : 'WARMER_CLAIM_TOKEN (or WARMER_ADMIN_TOKEN)';
      throw new UsageError(`no ${kind} token: set ${env} or pass --token (\`npm start\` prints the local tokens)`);
    }
    return new WarmerClient({ url: parsed.toString(), token, fetch: io.fetch });
  };

  const out = (value: unknown, text: string) => io.stdout(`${json ? JSON.stringify(value, null, 2) : text}\n`);

  const program = new Command()
    .name('warmer')
    .description('Operate warmer: pools of pre-booted VMs ready to claim.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXAMPLES);

  const common = (cmd: Command, kind: TokenKind): Command =>
    cmd
      .addOption(new Option('--url <url>', `warmer API base URL (env WARMER_URL; default ${DEFAULT_URL})`))
      .addOption(
        new Option(
          '--token <token>',
          kind === 'admin' ? 'admin token (env WARMER_ADMIN_TOKEN)' : 'claim or admin token (env WARMER_CLAIM_TOKEN, then WARMER_ADMIN_TOKEN)',
        ),
      )
      .option('--json', 'print the machine-readable result (JSON) on stdout');

  // ── pools ──────────────────────────────────────────────────────────────────────────
  const pools = program.command('pools').description('manage pools: apply a file, list, get');

  common(
    pools
      .command('apply')
      .description('make the pools on the server match a pools file: create, update, and with --prune disable')
      .requiredOption('-f, --file <path>', 'the pools file (YAML)')
      .option('--dry-run', 'only show what would change')
      .option('--prune', 'disable (drain) pools on the server that are not in the file')
      .addHelpText(
        'after',
        `
The file has the format of local/pools.yaml: "pools: {name: spec}", each spec what
PUT /pools/{name} takes. The whole file is validated first (nothing is sent if any
pool is invalid; errors name the file, line, pool and field). Then it shows per pool
what changes: + created, ~ updated (with each changed field, old → new), = unchanged;
pools on the server that are not in the file are left alone, or with --prune disabled
(drained: DELETE /pools/{name}). Then it applies the changes, unless --dry-run.

Examples:
  warmer pools apply -f pools.yaml --dry-run
  warmer pools apply -f pools.yaml
  warmer pools apply -f pools.yaml --prune --json`,
      ),
    'admin',
  ).action(async (opts: CommonOptions & { file: string; dryRun?: boolean; prune?: boolean }) => {
    const api = client(opts, 'admin');
    // Loaded only here: the schema and YAML parser are the slowest imports of the CLI.
    const { loadPoolsFile } = await import('./pools-file.js');
    const file = await loadPoolsFile(opts.file);
    const current = (await api.listPools()).pools;
    const changes = planApply(file.pools, current, { prune: opts.prune === true });
    const counts = summarize(changes);
    const summary = `${counts.create} to create, ${counts.update} to update, ${counts.disable} to disable, ${counts.unchanged} unchanged${counts.ignore ? `, ${counts.ignore} not in the file (left alone)` : ''}.`;
    const todo = changes.filter((c) => c.action === 'create' || c.action === 'update' || c.action === 'disable');
    if (!json) io.stdout(`Plan for ${file.file}:\n${planText(changes)}\n${summary}\n`);

    const results: Array<{ pool: string; action: PoolChange['action']; ok: boolean; status?: number; error?: ReturnType<ApiError['toJSON']> }> = [];
    if (!opts.dryRun) {
      const inputs = new Map(file.pools.map((p) => [p.name, p.input]));
      for (const c of todo) {
        try {
          if (c.action === 'disable') {
            await api.disablePool(c.pool);
            results.push({ pool: c.pool, action: c.action, ok: true, status: 202 });
            if (!json) io.stdout(`disabled ${c.pool}\n`);
          } else {
            const res = await api.putPool(c.pool, inputs.get(c.pool));
            results.push({ pool: c.pool, action: c.action, ok: true, status: res.created ? 201 : 200 });
            if (!json) io.stdout(`${res.created ? 'created' : 'updated'} ${c.pool}\n`);
          }
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          results.push({ pool: c.pool, action: c.action, ok: false, status: err.status, error: err.toJSON() });
          if (!json) io.stderr(`${formatError(err, `pool "${c.pool}": `)}\n`);
        }
      }
    }
    const failed = results.filter((r) => !r.ok).length;
    if (json) {
      io.stdout(
        `${JSON.stringify({ file: file.file, dryRun: opts.dryRun === true, prune: opts.prune === true, changes, summary: counts, results }, null, 2)}\n`,
      );
    } else if (opts.dryRun) {
      io.stdout(todo.length === 0 ? 'Nothing to change.\n' : 'Dry run: nothing was changed.\n');
    } else if (todo.length === 0) {
      io.stdout('Nothing to change.\n');
    } else {
      io.stdout(failed === 0 ? `Applied ${todo.length} change${todo.length === 1 ? '' : 's'}.\n` : `${failed} of ${todo.length} changes failed.\n`);
    }
    if (failed > 0) exitCode = EXIT_API;
  });

  common(pools.command('list').description('list the pools with their live counts'), 'admin')
    .addHelpText('after', '\nExamples:\n  warmer pools list\n  warmer pools list --json')
    .action(async (opts: CommonOptions) => {
      const res = await client(opts, 'admin').listPools();
      out(res, poolsTable(res.pools));
    });

  common(pools.command('get').description("show one pool's spec (defaults applied) and live counts").argument('<name>', 'pool name'), 'admin')
    .addHelpText('after', '\nExamples:\n  warmer pools get ci-linux\n  warmer pools get ci-linux --json')
    .action(async (name: string, opts: CommonOptions) => {
      const pool = await client(opts, 'admin').getPool(name);
      out(pool, poolDetail(pool));
    });

  // ── status, drain ─────────────────────────────────────────────────────────────────
  common(program.command('status').description('machines per pool: target, booting, ready, claimed, unhealthy, deleting'), 'admin')
    .addHelpText('after', '\nExamples:\n  warmer status\n  watch -n2 warmer status\n  warmer status --json')
    .action(async (opts: CommonOptions) => {
      const st = await client(opts, 'admin').status();
      out(st, statusTable(st));
    });

  common(
    program
      .command('drain')
      .description('disable a pool (DELETE /pools/{name}): it serves no more claims and its idle machines are torn down; claimed machines stay until released')
      .argument('<pool>', 'pool name'),
    'admin',
  )
    .addHelpText('after', '\nExamples:\n  warmer drain onboarding\nTo bring it back, apply a file where the pool has enabled: true (the default).')
    .action(async (name: string, opts: CommonOptions) => {
      const pool = await client(opts, 'admin').disablePool(name);
      out(
        pool,
        `pool ${pool.name} disabled: it serves no claims and its idle machines are being torn down; ${pool.counts.claimed} claimed machine(s) stay until released.`,
      );
    });

  // ── claim, release, instance ─────────────────────────────────────────────────────
  common(
    program
      .command('claim')
      .description('claim ready machines from a pool (all or nothing)')
      .argument('<pool>', 'pool name')
      .option('--count <n>', 'how many machines (1-50)', positiveInt(50))
      .option('--assignee <who>', 'who the machines are for')
      .option('--request-id <id>', 'idempotency key: retrying with the same id returns the same machines')
      .option('--label <key=value>', 'a label for the claim (repeatable)', label),
    'claim',
  )
    .addHelpText(
      'after',
      '\nExamples:\n  warmer claim ci-linux\n  warmer claim onboarding --assignee ada@example.com --label team=infra\n  warmer claim ci-linux --count 3 --request-id job-42 --json',
    )
    .action(async (pool: string, opts: CommonOptions & { count?: number; assignee?: string; requestId?: string; label?: Record<string, string> }) => {
      const res = await client(opts, 'claim').claim({
        pool,
        ...(opts.count === undefined ? {} : { count: opts.count }),
        ...(opts.assignee === undefined ? {} : { assignee: opts.assignee }),
        ...(opts.requestId === undefined ? {} : { requestId: opts.requestId }),
        ...(opts.label === undefined ? {} : { labels: opts.label }),
      });
      const n = res.instances.length;
      const notes = [
        `claimed ${n} machine${n === 1 ? '' : 's'} from ${pool}${res.replayed ? ' (replayed: this request id had already claimed them)' : ''}; give back with: warmer release ${n === 1 ? res.instances[0]!.name : '<name>'}`,
        ...(res.instances.some((i) => i.sshPrivateKey) ? ['each machine has its own SSH key: it is in the --json output (sshPrivateKey, encrypted)'] : []),
      ];
      out(res, `${instancesTable(res.instances)}\n${notes.join('\n')}`);
    });

  common(
    program.command('release').description('give a claimed machine back: it is torn down and its pool refills').argument('<name>', 'instance name'),
    'claim',
  )
    .addHelpText('after', '\nExamples:\n  warmer release ci-linux-7f3a9c\nA claim token releases claimed machines; an admin token any live one.')
    .action(async (name: string, opts: CommonOptions) => {
      const res = await client(opts, 'claim').release(name);
      out(
        res,
        res.alreadyReleased
          ? `${name} was already released (${res.instance.state})`
          : `released ${name}: ${res.instance.state}; its pool ${res.instance.pool} refills`,
      );
    });

  common(program.command('instance').description("show one machine's record").argument('<name>', 'instance name'), 'claim')
    .addHelpText('after', '\nExamples:\n  warmer instance ci-linux-7f3a9c --json')
    .action(async (name: string, opts: CommonOptions) => {
      const inst = await client(opts, 'claim').getInstance(name);
      out(inst, instanceDetail(inst));
    });

  addAssignmentCommands(program, { common, client, out, now: () => Date.now() });

  // ── simulate ───────────────────────────────────────────────────────────────────────
  const number =
    (min: number, max: number) =>
    (value: string): number => {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`expected a number from ${min} to ${max}`);
      return n;
    };
  program
    .command('simulate')
    .description(
      "replay a job trace (a CSV file, or a pool's claims recorded by a running warmer) through warmer's sizing (fixed targets, demand sizing, peers) and compare cost and waits",
    )
    .option('--trace <file>', 'CSV with started_epoch and duration_s columns (e.g. ../shared/traces/bitcoin-ci-2025-09.csv)')
    .option('-f, --file <path>', "a pools file: simulate with a pool's own spec (its maxSize, throttle, sizing)")
    .option(
      '--pool <name>',
      'with --trace: the pool of the pools file (default: the first); without: replay the claims a running warmer recorded for this pool',
    )
    .addOption(new Option('--days <d>', 'without --trace: days of recorded claims to replay').argParser(number(0.01, 30)).default(7))
    .addOption(new Option('--url <url>', `without --trace: warmer API base URL (env WARMER_URL; default ${DEFAULT_URL})`))
    .addOption(new Option('--token <token>', 'without --trace: admin token (env WARMER_ADMIN_TOKEN)'))
    .addOption(new Option('--price <usd>', 'machine-hour price').argParser(number(0, 1000)))
    .addOption(new Option('--seed <n>', 'random seed of the boot model').argParser(positiveInt(2 ** 31)))
    .addOption(new Option('--warmup-days <d>', 'days replayed but not counted (demand sizing learns meanwhile)').argParser(number(0, 365)))
    .addOption(new Option('--boot-median <s>', 'median boot time, seconds').argParser(number(1, 3600)))
    .addOption(new Option('--boot-failure-rate <r>', 'share of machines that never boot').argParser(number(0, 0.99)))
    .addOption(new Option('--max-fixed <n>', 'largest fixed target searched').argParser(positiveInt(1000)))
    .option('--no-peers', 'skip the Travis warmer, vmpooler and GitLab policies')
    .option(
      '--bounds',
      'also the best target schedule per hour of day, hour of week, weekday/weekend hour and time since the last claim, with hindsight and learned from the first half (about 15 s on a month)',
    )
    .option('--json', 'print one JSON object: {trace, policies, comparison} (and bounds with --bounds)')
    .action(
      async (opts: {
        trace?: string;
        days: number;
        url?: string;
        token?: string;
        file?: string;
        pool?: string;
        price?: number;
        seed?: number;
        warmupDays?: number;
        bootMedian?: number;
        bootFailureRate?: number;
        maxFixed?: number;
        peers: boolean;
        bounds?: boolean;
        json?: boolean;
      }) => {
        json = opts.json === true;
        const { url, token, ...rest } = opts;
        const report = await simulateCommand(rest, opts.trace === undefined && opts.pool !== undefined ? client({ url, token, json }, 'admin') : undefined);
        io.stdout(json ? `${JSON.stringify(report, null, 2)}\n` : simulateText(report));
      },
    );

  return { program, wantsJson: () => json, exitCode: () => exitCode };
}

/** One error, as printed: the API's status, code and message, and its details. */
export function formatError(err: unknown, prefix = ''): string {
  if (err instanceof ApiError) {
    const lines = [`warmer: ${prefix}${err.status} ${err.code}: ${err.message}`];
    const problems = err.problems();
    if (problems.length > 0) lines.push(...problems.map((p) => `  - ${p.path}: ${p.message}`));
    else if (err.details !== undefined) lines.push(`  details: ${JSON.stringify(err.details)}`);
    return lines.join('\n');
  }
  if (err instanceof UsageError) return [`warmer: ${prefix}${err.message}`, ...err.lines.map((l) => `  ${l}`)].join('\n');
  if (err instanceof ConnectionError) return `warmer: ${prefix}${err.message}`;
  return `warmer: ${prefix}unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
}

function errorJson(err: unknown): unknown {
  if (err instanceof ApiError) return { error: err.toJSON() };
  if (err instanceof UsageError) return { error: { code: 'usage', message: err.message, ...(err.lines.length ? { details: err.lines } : {}) } };
  if (err instanceof ConnectionError) return { error: { code: 'unreachable', message: err.message } };
  return { error: { code: 'internal', message: err instanceof Error ? err.message : String(err) } };
}

/** Runs one command line; returns the exit code. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const { program, wantsJson, exitCode } = buildProgram(io);
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode();
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    io.stderr(`${formatError(err)}\n`);
    if (wantsJson()) io.stdout(`${JSON.stringify(errorJson(err), null, 2)}\n`);
    return err instanceof UsageError ? EXIT_USAGE : EXIT_API;
  }
}
