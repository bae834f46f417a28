/**
 * The status page builds the URL of its data route from its own path; it must stay on the
 * page's origin whatever the path (issue 9: opened at //ui it fetched http://ui/data with
 * the admin token). The function is taken from ui/status.js as served.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const source = readFileSync(join(resolve(import.meta.dirname, '../..'), 'ui/status.js'), 'utf8');
const body = /function dataUrl\(pathname, origin\) \{[\s\S]*?\n {2}\}/.exec(source)?.[0];
const dataUrl = new Function(`${body}; return dataUrl;`)() as (pathname: string, origin: string) => string;
const ORIGIN = 'https://warmer.example.com';

describe('the status page data URL', () => {
  it.each([
    ['/ui', '/ui/data'],
    ['/ui/', '/ui/data'],
    ['/', '/ui/data'],
    ['/admin/ui', '/admin/ui/data'],
    ['//ui', '/ui/data'],
    ['//ui/', '/ui/data'],
    ['///evil.example/ui', '/evil.example/ui/data'],
    ['//evil.example//ui', '/evil.example/ui/data'],
  ])('opened at %s → %s on the same origin', (pathname, want) => {
    expect(body).toBeDefined();
    const got = dataUrl(pathname, ORIGIN);
    expect(got).toBe(want);
    expect(new URL(got, ORIGIN).origin).toBe(ORIGIN);
    expect(got.startsWith('//')).toBe(false);
  });
});
