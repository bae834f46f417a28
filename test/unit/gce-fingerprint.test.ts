/** The fingerprinted write's retry (setLabels, setMetadata): which failures are retried, and how often. No I/O. */
import { describe, expect, it } from 'vitest';
import { retryOnFingerprintConflict } from '../../shared/adapters/gce-fingerprint.js';
import { WarmerError } from '../../shared/errors.js';

/** What the client throws for an HTTP error (GaxiosError-like: status and a JSON body). */
const httpError = (status: number, reason: string, message = reason) =>
  Object.assign(new Error(message), { response: { status, data: { error: { code: status, message, errors: [{ reason }] } } } });

describe('retryOnFingerprintConflict', () => {
  const conflict = () => httpError(412, 'conditionNotMet', 'Labels fingerprint either invalid or resource labels have changed');

  it('retries a moved fingerprint and succeeds once the write goes through', async () => {
    let calls = 0;
    await retryOnFingerprintConflict('setLabels z/m', 'labels', 5, async () => {
      calls++;
      if (calls < 3) throw conflict();
    });
    expect(calls).toBe(3);
  });

  it('also retries a 400 that names the fingerprint', async () => {
    let calls = 0;
    await retryOnFingerprintConflict('setMetadata z/m', 'metadata', 5, async () => {
      calls++;
      if (calls === 1) throw httpError(400, 'invalid', 'Invalid fingerprint');
    });
    expect(calls).toBe(2);
  });

  it('gives up after the attempts with transient, saying what kept changing', async () => {
    let calls = 0;
    const failed = retryOnFingerprintConflict('setLabels z/m', 'labels', 3, async () => {
      calls++;
      throw conflict();
    });
    await expect(failed).rejects.toMatchObject({ code: 'transient', message: 'setLabels z/m: the labels kept changing (3 attempts)' });
    expect(calls).toBe(3);
  });

  const final: Array<[string, () => unknown, string]> = [
    ['a WarmerError (no such machine)', () => new WarmerError('not_found', 'setLabels z/m: no such machine'), 'not_found'],
    ['a 403', () => httpError(403, 'forbidden'), 'permission_denied'],
    ['a 400 about something else', () => httpError(400, 'invalid', 'Invalid value for field labels'), 'operation_failed'],
  ];
  it.each(final)('does not retry %s', async (_name, make, code) => {
    let calls = 0;
    const failed = retryOnFingerprintConflict('setLabels z/m', 'labels', 5, async () => {
      calls++;
      throw make();
    });
    await expect(failed).rejects.toMatchObject({ code });
    expect(calls).toBe(1);
  });

  it('passes a WarmerError through as it was thrown', async () => {
    const original = new WarmerError('not_found', 'setLabels z/m: no such machine');
    await expect(
      retryOnFingerprintConflict('setLabels z/m', 'labels', 5, async () => {
        throw original;
      }),
    ).rejects.toBe(original);
  });
});
