/**
 * Runs a plan's commands one by one, each as a child process without a shell. Stops at
 * the first failure (non-zero exit), after printing which command failed. Secret values
 * travel only on a child's stdin and are compared in memory; they are never printed.
 */
import { spawn } from 'node:child_process';
import { REDACTED, renderArgv, renderCommand, substitute, type Argv, type Command, type SecretSource } from './commands.js';

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
  /** Pause between retries of a command marked retryable (IAM propagation). */
  retryDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class DeployError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeployError';
  }
}

const CAPTURED = /^[A-Za-z0-9_.\/:@-]+$/;

/** A child's error output, with any secret value masked (in case a tool echoed it). */
function masked(text: string, secrets: SecretValues): string {
  let out = text;
  for (const v of Object.values(secrets)) if (v) out = out.split(v).join(REDACTED);
  return out.trim();
}

export async function executePlan(plan: readonly Command[], opts: ExecuteOptions): Promise<void> {
  const vars = new Map<string, string>();
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const run = (argv: Argv, o: RunOptions = {}) => opts.runner(substitute(argv, vars), o);
  const fail = (what: Argv, r: ProcessResult): never => {
    throw new DeployError(`command failed (exit ${r.code}): ${renderArgv(what)}\n${masked(r.stderr, opts.secrets)}`);
  };

  for (const [i, cmd] of plan.entries()) {
    opts.log(`[${i + 1}/${plan.length}] ${renderCommand(cmd)}`);
    switch (cmd.kind) {
      case 'run': {
        const attempts = 1 + (cmd.retries ?? 0);
        for (let attempt = 1; ; attempt++) {
          const r = await run(cmd.argv, { inherit: true });
          if (r.code === 0) break;
          if (cmd.tolerate && cmd.tolerate.test(r.stderr)) {
            opts.log('  (already there)');
            break;
          }
          if (attempt >= attempts) fail(cmd.argv, r);
          opts.log(`  retrying (${attempt}/${attempts - 1}) in ${(opts.retryDelayMs ?? 10_000) / 1000}s`);
          await sleep(opts.retryDelayMs ?? 10_000);
        }
        break;
      }
      case 'ensure': {
        if ((await run(cmd.check)).code === 0) {
          opts.log('  exists');
          break;
        }
        const r = await run(cmd.create, { inherit: true });
        if (r.code !== 0) fail(cmd.create, r);
        break;
      }
      case 'upsert': {
        const exists = (await run(cmd.check)).code === 0;
        const argv = exists ? cmd.update : cmd.create;
        const r = await run(argv, { inherit: true });
        if (r.code !== 0) fail(argv, r);
        break;
      }
      case 'capture': {
        const r = await run(cmd.argv);
        if (r.code !== 0) fail(cmd.argv, r);
        const value = r.stdout.trim();
        if (!CAPTURED.test(value)) {
          throw new DeployError(`command gave no usable value for ${cmd.variable}: ${renderArgv(cmd.argv)} printed "${value.slice(0, 200)}"`);
        }
        vars.set(cmd.variable, value);
        opts.log(`  ${cmd.variable}=${value}`);
        break;
      }
      case 'secret-version': {
        const value = opts.secrets[cmd.source];
        if (value === undefined) {
          const listed = await run(cmd.list);
          if (listed.code !== 0) fail(cmd.list, listed);
          if (listed.stdout.trim() === '') {
            throw new DeployError(`secret ${cmd.secret} has no enabled version: give its value in ${cmd.envName} (or the matching --*-file option)`);
          }
          opts.log('  unchanged (no value given; the latest version stays)');
          break;
        }
        const current = await run(cmd.access);
        if (current.code === 0 && current.stdout === value) {
          opts.log('  unchanged');
          break;
        }
        const r = await run(cmd.add, { stdin: value });
        if (r.code !== 0) fail(cmd.add, r);
        opts.log('  new version added');
        break;
      }
    }
  }
}
