/**
 * A small Pub/Sub emulator that speaks the real google.pubsub.v1 gRPC API (Publisher and
 * Subscriber), so the real `@google-cloud/pubsub` client works against it:
 *
 *   new PubSub({ projectId, apiEndpoint: emulator.hostPort, emulatorMode: true })
 *
 * Push subscriptions get each message POSTed as a binary-mode CloudEvent (what Eventarc
 * hands a Cloud Run function and what functions-framework accepts); a 2xx answer acks,
 * anything else nacks. Redelivery honours the subscription's retry policy exactly and
 * dead-lettering its dead-letter policy.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../shared/logging.js';
import { silentLogger } from '../../shared/logging.js';
import {
  Broker,
  BrokerError,
  DEFAULT_ACK_DEADLINE_SECONDS,
  DEFAULT_MAX_BACKOFF_MS,
  DEFAULT_MAX_DELIVERY_ATTEMPTS,
  DEFAULT_MIN_BACKOFF_MS,
  type DeadLetteredMessage,
  type Delivery,
  type StoredMessage,
  type StreamConsumer,
  type SubscriptionConfig,
  type SubscriptionStats,
  type TopicConfig,
} from './broker.js';
import { loadPubSubServices } from './protos.js';
import { pushCloudEvent } from './push.js';

export type { DeadLetteredMessage, SubscriptionStats } from './broker.js';

export interface PubSubEmulatorOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: an ephemeral port. */
  port?: number;
  logger?: Logger;
  /** Concurrent pushes per push subscription (default 32). */
  maxPushInFlight?: number;
  /** Called with the gRPC method name of every call (e.g. `Publish`), to record what a client calls. */
  onCall?: (method: string, request: unknown) => void;
}

export interface PubSubEmulatorControl {
  /** Resolves when no message is leased, being pushed or in backoff, and no push backlog remains; rejects after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void>;
  /** Per subscription (full name). */
  stats(): Record<string, SubscriptionStats>;
  /** Every message dead-lettered so far, oldest first. */
  deadLettered(): DeadLetteredMessage[];
}

export interface PubSubEmulator {
  host: string;
  port: number;
  /** `host:port`, for `apiEndpoint` or `PUBSUB_EMULATOR_HOST`. */
  hostPort: string;
  control: PubSubEmulatorControl;
  /** Closes the server, ends open streams, aborts pushes and cancels every timer. */
  stop(): Promise<void>;
}

// ───────────────────────────── wire shapes (proto-loader, camelCase) ─────────────────────────────

interface Duration {
  seconds?: number | string | null;
  nanos?: number | null;
}

interface Timestamp {
  seconds: number;
  nanos: number;
}

interface WireMessage {
  data?: Buffer;
  attributes?: Record<string, string>;
  messageId?: string;
  publishTime?: Timestamp;
  orderingKey?: string;
}

interface WireTopic {
  name?: string;
  labels?: Record<string, string>;
}

interface WirePushConfig {
  pushEndpoint?: string;
  attributes?: Record<string, string>;
}

interface WireSubscription {
  name?: string;
  topic?: string;
  pushConfig?: WirePushConfig | null;
  ackDeadlineSeconds?: number;
  retryPolicy?: { minimumBackoff?: Duration | null; maximumBackoff?: Duration | null } | null;
  deadLetterPolicy?: { deadLetterTopic?: string; maxDeliveryAttempts?: number } | null;
  labels?: Record<string, string>;
  filter?: string;
  enableExactlyOnceDelivery?: boolean;
  enableMessageOrdering?: boolean;
}

interface WireStreamingPullRequest {
  subscription?: string;
  ackIds?: string[];
  modifyDeadlineSeconds?: number[];
  modifyDeadlineAckIds?: string[];
  streamAckDeadlineSeconds?: number;
  maxOutstandingMessages?: number;
}

function durationMs(d: Duration | null | undefined): number | null {
  if (!d) return null;
  return Number(d.seconds ?? 0) * 1000 + Math.round((d.nanos ?? 0) / 1e6);
}

function toDuration(ms: number): Timestamp {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

function toTimestamp(ms: number): Timestamp {
  return toDuration(ms);
}

function wireMessage(m: StoredMessage): WireMessage {
  return {
    data: m.data,
    attributes: m.attributes,
    messageId: m.messageId,
    publishTime: toTimestamp(m.publishTime),
    orderingKey: m.orderingKey,
  };
}

function wireDelivery(d: Delivery) {
  return { ackId: d.ackId, message: wireMessage(d.message), deliveryAttempt: d.deliveryAttempt ?? 0 };
}

function wireTopic(t: TopicConfig): WireTopic {
  return { name: t.name, labels: t.labels };
}

function wireSubscription(c: SubscriptionConfig) {
  return {
    name: c.name,
    topic: c.topic,
    pushConfig: c.pushEndpoint ? { pushEndpoint: c.pushEndpoint, attributes: c.pushAttributes } : {},
    ackDeadlineSeconds: c.ackDeadlineSeconds,
    retryPolicy: c.retryPolicy
      ? {
          minimumBackoff: toDuration(c.retryPolicy.minimumBackoffMs),
          maximumBackoff: toDuration(c.retryPolicy.maximumBackoffMs),
        }
      : null,
    deadLetterPolicy: c.deadLetterPolicy,
    labels: c.labels,
    messageRetentionDuration: { seconds: 7 * 24 * 3600, nanos: 0 },
    state: 'ACTIVE',
  };
}

function subscriptionConfig(w: WireSubscription): SubscriptionConfig {
  if (w.filter) throw new BrokerError('unimplemented', 'Subscription filters are not supported by the local emulator.');
  if (w.enableExactlyOnceDelivery || w.enableMessageOrdering) {
    throw new BrokerError('unimplemented', 'Exactly-once delivery and ordering are not supported by the local emulator.');
  }
  const rp = w.retryPolicy;
  const dl = w.deadLetterPolicy;
  return {
    name: w.name ?? '',
    topic: w.topic ?? '',
    ackDeadlineSeconds: w.ackDeadlineSeconds || DEFAULT_ACK_DEADLINE_SECONDS,
    pushEndpoint: w.pushConfig?.pushEndpoint || null,
    pushAttributes: { ...(w.pushConfig?.attributes ?? {}) },
    retryPolicy: rp
      ? {
          minimumBackoffMs: durationMs(rp.minimumBackoff) ?? DEFAULT_MIN_BACKOFF_MS,
          maximumBackoffMs: durationMs(rp.maximumBackoff) ?? DEFAULT_MAX_BACKOFF_MS,
        }
      : null,
    deadLetterPolicy:
      dl && dl.deadLetterTopic
        ? {
            deadLetterTopic: dl.deadLetterTopic,
            maxDeliveryAttempts: dl.maxDeliveryAttempts || DEFAULT_MAX_DELIVERY_ATTEMPTS,
          }
        : null,
    labels: { ...(w.labels ?? {}) },
  };
}

// ───────────────────────────── errors ─────────────────────────────

function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof BrokerError) {
    const code = {
      not_found: grpc.status.NOT_FOUND,
      already_exists: grpc.status.ALREADY_EXISTS,
      invalid_argument: grpc.status.INVALID_ARGUMENT,
      unimplemented: grpc.status.UNIMPLEMENTED,
    }[err.kind];
    return { code, details: err.message };
  }
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

/** A unary handler that maps thrown broker errors (sync or async) to gRPC statuses. */
function unary<Req, Res>(fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>) {
  return (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>): void => {
    Promise.resolve()
      .then(() => fn(call.request, call))
      .then(
        (res) => callback(null, res),
        (err: unknown) => callback(toStatus(err)),
      );
  };
}

function pageOf<T>(items: T[], pageSize: number | undefined, pageToken: string | undefined): { page: T[]; next: string } {
  const start = pageToken ? Number(pageToken) || 0 : 0;
  const size = pageSize && pageSize > 0 ? pageSize : items.length;
  const page = items.slice(start, start + size);
  const next = start + size < items.length ? String(start + size) : '';
  return { page, next };
}

// ───────────────────────────── server ─────────────────────────────

export async function startPubSubEmulator(options: PubSubEmulatorOptions = {}): Promise<PubSubEmulator> {
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? silentLogger;
  const brokerOptions: ConstructorParameters<typeof Broker>[0] = {
    logger,
    push: (delivery) => pushCloudEvent(delivery),
  };
  if (options.maxPushInFlight !== undefined) brokerOptions.maxPushInFlight = options.maxPushInFlight;
  const broker = new Broker(brokerOptions);
  const { publisher, subscriber } = loadPubSubServices();
  const server = new grpc.Server();
  const openStreams = new Set<grpc.ServerDuplexStream<WireStreamingPullRequest, unknown>>();

  // Every handler reports its method first when asked to (options.onCall), nothing else changes.
  const recorded = <T extends grpc.UntypedServiceImplementation>(impl: T): T =>
    !options.onCall
      ? impl
      : (Object.fromEntries(
          Object.entries(impl).map(([name, fn]) => [
            name,
            (call: { request?: unknown }, ...rest: unknown[]) => {
              options.onCall!(name, call.request);
              return (fn as (...a: unknown[]) => unknown)(call, ...rest);
            },
          ]),
        ) as unknown as T);

  server.addService(
    publisher,
    recorded({
      CreateTopic: unary<WireTopic, WireTopic>((req) => wireTopic(broker.createTopic({ name: req.name ?? '', labels: { ...(req.labels ?? {}) } }))),
      UpdateTopic: unary<{ topic?: WireTopic; updateMask?: { paths?: string[] } }, WireTopic>((req) => {
        const current = broker.getTopic(req.topic?.name ?? '');
        if (req.updateMask?.paths?.includes('labels')) current.labels = { ...(req.topic?.labels ?? {}) };
        return wireTopic(current);
      }),
      GetTopic: unary<{ topic?: string }, WireTopic>((req) => wireTopic(broker.getTopic(req.topic ?? ''))),
      ListTopics: unary<{ project?: string; pageSize?: number; pageToken?: string }, unknown>((req) => {
        const { page, next } = pageOf(broker.listTopics(req.project ?? ''), req.pageSize, req.pageToken);
        return { topics: page.map(wireTopic), nextPageToken: next };
      }),
      ListTopicSubscriptions: unary<{ topic?: string; pageSize?: number; pageToken?: string }, unknown>((req) => {
        const { page, next } = pageOf(broker.listTopicSubscriptions(req.topic ?? ''), req.pageSize, req.pageToken);
        return { subscriptions: page, nextPageToken: next };
      }),
      ListTopicSnapshots: unary<unknown, unknown>(() => ({ snapshots: [], nextPageToken: '' })),
      DeleteTopic: unary<{ topic?: string }, unknown>((req) => {
        broker.deleteTopic(req.topic ?? '');
        return {};
      }),
      Publish: unary<{ topic?: string; messages?: WireMessage[] }, unknown>((req) => ({
        messageIds: broker.publish(req.topic ?? '', req.messages ?? []),
      })),
    }),
  );

  server.addService(
    subscriber,
    recorded({
      CreateSubscription: unary<WireSubscription, unknown>((req) => wireSubscription(broker.createSubscription(subscriptionConfig(req)))),
      GetSubscription: unary<{ subscription?: string }, unknown>((req) => wireSubscription(broker.getSubscription(req.subscription ?? ''))),
      UpdateSubscription: unary<{ subscription?: WireSubscription; updateMask?: { paths?: string[] } }, unknown>((req) => {
        const name = req.subscription?.name ?? '';
        const current = broker.getSubscription(name);
        const wanted = subscriptionConfig({ ...req.subscription, name, topic: current.topic });
        const patch: Partial<SubscriptionConfig> = {};
        for (const path of req.updateMask?.paths ?? []) {
          const field = path.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
          switch (field) {
            case 'pushConfig':
              patch.pushEndpoint = wanted.pushEndpoint;
              patch.pushAttributes = wanted.pushAttributes;
              break;
            case 'ackDeadlineSeconds':
            case 'retryPolicy':
            case 'deadLetterPolicy':
            case 'labels':
              Object.assign(patch, { [field]: wanted[field] });
              break;
            default:
              throw new BrokerError('invalid_argument', `Unsupported update mask path: ${path}`);
          }
        }
        return wireSubscription(broker.updateSubscription(name, patch));
      }),
      ListSubscriptions: unary<{ project?: string; pageSize?: number; pageToken?: string }, unknown>((req) => {
        const { page, next } = pageOf(broker.listSubscriptions(req.project ?? ''), req.pageSize, req.pageToken);
        return { subscriptions: page.map(wireSubscription), nextPageToken: next };
      }),
      DeleteSubscription: unary<{ subscription?: string }, unknown>((req) => {
        broker.deleteSubscription(req.subscription ?? '');
        return {};
      }),
      ModifyPushConfig: unary<{ subscription?: string; pushConfig?: WirePushConfig }, unknown>((req) => {
        broker.updateSubscription(req.subscription ?? '', {
          pushEndpoint: req.pushConfig?.pushEndpoint || null,
          pushAttributes: { ...(req.pushConfig?.attributes ?? {}) },
        });
        return {};
      }),
      Acknowledge: unary<{ subscription?: string; ackIds?: string[] }, unknown>((req) => {
        broker.acknowledge(req.subscription ?? '', req.ackIds ?? []);
        return {};
      }),
      ModifyAckDeadline: unary<{ subscription?: string; ackIds?: string[]; ackDeadlineSeconds?: number }, unknown>((req) => {
        broker.modifyAckDeadline(req.subscription ?? '', req.ackIds ?? [], req.ackDeadlineSeconds ?? 0);
        return {};
      }),
      Pull: unary<{ subscription?: string; maxMessages?: number; returnImmediately?: boolean }, unknown>(async (req, call) => {
        const deadline = call.getDeadline();
        const left = deadline instanceof Date ? deadline.getTime() - Date.now() : Number(deadline) - Date.now();
        const waitMs = req.returnImmediately ? 0 : Math.max(0, Math.min(10_000, left - 200));
        const deliveries = await broker.pull(req.subscription ?? '', req.maxMessages ?? 0, waitMs);
        return { receivedMessages: deliveries.map(wireDelivery) };
      }),
      StreamingPull: (call: grpc.ServerDuplexStream<WireStreamingPullRequest, unknown>) => {
        openStreams.add(call);
        let subscription: string | null = null;
        let consumer: StreamConsumer | null = null;
        let detach: (() => void) | null = null;
        let finished = false;
        const cleanup = () => {
          if (finished) return;
          finished = true;
          openStreams.delete(call);
          detach?.();
        };
        const fail = (status: Partial<grpc.StatusObject>) => {
          if (finished) return;
          cleanup();
          call.emit('error', status);
        };
        call.on('data', (req: WireStreamingPullRequest) => {
          if (finished) return;
          try {
            if (!consumer) {
              if (!req.subscription) throw new BrokerError('invalid_argument', 'The first request must name a subscription.');
              const deadline = req.streamAckDeadlineSeconds ?? 0;
              if (deadline < 10 || deadline > 600) {
                throw new BrokerError('invalid_argument', `Invalid stream ack deadline: ${deadline}`);
              }
              subscription = req.subscription;
              const c: StreamConsumer = {
                ackDeadlineSeconds: deadline,
                maxOutstandingMessages: Number(req.maxOutstandingMessages ?? 0),
                send: (deliveries) => {
                  if (finished || !call.writable) return;
                  call.write({
                    receivedMessages: deliveries.map(wireDelivery),
                    subscriptionProperties: { exactlyOnceDeliveryEnabled: false, messageOrderingEnabled: false },
                  });
                },
                close: (kind, message) => fail({ code: kind === 'not_found' ? grpc.status.NOT_FOUND : grpc.status.UNAVAILABLE, details: message }),
              };
              consumer = c;
              detach = broker.attachStream(subscription, c);
            } else if (req.streamAckDeadlineSeconds) {
              broker.setStreamAckDeadline(consumer, req.streamAckDeadlineSeconds);
            }
            if (req.ackIds?.length) broker.acknowledge(subscription!, req.ackIds);
            const modIds = req.modifyDeadlineAckIds ?? [];
            const modSecs = req.modifyDeadlineSeconds ?? [];
            if (modIds.length !== modSecs.length) {
              throw new BrokerError('invalid_argument', 'modify_deadline_seconds and modify_deadline_ack_ids differ in length.');
            }
            modIds.forEach((id, i) => broker.modifyAckDeadline(subscription!, [id], modSecs[i]!));
          } catch (err) {
            fail(toStatus(err));
          }
        });
        call.on('end', () => {
          if (finished) return;
          cleanup();
          call.end();
        });
        call.on('cancelled', cleanup);
        call.on('error', cleanup);
      },
    }),
  );

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  const hostPort = `${host}:${port}`;
  logger.info('pubsub emulator listening', { hostPort });

  let stopped: Promise<void> | null = null;
  return {
    host,
    port,
    hostPort,
    control: {
      drain: (timeoutMs) => broker.drain(timeoutMs),
      stats: () => broker.stats(),
      deadLettered: () => broker.deadLetters(),
    },
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        broker.close();
        for (const call of openStreams) call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'Emulator stopped.' });
        openStreams.clear();
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return stopped;
    },
  };
}
