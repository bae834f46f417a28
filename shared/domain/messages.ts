/** The messages the services send each other over Pub/Sub. */

export interface TeardownMessage {
  instance: string;
  pool: string;
  reason: string;
}

export interface RefillMessage {
  pool: string;
  reason: string;
}
