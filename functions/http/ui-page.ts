/**
 * The status page: one self-contained HTML document built from the assets in ui/
 * (status.html, status.css, status.js). The CSS and the script are inlined into the
 * document where status.html links them, so the page fetches nothing but its own data
 * route, and the Content-Security-Policy allows exactly that style and that script by
 * their sha256. The assets are read and hashed once, on the first request (like
 * api/openapi.yaml), and kept.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** The folder of the assets: ui/ from functions/http/ in the repo, and from dist/functions/http/ after a build. */
const CANDIDATES = [new URL('../../ui/', import.meta.url), new URL('../../../ui/', import.meta.url)];

/** Where status.html links the two files that are inlined in their place. */
export const STYLE_LINK = '<link rel="stylesheet" href="status.css" />';
export const SCRIPT_TAG = '<script src="status.js"></script>';

export interface StatusPage {
  html: string;
  csp: string;
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** Puts `inline` in the place of the one `marker` in `html`; a missing marker is a broken asset. */
function inlineAt(html: string, marker: string, inline: string): string {
  const at = html.indexOf(marker);
  if (at < 0 || html.indexOf(marker, at + 1) >= 0) throw new Error(`ui/status.html must hold exactly one ${marker}`);
  return html.slice(0, at) + inline + html.slice(at + marker.length);
}

/** The page and its policy from the three assets' text. */
export function buildStatusPage(assets: { html: string; css: string; js: string }): StatusPage {
  if (/<\/style/i.test(assets.css)) throw new Error('ui/status.css must not contain </style');
  if (/<\/script/i.test(assets.js)) throw new Error('ui/status.js must not contain </script');
  const html = inlineAt(inlineAt(assets.html, STYLE_LINK, `<style>${assets.css}</style>`), SCRIPT_TAG, `<script>${assets.js}</script>`);
  /** Only this page's own script and style may run; data may be fetched from this origin only. */
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(assets.js)}`,
    `style-src ${sha256(assets.css)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}

async function readAssets(): Promise<StatusPage> {
  let lastError: unknown;
  for (const dir of CANDIDATES) {
    try {
      const read = (file: string) => readFile(new URL(file, dir), 'utf8');
      const [html, css, js] = await Promise.all([read('status.html'), read('status.css'), read('status.js')]);
      return buildStatusPage({ html, css, js });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      lastError = err;
    }
  }
  throw lastError;
}

let cached: Promise<StatusPage> | null = null;

/** The built page; a failed load is not cached, so the next request tries again. */
export function loadStatusPage(): Promise<StatusPage> {
  cached ??= readAssets().catch((err: unknown) => {
    cached = null;
    throw err;
  });
  return cached;
}
