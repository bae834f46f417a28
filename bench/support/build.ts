/**
 * Compiles what is deployed (functions/, shared/) and the bench's own functions to plain
 * JavaScript in .bench-build/, file by file (TypeScript's transpileModule: no type check,
 * the same output as the deploy build), so the bench's processes run JavaScript as Cloud
 * Run does, with no TypeScript loader in the way of import times.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** One level below the root, so that the code's ../../ui and ../../api lookups still resolve. */
export const BUILD = join(ROOT, '.bench-build');

function* tsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* tsFiles(p);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) yield p;
  }
}

export function buildDeployed(): string {
  rmSync(BUILD, { recursive: true, force: true });
  const options: ts.CompilerOptions = { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false };
  for (const dir of ['functions', 'shared', 'bench/functions']) {
    for (const file of tsFiles(join(ROOT, dir))) {
      const out = join(BUILD, relative(ROOT, file)).replace(/\.ts$/, '.js');
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions: options, fileName: file }).outputText);
    }
  }
  writeFileSync(join(BUILD, 'package.json'), JSON.stringify({ type: 'module' }));
  return BUILD;
}
