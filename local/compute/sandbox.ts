/**
 * What a local machine runs its commands in: a bubblewrap (`bwrap`, Debian package
 * `bubblewrap`) sandbox of its own.
 *
 * - Its root is a directory of its own on the host (`/home`, `/tmp`, `/etc/passwd`, `/var`,
 *   …, all writable), with the host's system directories (`/usr`, `/bin`, `/lib*` and the
 *   few `/etc` files programs need) bound read-only on top. Nothing else of the host is
 *   visible, so a machine can write only inside its own root.
 * - One "init" per machine, started lazily (first session or the startup script), holds
 *   the machine's pid namespace and its hostname. Every session is its own `bwrap` that
 *   joins that pid namespace (`--pidns`), so the machine's processes see each other, and
 *   killing the init makes the kernel kill every process of the machine. Idle machines
 *   that never ran anything cost no process at all.
 * - Users are those of the machine's `ssh-keys` metadata (uid 1000, 1001, … in order);
 *   a session drops to its user with util-linux `setpriv` (no new privileges: sudo and
 *   other setuid programs cannot raise it back). The startup script runs as root, as on
 *   Compute Engine, but without capabilities.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, openSync, closeSync, readlinkSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';

export const BWRAP = '/usr/bin/bwrap';
const HOST_ETC = [
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'nsswitch.conf',
  'alternatives',
  'bash.bashrc',
  'profile',
  'profile.d',
  'localtime',
  'ssl',
  'ca-certificates',
  'inputrc',
  'terminfo',
  'resolv.conf',
  'services',
  'protocols',
  'mime.types',
];
const TOP_DIRS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
const FIRST_UID = 1000;

export interface SandboxOptions {
  /** The machine's root directory on the host (made on first use, removed by `destroy`). */
  root: string;
  hostname: string;
  /** Read on every session, so users added to the metadata appear at once. */
  users: () => string[];
  /** Written to /etc/warmer/instance.json (what the machine knows about itself). */
  identity: Record<string, unknown>;
}

export interface RunOptions {
  /** A PTY inside the sandbox (util-linux `script`), with this terminal and size. */
  pty?: { term: string; cols: number; rows: number } | null;
  env?: Record<string, string>;
}

function mountArgs(): string[] {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const dir of TOP_DIRS) {
    if (!existsSync(dir)) continue;
    const st = lstatSync(dir);
    // merged /usr: the root holds the same symlink (made by prepareRoot)
    if (!st.isSymbolicLink()) args.push('--ro-bind', dir, dir);
  }
  for (const name of HOST_ETC) args.push('--ro-bind-try', `/etc/${name}`, `/etc/${name}`);
  args.push('--proc', '/proc', '--dev', '/dev');
  return args;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export class MachineSandbox {
  private init: ChildProcess | null = null;
  private initPid: Promise<number> | null = null;
  private readonly sessions = new Set<ChildProcess>();
  private destroyed = false;

  constructor(private readonly opts: SandboxOptions) {}

  /** Whether the machine ever ran anything (its init is alive). */
  get running(): boolean {
    return this.init !== null && this.init.exitCode === null;
  }

  /** The host pid of the machine's init (pid 1 of its namespace), starting it if needed. */
  async ensure(): Promise<number> {
    if (this.destroyed) throw new Error('machine is deleted');
    this.initPid ??= this.start();
    return this.initPid;
  }

  /**
   * Runs `argv` as `user` inside the machine. stdio are pipes; with `pty`, the command runs
   * on a PTY allocated inside the sandbox and stdout carries the terminal's output.
   */
  async run(user: string, argv: string[], options: RunOptions = {}): Promise<ChildProcess> {
    const pid = await this.ensure();
    const users = this.writeUsers();
    const uid = user === 'root' ? 0 : users.get(user);
    if (uid === undefined) throw new Error(`no user ${user} on this machine`);
    const home = uid === 0 ? '/root' : `/home/${user}`;
    const env: Record<string, string> = {
      HOME: home,
      USER: user,
      LOGNAME: user,
      SHELL: '/bin/bash',
      PATH: uid === 0 ? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' : '/usr/local/bin:/usr/bin:/bin',
      LANG: 'C.UTF-8',
      HOSTNAME: this.opts.hostname,
      ...(options.pty ? { TERM: options.pty.term || 'xterm' } : {}),
      ...options.env,
    };
    let command = argv;
    if (options.pty) {
      const inner = `stty cols ${Math.max(1, options.pty.cols | 0)} rows ${Math.max(1, options.pty.rows | 0)} 2>/dev/null; exec ${argv.map(shellQuote).join(' ')}`;
      command = ['/usr/bin/script', '-qfec', inner, '/dev/null'];
    }
    const drop = uid === 0 ? [] : ['/usr/bin/setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'];
    const nsFd = openSync(`/proc/${pid}/ns/pid`, 'r');
    const args = [
      '--pidns',
      '3',
      '--bind',
      this.opts.root,
      '/',
      ...mountArgs(),
      '--unshare-uts',
      '--unshare-ipc',
      '--hostname',
      this.opts.hostname,
      '--die-with-parent',
      '--new-session',
      '--clearenv',
      ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
      '--chdir',
      home,
      ...(uid === 0 ? [] : ['--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID']),
      '--',
      ...drop,
      ...command,
    ];
    try {
      const child = spawn(BWRAP, args, { stdio: ['pipe', 'pipe', 'pipe', nsFd] });
      this.sessions.add(child);
      child.on('close', () => this.sessions.delete(child));
      child.on('error', () => {});
      return child;
    } finally {
      closeSync(nsFd);
    }
  }

  /** Runs a command to its end; resolves with the exit code and the output. */
  async runToEnd(user: string, argv: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
    const child = await this.run(user, argv);
    child.stdin?.end();
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-64 * 1024)));
    child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-64 * 1024)));
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ code: null, output }), timeoutMs);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });
  }

  /**
   * Kills every process of the machine and removes its root; with `keepRoot` (the host
   * shutting down with its machines' disks kept) the root stays for the next boot.
   */
  async destroy(opts: { keepRoot?: boolean } = {}): Promise<void> {
    this.destroyed = true;
    const init = this.init;
    this.init = null;
    const exited = init && init.exitCode === null ? new Promise<void>((r) => init.once('exit', () => r())) : Promise.resolve();
    init?.kill('SIGKILL');
    for (const s of this.sessions) s.kill('SIGKILL');
    await exited;
    // The init's death kills its namespace; wait for the sessions' bwraps to go too.
    await Promise.all([...this.sessions].map((s) => (s.exitCode === null && s.signalCode === null ? new Promise((r) => s.once('close', r)) : null)));
    if (!opts.keepRoot) rmSync(this.opts.root, { recursive: true, force: true });
  }

  private prepareRoot(): void {
    const r = this.opts.root;
    for (const d of ['etc/warmer', 'home', 'root', 'var/tmp', 'var/log', 'run', 'opt', 'srv', 'usr']) mkdirSync(path.join(r, d), { recursive: true });
    mkdirSync(path.join(r, 'tmp'), { recursive: true });
    chmodSync(path.join(r, 'tmp'), 0o1777);
    chmodSync(path.join(r, 'var/tmp'), 0o1777);
    chmodSync(path.join(r, 'root'), 0o700);
    for (const dir of TOP_DIRS) {
      if (!existsSync(dir) || !lstatSync(dir).isSymbolicLink()) continue;
      const link = path.join(r, dir);
      // lstat, not existsSync: the link is relative (lib -> usr/lib) and dangles on the host
      // side until /usr is bound, so existsSync would call a kept root's link missing.
      const present = (() => {
        try {
          return lstatSync(link).isSymbolicLink();
        } catch {
          return false;
        }
      })();
      if (!present) symlinkSync(readlinkSync(dir), link);
    }
    writeFileSync(path.join(r, 'etc/hostname'), `${this.opts.hostname}\n`);
    writeFileSync(path.join(r, 'etc/hosts'), `127.0.0.1\tlocalhost\n127.0.1.1\t${this.opts.hostname}\n`);
    writeFileSync(path.join(r, 'etc/warmer/instance.json'), JSON.stringify(this.opts.identity));
    this.writeUsers();
  }

  /** Writes /etc/passwd and /etc/group from the metadata's users; makes their homes. */
  private writeUsers(): Map<string, number> {
    const users = new Map<string, number>();
    for (const u of this.opts.users()) if (u !== 'root' && /^[a-z_][a-z0-9_-]{0,31}$/.test(u) && !users.has(u)) users.set(u, FIRST_UID + users.size);
    const passwd = ['root:x:0:0:root:/root:/bin/bash', 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin'];
    const group = ['root:x:0:', 'nogroup:x:65534:'];
    for (const [u, id] of users) {
      passwd.push(`${u}:x:${id}:${id}::/home/${u}:/bin/bash`);
      group.push(`${u}:x:${id}:`);
      const home = path.join(this.opts.root, 'home', u);
      if (!existsSync(home)) {
        mkdirSync(home, { recursive: true, mode: 0o755 });
        chownSync(home, id, id);
      }
    }
    writeFileSync(path.join(this.opts.root, 'etc/passwd'), passwd.join('\n') + '\n');
    writeFileSync(path.join(this.opts.root, 'etc/group'), group.join('\n') + '\n');
    return users;
  }

  private start(): Promise<number> {
    this.prepareRoot();
    const args = [
      '--bind',
      this.opts.root,
      '/',
      ...mountArgs(),
      '--unshare-pid',
      '--unshare-uts',
      '--unshare-ipc',
      '--hostname',
      this.opts.hostname,
      '--die-with-parent',
      '--new-session',
      '--clearenv',
      '--info-fd',
      '3',
      '--',
      '/usr/bin/sleep',
      'infinity',
    ];
    const init = spawn(BWRAP, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    this.init = init;
    return new Promise<number>((resolve, reject) => {
      let info = '';
      let stderr = '';
      init.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const fd3 = init.stdio[3] as NodeJS.ReadableStream;
      fd3.on('data', (d: Buffer) => {
        info += d.toString();
        const m = /"child-pid"\s*:\s*(\d+)/.exec(info);
        if (m) resolve(Number(m[1]));
      });
      init.on('error', reject);
      init.on('exit', (code) => reject(new Error(`machine sandbox exited (${code}): ${stderr.trim()}`)));
    });
  }
}
