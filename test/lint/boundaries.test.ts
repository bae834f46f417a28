/**
 * The project's boundaries are lint rules (eslint.config.js): this runs ESLint's Node API
 * on small snippets placed at virtual paths in the tree, and checks that each rule fires
 * on a deliberate violation (with its message) and stays quiet on allowed code.
 */
import { resolve } from 'node:path';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const BOUNDARY_RULES = new Set(['no-restricted-imports', 'no-restricted-properties', 'no-restricted-syntax']);

let eslint: ESLint;
beforeAll(() => {
  eslint = new ESLint({ cwd: ROOT });
});

async function lint(path: string, code: string) {
  const [result] = await eslint.lintText(code, { filePath: resolve(ROOT, path) });
  return result!.messages;
}

type Case = [what: string, path: string, code: string, rule: string, message: RegExp];

const violations: Case[] = [
  // No cloud SDK in shared/ outside shared/adapters/.
  [
    'SDK import in a service',
    'shared/services/x.ts',
    "import { Firestore } from '@google-cloud/firestore';\nexport const f = Firestore;\n",
    'no-restricted-imports',
    /only in shared\/adapters/,
  ],
  [
    'SDK type import in the domain',
    'shared/domain/x.ts',
    "import type { protos } from '@google-cloud/compute';\nexport type P = protos.google.cloud.compute.v1.IInstance;\n",
    'no-restricted-imports',
    /only in shared\/adapters/,
  ],
  ['SDK re-export in shared/', 'shared/x.ts', "export { PubSub } from '@google-cloud/pubsub';\n", 'no-restricted-imports', /only in shared\/adapters/],
  [
    'dynamic SDK import in shared/',
    'shared/x.ts',
    "export const load = () => import('@google-cloud/pubsub');\n",
    'no-restricted-syntax',
    /only in shared\/adapters/,
  ],
  [
    'SDK import in config',
    'shared/config.ts',
    "import { Firestore } from '@google-cloud/firestore';\nexport const f = Firestore;\n",
    'no-restricted-imports',
    /only in shared\/adapters/,
  ],
  // No process.env outside shared/config.ts.
  [
    'process.env in a service',
    'shared/services/x.ts',
    'export const port = process.env.PORT;\n',
    'no-restricted-properties',
    /Only shared\/config\.ts reads the environment/,
  ],
  [
    'process.env in an adapter',
    'shared/adapters/x.ts',
    "export const host = process.env['FIRESTORE_EMULATOR_HOST'];\n",
    'no-restricted-properties',
    /Only shared\/config\.ts/,
  ],
  [
    'process.env in local/start.ts',
    'local/start.ts',
    "export const port = process.env.PORT ?? '8080';\n",
    'no-restricted-properties',
    /Only shared\/config\.ts/,
  ],
  ['process.env in a function', 'functions/x.ts', 'export const env = process.env;\n', 'no-restricted-properties', /Only shared\/config\.ts/],
  [
    'process.env in the CLI beyond its entry',
    'cli/program.ts',
    'export const token = process.env.WARMER_TOKEN;\n',
    'no-restricted-properties',
    /Only shared\/config\.ts/,
  ],
  ['process.env in a bench', 'bench/claim.ts', 'export const n = process.env.N;\n', 'no-restricted-properties', /Only shared\/config\.ts/],
  ['process.env in deploy', 'deploy/x.ts', 'export const p = process.env.PROJECT;\n', 'no-restricted-properties', /Only shared\/config\.ts/],
  [
    'env destructured from process',
    'local/x.ts',
    'const { env } = process;\nexport const port = env.PORT;\n',
    'no-restricted-properties',
    /Only shared\/config\.ts/,
  ],
  [
    'env imported from node:process',
    'local/x.ts',
    "import { env } from 'node:process';\nexport const port = env.PORT;\n",
    'no-restricted-imports',
    /Only shared\/config\.ts/,
  ],
  ['globalThis.process.env', 'shared/x.ts', 'export const port = globalThis.process.env.PORT;\n', 'no-restricted-syntax', /Only shared\/config\.ts/],
  // shared/domain/ reads no clock and no randomness.
  ['Date.now() in the domain', 'shared/domain/x.ts', 'export const at = () => Date.now();\n', 'no-restricted-properties', /take `now` as a parameter/],
  ['new Date() in the domain', 'shared/domain/x.ts', 'export const at = () => new Date();\n', 'no-restricted-syntax', /take `now` as a parameter/],
  [
    'new Date(ms) in the domain',
    'shared/domain/x.ts',
    'export const iso = (ms: number) => new Date(ms).toISOString();\n',
    'no-restricted-syntax',
    /take `now` as a parameter/,
  ],
  ['Date() in the domain', 'shared/domain/x.ts', 'export const at = () => Date();\n', 'no-restricted-syntax', /take `now` as a parameter/],
  [
    'performance.now() in the domain',
    'shared/domain/x.ts',
    'export const at = () => performance.now();\n',
    'no-restricted-properties',
    /take `now` as a parameter/,
  ],
  ['Math.random() in the domain', 'shared/domain/x.ts', 'export const jitter = () => Math.random() * 100;\n', 'no-restricted-properties', /random/],
  ['crypto.randomUUID() in the domain', 'shared/domain/x.ts', 'export const id = () => crypto.randomUUID();\n', 'no-restricted-syntax', /random/],
  [
    'globalThis.crypto.randomUUID() in the domain',
    'shared/domain/x.ts',
    'export const id = () => globalThis.crypto.randomUUID();\n',
    'no-restricted-syntax',
    /random/,
  ],
  [
    'randomUUID imported from node:crypto',
    'shared/domain/x.ts',
    "import { randomUUID } from 'node:crypto';\nexport const id = randomUUID;\n",
    'no-restricted-imports',
    /random/,
  ],
  [
    'randomUUID imported from crypto',
    'shared/domain/x.ts',
    "import { randomUUID } from 'crypto';\nexport const id = randomUUID;\n",
    'no-restricted-imports',
    /random/,
  ],
  [
    'randomUUID() called in the domain',
    'shared/domain/x.ts',
    "import { randomUUID } from 'node:crypto';\nexport const id = () => randomUUID();\n",
    'no-restricted-syntax',
    /random/,
  ],
  // Domain types do not come from ports.ts; the domain depends on nothing outside itself.
  [
    'the domain importing ports.ts',
    'shared/domain/x.ts',
    "import type { Clock } from '../ports.js';\nexport type C = Clock;\n",
    'no-restricted-imports',
    /domain types live in shared\/domain/,
  ],
  [
    'the domain importing a service',
    'shared/domain/x.ts',
    "import { claimInstances } from '../services/claim.js';\nexport const c = claimInstances;\n",
    'no-restricted-imports',
    /depends on nothing outside itself/,
  ],
  [
    'the domain importing an adapter',
    'shared/domain/x.ts',
    "import type { GceCompute } from '../adapters/gce-compute.js';\nexport type G = GceCompute;\n",
    'no-restricted-imports',
    /depends on nothing outside itself/,
  ],
  [
    'the domain importing config',
    'shared/domain/x.ts',
    "import { loadConfig } from '../config.js';\nexport const l = loadConfig;\n",
    'no-restricted-imports',
    /depends on nothing outside itself/,
  ],
  [
    'the domain importing the local stack',
    'shared/domain/x.ts',
    "import { startLocalStack } from '../../local/stack.js';\nexport const s = startLocalStack;\n",
    'no-restricted-imports',
    /depends on nothing outside itself/,
  ],
];

const allowed: [what: string, path: string, code: string][] = [
  ['SDK import in an adapter', 'shared/adapters/x.ts', "import { Firestore } from '@google-cloud/firestore';\nexport const f = Firestore;\n"],
  ['functions-framework in functions/', 'functions/x.ts', "import { http } from '@google-cloud/functions-framework';\nexport const h = http;\n"],
  ['SDK in the local stack', 'local/x.ts', "import { PubSub } from '@google-cloud/pubsub';\nexport const p = PubSub;\n"],
  ['process.env in shared/config.ts', 'shared/config.ts', 'export const load = (env: Record<string, string | undefined> = process.env) => env.PORT;\n'],
  ['process.env in a test', 'test/unit/x.test.ts', "export const ci = process.env.CI === 'true';\n"],
  ['the CLI entry handing process.env to run()', 'cli/main.ts', 'export const env = process.env;\n'],
  ['other process members', 'local/x.ts', 'export const argv = process.argv.slice(2);\n'],
  ['a field named env elsewhere', 'shared/services/x.ts', 'export const port = (deps: { env: { PORT?: string } }) => deps.env.PORT;\n'],
  ['now passed in, in the domain', 'shared/domain/x.ts', 'export const due = (now: number, ms: number) => now + ms;\n'],
  ['Math without random, in the domain', 'shared/domain/x.ts', 'export const cap = (n: number) => Math.min(Math.max(n, 0), 10);\n'],
  [
    'a hash from node:crypto, in the domain',
    'shared/domain/x.ts',
    "import { createHash } from 'node:crypto';\nexport const h = (s: string) => createHash('sha256').update(s).digest('hex');\n",
  ],
  ['a domain module from another', 'shared/domain/x.ts', "import { RESOURCE_NAME } from './pool-spec.js';\nexport const r = RESOURCE_NAME;\n"],
  ['a domain module that only sounds like a port', 'shared/domain/x.ts', "import { RESOURCE_NAME } from './exports.js';\nexport const r = RESOURCE_NAME;\n"],
  ['the clock in a service', 'shared/services/x.ts', 'export const at = () => Date.now() + Math.random();\n'],
  ['a new Date in a service', 'shared/services/x.ts', 'export const iso = (ms: number) => new Date(ms).toISOString();\n'],
  ['ports.ts using domain types', 'shared/ports.ts', "import type { PoolSpec } from './domain/pool-spec.js';\nexport type P = PoolSpec;\n"],
  ['a service importing ports.ts', 'shared/services/x.ts', "import type { Clock } from '../ports.js';\nexport type C = Clock;\n"],
  [
    'the status page script using browser globals',
    'ui/x.js',
    "(function () {\n  'use strict';\n  document.title = location.pathname + sessionStorage.length;\n})();\n",
  ],
];

describe('boundary rules', () => {
  it.each(violations)('fire on %s', async (_what, path, code, rule, message) => {
    const messages = await lint(path, code);
    const boundary = messages.filter((m) => m.ruleId === rule);
    expect(boundary.length, JSON.stringify(messages)).toBeGreaterThanOrEqual(1);
    expect(boundary[0]!.message).toMatch(message);
    expect(boundary[0]!.severity).toBe(2);
  });

  it.each(allowed)('allow %s', async (_what, path, code) => {
    const messages = await lint(path, code);
    expect(messages.filter((m) => m.ruleId === null || BOUNDARY_RULES.has(m.ruleId))).toEqual([]);
    expect(messages).toEqual([]);
  });

  it('a violation makes the lint fail (error severity, counted)', async () => {
    const [result] = await eslint.lintText('export const at = () => Date.now();\n', { filePath: resolve(ROOT, 'shared/domain/x.ts') });
    expect(result!.errorCount).toBe(1);
  });
});
