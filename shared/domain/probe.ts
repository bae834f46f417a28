/** A health probe of a machine: what is probed and what came back. */

export interface ProbeTarget {
  address: string;
  port: number;
  /** Read the `SSH-2.0-` banner, not just a TCP connect. */
  expectSshBanner: boolean;
  timeoutMs: number;
}

export type ProbeFailure = 'refused' | 'timed_out' | 'wrong_banner' | 'unreachable' | 'error';

export type ProbeResult = (
  { ok: true; durationMs: number; banner: string | null } | { ok: false; durationMs: number; reason: ProbeFailure; detail: string }
) & {
  /** When the health check probes more than the internal address: each address's verdict. */
  byAddress?: AddressVerdicts;
};

/** Which address a health check dials (`healthCheck.address`). */
export type ProbeAddressKind = 'internal' | 'public';

/** A probe's verdict per address it dialled (kept on the record's health). */
export type AddressVerdicts = Partial<Record<ProbeAddressKind, { ok: boolean; error: string | null }>>;

/** The addresses a health check dials for a machine: internal, public or both. null ip: it has none (yet). */
export function probeAddresses(
  address: 'internal' | 'public' | 'both',
  ip: string | null,
  publicIp: string | null,
): Array<{ kind: ProbeAddressKind; ip: string | null }> {
  if (address === 'internal') return [{ kind: 'internal', ip }];
  if (address === 'public') return [{ kind: 'public', ip: publicIp }];
  return [
    { kind: 'internal', ip },
    { kind: 'public', ip: publicIp },
  ];
}

/**
 * One verdict from the probes of each address: ok only when every address answered
 * (ready means reachable from where people connect). The failure names the address.
 */
export function combineProbes(results: ReadonlyArray<{ kind: ProbeAddressKind; result: ProbeResult }>): ProbeResult {
  const byAddress: AddressVerdicts = {};
  for (const { kind, result } of results) byAddress[kind] = { ok: result.ok, error: result.ok ? null : `${result.reason}: ${result.detail}` };
  const durationMs = Math.max(0, ...results.map((r) => r.result.durationMs));
  const failed = results.find((r) => !r.result.ok);
  const tag = results.length > 1 || results[0]?.kind !== 'internal' ? { byAddress } : {};
  if (!failed || failed.result.ok) {
    const first = results[0]?.result;
    return { ok: true, durationMs, banner: first && first.ok ? first.banner : null, ...tag };
  }
  const detail = results.length > 1 || failed.kind !== 'internal' ? `${failed.kind} address: ${failed.result.detail}` : failed.result.detail;
  return { ok: false, durationMs, reason: failed.result.reason, detail, ...tag };
}
