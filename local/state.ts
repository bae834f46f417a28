/**
 * The local stack's state that survives a restart, like the Firebase emulators'
 * `--import` / `--export-on-exit`: the Firestore emulator's documents (pools, instance
 * records, claims and their request ids) and the Compute Engine emulator's instances, as
 * two JSON files in one directory (`npm start`: `.warmer/state/`). They are written every
 * few seconds when something changed and once more on stop, each atomically (a temporary
 * file renamed over the old one), so a `kill -9` loses at most the last interval and
 * never leaves half a file.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFirestoreSnapshot, encodeFirestoreSnapshot } from './firestore/snapshot.js';
import type { StoredDocument } from './firestore/query.js';
import { decodeComputeSnapshot, type ComputeSnapshot } from './compute/snapshot.js';

export const FIRESTORE_FILE = 'firestore.json';
export const COMPUTE_FILE = 'compute.json';

export interface LoadedState {
  documents: StoredDocument[];
  compute: ComputeSnapshot | null;
}

export class StateFileError extends Error {
  constructor(file: string, cause: unknown) {
    super(`${file} cannot be loaded (${cause instanceof Error ? cause.message : String(cause)}); move it away or start with --fresh`);
    this.name = 'StateFileError';
  }
}

/** Writes `text` to `file` through a temporary file and a rename (atomic on one file system). */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    // No fsync: the point is surviving the process (kill -9), whose writes the kernel
    // keeps; a power cut may lose the last interval, which is acceptable for a dev stack.
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

function readJson(file: string): unknown | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StateFileError(file, err);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new StateFileError(file, err);
  }
}

/** Reads the directory's state; missing files are empty state, damaged ones an error. */
export function loadState(dir: string): LoadedState {
  const fsFile = join(dir, FIRESTORE_FILE);
  const computeFile = join(dir, COMPUTE_FILE);
  const fsRaw = readJson(fsFile);
  const computeRaw = readJson(computeFile);
  let documents: StoredDocument[] = [];
  let compute: ComputeSnapshot | null = null;
  try {
    if (fsRaw !== null) documents = decodeFirestoreSnapshot(fsRaw);
  } catch (err) {
    throw new StateFileError(fsFile, err);
  }
  try {
    if (computeRaw !== null) compute = decodeComputeSnapshot(computeRaw);
  } catch (err) {
    throw new StateFileError(computeFile, err);
  }
  return { documents, compute };
}

export interface StateSources {
  /** Grows with every change of the documents. */
  firestoreChanges(): number;
  documents(): StoredDocument[];
  compute(): ComputeSnapshot;
}

/** Saves the state when it changed: call `save()` on a timer and on stop. */
export class StateWriter {
  #lastFirestore = -1;
  #lastCompute = '';
  writes = 0;

  constructor(
    readonly dir: string,
    private readonly sources: StateSources,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  save(): void {
    const changes = this.sources.firestoreChanges();
    if (changes !== this.#lastFirestore) {
      writeFileAtomic(join(this.dir, FIRESTORE_FILE), `${JSON.stringify(encodeFirestoreSnapshot(this.sources.documents()))}\n`);
      this.#lastFirestore = changes;
      this.writes++;
    }
    const compute = `${JSON.stringify(this.sources.compute())}\n`;
    if (compute !== this.#lastCompute) {
      writeFileAtomic(join(this.dir, COMPUTE_FILE), compute);
      this.#lastCompute = compute;
      this.writes++;
    }
  }
}
