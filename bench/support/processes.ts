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
  /** When the process was spawned and when its port first accepted a connection (performance.now()). */
  spawnedAt: number;
  listeningAt: number;
  /** CPU time (user + system) the process has used so far, in ms (Linux /proc; NaN elsewhere or once it exited). */
  cpuMs(): number;
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

let nodeArgs: string[] = [];
/** Extra Node.js flags for the function processes started from now on (for investigation, e.g. `--cpu-prof`). */
export function setFunctionNodeArgs(args: string[]): void {
  nodeArgs = args;
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

export async function startFunction(source: string, target: string, env: Record<string, string>): Promise<FunctionProcess> {
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
    spawnedAt,
    listeningAt: performance.now(),
    cpuMs: () => processCpuMs(child.pid),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Wall time of a fresh `node` that imports `module` (relative to .bench-build/) and exits, in ms. */
export function timeImport(module: string): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(join(BUILD, module))}); process.exit(0)`], {
    env: { METADATA_SERVER_DETECTION: 'none', WARMER_PROJECT: 'bench', NODE_ENV: 'production' },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`import of ${module} failed: ${r.stderr}`);
  return performance.now() - t0;
}
