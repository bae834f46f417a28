/**
 * Stops `npm start` when whoever launched it goes away. `npm start` runs
 * npm → sh → tsx → node (this process); a SIGKILL to npm reaches none of them, so without
 * this the stack keeps running, holding its ports, and the next start fails with "address
 * already in use". On Linux the chain of ancestors up to the nearest npm process is read
 * from /proc (pid and start time, so a reused pid is not mistaken for the old process) and
 * polled; if any of them is gone, `onGone` runs. Without an npm ancestor (run with tsx
 * directly) only the direct parent is watched. Elsewhere, a change of `process.ppid`
 * (reparenting) is the signal.
 */
import { readFileSync } from 'node:fs';

interface Ancestor {
  pid: number;
  startTime: string;
  command: string;
}

function readAncestor(pid: number): (Ancestor & { ppid: number }) | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid … starttime(22nd)": comm may hold spaces and parentheses.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // A zombie (exited, not yet reaped by its parent) is gone.
    if (rest[0] === 'Z' || rest[0] === 'X') return null;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return { pid, ppid: Number(rest[1]), startTime: rest[19] ?? '', command: cmdline.join(' ') };
  } catch {
    return null;
  }
}

const isNpm = (command: string): boolean => {
  const words = command.split(' ').slice(0, 2);
  return words.some((w) => /(^|\/)(npm|npm-cli\.js)$/.test(w)) || /^npm( |$)/.test(command);
};

/** The processes to watch, nearest first (exported for tests). */
export function launcherChain(selfPid = process.pid): Ancestor[] {
  const self = readAncestor(selfPid);
  if (!self) return [];
  const chain: Ancestor[] = [];
  let pid = self.ppid;
  while (pid > 1 && chain.length < 16) {
    const a = readAncestor(pid);
    if (!a) break;
    chain.push({ pid: a.pid, startTime: a.startTime, command: a.command });
    if (isNpm(a.command)) return chain;
    pid = a.ppid;
  }
  return chain.slice(0, 1);
}

/** Calls `onGone` once when a launcher process exits; returns a function that stops watching. */
export function watchLauncher(onGone: (why: string) => void, intervalMs = 500): () => void {
  const chain = launcherChain();
  const initialPpid = process.ppid;
  let fired = false;
  const check = () => {
    if (fired) return;
    let why: string | null = null;
    if (chain.length > 0) {
      const gone = chain.find((a) => readAncestor(a.pid)?.startTime !== a.startTime);
      if (gone) why = `launcher ${gone.pid} (${gone.command.slice(0, 60)}) exited`;
    } else if (process.ppid !== initialPpid) {
      why = `parent ${initialPpid} exited`;
    }
    if (why) {
      fired = true;
      clearInterval(timer);
      onGone(why);
    }
  };
  const timer = setInterval(check, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
