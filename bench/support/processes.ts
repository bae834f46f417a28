/**
 * Runs a function of .bench-build/ the way Cloud Run does: its own Node.js process
 * running functions-framework's own CLI on the compiled entry point, configured by its
 * environment alone.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BUILD, ROOT } from './build.js';

const FF_MAIN = join(ROOT, 'node_modules/@google-cloud/functions-framework/build/src/main.js');

export interface FunctionProcess {
  url: string;
  /** The process id (to put it in a CPU budget, bench/support/cpu-budget.ts). */
  pid: number | undefined;
  /** When the process was spawned and when its port first accepted a connection (performance.now()). */
  spawnedAt: number;
  listeningAt: number;
  /** CPU time (user + system) the process has used so far, in ms (Linux /proc; NaN elsewhere or once it exited). */
  cpuMs(): number;
  /** CPU time its main thread (the one running JavaScript) has used so far, in ms; NaN where unknown. */
  mainThreadCpuMs(): number;
  stop(): Promise<void>;
}

/** Linux reports process times in clock ticks of 1/100 s (USER_HZ, `getconf CLK_TCK`). */
const TICK_MS = 10;

/** utime + stime of a process from /proc/PID/stat, in ms. */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return NaN;
  }
}

let defaultNodeArgs: string[] = [];
/** Extra Node.js flags for the function processes started from now on (for investigation, e.g. `--cpu-prof`). */
export function setFunctionNodeArgs(args: string[]): void {
  defaultNodeArgs = args;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

/**
 * On Linux, the first field of /proc/PID/schedstat: nanoseconds on a CPU of the process's
 * main thread, at nanosecond resolution (getrusage's ticks are 10 ms). Waiting for the
 * machine, which a loaded machine makes long, is not counted.
 */
function mainThreadCpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}

export async function startFunction(
  source: string,
  target: string,
  env: Record<string, string>,
  nodeArgs: string[] = defaultNodeArgs,
): Promise<FunctionProcess> {
  const port = await freePort();
  const spawnedAt = performance.now();
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, FF_MAIN, `--target=${target}`, `--source=${join(BUILD, source)}`, `--port=${port}`, '--signature-type=http'],
    {
      env: { ...env, METADATA_SERVER_DETECTION: 'none', NODE_ENV: 'production' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${target} exited (${child.exitCode}): ${stderr}`);
    if (await accepts(port)) break;
    if (performance.now() - spawnedAt > 30_000) throw new Error(`${target} did not listen within 30 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    spawnedAt,
    listeningAt: performance.now(),
    cpuMs: () => processCpuMs(child.pid),
    mainThreadCpuMs: () => mainThreadCpuMs(child.pid),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

const IMPORT_ENV = { METADATA_SERVER_DETECTION: 'none', WARMER_PROJECT: 'bench', NODE_ENV: 'production' };

export interface ImportTime {
  /** From spawning the process to its exit. */
  wallMs: number;
  /** The process's own CPU time (user + system), which load on the machine barely changes. */
  cpuMs: number;
}

/** Prints the process's CPU time on stdout and exits. */
const REPORT_AND_EXIT = `{ const u = process.cpuUsage(); process.stdout.write(JSON.stringify({ cpuMs: (u.user + u.system) / 1000 })); process.exit(0); }`;

function timeNode(args: string[], what: string): ImportTime {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { env: IMPORT_ENV, encoding: 'utf8' });
  const wallMs = performance.now() - t0;
  if (r.status !== 0) throw new Error(`import of ${what} failed: ${r.stderr}`);
  // The last line: anything the module itself printed comes before it.
  const last = r.stdout.slice(r.stdout.lastIndexOf('{"cpuMs"'));
  return { wallMs, cpuMs: (JSON.parse(last) as { cpuMs: number }).cpuMs };
}

/**
 * A fresh `node` that loads a function the way functions-framework's CLI
 * (build/src/main.js, what Cloud Run runs) does, then exits: main.js requires its loader,
 * invoker, server (express, body-parser), options and logger, then imports the source
 * (`getUserFunction`). So the framework's own modules are charged to every function
 * alike, the hello too.
 */
export function timeImport(module: string, target: string): ImportTime {
  const src = join(FF_MAIN, '..');
  const script = [
    `const src = ${JSON.stringify(src)};`,
    `const { getUserFunction } = require(src + '/loader.js');`,
    `for (const m of ['invoker', 'server', 'options', 'logger']) require(src + '/' + m + '.js');`,
    `getUserFunction(${JSON.stringify(join(BUILD, module))}, ${JSON.stringify(target)}, 'http').then((f) => { if (!f) process.exit(2); ${REPORT_AND_EXIT} });`,
  ].join('\n');
  return timeNode(['-e', script], module);
}

/** A fresh `node` that imports `module` (relative to .bench-build/) and nothing else, then exits. */
export function timeBareImport(module: string): ImportTime {
  return timeNode(['--input-type=module', '-e', `await import(${JSON.stringify(join(BUILD, module))}); ${REPORT_AND_EXIT}`], module);
}
