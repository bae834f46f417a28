/**
 * CPU budgets for bench:claim's function processes: each process in a CPU cgroup of its
 * own with a CFS quota, the way Cloud Run gives each instance its own CPU limit
 * (https://cloud.google.com/run/docs/configuring/cpu: "each instance is limited to 1 vCPU"
 * by default, settable from 0.08 to 8 vCPU per instance).
 *
 * On this machine the function processes, the emulators and the claimers share two cores.
 * Without budgets, four function processes compete with the emulator for the same cores, so
 * four instances measure the machine's oversubscription rather than the claim. With a
 * budget, the function processes of a configuration get the same CPU in all whether one or
 * four serve the claimers (`total / n` each), and the emulator keeps the rest: what four
 * instances then lose against one is what the claim design costs across instances
 * (conflicts, per-instance caches) plus each process's own overhead.
 *
 * Needs root and a writable cgroup CPU controller: cgroup v2 (`cpu.max`, the `cpu`
 * controller enabled for children) or v1 (`cpu.cfs_quota_us`). Where neither is there,
 * `openCpuBudgets` returns null and the scenarios run unbudgeted.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * CFS period: the kernel's default, 100 ms. Shorter periods cut each process's runs into
 * slices too short to keep its caches warm: with 10 ms, four instances used 42 ms of CPU
 * per claim against one instance's 18 (0.46× its throughput); with 100 ms, 29 against 19
 * (0.73×), in back-to-back runs of `--only instances --functions-cpu 0.6`.
 */
const PERIOD_US = 100_000;

export interface CpuBudgets {
  /** `v1` or `v2`: which cgroup interface is used. */
  kind: 'v1' | 'v2';
  periodMs: number;
  /** Puts process `pid` in cgroup `slot` (created on first use). */
  attach(slot: number, pid: number): void;
  /** Limits cgroup `slot` to `cores` CPUs (e.g. 0.15). */
  limit(slot: number, cores: number): void;
  /** Throttled periods and time so far of cgroup `slot`. */
  throttled(slot: number): { periods: number; ms: number };
  /** Moves the processes back to the root cgroup and removes the cgroups. */
  close(): void;
}

interface Layout {
  kind: 'v1' | 'v2';
  root: string;
  quota: (dir: string, cores: number) => void;
}

function layout(): Layout | null {
  const v2 = '/sys/fs/cgroup';
  try {
    if (existsSync(join(v2, 'cgroup.subtree_control')) && readFileSync(join(v2, 'cgroup.subtree_control'), 'utf8').split(/\s+/).includes('cpu')) {
      return {
        kind: 'v2',
        root: v2,
        quota: (dir, cores) => writeFileSync(join(dir, 'cpu.max'), `${Math.max(1000, Math.round(cores * PERIOD_US))} ${PERIOD_US}`),
      };
    }
  } catch {
    /* not v2 */
  }
  const v1 = '/sys/fs/cgroup/cpu';
  if (existsSync(join(v1, 'cpu.cfs_quota_us'))) {
    return {
      kind: 'v1',
      root: v1,
      quota: (dir, cores) => {
        writeFileSync(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
        writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(cores * PERIOD_US))));
      },
    };
  }
  return null;
}

/** CPU budgets under a fresh parent cgroup named after this process, or null where cgroups cannot be written. */
export function openCpuBudgets(): CpuBudgets | null {
  const l = layout();
  if (!l) return null;
  const parent = join(l.root, `warmer-bench-${process.pid}`);
  try {
    mkdirSync(parent);
    if (l.kind === 'v2') writeFileSync(join(parent, 'cgroup.subtree_control'), '+cpu');
  } catch {
    return null;
  }
  const slots = new Map<number, string>();
  const dir = (slot: number) => {
    let d = slots.get(slot);
    if (!d) {
      d = join(parent, `instance-${slot}`);
      mkdirSync(d);
      slots.set(slot, d);
    }
    return d;
  };
  return {
    kind: l.kind,
    periodMs: PERIOD_US / 1000,
    attach: (slot, pid) => writeFileSync(join(dir(slot), 'cgroup.procs'), String(pid)),
    limit: (slot, cores) => l.quota(dir(slot), cores),
    throttled: (slot) => {
      const stat = Object.fromEntries(
        readFileSync(join(dir(slot), 'cpu.stat'), 'utf8')
          .trim()
          .split('\n')
          .map((line) => line.split(' ') as [string, string]),
      );
      // v1: nr_throttled, throttled_time (ns); v2: nr_throttled, throttled_usec.
      const ms = stat.throttled_usec !== undefined ? Number(stat.throttled_usec) / 1000 : Number(stat.throttled_time ?? 0) / 1e6;
      return { periods: Number(stat.nr_throttled ?? 0), ms };
    },
    close: () => {
      for (const d of slots.values()) {
        const procs = readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
        for (const pid of procs) {
          try {
            writeFileSync(join(l.root, 'cgroup.procs'), pid);
          } catch {
            /* exited */
          }
        }
        rmdirSync(d);
      }
      rmdirSync(parent);
    },
  };
}
