import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Message, PubSub } from '@google-cloud/pubsub';
import { cloudEvent, type CloudEvent } from '@google-cloud/functions-framework';
import { startPubSubEmulator, type PubSubEmulator } from '../../../local/pubsub/emulator.js';
import { backoffDelayMs } from '../../../local/pubsub/broker.js';
import { loadPubSubServices } from '../../../local/pubsub/protos.js';
import { decodePubSubCloudEvent } from '../../../shared/adapters/pubsub-event.js';
import { PROJECT, clientFor, collect, ms, serveFunction, startTestPubSub } from './helpers.js';

let emulator: PubSubEmulator;
let pubsub: PubSub;
let stop: (() => Promise<void>) | undefined;
beforeAll(async () => {
  ({ emulator, pubsub, stop } = await startTestPubSub());
});
afterAll(async () => stop?.());

const topicName = (t: string) => `projects/${PROJECT}/topics/${t}`;
const subName = (s: string) => `projects/${PROJECT}/subscriptions/${s}`;

describe('Pub/Sub emulator with the real client', () => {
  it('listens on an ephemeral loopback port', () => {
    expect(emulator.host).toBe('127.0.0.1');
    expect(emulator.port).toBeGreaterThan(0);
    expect(emulator.hostPort).toBe(`127.0.0.1:${emulator.port}`);
  });

  it('creates, gets, lists and deletes topics with Pub/Sub status codes', async () => {
    const [topic] = await pubsub.createTopic('crud');
    expect(topic.name).toBe(topicName('crud'));
    await expect(pubsub.createTopic('crud')).rejects.toMatchObject({ code: grpc.status.ALREADY_EXISTS });
    const [exists] = await pubsub.topic('crud').exists();
    expect(exists).toBe(true);
    const [topics] = await pubsub.getTopics();
    expect(topics.map((t) => t.name)).toContain(topicName('crud'));
    await pubsub.topic('crud').delete();
    expect((await pubsub.topic('crud').exists())[0]).toBe(false);
    await expect(pubsub.topic('crud').getMetadata()).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    await expect(pubsub.topic('nope').publishMessage({ data: Buffer.from('x') })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });

  it('stores subscription policies and returns them', async () => {
    await pubsub.createTopic('policies');
    await pubsub.createTopic('policies-dl');
    await pubsub.createSubscription('policies', 'policies-sub', {
      ackDeadlineSeconds: 30,
      retryPolicy: { minimumBackoff: ms(100), maximumBackoff: ms(2000) },
      deadLetterPolicy: { deadLetterTopic: topicName('policies-dl'), maxDeliveryAttempts: 7 },
      pushConfig: { pushEndpoint: 'http://127.0.0.1:9/never' },
    });
    const [meta] = await pubsub.subscription('policies-sub').getMetadata();
    expect(meta.topic).toBe(topicName('policies'));
    expect(meta.ackDeadlineSeconds).toBe(30);
    expect(meta.pushConfig?.pushEndpoint).toBe('http://127.0.0.1:9/never');
    expect(meta.retryPolicy?.minimumBackoff).toMatchObject({ seconds: '0', nanos: 100_000_000 });
    expect(meta.retryPolicy?.maximumBackoff).toMatchObject({ seconds: '2' });
    expect(meta.deadLetterPolicy).toMatchObject({ deadLetterTopic: topicName('policies-dl'), maxDeliveryAttempts: 7 });
    await expect(pubsub.createSubscription('policies', 'policies-sub')).rejects.toMatchObject({
      code: grpc.status.ALREADY_EXISTS,
    });
    await expect(pubsub.createSubscription('missing-topic', 'orphan')).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
    await pubsub.subscription('policies-sub').delete();
    expect((await pubsub.subscription('policies-sub').exists())[0]).toBe(false);
  });

  it('delivers a published message to a streaming-pull subscriber, and an ack settles it', async () => {
    const [topic] = await pubsub.createTopic('pull');
    await topic.createSubscription('pull-sub');
    const subscription = pubsub.subscription('pull-sub');
    const received = collect(subscription);
    try {
      const id = await topic.publishMessage({ data: Buffer.from('{"hello":"world"}'), attributes: { kind: 'test' } });
      const m = await received.next();
      expect(m.id).toBe(id);
      expect(JSON.parse(m.data.toString())).toEqual({ hello: 'world' });
      expect(m.attributes).toEqual({ kind: 'test' });
      expect(m.publishTime.getTime()).toBeGreaterThan(Date.now() - 60_000);
      await emulator.control.drain(5_000);
      expect(emulator.control.stats()[subName('pull-sub')]).toMatchObject({
        delivered: 1,
        acked: 1,
        nacked: 0,
        outstanding: 0,
      });
    } finally {
      await subscription.close();
    }
  });

  it('redelivers a nacked message after the retry policy backoff, with the delivery attempt', async () => {
    const [topic] = await pubsub.createTopic('nack');
    await pubsub.createTopic('nack-dl');
    await topic.createSubscription('nack-sub', {
      retryPolicy: { minimumBackoff: ms(150), maximumBackoff: ms(1000) },
      deadLetterPolicy: { deadLetterTopic: topicName('nack-dl'), maxDeliveryAttempts: 5 },
    });
    const subscription = pubsub.subscription('nack-sub');
    const seen: Array<{ attempt: number; at: number }> = [];
    const done = new Promise<void>((resolve) => {
      subscription.on('message', (m) => {
        seen.push({ attempt: m.deliveryAttempt, at: Date.now() });
        if (seen.length === 1) m.nack();
        else {
          m.ack();
          resolve();
        }
      });
    });
    try {
      await topic.publishMessage({ data: Buffer.from('again') });
      await done;
      expect(seen.map((s) => s.attempt)).toEqual([1, 2]);
      expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(140);
      await emulator.control.drain(5_000);
      expect(emulator.control.stats()[subName('nack-sub')]).toMatchObject({ delivered: 2, acked: 1, nacked: 1 });
    } finally {
      await subscription.close();
    }
  });

  it('serves unary Pull, ModifyAckDeadline and Acknowledge', async () => {
    const [topic] = await pubsub.createTopic('unary');
    await topic.createSubscription('unary-sub');
    await topic.publishMessage({ data: Buffer.from('one') });
    const Subscriber = grpc.makeGenericClientConstructor(loadPubSubServices().subscriber, 'Subscriber');
    const raw = new Subscriber(emulator.hostPort, grpc.credentials.createInsecure()) as grpc.Client &
      Record<string, (req: object, cb: (err: grpc.ServiceError | null, res: any) => void) => void>;
    const call = <T>(method: string, req: object) =>
      new Promise<T>((resolve, reject) => raw[method]!(req, (err, res) => (err ? reject(err) : resolve(res as T))));
    try {
      const subscription = subName('unary-sub');
      const first = await call<{ receivedMessages: Array<{ ackId: string; message: { data: Buffer } }> }>('Pull', {
        subscription,
        maxMessages: 10,
      });
      expect(first.receivedMessages).toHaveLength(1);
      const { ackId, message } = first.receivedMessages[0]!;
      expect(Buffer.from(message.data).toString()).toBe('one');
      await call('ModifyAckDeadline', { subscription, ackIds: [ackId], ackDeadlineSeconds: 0 }); // nack
      const second = await call<{ receivedMessages: Array<{ ackId: string }> }>('Pull', { subscription, maxMessages: 10 });
      expect(second.receivedMessages).toHaveLength(1);
      await call('Acknowledge', { subscription, ackIds: [second.receivedMessages[0]!.ackId] });
      const empty = await call<{ receivedMessages: unknown[] }>('Pull', {
        subscription,
        maxMessages: 10,
        returnImmediately: true,
      });
      expect(empty.receivedMessages).toHaveLength(0);
      expect(emulator.control.stats()[subscription]).toMatchObject({ delivered: 2, acked: 1, nacked: 1, outstanding: 0 });
      await expect(call('Pull', { subscription: subName('nope'), maxMessages: 1 })).rejects.toMatchObject({
        code: grpc.status.NOT_FOUND,
      });
    } finally {
      raw.close();
    }
  });
});

describe('push delivery to functions-framework', () => {
  it('posts a binary CloudEvent; a handler that throws twice is delivered 3 times, then acked', async () => {
    const calls: Array<{ event: CloudEvent<unknown>; at: number }> = [];
    cloudEvent('flaky', (event: CloudEvent<unknown>) => {
      calls.push({ event, at: Date.now() });
      if (calls.length <= 2) throw new Error(`failure ${calls.length}`);
    });
    const fn = await serveFunction('flaky');
    try {
      const [topic] = await pubsub.createTopic('flaky');
      await pubsub.createTopic('flaky-dl');
      await topic.createSubscription('flaky-push', {
        pushConfig: { pushEndpoint: fn.url },
        retryPolicy: { minimumBackoff: ms(100), maximumBackoff: ms(2000) },
        deadLetterPolicy: { deadLetterTopic: topicName('flaky-dl'), maxDeliveryAttempts: 5 },
      });
      const id = await topic.publishMessage({ json: { pool: 'p1' }, attributes: { kind: 'refill' } });
      await emulator.control.drain(10_000);

      expect(calls).toHaveLength(3);
      const event = calls[0]!.event;
      expect(event.specversion).toBe('1.0');
      expect(event.id).toBe(id);
      expect(event.type).toBe('google.cloud.pubsub.topic.v1.messagePublished');
      expect(event.source).toBe(`//pubsub.googleapis.com/projects/${PROJECT}/topics/flaky`);
      expect(typeof event.time).toBe('string');
      expect(event.data).toMatchObject({ subscription: subName('flaky-push'), message: { messageId: id } });
      const decoded = calls.map((c) => decodePubSubCloudEvent(c.event));
      expect(decoded[0]).toEqual({
        ok: true,
        data: { pool: 'p1' },
        attributes: { kind: 'refill' },
        messageId: id,
        deliveryAttempt: 1,
      });
      expect(decoded.map((d) => (d.ok ? d.deliveryAttempt : null))).toEqual([1, 2, 3]);
      // exponential backoff between min and max: ~100 ms, then ~200 ms
      expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(90);
      expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(190);
      expect(emulator.control.stats()[subName('flaky-push')]).toMatchObject({
        delivered: 3,
        acked: 1,
        nacked: 2,
        deadLettered: 0,
        outstanding: 0,
      });
    } finally {
      await fn.close();
    }
  });

  it('dead-letters a message whose handler always throws after maxDeliveryAttempts', async () => {
    let calls = 0;
    cloudEvent('broken', (_event: CloudEvent<unknown>) => {
      calls++;
      throw new Error('always broken');
    });
    const fn = await serveFunction('broken');
    const dlSubscription = pubsub.subscription('broken-dl-pull');
    try {
      const [topic] = await pubsub.createTopic('broken');
      const [dl] = await pubsub.createTopic('broken-dl');
      await dl.createSubscription('broken-dl-pull');
      const dead = collect(dlSubscription);
      await topic.createSubscription('broken-push', {
        pushConfig: { pushEndpoint: fn.url },
        retryPolicy: { minimumBackoff: ms(10), maximumBackoff: ms(50) },
        deadLetterPolicy: { deadLetterTopic: topicName('broken-dl'), maxDeliveryAttempts: 5 },
      });
      const id = await topic.publishMessage({ data: Buffer.from('{"instance":"vm-1"}'), attributes: { pool: 'p' } });

      const m = await dead.next(10_000);
      expect(m.data.toString()).toBe('{"instance":"vm-1"}');
      expect(m.attributes).toMatchObject({
        pool: 'p',
        CloudPubSubDeadLetterSourceDeliveryCount: '5',
        CloudPubSubDeadLetterSourceSubscription: 'broken-push',
        CloudPubSubDeadLetterSourceSubscriptionProject: PROJECT,
      });
      expect(calls).toBe(5);
      await emulator.control.drain(5_000);
      expect(emulator.control.stats()[subName('broken-push')]).toMatchObject({
        delivered: 5,
        acked: 0,
        nacked: 5,
        deadLettered: 1,
        outstanding: 0,
      });
      expect(emulator.control.deadLettered().filter((d) => d.subscription === subName('broken-push'))).toEqual([
        expect.objectContaining({ messageId: id, deliveryAttempts: 5, deadLetterTopic: topicName('broken-dl') }),
      ]);
    } finally {
      await dlSubscription.close();
      await fn.close();
    }
  });

  it('nacks when the endpoint is unreachable and keeps the message for redelivery', async () => {
    const [topic] = await pubsub.createTopic('unreachable');
    await topic.createSubscription('unreachable-push', {
      pushConfig: { pushEndpoint: 'http://127.0.0.1:9/' },
      retryPolicy: { minimumBackoff: ms(5000), maximumBackoff: ms(5000) },
    });
    await topic.publishMessage({ data: Buffer.from('x') });
    await expect.poll(() => emulator.control.stats()[subName('unreachable-push')]?.nacked).toBe(1);
    expect(emulator.control.stats()[subName('unreachable-push')]).toMatchObject({ inBackoff: 1, outstanding: 1 });
    await expect(emulator.control.drain(50)).rejects.toThrow(/not drained/);
    await pubsub.subscription('unreachable-push').delete(); // drops the backlog and its timer
  });
});

describe('push concurrency', () => {
  it('keeps at most maxPushInFlight pushes in flight per subscription', async () => {
    const bounded = await startPubSubEmulator({ maxPushInFlight: 3 });
    const client = clientFor(bounded.hostPort);
    let active = 0;
    let peak = 0;
    let handled = 0;
    cloudEvent('slow', async (_event: CloudEvent<unknown>) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 100));
      active--;
      handled++;
    });
    const fn = await serveFunction('slow');
    try {
      const [topic] = await client.createTopic('slow');
      await topic.createSubscription('slow-push', { pushConfig: { pushEndpoint: fn.url } });
      await Promise.all(Array.from({ length: 12 }, (_, i) => topic.publishMessage({ json: { i } })));
      await bounded.control.drain(10_000);
      expect(handled).toBe(12);
      expect(peak).toBe(3);
    } finally {
      await client.close();
      await bounded.stop();
      await fn.close();
    }
  });
});

describe('backoffDelayMs', () => {
  it.each([
    [100, 2000, 1, 100],
    [100, 2000, 2, 200],
    [100, 2000, 3, 400],
    [100, 2000, 6, 2000],
    [100, 2000, 60, 2000],
    [0, 0, 3, 0],
    [10_000, 600_000, 1, 10_000],
  ])('min %i max %i after %i failures → %i ms', (min, max, failures, expected) => {
    expect(backoffDelayMs({ minimumBackoffMs: min, maximumBackoffMs: max }, failures)).toBe(expected);
  });
});

describe('stop', () => {
  it('leaves nothing running and refuses new connections', async () => {
    const other = await startPubSubEmulator();
    const client = clientFor(other.hostPort);
    const [topic] = await client.createTopic('t');
    await topic.createSubscription('s', {
      pushConfig: { pushEndpoint: 'http://127.0.0.1:9/' },
      retryPolicy: { minimumBackoff: ms(60_000), maximumBackoff: ms(60_000) },
    });
    const streaming = client.subscription('s2');
    await topic.createSubscription('s2');
    const got = new Promise<void>((resolve) =>
      streaming.on('message', (m: Message) => {
        m.ack();
        resolve();
      }),
    );
    streaming.on('error', () => {});
    await topic.publishMessage({ data: Buffer.from('x') });
    await got;
    // the ack reached the emulator; a stream is still open and a push is in backoff
    await expect.poll(() => other.control.stats()['projects/warmer-test/subscriptions/s2']?.acked).toBe(1);
    await expect.poll(() => other.control.stats()['projects/warmer-test/subscriptions/s']?.inBackoff).toBe(1);
    await other.stop();
    await streaming.close();
    await client.close();
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(other.port, other.host);
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });
});
