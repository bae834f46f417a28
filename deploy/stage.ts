/**
 * Stages the upload source of the functions: the compiled JavaScript (dist/, from
 * `npm run build`), a package.json whose `main` is dist/functions/index.js and which has
 * no scripts (so Cloud Build does not try to compile TypeScript it was not given), and
 * package-lock.json (so Cloud Build installs exactly the locked dependencies).
 *
 *   npx tsx deploy/stage.ts --out=.warmer/deploy-source
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';

export const ENTRY = 'dist/functions/index.js';
/** Served by GET /openapi.json, found from dist/functions/http/ at ../../../api/. */
export const OPENAPI = 'api/openapi.yaml';
/** The status page's assets, read by functions/http/ui-page.ts from dist/functions/http/ at ../../../ui/. */
export const UI_ASSETS = ['ui/status.html', 'ui/status.css', 'ui/status.js'];

export interface StageOptions {
  /** The repository root (where package.json and dist/ are). */
  root: string;
  /** The staging directory (replaced). */
  out: string;
}

/** The package.json the functions are deployed with. */
export function stagedPackageJson(pkg: Record<string, unknown>): Record<string, unknown> {
  return {
    name: pkg.name,
    version: pkg.version,
    private: true,
    description: pkg.description,
    type: 'module',
    main: ENTRY,
    engines: pkg.engines,
    // Kept so package-lock.json stays in sync for `npm ci`; the entry never imports them.
    dependencies: pkg.dependencies,
    devDependencies: pkg.devDependencies,
  };
}

export function stageSource(opts: StageOptions): { files: string[] } {
  const root = resolve(opts.root);
  const out = resolve(root, opts.out);
  if (out === root || !out.startsWith(root + '/')) throw new Error(`stage: --out must be a directory inside ${root}`);
  if (!existsSync(join(root, ENTRY))) throw new Error(`stage: ${ENTRY} is missing: run "npm run build" first`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(out, 'package.json'), JSON.stringify(stagedPackageJson(pkg), null, 2) + '\n');
  const files = ['package.json'];
  if (existsSync(join(root, 'package-lock.json'))) {
    cpSync(join(root, 'package-lock.json'), join(out, 'package-lock.json'));
    files.push('package-lock.json');
  }
  // Only what the functions load: dist/functions and dist/shared (no tests, no local
  // stack), the API document GET /openapi.json serves, and the status page's assets.
  for (const dir of ['dist/functions', 'dist/shared']) {
    cpSync(join(root, dir), join(out, dir), { recursive: true });
    files.push(dir + '/');
  }
  if (existsSync(join(root, OPENAPI))) {
    mkdirSync(join(out, 'api'), { recursive: true });
    cpSync(join(root, OPENAPI), join(out, OPENAPI));
    files.push(OPENAPI);
  }
  for (const asset of UI_ASSETS) {
    if (!existsSync(join(root, asset))) continue;
    mkdirSync(dirname(join(out, asset)), { recursive: true });
    cpSync(join(root, asset), join(out, asset));
    files.push(asset);
  }
  return { files };
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const program = new Command()
    .name('stage')
    .description('Stage package.json + dist as the functions upload source')
    .requiredOption('--out <dir>', 'staging directory, inside the repository')
    .option('--root <dir>', 'repository root', resolve(dirname(fileURLToPath(import.meta.url)), '..'));
  program.parse();
  const o = program.opts<{ out: string; root: string }>();
  try {
    const { files } = stageSource({ root: o.root, out: o.out });
    process.stdout.write(`staged ${files.join(', ')} in ${o.out}\n`);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
