/** Paging of list answers: `maxResults` and opaque `pageToken`s, as the real API takes them. */
import { apiInvalid } from './api-error.js';

export function page<T>(items: T[], query: URLSearchParams, pageSize: number): { page: T[]; nextPageToken: string | null } {
  const requested = query.get('maxResults');
  let size = pageSize;
  if (requested !== null) {
    const n = Number(requested);
    if (!Number.isInteger(n) || n < 0 || n > 500) throw apiInvalid(`Invalid value for field 'maxResults': '${requested}'. Must be less than or equal to 500`);
    if (n > 0) size = Math.min(n, size);
  }
  let offset = 0;
  const token = query.get('pageToken');
  if (token) {
    const decoded = /^o:(\d+)$/.exec(Buffer.from(token, 'base64url').toString());
    if (!decoded) throw apiInvalid(`Invalid value for field 'pageToken': '${token}'.`);
    offset = Number(decoded[1]);
  }
  const slice = items.slice(offset, offset + size);
  const next = offset + size < items.length ? Buffer.from(`o:${offset + size}`).toString('base64url') : null;
  return { page: slice, nextPageToken: next };
}
