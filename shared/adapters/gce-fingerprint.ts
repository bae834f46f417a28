/**
 * Compute Engine's optimistic concurrency on an instance's labels and metadata: a write
 * carries the fingerprint it read, and a moved fingerprint fails it (412 conditionNotMet,
 * or a 400 naming the fingerprint). Such a write is read again and retried, with jitter,
 * a bounded number of times; any other failure is final.
 */
import { WarmerError } from '../errors.js';
import { isFingerprintConflict, toWarmerError } from './gce-errors.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `readModifyWrite` (read the instance, write with its fingerprint, wait for the
 * operation) until it does not meet a fingerprint conflict, at most `attempts` times;
 * then `transient`, saying `the ${what} kept changing`.
 */
export async function retryOnFingerprintConflict(context: string, what: string, attempts: number, readModifyWrite: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await readModifyWrite();
      return;
    } catch (err) {
      if (err instanceof WarmerError || !isFingerprintConflict(err)) throw toWarmerError(err, context);
      if (attempt >= attempts) throw new WarmerError('transient', `${context}: the ${what} kept changing (${attempt} attempts)`, { cause: err });
      await sleep(Math.random() * 20 * attempt);
    }
  }
}
