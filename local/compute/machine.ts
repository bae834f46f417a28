/**
 * A local machine: a TCP server on the machine's own loopback address that hands every
 * connection to a real SSH server (ssh2). It accepts exactly the public keys in the
 * machine's `ssh-keys` metadata, for the user named there, and runs what it is asked in
 * the machine's sandbox (`sandbox.ts`): `exec` with real output and exit codes, `shell`
 * and `exec` under a PTY when one was requested, the `sftp` subsystem (OpenSSH's
 * sftp-server) and so `scp`. Its startup script runs at boot, before SSH answers.
 *
 * A machine can be made to hang (accept TCP, never send a banner) or die (stop listening,
 * so connections are refused), and brought back.
 */
import net from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import type { MachineSandbox } from './sandbox.js';

const { Server, utils } = ssh2;

export type MachineHealth = 'down' | 'up' | 'hung' | 'dead';

export interface MachineIdentity {
  name: string;
  zone: string;
  ip: string;
}

export interface AuthorizedKey {
  user: string;
  key: ParsedKey;
}

/** Parses GCE `ssh-keys` metadata: one `user:type base64 [comment]` per line; bad lines are ignored. */
export function parseSshKeysMetadata(value: string | undefined): AuthorizedKey[] {
  if (!value) return [];
  const keys: AuthorizedKey[] = [];
  for (const raw of value.split('\n')) {
    const line = raw.trim();
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const user = line.slice(0, colon);
    const [type, blob] = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (!type || !blob) continue;
    const parsed = utils.parseKey(`${type} ${blob}`);
    if (parsed instanceof Error) continue;
    const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey | undefined) : parsed;
    if (key) keys.push({ user, key });
  }
  return keys;
}

export interface LocalMachineOptions {
  identity: MachineIdentity;
  port: number;
  /** The SSH host private key (OpenSSH or PEM), shared by every machine of an emulator. */
  hostKey: string;
  /** Read on every authentication, so metadata changes apply at once. */
  authorizedKeys: () => AuthorizedKey[];
  /** Where its commands run; destroyed (every process killed) when the machine stops. */
  sandbox: MachineSandbox;
  /** The `startup-script` metadata, run as root at the first boot. */
  startupScript: () => string | undefined;
  /** How long boot waits for the startup script before SSH answers anyway. */
  startupScriptTimeoutMs?: number;
  onStartupScript?: (result: { code: number | null; output: string }) => void;
}

const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

export class LocalMachine {
  private server: net.Server | null = null;
  private readonly ssh: InstanceType<typeof Server>;
  private readonly sockets = new Set<net.Socket>();
  private state: MachineHealth = 'down';
  private booted = false;

  constructor(private readonly opts: LocalMachineOptions) {
    this.ssh = new Server({ hostKeys: [opts.hostKey], ident: 'OpenSSH_9.2p1 warmer-local' }, (client) => this.onClient(client));
    this.ssh.on('error', () => {});
  }

  get health(): MachineHealth {
    return this.state;
  }

  /** Starts answering SSH (also brings a hung or dead machine back). */
  async up(): Promise<void> {
    if (!this.booted) {
      this.booted = true;
      const script = this.opts.startupScript();
      if (script) {
        const result = await this.opts.sandbox.runToEnd('root', ['/bin/bash', '-c', script], this.opts.startupScriptTimeoutMs ?? 60_000);
        this.opts.onStartupScript?.(result);
      }
    }
    await this.listen();
    this.state = 'up';
  }

  /** Keeps accepting TCP connections but never sends a banner. */
  async hang(): Promise<void> {
    await this.listen();
    this.state = 'hung';
    for (const s of this.sockets) s.destroy();
  }

  /** Stops listening: connections are refused. */
  async die(): Promise<void> {
    this.state = 'dead';
    await this.closeServer();
  }

  /** Stops everything: the machine is deleted, or (`keepDisk`) the host shuts down. */
  async stop(opts: { keepDisk?: boolean } = {}): Promise<void> {
    this.state = 'down';
    await this.closeServer();
    await this.opts.sandbox.destroy({ keepRoot: opts.keepDisk });
  }

  private async listen(): Promise<void> {
    if (this.server) return;
    const server = net.createServer({ pauseOnConnect: false }, (socket) => this.onSocket(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.opts.identity.ip, port: this.opts.port, exclusive: true, backlog: 64 }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      this.server = null;
      throw err;
    });
  }

  private async closeServer(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private onSocket(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    if (this.state === 'hung') return; // hold the connection, say nothing
    if (this.state !== 'up') {
      socket.destroy();
      return;
    }
    this.ssh.injectSocket(socket);
  }

  private onClient(client: ssh2.Connection): void {
    client.on('error', () => {});
    let user = '';
    client.on('authentication', (ctx) => {
      user = ctx.username;
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      const offered = ctx.key;
      const match = this.opts
        .authorizedKeys()
        .find(
          (k) =>
            k.user === ctx.username &&
            k.key.type === offered.algo &&
            k.key.getPublicSSH().length === offered.data.length &&
            timingSafeEqual(k.key.getPublicSSH(), offered.data),
        );
      if (!match) return ctx.reject(['publickey']);
      if (!ctx.signature || !ctx.blob) return ctx.accept(); // the client only asks whether the key would do
      if (match.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(['publickey']);
      ctx.accept();
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        let pty: { term: string; cols: number; rows: number } | null = null;
        const env: Record<string, string> = {};
        session.on('pty', (accept, _reject, info) => {
          pty = { term: info.term, cols: info.cols, rows: info.rows };
          accept?.();
        });
        session.on('env', (accept, _reject, info) => {
          if (/^(LANG|LC_[A-Z]+|TERM)$/.test(info.key)) env[info.key] = info.val;
          accept?.();
        });
        session.on('exec', (accept, reject, info) => this.runIn(accept, reject, user, ['/bin/bash', '-c', info.command], pty, env));
        session.on('shell', (accept, reject) => this.runIn(accept, reject, user, ['/bin/bash', '-l'], pty ?? { term: 'dumb', cols: 80, rows: 24 }, env));
        session.on('subsystem', (accept, reject, info) => {
          if (info.name !== 'sftp') return reject?.();
          this.runIn(accept, reject, user, [SFTP_SERVER], null, env);
        });
      });
    });
  }

  /**
   * Runs a command of a session in the sandbox and joins it to the channel. The request
   * is accepted at once: OpenSSH's client sends its stdin EOF right after the request,
   * and an EOF that arrives before the channel is accepted is lost with the channel's
   * output (the session then hangs). The channel is paused until the sandbox runs.
   */
  private runIn(
    accept: (() => ssh2.ServerChannel) | undefined,
    _reject: (() => void) | undefined,
    user: string,
    argv: string[],
    pty: { term: string; cols: number; rows: number } | null,
    env: Record<string, string>,
  ): void {
    const stream = accept?.();
    if (!stream) return;
    stream.pause();
    let channelClosed = false;
    stream.on('close', () => (channelClosed = true));
    this.opts.sandbox.run(user, argv, { pty, env }).then(
      (child) => {
        if (channelClosed) {
          child.kill('SIGKILL');
          return;
        }
        child.stdout!.pipe(stream, { end: false });
        child.stderr!.pipe(stream.stderr, { end: false });
        stream.pipe(child.stdin!);
        stream.resume();
        child.stdin!.on('error', () => {});
        let outputs = 2;
        let status: { code: number | null; signal: NodeJS.Signals | null } | null = null;
        const finish = () => {
          if (outputs > 0 || !status) return;
          if (status.code !== null) stream.exit(status.code);
          else stream.exit(status.signal?.replace(/^SIG/, '') ?? 'KILL', false, '');
          stream.end();
        };
        child.stdout!.on('end', () => (outputs--, finish()));
        child.stderr!.on('end', () => (outputs--, finish()));
        child.on('close', (code, signal) => {
          status = { code, signal };
          finish();
        });
        stream.on('close', () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        });
      },
      (err: unknown) => {
        if (channelClosed) return;
        stream.stderr.write(`warmer: the machine could not run the command: ${err instanceof Error ? err.message : String(err)}\n`);
        stream.exit(127);
        stream.end();
      },
    );
  }
}
