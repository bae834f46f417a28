/**
 * A small client of the warmer HTTP API (the routes in functions/http/routes.ts). Every
 * non-2xx answer becomes an ApiError carrying the API's code, message and details.
 */
import type { PoolDemand } from '../shared/services/pool-demand.js';
import type { instanceView, poolView } from '../functions/http/views.js';
import type { SystemStatus } from '../shared/services/pools.js';
import { ApiError, ConnectionError } from './errors.js';

/** What the API answers, as the views shape it (types only: nothing is loaded). */
export type PoolView = ReturnType<typeof poolView>;
export type InstanceView = ReturnType<typeof instanceView> & { sshPrivateKey?: string };
export type StatusView = SystemStatus;
export type PoolDemandView = Omit<PoolDemand, 'since' | 'until'> & { since: string; until: string };

export interface ClientOptions {
  url: string;
  token: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class WarmerClient {
  private readonly base: string;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly opts: ClientOptions) {
    this.base = opts.url.replace(/\/+$/, '');
    this.fetchFn = opts.fetch ?? fetch;
  }

  listPools(): Promise<{ pools: PoolView[] }> {
    return this.request('GET', '/pools');
  }

  getPool(name: string): Promise<PoolView> {
    return this.request('GET', `/pools/${encodeURIComponent(name)}`);
  }

  /** The pool's recorded claims as a job trace (GET /pools/{name}/demand). */
  getPoolDemand(name: string, days: number): Promise<PoolDemandView> {
    return this.request('GET', `/pools/${encodeURIComponent(name)}/demand?days=${encodeURIComponent(String(days))}`);
  }

  /** Creates (201) or replaces (200) a pool. */
  async putPool(name: string, spec: unknown): Promise<{ created: boolean; pool: PoolView }> {
    const { status, body } = await this.send('PUT', `/pools/${encodeURIComponent(name)}`, spec);
    return { created: status === 201, pool: body as PoolView };
  }

  disablePool(name: string): Promise<PoolView> {
    return this.request('DELETE', `/pools/${encodeURIComponent(name)}`);
  }

  status(): Promise<StatusView> {
    return this.request('GET', '/status');
  }

  claim(body: {
    pool: string;
    count?: number;
    assignee?: string;
    requestId?: string;
    labels?: Record<string, string>;
    sshKeys?: string[];
    lifetimeSeconds?: number;
  }): Promise<{ instances: InstanceView[]; replayed: boolean }> {
    return this.request('POST', '/claim', body);
  }

  getInstance(name: string): Promise<InstanceView> {
    return this.request('GET', `/instances/${encodeURIComponent(name)}`);
  }

  listInstances(query: {
    pool?: string;
    state?: string;
    assignee?: string;
    limit?: number;
    pageToken?: string;
  }): Promise<{ instances: InstanceView[]; nextPageToken: string | null }> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
    return this.request('GET', `/instances${qs.size > 0 ? `?${qs}` : ''}`);
  }

  patchInstance(name: string, body: { expiresAt?: string | null; extendBySeconds?: number; assignee?: string; sshKeys?: string[] }): Promise<InstanceView> {
    return this.request('PATCH', `/instances/${encodeURIComponent(name)}`, body);
  }

  renewInstance(name: string): Promise<InstanceView> {
    return this.request('POST', `/instances/${encodeURIComponent(name)}/renew`);
  }

  release(name: string): Promise<{ instance: InstanceView; alreadyReleased: boolean }> {
    return this.request('DELETE', `/instances/${encodeURIComponent(name)}`);
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.send(method, path, body)).body as T;
  }

  private async send(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.opts.token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchFn(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new ConnectionError(`cannot reach warmer at ${this.base}: ${describeFetchError(err)}`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? (JSON.parse(text) as unknown) : undefined;
    } catch {
      parsed = undefined;
    }
    if (res.ok) {
      if (parsed === undefined)
        throw new ApiError(res.status, 'bad_response', `${method} ${path} answered ${res.status} with no JSON body: ${snippet(text)}`, undefined, method, path);
      return { status: res.status, body: parsed };
    }
    const error = (parsed as { error?: unknown } | undefined)?.error;
    if (error && typeof error === 'object' && typeof (error as { code?: unknown }).code === 'string') {
      const e = error as { code: string; message?: unknown; details?: unknown };
      throw new ApiError(res.status, e.code, String(e.message ?? ''), e.details, method, path);
    }
    if (typeof error === 'string') throw new ApiError(res.status, `http_${res.status}`, error, undefined, method, path);
    throw new ApiError(
      res.status,
      `http_${res.status}`,
      `${method} ${path} answered ${res.status} ${res.statusText}${text ? `: ${snippet(text)}` : ''}`,
      undefined,
      method,
      path,
    );
  }
}

function snippet(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > 200 ? `${one.slice(0, 200)}…` : one;
}

function describeFetchError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'no answer in time (timeout)';
  const cause = e?.cause;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused (is it running? `npm start` serves http://127.0.0.1:8080; or set --url / WARMER_URL)';
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  if (cause?.message) return cause.message;
  return e?.message ?? String(err);
}
