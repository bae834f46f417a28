/**
 * Pub/Sub adapter: publishes teardown and refill messages, creates the topology the
 * local stack needs, and decodes the CloudEvent a Pub/Sub push hands a function.
 * The only file of the services' side that imports the Pub/Sub SDK.
 */
import type { CreateSubscriptionOptions, PubSub, Topic } from '@google-cloud/pubsub';
import { WarmerError, type ErrorCode } from '../errors.js';
import { silentLogger, type Logger } from '../logging.js';
import type { Publisher } from '../ports.js';
import type { RefillMessage, TeardownMessage } from '../domain/messages.js';

// ───────────────────────────── publisher ─────────────────────────────

export type MessageKind = 'teardown' | 'refill';

export interface PubSubPublisherOptions {
  pubsub: PubSub;
  /** Short topic id or full `projects/P/topics/T`. */
  teardownTopic: string;
  refillTopic: string;
  logger?: Logger;
}

/** Small batches: one message per request, or whatever arrived within 10 ms. */
const LOW_LATENCY_BATCHING = { maxMessages: 1, maxMilliseconds: 10 };

export class PubSubPublisher implements Publisher {
  private readonly teardown: Topic;
  private readonly refill: Topic;
  private readonly logger: Logger;

  constructor(options: PubSubPublisherOptions) {
    this.teardown = options.pubsub.topic(options.teardownTopic, { batching: LOW_LATENCY_BATCHING });
    this.refill = options.pubsub.topic(options.refillTopic, { batching: LOW_LATENCY_BATCHING });
    this.logger = options.logger ?? silentLogger;
  }

  async publishTeardown(message: TeardownMessage): Promise<void> {
    await this.publish(this.teardown, message, { kind: 'teardown', pool: message.pool, instance: message.instance });
  }

  async publishRefill(message: RefillMessage): Promise<void> {
    await this.publish(this.refill, message, { kind: 'refill', pool: message.pool });
  }

  /** Sends anything still batched (call before shutting down). */
  async flush(): Promise<void> {
    await Promise.all([this.teardown.flush(), this.refill.flush()]);
  }

  private async publish(topic: Topic, message: object, attributes: Record<string, string>): Promise<void> {
    const started = Date.now();
    try {
      const messageId = await topic.publishMessage({ data: Buffer.from(JSON.stringify(message)), attributes });
      this.logger.debug('message published', { topic: topic.name, messageId, ...attributes, durationMs: Date.now() - started });
    } catch (err) {
      const translated = translatePubSubError(err, `publish to ${topic.name} failed`);
      this.logger.error('message publish failed', { topic: topic.name, ...attributes, code: translated.code }, err);
      throw translated;
    }
  }
}

// ───────────────────────────── errors ─────────────────────────────

/** gRPC status codes (kept here so this file needs no grpc import). */
const GRPC = {
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** SDK error → project error, decided by gRPC code. */
export function translatePubSubError(err: unknown, message: string): WarmerError {
  const code = grpcCode(err);
  let kind: ErrorCode;
  switch (code) {
    case GRPC.NOT_FOUND:
      kind = 'not_found';
      break;
    case GRPC.ALREADY_EXISTS:
      kind = 'already_exists';
      break;
    case GRPC.PERMISSION_DENIED:
    case GRPC.UNAUTHENTICATED:
      kind = 'permission_denied';
      break;
    case GRPC.RESOURCE_EXHAUSTED:
      kind = 'rate_limited';
      break;
    case GRPC.UNKNOWN:
    case GRPC.DEADLINE_EXCEEDED:
    case GRPC.ABORTED:
    case GRPC.INTERNAL:
    case GRPC.UNAVAILABLE:
      kind = 'transient';
      break;
    default:
      kind = 'internal';
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new WarmerError(kind, `${message}: ${detail}`, { cause: err, details: { grpcCode: code } });
}

// ───────────────────────────── topology ─────────────────────────────

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

// ───────────────────────────── decoding ─────────────────────────────

export type DecodedPubSubEvent =
  | {
      ok: true;
      /** The message body, JSON-decoded (the caller validates its shape). */
      data: unknown;
      attributes: Record<string, string>;
      messageId: string;
      /** Present when the subscription has a dead-letter policy. */
      deliveryAttempt?: number;
    }
  | { ok: false; reason: string };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$|^[A-Za-z0-9_-]*={0,2}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Uint8Array);
}

/**
 * Decodes the CloudEvent functions-framework hands a Pub/Sub-triggered function:
 * `event.data = { message: { data: <base64 JSON>, attributes, messageId }, subscription }`.
 * Never throws: anything malformed comes back as `{ ok: false, reason }`.
 */
export function decodePubSubCloudEvent(event: unknown): DecodedPubSubEvent {
  try {
    if (!isRecord(event)) return { ok: false, reason: 'event is not an object' };
    let body: unknown = event.data;
    if (typeof body === 'string' || body instanceof Uint8Array) {
      const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
      try {
        body = JSON.parse(text);
      } catch {
        return { ok: false, reason: 'event data is not JSON' };
      }
    }
    if (!isRecord(body)) return { ok: false, reason: 'event has no data object' };
    const message = body.message;
    if (!isRecord(message)) return { ok: false, reason: 'event data has no message' };
    const encoded = message.data;
    if (typeof encoded !== 'string' || encoded.length === 0) return { ok: false, reason: 'message has no data' };
    if (!BASE64.test(encoded)) return { ok: false, reason: 'message data is not base64' };
    let data: unknown;
    try {
      data = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
    } catch {
      return { ok: false, reason: 'message data is not JSON' };
    }
    const attributes: Record<string, string> = {};
    if (isRecord(message.attributes)) {
      for (const [k, v] of Object.entries(message.attributes)) if (typeof v === 'string') attributes[k] = v;
    }
    const id = message.messageId ?? message.message_id ?? event.id;
    const messageId = typeof id === 'string' ? id : '';
    const attempt = body.deliveryAttempt;
    const decoded: DecodedPubSubEvent = { ok: true, data, attributes, messageId };
    if (typeof attempt === 'number' && Number.isInteger(attempt) && attempt > 0) decoded.deliveryAttempt = attempt;
    return decoded;
  } catch (err) {
    return { ok: false, reason: `undecodable event: ${err instanceof Error ? err.message : String(err)}` };
  }
}
