/**
 * Local machines run real commands in a bubblewrap sandbox of their own: exec with real
 * output and exit codes, a shell under a PTY, SFTP, a startup script at boot, no writes
 * outside the machine's root, and no process left once the machine is deleted.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spec } from '../../support/builders.js';
import { harness, sshExec, testKey, type Harness } from './helpers.js';

const { Client } = ssh2;
const travis = testKey('travis');
let h: Harness;
let seq = 0;
const marker = `warmer-escape-${process.pid}`;

beforeAll(async () => {
  h = await harness({ sshPort: 2222, bootDelayMs: 20, bootJitterMs: 10 });
});
afterAll(async () => {
  await h.stop();
});

async function booted(startupScript: string | null = null) {
  const name = `sb-${++seq}`;
  const m = await h.compute.createMachine({
    pool: 'ci',
    spec: spec({ sshAdminKeys: [travis.entry], startupScript }),
    name,
    zone: 'us-central1-a',
    requestId: `req-sb-${seq}`,
  });
  await h.emulator.control.waitForBoot(name, 10_000);
  return m;
}

function connect(host: string): Promise<InstanceType<typeof Client>> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.on('ready', () => resolve(c))
      .on('error', reject)
      .connect({ host, port: 2222, username: 'travis', privateKey: travis.privateKey, readyTimeout: 5000 });
  });
}

/** Processes on the host whose command line contains `needle`. */
function hostProcesses(needle: string): string[] {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(needle) && !l.includes('ps -eo'));
}

describe('local machines run commands', () => {
  it('exec answers real output and the exit code', async () => {
    const m = await booted();
    const out = await sshExec(m.ip!, 2222, 'travis', travis.privateKey, 'echo $HOSTNAME; whoami; exit 7');
    expect(out).toEqual({ stdout: `${m.name}\ntravis\n`, code: 7 });
  });

  it('keeps a file uploaded over SFTP and reads it back', async () => {
    const m = await booted();
    const c = await connect(m.ip!);
    const sftp = await new Promise<ssh2.SFTPWrapper>((res, rej) => c.sftp((e, s) => (e ? rej(e) : res(s))));
    await new Promise<void>((res, rej) => sftp.writeFile('/home/travis/build.sh', 'echo built\n', (e) => (e ? rej(e) : res())));
    const back = await new Promise<string>((res, rej) => sftp.readFile('/home/travis/build.sh', (e, b) => (e ? rej(e) : res(b.toString()))));
    c.end();
    expect(back).toBe('echo built\n');
    expect((await sshExec(m.ip!, 2222, 'travis', travis.privateKey, 'bash ~/build.sh')).stdout).toBe('built\n');
  });

  it("answers OpenSSH's own ssh and scp, whose stdin EOF comes right after the request", async () => {
    // OpenSSH's client sends the channel EOF without waiting for the exec reply; a server
    // that accepted the request late lost it and the session hung (most runs, not all).
    const m = await booted();
    const dir = mkdtempSync(join(tmpdir(), 'warmer-openssh-'));
    const key = join(dir, 'key');
    writeFileSync(key, travis.privateKey, { mode: 0o600 });
    const opts = [
      '-i',
      key,
      '-P',
      '2222',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'LogLevel=ERROR',
      '-o',
      'BatchMode=yes',
    ];
    const sshOpts = opts.map((o) => (o === '-P' ? '-p' : o));
    // Asynchronously: the machine's SSH server runs in this very process.
    const run = (cmd: string, args: string[]) =>
      new Promise<{ stdout: string; status: number | null }>((resolve) => {
        const child = execFile(cmd, args, { encoding: 'utf8', timeout: 10_000 }, (err, stdout) =>
          resolve({ stdout, status: err ? (typeof err.code === 'number' ? err.code : null) : 0 }),
        );
        child.stdin?.end();
      });
    for (let i = 0; i < 5; i++) {
      const r = await run('ssh', [...sshOpts, `travis@${m.ip}`, 'hostname; exit 3']);
      expect({ out: r.stdout, status: r.status }).toEqual({ out: `${m.name}\n`, status: 3 });
    }
    writeFileSync(join(dir, 'setup.sh'), 'echo set up\n');
    expect((await run('scp', [...opts, join(dir, 'setup.sh'), `travis@${m.ip}:`])).status).toBe(0);
    expect((await run('scp', ['-O', ...opts, join(dir, 'setup.sh'), `travis@${m.ip}:legacy.sh`])).status).toBe(0);
    expect((await run('scp', [...opts, `travis@${m.ip}:legacy.sh`, join(dir, 'back.sh')])).status).toBe(0);
    expect(readFileSync(join(dir, 'back.sh'), 'utf8')).toBe('echo set up\n');
    expect((await sshExec(m.ip!, 2222, 'travis', travis.privateKey, 'bash ~/setup.sh')).stdout).toBe('set up\n');
  });

  it('gives an interactive shell a PTY', async () => {
    const m = await booted();
    const c = await connect(m.ip!);
    const result = await new Promise<{ out: string; code: number | null }>((resolve, reject) => {
      c.shell({ term: 'xterm', cols: 100, rows: 30 }, (err, stream) => {
        if (err) return reject(err);
        let out = '';
        let code: number | null = null;
        stream.on('data', (d: Buffer) => (out += d.toString()));
        stream.on('exit', (n: number | null) => (code = n));
        stream.on('close', () => resolve({ out, code }));
        stream.write('tty; stty size; echo $((6*7))\nexit 5\n');
      });
    });
    c.end();
    expect(result.code).toBe(5);
    expect(result.out).toMatch(/\/dev\/pts\/\d+/);
    expect(result.out).toContain('30 100');
    expect(result.out).toContain('42');
  });

  it('cannot write outside its own root', async () => {
    const m = await booted();
    const out = await sshExec(
      m.ip!,
      2222,
      'travis',
      travis.privateKey,
      `for p in /usr/${marker} /etc/ld.so.conf.d/${marker} /work/${marker} /${marker} /proc/sys/kernel/hostname; do (echo x > $p) 2>/dev/null && echo "wrote $p"; done; echo done`,
    );
    expect(out.stdout).toBe('done\n');
    expect(existsSync(`/usr/${marker}`) || existsSync(`/work/${marker}`) || existsSync(`/${marker}`) || existsSync(`/etc/ld.so.conf.d/${marker}`)).toBe(false);
    expect(execFileSync('hostname', { encoding: 'utf8' }).trim()).not.toBe(m.name);
  });

  it('runs the startup script at boot, as root', async () => {
    const m = await booted('echo "made by $(whoami) on $(hostname)" > /etc/motd-warmer; useradd_ok=1');
    const out = await sshExec(m.ip!, 2222, 'travis', travis.privateKey, 'cat /etc/motd-warmer');
    expect(out).toEqual({ stdout: `made by root on ${m.name}\n`, code: 0 });
  });

  it('leaves no process and no root behind once deleted', async () => {
    const m = await booted();
    const tag = `sleep 31${seq}7`;
    const out = await sshExec(m.ip!, 2222, 'travis', travis.privateKey, `nohup ${tag} >/dev/null 2>&1 & echo $! > /tmp/pid; echo started`);
    expect(out.stdout).toBe('started\n');
    expect(hostProcesses(tag)).toHaveLength(1);
    const roots = () => readdirSync(h.emulator.machinesDir).filter((d) => d.includes(`-${m.name}-`));
    expect(roots()).toHaveLength(1);
    await h.compute.deleteMachine('us-central1-a', m.name);
    const deadline = Date.now() + 5000;
    while ((hostProcesses(tag).length || roots().length) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(hostProcesses(tag)).toEqual([]);
    expect(roots()).toEqual([]);
  });
});
