// ESLint (flat config): typescript-eslint's recommended rules for the whole tree, and the
// project's boundaries as rules rather than comments. Each boundary is a group of
// restrictions; a file gets the union of the groups that apply to its folder (ESLint lets
// a later config object replace a rule's options, not add to them, so every scope below
// lists all of its groups). test/lint/boundaries.test.ts proves each one fires.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * @typedef {{
 *   imports?: { paths?: object[]; patterns?: object[] };
 *   properties?: object[];
 *   syntax?: object[];
 * }} Group
 */

/** Only shared/config.ts reads the environment; everything else is handed its values. */
const ENV_MESSAGE = 'Only shared/config.ts reads the environment: take the value from the config (or as a parameter).';
/** @type {Group} */
const env = {
  imports: {
    paths: ['process', 'node:process'].map((name) => ({ name, importNames: ['env'], message: ENV_MESSAGE })),
  },
  properties: [{ object: 'process', property: 'env', message: ENV_MESSAGE }],
  syntax: [{ selector: "MemberExpression[object.property.name='process'][property.name='env']", message: ENV_MESSAGE }],
};

/** Within shared/, a cloud SDK is imported by shared/adapters/ only. */
const SDK_MESSAGE = 'Cloud SDKs (@google-cloud/*) are imported only in shared/adapters/: use a port from shared/ports.ts.';
/** @type {Group} */
const sdk = {
  imports: { patterns: [{ group: ['@google-cloud/*'], message: SDK_MESSAGE }] },
  syntax: [{ selector: 'ImportExpression[source.value=/^@google-cloud\\u002F/]', message: SDK_MESSAGE }],
};

/** shared/domain/ is pure: `now` and any randomness are passed in, and it depends on nothing outside itself. */
const CLOCK = 'shared/domain/ is pure: take `now` as a parameter instead of reading the clock.';
const RANDOM = 'shared/domain/ is pure: take the random value (or a random source) as a parameter.';
const LAYER =
  'shared/domain/ depends on nothing outside itself: domain types live in shared/domain/, and services/adapters/ports use them, not the other way round.';
/** @type {Group} */
const domain = {
  imports: {
    paths: ['crypto', 'node:crypto'].map((name) => ({
      name,
      importNames: ['randomUUID', 'randomBytes', 'randomInt', 'getRandomValues', 'webcrypto'],
      message: RANDOM,
    })),
    patterns: [
      { regex: '(^|/)ports(\\.[cm]?[jt]s)?$', message: LAYER },
      { regex: '(^|/)(services|adapters)(/|$)', message: LAYER },
      { regex: '(^|/)(functions|local)(/|$)', message: LAYER },
      { regex: '(^|/)config(\\.[cm]?[jt]s)?$', message: LAYER },
    ],
  },
  properties: [
    { object: 'Date', property: 'now', message: CLOCK },
    { object: 'performance', property: 'now', message: CLOCK },
    { object: 'process', property: 'hrtime', message: CLOCK },
    { object: 'Math', property: 'random', message: RANDOM },
  ],
  syntax: [
    {
      selector: "NewExpression[callee.name='Date']",
      message: `${CLOCK} (the domain keeps times as epoch ms: no Date objects, not even new Date(ms))`,
    },
    { selector: "CallExpression[callee.name='Date']", message: CLOCK },
    { selector: "CallExpression[callee.name='randomUUID']", message: RANDOM },
    { selector: 'MemberExpression[property.name=/^(randomUUID|getRandomValues)$/]', message: RANDOM },
  ],
};

/** The three rules that carry the boundaries, as the union of `groups`. @param {...Group} groups */
function restrict(...groups) {
  const paths = groups.flatMap((g) => g.imports?.paths ?? []);
  const patterns = groups.flatMap((g) => g.imports?.patterns ?? []);
  const properties = groups.flatMap((g) => g.properties ?? []);
  const syntax = groups.flatMap((g) => g.syntax ?? []);
  return {
    'no-restricted-imports': paths.length + patterns.length ? ['error', { paths, patterns }] : 'off',
    'no-restricted-properties': properties.length ? ['error', ...properties] : 'off',
    'no-restricted-syntax': syntax.length ? ['error', ...syntax] : 'off',
  };
}

const CODE = ['**/*.ts', '**/*.js'];
/** `_name` marks a parameter or binding kept on purpose. */
const UNUSED = { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' };

export default defineConfig(
  { ignores: ['node_modules/', 'dist/', '.warmer/', 'coverage/', '.scratch/', '.bench-build/', '**/*.d.ts'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  { files: CODE, extends: [js.configs.recommended] },
  {
    files: CODE,
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { ...globals.node } },
    rules: { 'no-unused-vars': ['error', UNUSED] },
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommended],
    rules: { '@typescript-eslint/no-unused-vars': ['error', UNUSED] },
  },
  {
    // The status page's script: a classic browser script (inlined by functions/http/ui-page.ts).
    files: ['ui/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { ...globals.browser } },
  },
  {
    // The deploy compares what gcloud describes (untyped JSON of many shapes, read with
    // optional chaining and checked field by field) with what it wants.
    files: ['deploy/plan.ts', 'deploy/commands.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Tests read JSON answers of any shape, and set CI / child-process environments.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },

  // The boundaries, from the widest scope to the narrowest.
  {
    files: CODE,
    // Exempt: the config loader; the tests (they spawn processes with an environment and
    // read CI); and the CLI's entry, which only hands process.env as a parameter to
    // run(argv, { env }) in cli/program.ts (the CLI is the operator's own program, not the
    // service: it reads its token and URL there, from `env`, the way loadConfig(env) does).
    ignores: ['shared/config.ts', 'test/**', 'cli/main.ts', 'deploy/main.ts'],
    rules: restrict(env),
  },
  { files: ['shared/**'], ignores: ['shared/adapters/**', 'shared/config.ts'], rules: restrict(env, sdk) },
  { files: ['shared/config.ts'], rules: restrict(sdk) },
  { files: ['shared/domain/**'], rules: restrict(env, sdk, domain) },
);
