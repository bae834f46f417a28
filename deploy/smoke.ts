/**
 * The smoke test of a deployment: claims one machine of a pool through the deployed API
 * and releases it, checking each answer. `npm run deploy -- --smoke-test --pool P …`
 * (the URL from `gcloud functions describe <prefix>-claim`, or --url).
 *
 * With `--invoker iam` Cloud Run checks a Google ID token first: it is sent in
 * X-Serverless-Authorization, so Authorization stays warmer's own bearer token
 * (https://cloud.google.com/run/docs/authenticating/service-to-service).
 */
import { randomUUID } from 'node:crypto';

export interface SmokeOptions {
  url: string;
  pool: string;
  claimToken: string;
  idToken?: string;
  /** How long to keep asking when the pool is empty (a fresh pool is still booting). */
  waitMs?: number;
  log: (line: string) => void;
  fetchImpl?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

export interface SmokeResult {
  instance: string;
  claimMs: number;
}

export class SmokeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmokeError';
  }
}

export async function smokeTest(o: SmokeOptions): Promise<SmokeResult> {
  const f = o.fetchImpl ?? fetch;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const headers: Record<string, string> = { authorization: `Bearer ${o.claimToken}`, 'content-type': 'application/json' };
  if (o.idToken) headers['x-serverless-authorization'] = `Bearer ${o.idToken}`;
  const base = o.url.replace(/\/+$/, '');
  const requestId = randomUUID();
  const deadline = Date.now() + (o.waitMs ?? 300_000);
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    const res = await f(`${base}/claim`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ pool: o.pool, requestId, assignee: 'warmer-smoke-test', labels: { purpose: 'smoke-test' } }),
    });
    const text = await res.text();
    const claimMs = Date.now() - started;
    if (res.status === 200) {
      const name = (JSON.parse(text) as { instances?: Array<{ name?: string }> }).instances?.[0]?.name;
      if (!name) throw new SmokeError(`POST /claim answered 200 without an instance: ${text.slice(0, 300)}`);
      o.log(`claimed ${name} from pool ${o.pool} in ${claimMs} ms`);
      const del = await f(`${base}/instances/${encodeURIComponent(name)}`, { method: 'DELETE', headers });
      const delText = await del.text();
      if (del.status !== 200 && del.status !== 202) throw new SmokeError(`DELETE /instances/${name} answered ${del.status}: ${delText.slice(0, 300)}`);
      o.log(`released ${name} (${del.status})`);
      return { instance: name, claimMs };
    }
    if ((res.status === 503 || res.status === 409) && Date.now() < deadline) {
      o.log(`pool ${o.pool} has no ready machine yet (${res.status}); retrying (attempt ${attempt})`);
      await sleep(5_000);
      continue;
    }
    const hint =
      res.status === 401 || res.status === 403
        ? text.includes('warmer') || text.startsWith('{')
          ? ' (warmer refused the claim token)'
          : ' (refused before warmer: the Cloud Run invoker check; give --id-token or deploy with the default --invoker tokens)'
        : '';
    throw new SmokeError(`POST /claim answered ${res.status}${hint}: ${text.slice(0, 300)}`);
  }
}
