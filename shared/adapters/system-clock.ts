/** The real clock: the one place services' time comes from in production. */
import type { Clock } from '../ports.js';

export const systemClock: Clock = { now: () => Date.now() };
