/** Compute Engine REST errors, in the shape the API returns them. */
export class ComputeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly domain = 'global',
  ) {
    super(message);
  }

  body(): { error: { code: number; message: string; errors: Array<{ message: string; domain: string; reason: string }> } } {
    return { error: { code: this.status, message: this.message, errors: [{ message: this.message, domain: this.domain, reason: this.reason }] } };
  }
}

export const apiNotFound = (what: string) => new ComputeApiError(404, 'notFound', `The resource '${what}' was not found`);
export const apiAlreadyExists = (what: string) => new ComputeApiError(409, 'alreadyExists', `The resource '${what}' already exists`);
export const apiInvalid = (message: string) => new ComputeApiError(400, 'invalid', message);
export const apiRateLimited = (status: 403 | 429) => new ComputeApiError(status, 'rateLimitExceeded', 'Rate Limit Exceeded', 'usageLimits');
export const apiFingerprintMismatch = () => new ComputeApiError(412, 'conditionNotMet', 'Labels fingerprint either invalid or resource labels have changed');
