import type { Logger } from '../logging.js';
import type { AssignmentStore, Clock, InstanceStore, PoolStore, Prober, Publisher } from '../ports.js';
import type { HistoryStore } from '../history.js';
import type { SizingStore } from '../sizing-store.js';

/** What the claim and admin services need: no Compute Engine client on this path. */
export interface ApiDeps {
  /** Pool specs as stored (the admin API reads and writes here). */
  pools: PoolStore;
  /** Where the claim path reads pool specs: a short-lived cache in production. Default: `pools`. */
  claimPools?: PoolStore;
  instances: InstanceStore;
  /** Listing machines and changing assignments (GET /instances, PATCH, renew). */
  assignments?: AssignmentStore;
  publisher: Publisher;
  clock: Clock;
  logger: Logger;
  /** Claims served and missed, for the status page (best effort; optional). */
  history?: HistoryStore;
  /** Demand-sized pools' last decisions, shown by GET /pools/{name} and the status page (optional). */
  sizing?: SizingStore;
  /** For pools with the claim-time check (claimCheck.enabled): probes claimed machines before answering. */
  prober?: Prober;
}
