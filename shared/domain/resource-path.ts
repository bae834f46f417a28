/** Compute Engine resource paths and zone names, as the API and its clients write them. */

/** The last path segment of a resource URL or path (the Travis worker sends full URLs). */
export function lastSegment(value: string): string {
  const trimmed = value.replace(/\/+$/, '');
  const idx = trimmed.lastIndexOf('/');
  return idx === -1 ? trimmed : trimmed.slice(idx + 1);
}

/** us-central1-a → us-central1 */
export function regionOfZone(zone: string): string {
  return zone.replace(/-[a-z]$/, '');
}
