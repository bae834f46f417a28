/**
 * Runs a plan's commands one by one, each as a child process without a shell. Stops at
 * the first failure (non-zero exit), after printing which command failed. A dry run runs
 * only the reads and prints the changes instead of making them. Secret values
 * travel only on a child's stdin and are compared in memory; they are never printed.
 */
import { spawn } from 'node:child_process';
import {
  hasPlaceholder,
  REDACTED,
  renderArgv,
  renderCommand,
  resolveText,
  substitute,
  type Argv,
  type Command,
  type RunCommand,
  type SecretSource,
} from './commands.js';

export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the child's stdin (then closed). */
  stdin?: string;
  /** Show the child's stderr and stdout live (otherwise they are only captured). */
  inherit?: boolean;
}

/** Runs one argument vector; never throws for a non-zero exit (the result says so). */
export type Runner = (argv: readonly string[], opts: RunOptions) => Promise<ProcessResult>;

export function spawnRunner(cwd: string): Runner {
  return (argv, opts) =>
    new Promise((resolve) => {
      const child = spawn(argv[0]!, argv.slice(1), { cwd, shell: false, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (opts.inherit) process.stdout.write(d);
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (opts.inherit) process.stderr.write(d);
      });
      child.on('error', (err) => resolve({ code: 127, stdout, stderr: `${stderr}${err.message}\n` }));
      child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
      child.stdin.on('error', () => {});
      child.stdin.end(opts.stdin ?? '');
    });
}

export type SecretValues = Partial<Record<SecretSource, string>>;

export interface ExecuteOptions {
  runner: Runner;
  secrets: SecretValues;
  log: (line: string) => void;
  /** Run only the reads (describes, captures that change nothing, secret comparisons); print the changes. */
  dryRun?: boolean;
  /** Where a dry run prints each change, one shell line each (default: log). */
  print?: (line: string) => void;
  /** Pause between retries of a command marked retryable (IAM propagation, 409s). */
  retryDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class DeployError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeployError';
  }
}

const CAPTURED = /^[A-Za-z0-9_./:@-]+$/;
/** How gcloud says a resource does not exist. */
export const NOT_FOUND = /NOT_FOUND|not found|does not exist|was not found|404/i;

/** A child's error output, with any secret value masked (in case a tool echoed it). */
function masked(text: string, secrets: SecretValues): string {
  let out = text;
  for (const v of Object.values(secrets)) if (v) out = out.split(v).join(REDACTED);
  return out.trim();
}

/**
 * Runs (or, with dryRun, prints) a plan. Returns the changes: one rendered line per
 * change made (or that would be made), in order — empty when everything already matches.
 */
export async function executePlan(plan: readonly Command[], opts: ExecuteOptions): Promise<string[]> {
  const vars = new Map<string, string>();
  const unresolved = new Set<string>();
  const changes: string[] = [];
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const resolve = (t: string) => resolveText(t, vars);
  const run = (argv: Argv, o: RunOptions = {}) => opts.runner(substitute(argv, vars), o);
  const fail = (what: Argv, r: ProcessResult): never => {
    throw new DeployError(`command failed (exit ${r.code}): ${renderArgv(what.map(resolve))}\n${masked(r.stderr, opts.secrets)}`);
  };
  const print = opts.print ?? opts.log;
  const canRun = (argv: Argv) => !argv.some((a) => hasPlaceholder(resolve(a)));

  const once = new Set<string>();
  const change = async (cmd: RunCommand): Promise<void> => {
    if (cmd.once !== undefined) {
      if (once.has(cmd.once)) return;
      once.add(cmd.once);
    }
    const line = renderCommand({ ...cmd, argv: cmd.argv.map(resolve) });
    changes.push(line);
    if (opts.dryRun) {
      print(line);
      return;
    }
    opts.log(`  + ${line}`);
    const attempts = 1 + (cmd.retries ?? 0);
    for (let attempt = 1; ; attempt++) {
      const r = await run(cmd.argv, { inherit: true });
      if (r.code === 0) return;
      if (cmd.tolerate && cmd.tolerate.test(r.stderr)) {
        opts.log('  (already there)');
        return;
      }
      if (attempt >= attempts || (cmd.retryOn && !cmd.retryOn.test(r.stderr))) fail(cmd.argv, r);
      opts.log(`  retrying (${attempt}/${attempts - 1}) in ${(opts.retryDelayMs ?? 10_000) / 1000}s`);
      await sleep(opts.retryDelayMs ?? 10_000);
    }
  };

  const execute = async (cmd: Command): Promise<void> => {
    switch (cmd.kind) {
      case 'run':
        return change(cmd);
      case 'fail':
        throw new DeployError(cmd.message);
      case 'converge': {
        let current: unknown = null;
        let exists = false;
        if (canRun(cmd.describe)) {
          const r = await run([...cmd.describe, '--format=json']);
          if (r.code === 0) {
            current = r.stdout.trim() === '' ? {} : (JSON.parse(r.stdout) as unknown);
            exists = cmd.exists ? cmd.exists(current) : true;
          } else if (!NOT_FOUND.test(r.stderr)) {
            fail(cmd.describe, r);
          }
        }
        // (An unresolved describe — its name comes from a step a dry run did not take — counts as missing.)
        const next = exists ? cmd.update(current, resolve) : cmd.create;
        opts.log(`  ${cmd.what}: ${!exists ? 'missing' : next.length === 0 ? 'up to date' : 'differs'}`);
        for (const c of next) await execute(c);
        return;
      }
      case 'capture': {
        if ((opts.dryRun && cmd.mutates) || !canRun(cmd.argv)) {
          unresolved.add(cmd.variable);
          if (cmd.mutates) {
            changes.push(renderCommand(cmd));
            print(renderCommand(cmd));
          }
          return;
        }
        const r = await run(cmd.argv);
        if (r.code !== 0) {
          if (opts.dryRun && NOT_FOUND.test(r.stderr)) {
            unresolved.add(cmd.variable);
            return;
          }
          fail(cmd.argv, r);
        }
        const value = r.stdout.trim();
        if (!CAPTURED.test(value)) {
          throw new DeployError(`command gave no usable value for ${cmd.variable}: ${renderArgv(cmd.argv.map(resolve))} printed "${value.slice(0, 200)}"`);
        }
        vars.set(cmd.variable, value);
        opts.log(`  ${cmd.variable}=${value}`);
        return;
      }
      case 'secret-version': {
        const value = opts.secrets[cmd.source];
        if (value === undefined) {
          const listed = await run(cmd.list);
          if (listed.code !== 0 && !(opts.dryRun && NOT_FOUND.test(listed.stderr))) fail(cmd.list, listed);
          if (listed.code !== 0 || listed.stdout.trim() === '') {
            if (opts.dryRun) {
              // A dry run reports it and goes on; the real run stops here.
              const line = `${renderCommand(cmd)}  # NEEDED: no version yet, give ${cmd.envName}`;
              changes.push(line);
              print(line);
              return;
            }
            throw new DeployError(`secret ${cmd.secret} has no enabled version: give its value in ${cmd.envName} (or the matching --*-file option)`);
          }
          opts.log('  unchanged (no value given; the latest version stays)');
          return;
        }
        const current = await run(cmd.access);
        if (current.code === 0 && current.stdout === value) {
          opts.log('  unchanged');
          return;
        }
        const line = renderCommand(cmd);
        changes.push(line);
        if (opts.dryRun) {
          print(line);
          return;
        }
        const r = await run(cmd.add, { stdin: value });
        if (r.code !== 0) fail(cmd.add, r);
        opts.log('  new version added');
        return;
      }
    }
  };

  for (const [i, cmd] of plan.entries()) {
    opts.log(`[${i + 1}/${plan.length}] ${cmd.kind === 'converge' ? cmd.what : renderCommand(cmd)}`);
    await execute(cmd);
  }
  return changes;
}
