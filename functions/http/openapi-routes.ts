/**
 * `GET /openapi.json`: the API document (api/openapi.yaml), served without a token.
 * The YAML is read and parsed once, on the first request, and kept.
 */
import { readFile } from 'node:fs/promises';
import type { Route } from './router.js';

/** From functions/http/ in the repo, and from dist/functions/http/ after a build. */
const CANDIDATES = [new URL('../../api/openapi.yaml', import.meta.url), new URL('../../../api/openapi.yaml', import.meta.url)];

async function readDocument(): Promise<unknown> {
  // The YAML parser loads on the first request, not on every function's cold start.
  const { parse: parseYaml } = await import('yaml');
  let lastError: unknown;
  for (const url of CANDIDATES) {
    try {
      return parseYaml(await readFile(url, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      lastError = err;
    }
  }
  throw lastError;
}

let cached: Promise<unknown> | null = null;

/** The parsed document; a failed load is not cached, so the next request tries again. */
export function loadOpenApiDocument(): Promise<unknown> {
  cached ??= readDocument().catch((err: unknown) => {
    cached = null;
    throw err;
  });
  return cached;
}

export function openapiRoutes(): Route[] {
  return [
    {
      method: 'GET',
      path: '/openapi.json',
      auth: 'none',
      async handle() {
        return { status: 200, body: await loadOpenApiDocument(), headers: { 'cache-control': 'public, max-age=300' } };
      },
    },
  ];
}
