/**
 * Health probes over TCP: a connect to address:port within a timeout and, when asked, the
 * SSH identification line (`SSH-2.0-…`). No ICMP, no login. Never throws: a machine that
 * does not answer is a result (`refused`, `timed_out`, `wrong_banner`, `unreachable`,
 * `error`), not an exception.
 */
import net from 'node:net';
import pLimit from 'p-limit';
import type { Prober } from '../ports.js';
import type { ProbeFailure, ProbeResult, ProbeTarget } from '../domain/probe.js';

export interface TcpProberOptions {
  /** probeMany's default concurrency. Default 50. */
  concurrency?: number;
}

/** The identification line is at most 255 characters (RFC 4253 §4.2); give up well past that. */
const MAX_BANNER_BYTES = 1024;
/** What we send back before closing, so the server sees a client that went away politely. */
const OUR_IDENT = 'SSH-2.0-warmer_probe\r\n';

const UNREACHABLE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);

export class TcpProber implements Prober {
  private readonly concurrency: number;

  constructor(options: TcpProberOptions = {}) {
    this.concurrency = options.concurrency ?? 50;
  }

  probe(target: ProbeTarget): Promise<ProbeResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    return new Promise<ProbeResult>((resolve) => {
      let settled = false;
      let buffered = '';
      let socket: net.Socket | null = null;

      const finish = (result: ProbeResult, polite = false) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (socket) {
          const s = socket;
          s.removeAllListeners('data');
          s.on('error', () => {});
          if (polite && !s.destroyed) {
            s.end(OUR_IDENT);
            // Do not wait on the peer: destroy soon whatever it does.
            setTimeout(() => s.destroy(), 200).unref();
          } else {
            s.destroy();
          }
        }
        resolve(result);
      };
      const fail = (reason: ProbeFailure, detail: string) => finish({ ok: false, durationMs: elapsed(), reason, detail });

      // Armed before anything can call finish(), which clears it.
      const timer = setTimeout(() => {
        const connected = socket?.readyState === 'open';
        fail('timed_out', connected ? 'connected, but no SSH banner in time' : 'connect timed out');
      }, target.timeoutMs);

      try {
        socket = net.connect({ host: target.address, port: target.port });
      } catch (err) {
        fail('error', err instanceof Error ? err.message : String(err));
        return;
      }
      socket.setNoDelay(true);
      socket.on('connect', () => {
        if (!target.expectSshBanner) finish({ ok: true, durationMs: elapsed(), banner: null });
      });
      socket.on('data', (chunk: Buffer) => {
        if (!target.expectSshBanner) return;
        buffered += chunk.toString('latin1');
        const nl = buffered.indexOf('\n');
        if (nl === -1) {
          if (buffered.length > MAX_BANNER_BYTES) fail('wrong_banner', `no line in the first ${MAX_BANNER_BYTES} bytes`);
          return;
        }
        const line = buffered.slice(0, nl).replace(/\r$/, '');
        if (line.startsWith('SSH-2.0-')) finish({ ok: true, durationMs: elapsed(), banner: line }, true);
        else fail('wrong_banner', `not an SSH-2.0 banner: ${JSON.stringify(line.slice(0, 200))}`);
      });
      socket.on('end', () => {
        if (buffered) fail('wrong_banner', `closed after a partial line: ${JSON.stringify(buffered.slice(0, 200))}`);
        else fail('error', 'connection closed before any banner');
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        const code = err.code ?? '';
        if (code === 'ECONNREFUSED') fail('refused', `${target.address}:${target.port} refused the connection`);
        else if (code === 'ETIMEDOUT') fail('timed_out', err.message);
        else if (UNREACHABLE.has(code)) fail('unreachable', err.message);
        else fail('error', err.message || code || 'socket error');
      });
      socket.on('close', () => fail('error', 'connection closed'));
    });
  }

  async probeMany(targets: ProbeTarget[], concurrency?: number): Promise<ProbeResult[]> {
    const limit = pLimit(Math.max(1, concurrency ?? this.concurrency));
    return Promise.all(targets.map((t) => limit(() => this.probe(t))));
  }
}
