/**
 * The status page's assets (ui/status.html, .css, .js) without a browser: the served
 * document inlines exactly those files, the Content-Security-Policy allows exactly their
 * sha256, and a staged deploy source ships them where the built loader looks for them.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildStatusPage, loadStatusPage, SCRIPT_TAG, STYLE_LINK } from '../../functions/http/ui-page.js';
import { stageSource, UI_ASSETS } from '../../deploy/stage.js';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const hash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

describe('the status page assets', () => {
  it('serve one self-contained document whose policy allows exactly its own style and script', async () => {
    const page = await loadStatusPage();
    const css = read('ui/status.css');
    const js = read('ui/status.js');
    expect(page.html).toContain(`<style>${css}</style>`);
    expect(page.html).toContain(`<script>${js}</script>`);
    expect(page.html).not.toContain(STYLE_LINK);
    expect(page.html).not.toContain(SCRIPT_TAG);
    // Nothing is fetched from anywhere: no src= and no href= but the empty data: icon.
    expect(page.html).not.toMatch(/\ssrc=/);
    expect([...page.html.matchAll(/\shref="([^"]*)"/g)].map((m) => m[1])).toEqual(['data:,']);
    const policy = Object.fromEntries(page.csp.split('; ').map((d) => [d.split(' ')[0], d.slice(d.indexOf(' ') + 1)]));
    expect(policy).toEqual({
      'default-src': "'none'",
      'script-src': hash(js),
      'style-src': hash(css),
      'connect-src': "'self'",
      'img-src': 'data:',
      'base-uri': "'none'",
      'form-action': "'none'",
      'frame-ancestors': "'none'",
    });
    expect(await loadStatusPage()).toBe(page);
  });

  it('refuses assets that would break the document', () => {
    const html = `<head>${STYLE_LINK}</head><body>${SCRIPT_TAG}</body>`;
    expect(buildStatusPage({ html, css: 'a{}', js: '1;' }).html).toBe('<head><style>a{}</style></head><body><script>1;</script></body>');
    expect(() => buildStatusPage({ html: '<body></body>', css: '', js: '' })).toThrow(/exactly one <link/);
    expect(() => buildStatusPage({ html: html + SCRIPT_TAG, css: '', js: '' })).toThrow(/exactly one <script/);
    expect(() => buildStatusPage({ html, css: '', js: 'x = "</script>"' })).toThrow(/must not contain <\/script/);
    expect(() => buildStatusPage({ html, css: '/* </style> */', js: '' })).toThrow(/must not contain <\/style/);
  });

  it('are staged with the deploy source, at ../../../ui/ from dist/functions/http/', () => {
    const root = mkdtempSync(join(tmpdir(), 'warmer-stage-ui-'));
    try {
      writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'warmer', version: '1.0.0', type: 'module' }));
      mkdirSync(join(root, 'dist/functions/http'), { recursive: true });
      mkdirSync(join(root, 'dist/shared'), { recursive: true });
      writeFileSync(join(root, 'dist/functions/index.js'), 'export {};');
      for (const asset of UI_ASSETS) {
        mkdirSync(join(root, 'ui'), { recursive: true });
        cpSync(join(ROOT, asset), join(root, asset));
      }
      const { files } = stageSource({ root, out: '.warmer/src' });
      expect(files).toEqual(expect.arrayContaining(UI_ASSETS));
      const fromLoader = new URL('../../../ui/', `file://${join(root, '.warmer/src/dist/functions/http/ui-page.js')}`);
      for (const name of ['status.html', 'status.css', 'status.js']) {
        expect(readFileSync(new URL(name, fromLoader), 'utf8')).toBe(read(`ui/${name}`));
      }
      expect(existsSync(join(root, '.warmer/src/ui'))).toBe(true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
