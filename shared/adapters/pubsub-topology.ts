/**
 * The Pub/Sub topology: the teardown, refill and dead-letter topics and their
 * subscriptions (push to the functions, or pull), created idempotently.
 */
import type { CreateSubscriptionOptions, PubSub } from '@google-cloud/pubsub';
import { GRPC, grpcCode, translatePubSubError } from './pubsub-errors.js';

export interface TopologyOptions {
  teardownTopic: string;
  refillTopic: string;
  deadLetterTopic: string;
  /**
   * Base URL the functions are served at (e.g. http://127.0.0.1:8090). When set, the
   * teardown and refill subscriptions push to `${pushBase}/teardown` and
   * `${pushBase}/refill` (or the explicit endpoints below); when absent they are pull
   * subscriptions.
   */
  pushBase?: string;
  teardownEndpoint?: string;
  refillEndpoint?: string;
  /** Default `${topic}-push` (or `${topic}-pull` without pushBase). */
  teardownSubscription?: string;
  refillSubscription?: string;
  /** A pull subscription on the dead-letter topic keeps what lands there. Default `${deadLetterTopic}-pull`. */
  deadLetterSubscription?: string;
  /** Retry backoff between failed deliveries; default 1 s … 60 s. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Default 5 (Pub/Sub accepts 5…100). */
  maxDeliveryAttempts?: number;
  /** Also the push timeout; default 120 s (a teardown waits for the delete). */
  ackDeadlineSeconds?: number;
}

export interface Topology {
  /** Full subscription names. */
  teardownSubscription: string;
  refillSubscription: string;
  deadLetterSubscription: string;
}

const isAlreadyExists = (err: unknown) => grpcCode(err) === GRPC.ALREADY_EXISTS;

function duration(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

/**
 * Creates the topics and subscriptions, idempotently: what exists is kept, except that
 * an existing push subscription is pointed at the current endpoint.
 */
export async function ensureTopology(pubsub: PubSub, options: TopologyOptions): Promise<Topology> {
  for (const name of [options.teardownTopic, options.refillTopic, options.deadLetterTopic]) {
    await ignoreAlreadyExists(() => pubsub.createTopic(name), `create topic ${name}`);
  }
  const deadLetterTopic = pubsub.topic(options.deadLetterTopic).name;
  const push = options.pushBase?.replace(/\/+$/, '');
  const suffix = push ? 'push' : 'pull';
  const common: CreateSubscriptionOptions = {
    ackDeadlineSeconds: options.ackDeadlineSeconds ?? 120,
    retryPolicy: {
      minimumBackoff: duration(options.minBackoffMs ?? 1_000),
      maximumBackoff: duration(options.maxBackoffMs ?? 60_000),
    },
    deadLetterPolicy: { deadLetterTopic, maxDeliveryAttempts: options.maxDeliveryAttempts ?? 5 },
  };
  const subscriptions = [
    {
      topic: options.teardownTopic,
      name: options.teardownSubscription ?? `${shortName(options.teardownTopic)}-${suffix}`,
      endpoint: options.teardownEndpoint ?? (push ? `${push}/teardown` : undefined),
    },
    {
      topic: options.refillTopic,
      name: options.refillSubscription ?? `${shortName(options.refillTopic)}-${suffix}`,
      endpoint: options.refillEndpoint ?? (push ? `${push}/refill` : undefined),
    },
  ];
  const names: string[] = [];
  for (const s of subscriptions) {
    const pushConfig = s.endpoint ? { pushEndpoint: s.endpoint } : undefined;
    const created = await ignoreAlreadyExists(
      () => pubsub.createSubscription(s.topic, s.name, pushConfig ? { ...common, pushConfig } : common),
      `create subscription ${s.name}`,
    );
    const subscription = pubsub.subscription(s.name);
    if (!created && pushConfig) {
      await subscription.modifyPushConfig(pushConfig).catch((err: unknown) => {
        throw translatePubSubError(err, `update push config of ${s.name}`);
      });
    }
    names.push(subscription.name);
  }
  const dlName = options.deadLetterSubscription ?? `${shortName(options.deadLetterTopic)}-pull`;
  await ignoreAlreadyExists(() => pubsub.createSubscription(options.deadLetterTopic, dlName, { ackDeadlineSeconds: 60 }), `create subscription ${dlName}`);
  return {
    teardownSubscription: names[0]!,
    refillSubscription: names[1]!,
    deadLetterSubscription: pubsub.subscription(dlName).name,
  };
}

function shortName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

/** true when created, false when it already existed. */
async function ignoreAlreadyExists(create: () => Promise<unknown>, what: string): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (err) {
    if (isAlreadyExists(err)) return false;
    throw translatePubSubError(err, what);
  }
}
