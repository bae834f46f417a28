/**
 * Pub/Sub publisher: publishes teardown and refill messages (the `Publisher` port). The
 * rest of Pub/Sub is one concept a file: its errors (pubsub-errors.ts), the topics and
 * subscriptions (pubsub-topology.ts), the CloudEvent a push hands a function
 * (pubsub-event.ts).
 */
import type { PubSub, Topic } from '@google-cloud/pubsub';
import { silentLogger, type Logger } from '../logging.js';
import type { Publisher } from '../ports.js';
import type { RefillMessage, TeardownMessage } from '../domain/messages.js';
import { translatePubSubError } from './pubsub-errors.js';

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
