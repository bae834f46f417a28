/**
 * The in-memory heart of the local Pub/Sub emulator: topics, subscriptions, leases,
 * redelivery with the subscription's retry policy, dead-lettering, and push delivery.
 * It knows nothing about gRPC: `emulator.ts` translates the wire API onto it.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../shared/logging.js';
import { silentLogger } from '../../shared/logging.js';

// ───────────────────────────── names ─────────────────────────────

const TOPIC_NAME = /^projects\/([^/]+)\/topics\/([^/]+)$/;
const SUBSCRIPTION_NAME = /^projects\/([^/]+)\/subscriptions\/([^/]+)$/;
export const DELETED_TOPIC = '_deleted-topic_';

export function parseTopicName(name: string): { project: string; topic: string } | null {
  const m = TOPIC_NAME.exec(name);
  return m ? { project: m[1]!, topic: m[2]! } : null;
}

export function parseSubscriptionName(name: string): { project: string; subscription: string } | null {
  const m = SUBSCRIPTION_NAME.exec(name);
  return m ? { project: m[1]!, subscription: m[2]! } : null;
}

// ───────────────────────────── errors ─────────────────────────────

export type BrokerErrorKind = 'not_found' | 'already_exists' | 'invalid_argument' | 'unimplemented';

/** A refusal the gRPC layer maps to a status code. */
export class BrokerError extends Error {
  constructor(
    readonly kind: BrokerErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'BrokerError';
  }
}

const notFound = (resource: string) => new BrokerError('not_found', `Resource not found (resource=${resource}).`);
const alreadyExists = (resource: string) => new BrokerError('already_exists', `Resource already exists in the project (resource=${resource}).`);
const invalid = (message: string) => new BrokerError('invalid_argument', message);

// ───────────────────────────── model ─────────────────────────────

export interface StoredMessage {
  data: Buffer;
  attributes: Record<string, string>;
  messageId: string;
  /** Epoch ms. */
  publishTime: number;
  orderingKey: string;
}

export interface IncomingMessage {
  data?: Buffer | Uint8Array | null;
  attributes?: Record<string, string> | null;
  orderingKey?: string | null;
}

export interface TopicConfig {
  name: string;
  labels: Record<string, string>;
}

export interface RetryPolicyConfig {
  minimumBackoffMs: number;
  maximumBackoffMs: number;
}

export interface DeadLetterPolicyConfig {
  deadLetterTopic: string;
  maxDeliveryAttempts: number;
}

export interface SubscriptionConfig {
  name: string;
  topic: string;
  ackDeadlineSeconds: number;
  pushEndpoint: string | null;
  pushAttributes: Record<string, string>;
  retryPolicy: RetryPolicyConfig | null;
  deadLetterPolicy: DeadLetterPolicyConfig | null;
  labels: Record<string, string>;
}

/** What a pull consumer (Pull or StreamingPull) receives. */
export interface Delivery {
  ackId: string;
  message: StoredMessage;
  /** Set only when the subscription has a dead-letter policy, as in Pub/Sub. */
  deliveryAttempt?: number;
}

/** A push delivery: the emulator POSTs it and reports whether the endpoint acknowledged. */
export interface PushDelivery {
  subscription: SubscriptionConfig;
  message: StoredMessage;
  deliveryAttempt?: number;
  signal: AbortSignal;
}

export type PushSender = (delivery: PushDelivery) => Promise<boolean>;

/** A StreamingPull consumer attached to a subscription. */
export interface StreamConsumer {
  /** Seconds; a delivery's lease lasts this long unless extended. */
  ackDeadlineSeconds: number;
  /** 0 = no limit. */
  maxOutstandingMessages: number;
  send(deliveries: Delivery[]): void;
  /** Closes the stream with a gRPC-ish reason (subscription deleted, emulator stopped). */
  close(kind: 'not_found' | 'unavailable', message: string): void;
}

export interface SubscriptionStats {
  /** Delivery attempts made (pull, streaming pull and push). */
  delivered: number;
  acked: number;
  /** Failed deliveries: nacks, expired leases, push errors and timeouts. */
  nacked: number;
  deadLettered: number;
  /** Messages not yet acknowledged or dead-lettered (backlog, leased, in backoff). */
  outstanding: number;
  /** Messages waiting out a retry backoff. */
  inBackoff: number;
  /** Messages leased to a consumer or being pushed right now. */
  inFlight: number;
}

export interface DeadLetteredMessage {
  subscription: string;
  deadLetterTopic: string;
  /** The id the message had on its source topic. */
  messageId: string;
  /** Its id on the dead-letter topic (null when that topic did not exist). */
  deadLetterMessageId: string | null;
  deliveryAttempts: number;
  data: Buffer;
  attributes: Record<string, string>;
  /** Epoch ms. */
  at: number;
}

/** Subscription default retry policy durations (Pub/Sub's): 10 s … 600 s. */
export const DEFAULT_MIN_BACKOFF_MS = 10_000;
export const DEFAULT_MAX_BACKOFF_MS = 600_000;
/** Push subscriptions without a retry policy back off like Pub/Sub's push backoff. */
export const PUSH_MIN_BACKOFF_MS = 100;
export const PUSH_MAX_BACKOFF_MS = 60_000;
export const DEFAULT_MAX_DELIVERY_ATTEMPTS = 5;
export const DEFAULT_ACK_DEADLINE_SECONDS = 10;
export const DEFAULT_MAX_PUSH_IN_FLIGHT = 32;

/** Delay before the next delivery after `failures` failed ones (1-based). */
export function backoffDelayMs(policy: RetryPolicyConfig, failures: number): number {
  const { minimumBackoffMs: min, maximumBackoffMs: max } = policy;
  if (min <= 0 && max <= 0) return 0;
  const exp = Math.min(failures - 1, 30);
  return Math.min(max, Math.max(min, min * 2 ** exp));
}

// ───────────────────────────── internals ─────────────────────────────

type PendingState = 'ready' | 'leased' | 'pushing' | 'backoff';

interface Pending {
  message: StoredMessage;
  /** Deliveries made so far. */
  attempts: number;
  state: PendingState;
  ackId: string | null;
  timer: NodeJS.Timeout | null;
  stream: StreamConsumer | null;
}

interface StreamState {
  consumer: StreamConsumer;
  outstanding: number;
}

interface PullWaiter {
  max: number;
  resolve(deliveries: Delivery[]): void;
  timer: NodeJS.Timeout;
}

interface SubState {
  config: SubscriptionConfig;
  /** Insertion-ordered by message id; holds every unsettled message. */
  pending: Map<string, Pending>;
  ready: Pending[];
  byAckId: Map<string, Pending>;
  streams: StreamState[];
  nextStream: number;
  waiters: PullWaiter[];
  pushInFlight: number;
  pushAbort: AbortController;
  pumpScheduled: boolean;
  stats: { delivered: number; acked: number; nacked: number; deadLettered: number };
}

export interface BrokerOptions {
  logger?: Logger;
  push?: PushSender;
  maxPushInFlight?: number;
  now?: () => number;
}

export class Broker {
  private readonly topics = new Map<string, TopicConfig>();
  private readonly subs = new Map<string, SubState>();
  private readonly deadLettered: DeadLetteredMessage[] = [];
  private readonly logger: Logger;
  private readonly push: PushSender | null;
  private readonly maxPushInFlight: number;
  private readonly now: () => number;
  private readonly idleWaiters = new Set<{ resolve(): void; reject(err: Error): void }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private nextMessageId = 1;
  private nextAck = 1;
  private closed = false;

  constructor(options: BrokerOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.push = options.push ?? null;
    this.maxPushInFlight = options.maxPushInFlight ?? DEFAULT_MAX_PUSH_IN_FLIGHT;
    this.now = options.now ?? Date.now;
  }

  // ─────────── topics ───────────

  createTopic(config: TopicConfig): TopicConfig {
    if (!parseTopicName(config.name)) throw invalid(`Invalid [topics] name: (name=${config.name})`);
    if (this.topics.has(config.name)) throw alreadyExists(config.name);
    this.topics.set(config.name, config);
    return config;
  }

  getTopic(name: string): TopicConfig {
    const topic = this.topics.get(name);
    if (!topic) throw notFound(name);
    return topic;
  }

  listTopics(project: string): TopicConfig[] {
    return [...this.topics.values()].filter((t) => parseTopicName(t.name)?.project === projectId(project));
  }

  listTopicSubscriptions(topic: string): string[] {
    this.getTopic(topic);
    return [...this.subs.values()].filter((s) => s.config.topic === topic).map((s) => s.config.name);
  }

  deleteTopic(name: string): void {
    if (!this.topics.delete(name)) throw notFound(name);
    for (const sub of this.subs.values()) {
      if (sub.config.topic === name) sub.config = { ...sub.config, topic: DELETED_TOPIC };
    }
  }

  publish(topicName: string, messages: IncomingMessage[]): string[] {
    if (!this.topics.has(topicName)) throw notFound(topicName);
    if (messages.length === 0) throw invalid('The request contains no messages.');
    const publishTime = this.now();
    const stored = messages.map((m) => {
      const data = m.data ? Buffer.from(m.data) : Buffer.alloc(0);
      const attributes = { ...(m.attributes ?? {}) };
      if (data.length === 0 && Object.keys(attributes).length === 0) {
        throw invalid('Some messages in the request contain neither data nor attributes.');
      }
      return { data, attributes, orderingKey: m.orderingKey ?? '' };
    });
    const ids: string[] = [];
    for (const m of stored) {
      const message: StoredMessage = { ...m, messageId: String(this.nextMessageId++), publishTime };
      ids.push(message.messageId);
      for (const sub of this.subs.values()) {
        if (sub.config.topic === topicName) this.enqueue(sub, message);
      }
    }
    return ids;
  }

  // ─────────── subscriptions ───────────

  createSubscription(config: SubscriptionConfig): SubscriptionConfig {
    if (!parseSubscriptionName(config.name)) {
      throw invalid(`Invalid [subscriptions] name: (name=${config.name})`);
    }
    if (this.subs.has(config.name)) throw alreadyExists(config.name);
    if (!this.topics.has(config.topic)) throw notFound(config.topic);
    validateSubscription(config);
    this.subs.set(config.name, {
      config,
      pending: new Map(),
      ready: [],
      byAckId: new Map(),
      streams: [],
      nextStream: 0,
      waiters: [],
      pushInFlight: 0,
      pushAbort: new AbortController(),
      pumpScheduled: false,
      stats: { delivered: 0, acked: 0, nacked: 0, deadLettered: 0 },
    });
    return config;
  }

  getSubscription(name: string): SubscriptionConfig {
    return this.sub(name).config;
  }

  listSubscriptions(project: string): SubscriptionConfig[] {
    return [...this.subs.values()].map((s) => s.config).filter((c) => parseSubscriptionName(c.name)?.project === projectId(project));
  }

  /** Replaces the push endpoint (ModifyPushConfig / UpdateSubscription). */
  updateSubscription(name: string, patch: Partial<Omit<SubscriptionConfig, 'name' | 'topic'>>): SubscriptionConfig {
    const sub = this.sub(name);
    const next = { ...sub.config, ...patch };
    validateSubscription(next);
    sub.config = next;
    this.schedulePump(sub);
    return next;
  }

  deleteSubscription(name: string): void {
    const sub = this.sub(name);
    this.subs.delete(name);
    sub.pushAbort.abort();
    for (const p of sub.pending.values()) this.clearTimer(p);
    for (const w of sub.waiters) {
      clearTimeout(w.timer);
      this.timers.delete(w.timer);
      w.resolve([]);
    }
    for (const s of sub.streams) s.consumer.close('not_found', `Subscription does not exist (resource=${name})`);
    this.notifyIfIdle();
  }

  // ─────────── pull ───────────

  /** Leases up to `max` ready messages; waits up to `waitMs` for the first one. */
  pull(name: string, max: number, waitMs: number): Promise<Delivery[]> {
    const sub = this.sub(name);
    if (max <= 0) throw invalid('max_messages must be positive.');
    const now = this.takeForPull(sub, max);
    if (now.length > 0 || waitMs <= 0 || sub.config.pushEndpoint) return Promise.resolve(now);
    return new Promise((resolve) => {
      const waiter: PullWaiter = {
        max,
        resolve,
        timer: this.setTimer(() => {
          sub.waiters = sub.waiters.filter((w) => w !== waiter);
          resolve([]);
        }, waitMs),
      };
      sub.waiters.push(waiter);
    });
  }

  attachStream(name: string, consumer: StreamConsumer): () => void {
    const sub = this.sub(name);
    const state: StreamState = { consumer, outstanding: 0 };
    sub.streams.push(state);
    this.schedulePump(sub);
    return () => {
      sub.streams = sub.streams.filter((s) => s !== state);
      for (const p of sub.pending.values()) if (p.stream === consumer) p.stream = null;
    };
  }

  /** Updates a stream's lease length (StreamingPullRequest.stream_ack_deadline_seconds). */
  setStreamAckDeadline(consumer: StreamConsumer, seconds: number): void {
    consumer.ackDeadlineSeconds = seconds;
  }

  acknowledge(name: string, ackIds: readonly string[]): void {
    const sub = this.sub(name);
    for (const ackId of ackIds) {
      const p = sub.byAckId.get(ackId);
      if (!p || p.state !== 'leased') continue; // stale or unknown ack ids are ignored, as in Pub/Sub
      this.settle(sub, p);
      sub.stats.acked++;
    }
    this.schedulePump(sub);
    this.notifyIfIdle();
  }

  /** 0 seconds is a nack; more extends the lease from now. */
  modifyAckDeadline(name: string, ackIds: readonly string[], seconds: number): void {
    const sub = this.sub(name);
    if (seconds < 0 || seconds > 600) throw invalid(`Invalid ack deadline given: ${seconds}`);
    for (const ackId of ackIds) {
      const p = sub.byAckId.get(ackId);
      if (!p || p.state !== 'leased') continue;
      if (seconds === 0) this.fail(sub, p, 'nack');
      else this.lease(sub, p, seconds);
    }
    this.schedulePump(sub);
  }

  // ─────────── control ───────────

  stats(): Record<string, SubscriptionStats> {
    const out: Record<string, SubscriptionStats> = {};
    for (const [name, sub] of this.subs) {
      let inBackoff = 0;
      let inFlight = 0;
      for (const p of sub.pending.values()) {
        if (p.state === 'backoff') inBackoff++;
        else if (p.state === 'leased' || p.state === 'pushing') inFlight++;
      }
      out[name] = { ...sub.stats, outstanding: sub.pending.size, inBackoff, inFlight };
    }
    return out;
  }

  deadLetters(): DeadLetteredMessage[] {
    return [...this.deadLettered];
  }

  /**
   * Whether nothing is left to settle: no message leased, being pushed or in backoff
   * anywhere, and no backlog on a push subscription. A backlog on a pull subscription
   * waits for a consumer that may never come, so it does not count.
   */
  isIdle(): boolean {
    for (const sub of this.subs.values()) {
      for (const p of sub.pending.values()) {
        if (p.state !== 'ready' || sub.config.pushEndpoint) return false;
      }
    }
    return true;
  }

  /** Resolves once `isIdle()`; rejects after `timeoutMs` with what is still outstanding. */
  drain(timeoutMs: number): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('Pub/Sub emulator stopped'));
    return new Promise((resolve, reject) => {
      const settle = (err: Error | null) => {
        clearTimeout(timer);
        this.timers.delete(timer);
        this.idleWaiters.delete(waiter);
        if (err) reject(err);
        else resolve();
      };
      const waiter = { resolve: () => settle(null), reject: (err: Error) => settle(err) };
      const timer = this.setTimer(() => settle(new Error(`Pub/Sub emulator not drained after ${timeoutMs} ms: ${JSON.stringify(this.stats())}`)), timeoutMs);
      this.idleWaiters.add(waiter);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.idleWaiters]) w.reject(new Error('Pub/Sub emulator stopped before it drained'));
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const sub of this.subs.values()) {
      sub.pushAbort.abort();
      for (const w of sub.waiters) w.resolve([]);
      sub.waiters = [];
      for (const s of sub.streams) s.consumer.close('unavailable', 'The emulator is shutting down.');
      sub.streams = [];
    }
  }

  // ─────────── delivery engine ───────────

  private sub(name: string): SubState {
    const sub = this.subs.get(name);
    if (!sub) throw notFound(name);
    return sub;
  }

  private enqueue(sub: SubState, message: StoredMessage): void {
    const p: Pending = { message, attempts: 0, state: 'ready', ackId: null, timer: null, stream: null };
    sub.pending.set(message.messageId, p);
    sub.ready.push(p);
    this.schedulePump(sub);
  }

  private schedulePump(sub: SubState): void {
    if (sub.pumpScheduled || this.closed) return;
    sub.pumpScheduled = true;
    setImmediate(() => {
      sub.pumpScheduled = false;
      if (!this.closed && this.subs.get(sub.config.name) === sub) this.pump(sub);
      this.notifyIfIdle();
    });
  }

  private pump(sub: SubState): void {
    if (sub.config.pushEndpoint) {
      while (sub.ready.length > 0 && sub.pushInFlight < this.maxPushInFlight && this.push) {
        this.pushOne(sub, sub.ready.shift()!);
      }
      return;
    }
    while (sub.ready.length > 0 && sub.waiters.length > 0) {
      const waiter = sub.waiters.shift()!;
      clearTimeout(waiter.timer);
      this.timers.delete(waiter.timer);
      waiter.resolve(this.takeForPull(sub, waiter.max));
    }
    if (sub.ready.length === 0 || sub.streams.length === 0) return;
    const batches = new Map<StreamState, Delivery[]>();
    let idle = 0;
    while (sub.ready.length > 0 && idle < sub.streams.length) {
      const stream = sub.streams[sub.nextStream++ % sub.streams.length]!;
      const max = stream.consumer.maxOutstandingMessages;
      if (max > 0 && stream.outstanding >= max) {
        idle++;
        continue;
      }
      idle = 0;
      const p = sub.ready.shift()!;
      stream.outstanding++;
      p.stream = stream.consumer;
      const delivery = this.deliver(sub, p, stream.consumer.ackDeadlineSeconds);
      const batch = batches.get(stream) ?? [];
      batch.push(delivery);
      batches.set(stream, batch);
    }
    for (const [stream, batch] of batches) stream.consumer.send(batch);
  }

  private takeForPull(sub: SubState, max: number): Delivery[] {
    const out: Delivery[] = [];
    while (out.length < max && sub.ready.length > 0) {
      out.push(this.deliver(sub, sub.ready.shift()!, sub.config.ackDeadlineSeconds));
    }
    return out;
  }

  /** Marks a ready message delivered to a pull consumer and starts its lease. */
  private deliver(sub: SubState, p: Pending, ackDeadlineSeconds: number): Delivery {
    p.attempts++;
    sub.stats.delivered++;
    p.ackId = `${this.nextAck++}-${randomUUID()}`;
    sub.byAckId.set(p.ackId, p);
    this.lease(sub, p, ackDeadlineSeconds);
    const delivery: Delivery = { ackId: p.ackId, message: p.message };
    if (sub.config.deadLetterPolicy) delivery.deliveryAttempt = p.attempts;
    return delivery;
  }

  private lease(sub: SubState, p: Pending, seconds: number): void {
    this.clearTimer(p);
    p.state = 'leased';
    p.timer = this.setTimer(() => {
      p.timer = null;
      this.fail(sub, p, 'ack deadline expired');
      this.schedulePump(sub);
    }, seconds * 1000);
  }

  private pushOne(sub: SubState, p: Pending): void {
    p.attempts++;
    p.state = 'pushing';
    sub.stats.delivered++;
    sub.pushInFlight++;
    const config = sub.config;
    const timeout = AbortSignal.timeout(config.ackDeadlineSeconds * 1000);
    const signal = AbortSignal.any([sub.pushAbort.signal, timeout]);
    const delivery: PushDelivery = { subscription: config, message: p.message, signal };
    if (config.deadLetterPolicy) delivery.deliveryAttempt = p.attempts;
    this.push!(delivery)
      .catch((err: unknown) => {
        this.logger.debug('pubsub emulator push failed', {
          subscription: config.name,
          messageId: p.message.messageId,
          error: err instanceof Error ? err.message : String(err),
        });
        return false;
      })
      .then((acked) => {
        sub.pushInFlight--;
        if (this.closed || this.subs.get(config.name) !== sub || sub.pending.get(p.message.messageId) !== p) return;
        if (acked) {
          this.settle(sub, p);
          sub.stats.acked++;
        } else {
          this.fail(sub, p, 'push not acknowledged');
        }
        this.schedulePump(sub);
        this.notifyIfIdle();
      });
  }

  /** Removes an acknowledged (or dead-lettered) message from the subscription. */
  private settle(sub: SubState, p: Pending): void {
    this.clearTimer(p);
    sub.pending.delete(p.message.messageId);
    if (p.ackId) sub.byAckId.delete(p.ackId);
    this.releaseStream(sub, p);
  }

  private releaseStream(sub: SubState, p: Pending): void {
    if (!p.stream) return;
    const s = sub.streams.find((x) => x.consumer === p.stream);
    if (s) s.outstanding = Math.max(0, s.outstanding - 1);
    p.stream = null;
  }

  /** A failed delivery: dead-letter it, or redeliver after the retry backoff. */
  private fail(sub: SubState, p: Pending, why: string): void {
    this.clearTimer(p);
    sub.stats.nacked++;
    if (p.ackId) sub.byAckId.delete(p.ackId);
    p.ackId = null;
    this.releaseStream(sub, p);
    const dl = sub.config.deadLetterPolicy;
    if (dl && p.attempts >= dl.maxDeliveryAttempts) {
      this.deadLetter(sub, p, dl);
      return;
    }
    const policy = sub.config.retryPolicy ?? (sub.config.pushEndpoint ? PUSH_RETRY : null);
    const delay = policy ? backoffDelayMs(policy, p.attempts) : 0;
    this.logger.debug('pubsub emulator redelivery', {
      subscription: sub.config.name,
      messageId: p.message.messageId,
      attempts: p.attempts,
      reason: why,
      delayMs: delay,
    });
    if (delay <= 0) {
      p.state = 'ready';
      sub.ready.push(p);
      this.schedulePump(sub);
      return;
    }
    p.state = 'backoff';
    p.timer = this.setTimer(() => {
      p.timer = null;
      p.state = 'ready';
      sub.ready.push(p);
      this.schedulePump(sub);
    }, delay);
  }

  private deadLetter(sub: SubState, p: Pending, dl: DeadLetterPolicyConfig): void {
    sub.pending.delete(p.message.messageId);
    sub.stats.deadLettered++;
    const source = parseSubscriptionName(sub.config.name)!;
    const attributes: Record<string, string> = {
      ...p.message.attributes,
      CloudPubSubDeadLetterSourceDeliveryCount: String(p.attempts),
      CloudPubSubDeadLetterSourceSubscription: source.subscription,
      CloudPubSubDeadLetterSourceSubscriptionProject: source.project,
      CloudPubSubDeadLetterSourceTopicPublishTime: new Date(p.message.publishTime).toISOString(),
    };
    let deadLetterMessageId: string | null = null;
    if (this.topics.has(dl.deadLetterTopic)) {
      const message: IncomingMessage = { data: p.message.data, attributes };
      if (p.message.orderingKey) message.orderingKey = p.message.orderingKey;
      [deadLetterMessageId = null] = this.publish(dl.deadLetterTopic, [message]);
    } else {
      this.logger.warn('pubsub emulator dead-letter topic missing; message dropped', {
        subscription: sub.config.name,
        deadLetterTopic: dl.deadLetterTopic,
        messageId: p.message.messageId,
      });
    }
    this.deadLettered.push({
      subscription: sub.config.name,
      deadLetterTopic: dl.deadLetterTopic,
      messageId: p.message.messageId,
      deadLetterMessageId,
      deliveryAttempts: p.attempts,
      data: p.message.data,
      attributes,
      at: this.now(),
    });
    this.logger.info('pubsub emulator dead-lettered a message', {
      subscription: sub.config.name,
      messageId: p.message.messageId,
      deliveryAttempts: p.attempts,
    });
  }

  private clearTimer(p: Pending): void {
    if (p.timer) {
      clearTimeout(p.timer);
      this.timers.delete(p.timer);
      p.timer = null;
    }
  }

  private setTimer(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private notifyIfIdle(): void {
    if (this.idleWaiters.size === 0 || !this.isIdle()) return;
    for (const w of [...this.idleWaiters]) w.resolve();
  }
}

const PUSH_RETRY: RetryPolicyConfig = { minimumBackoffMs: PUSH_MIN_BACKOFF_MS, maximumBackoffMs: PUSH_MAX_BACKOFF_MS };

/** `projects/p` or `p` → `p`. */
function projectId(project: string): string {
  return project.startsWith('projects/') ? project.slice('projects/'.length) : project;
}

function validateSubscription(c: SubscriptionConfig): void {
  if (c.ackDeadlineSeconds < 10 || c.ackDeadlineSeconds > 600) {
    throw invalid(`Invalid ack deadline given: ${c.ackDeadlineSeconds}. It must be between 10 and 600 seconds.`);
  }
  if (c.pushEndpoint !== null && !/^https?:\/\//.test(c.pushEndpoint)) {
    throw invalid(`Invalid push endpoint given (endpoint=${c.pushEndpoint}).`);
  }
  const r = c.retryPolicy;
  if (r) {
    for (const ms of [r.minimumBackoffMs, r.maximumBackoffMs]) {
      if (ms < 0 || ms > 600_000) throw invalid('Retry policy backoffs must be between 0 and 600 seconds.');
    }
    if (r.minimumBackoffMs > r.maximumBackoffMs) {
      throw invalid('Retry policy minimum backoff must not exceed the maximum backoff.');
    }
  }
  const d = c.deadLetterPolicy;
  if (d) {
    if (!parseTopicName(d.deadLetterTopic)) throw invalid(`Invalid dead letter topic (name=${d.deadLetterTopic}).`);
    if (d.maxDeliveryAttempts < 5 || d.maxDeliveryAttempts > 100) {
      throw invalid('max_delivery_attempts must be between 5 and 100.');
    }
  }
}
