import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PubSub } from '@google-cloud/pubsub';
import { cloudEvent, type CloudEvent } from '@google-cloud/functions-framework';
import type { PubSubEmulator } from '../../../local/pubsub/emulator.js';
import { decodePubSubCloudEvent, type DecodedPubSubEvent } from '../../../shared/adapters/pubsub-event.js';
import { PubSubPublisher } from '../../../shared/adapters/pubsub-publisher.js';
import { ensureTopology } from '../../../shared/adapters/pubsub-topology.js';
import { isWarmerError } from '../../../shared/errors.js';
import type { RefillMessage, TeardownMessage } from '../../../shared/domain/messages.js';
import { PROJECT, serveFunction, startTestPubSub } from './helpers.js';

let emulator: PubSubEmulator;
let pubsub: PubSub;
let stop: (() => Promise<void>) | undefined;
beforeAll(async () => {
  ({ emulator, pubsub, stop } = await startTestPubSub());
});
afterAll(async () => stop?.());

describe('PubSubPublisher through push subscriptions to functions-framework', () => {
  it('publishes teardown and refill messages that decode back to the same objects', async () => {
    const received: Record<'teardown' | 'refill', DecodedPubSubEvent[]> = { teardown: [], refill: [] };
    cloudEvent('teardown-fn', (event: CloudEvent<unknown>) => {
      received.teardown.push(decodePubSubCloudEvent(event));
    });
    cloudEvent('refill-fn', (event: CloudEvent<unknown>) => {
      received.refill.push(decodePubSubCloudEvent(event));
    });
    const teardownFn = await serveFunction('teardown-fn');
    const refillFn = await serveFunction('refill-fn');
    try {
      const options = {
        teardownTopic: 'teardown',
        refillTopic: 'refill',
        deadLetterTopic: 'dead-letter',
        pushBase: 'http://127.0.0.1:1', // overridden per function below
        teardownEndpoint: teardownFn.url,
        refillEndpoint: refillFn.url,
        minBackoffMs: 20,
        maxBackoffMs: 100,
      };
      const topology = await ensureTopology(pubsub, options);
      expect(topology).toEqual({
        teardownSubscription: `projects/${PROJECT}/subscriptions/teardown-push`,
        refillSubscription: `projects/${PROJECT}/subscriptions/refill-push`,
        deadLetterSubscription: `projects/${PROJECT}/subscriptions/dead-letter-pull`,
      });
      // idempotent
      expect(await ensureTopology(pubsub, options)).toEqual(topology);

      const publisher = new PubSubPublisher({ pubsub, teardownTopic: 'teardown', refillTopic: 'refill' });
      const teardown: TeardownMessage = { instance: 'warm-p1-abc', pool: 'p1', reason: 'max_idle_age' };
      const refill: RefillMessage = { pool: 'p1', reason: 'claimed' };
      await publisher.publishTeardown(teardown);
      await publisher.publishRefill(refill);
      await emulator.control.drain(5_000);

      expect(received.teardown).toEqual([
        {
          ok: true,
          data: teardown,
          attributes: { kind: 'teardown', pool: 'p1', instance: 'warm-p1-abc' },
          messageId: expect.any(String),
          deliveryAttempt: 1,
        },
      ]);
      expect(received.refill).toEqual([
        { ok: true, data: refill, attributes: { kind: 'refill', pool: 'p1' }, messageId: expect.any(String), deliveryAttempt: 1 },
      ]);
    } finally {
      await teardownFn.close();
      await refillFn.close();
    }
  });

  it('creates pull subscriptions with the retry and dead-letter policies when there is no push base', async () => {
    const topology = await ensureTopology(pubsub, {
      teardownTopic: 'td2',
      refillTopic: 'rf2',
      deadLetterTopic: 'dl2',
      minBackoffMs: 100,
      maxBackoffMs: 2_000,
      maxDeliveryAttempts: 7,
    });
    const [meta] = await pubsub.subscription(topology.teardownSubscription).getMetadata();
    expect(meta.pushConfig?.pushEndpoint ?? '').toBe('');
    expect(meta.retryPolicy?.minimumBackoff).toMatchObject({ nanos: 100_000_000 });
    expect(meta.retryPolicy?.maximumBackoff).toMatchObject({ seconds: '2' });
    expect(meta.deadLetterPolicy).toMatchObject({
      deadLetterTopic: `projects/${PROJECT}/topics/dl2`,
      maxDeliveryAttempts: 7,
    });
    expect(topology.refillSubscription).toBe(`projects/${PROJECT}/subscriptions/rf2-pull`);
  });

  it('re-points an existing push subscription at the current endpoint', async () => {
    const base = { teardownTopic: 'td3', refillTopic: 'rf3', deadLetterTopic: 'dl3' };
    await ensureTopology(pubsub, { ...base, pushBase: 'http://127.0.0.1:1111' });
    await ensureTopology(pubsub, { ...base, pushBase: 'http://127.0.0.1:2222/' });
    const [meta] = await pubsub.subscription('td3-push').getMetadata();
    expect(meta.pushConfig?.pushEndpoint).toBe('http://127.0.0.1:2222/teardown');
  });

  it('translates a publish to a missing topic into a not_found WarmerError', async () => {
    const publisher = new PubSubPublisher({ pubsub, teardownTopic: 'no-such-topic', refillTopic: 'no-such-topic' });
    const err = await publisher.publishRefill({ pool: 'p', reason: 'x' }).catch((e: unknown) => e);
    expect(isWarmerError(err, 'not_found')).toBe(true);
  });

  it('works through PUBSUB_EMULATOR_HOST as well', async () => {
    const saved = process.env.PUBSUB_EMULATOR_HOST;
    process.env.PUBSUB_EMULATOR_HOST = emulator.hostPort;
    const viaEnv = new PubSub({ projectId: PROJECT });
    try {
      const [topic] = await viaEnv.createTopic('via-env');
      expect(topic.name).toBe(`projects/${PROJECT}/topics/via-env`);
      expect((await pubsub.topic('via-env').exists())[0]).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.PUBSUB_EMULATOR_HOST;
      else process.env.PUBSUB_EMULATOR_HOST = saved;
      await viaEnv.close();
    }
  });
});

describe('decodePubSubCloudEvent', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const event = (data: unknown) => ({ specversion: '1.0', id: 'ce-1', type: 't', source: 's', data });

  it('decodes a binary-mode event', () => {
    expect(
      decodePubSubCloudEvent(event({ message: { data: b64('{"pool":"p"}'), attributes: { kind: 'refill' }, messageId: '42' }, subscription: 'x' })),
    ).toEqual({ ok: true, data: { pool: 'p' }, attributes: { kind: 'refill' }, messageId: '42' });
  });

  it('decodes event data that arrives as a JSON string and falls back to the event id', () => {
    const decoded = decodePubSubCloudEvent(event(JSON.stringify({ message: { data: b64('[1,2]') }, deliveryAttempt: 3 })));
    expect(decoded).toEqual({ ok: true, data: [1, 2], attributes: {}, messageId: 'ce-1', deliveryAttempt: 3 });
  });

  it.each([
    ['not an object', 'teardown please'],
    ['null', null],
    ['no data', { id: '1' }],
    ['data not JSON text', event('{not json')],
    ['no message', event({ subscription: 's' })],
    ['message not an object', event({ message: 'hi' })],
    ['no message data', event({ message: { attributes: {} } })],
    ['empty message data', event({ message: { data: '' } })],
    ['message data not a string', event({ message: { data: 12 } })],
    ['message data not base64', event({ message: { data: '***' } })],
    ['base64 that is not JSON', event({ message: { data: b64('hello there') } })],
    ['base64 of truncated JSON', event({ message: { data: b64('{"pool":') } })],
  ])('%s → ok:false', (_name, input) => {
    const decoded = decodePubSubCloudEvent(input);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.reason).toMatch(/\w/);
  });

  it('never throws, even on hostile input', () => {
    const hostile = {
      get data(): unknown {
        throw new Error('boom');
      },
    };
    expect(decodePubSubCloudEvent(hostile)).toEqual({ ok: false, reason: 'undecodable event: boom' });
  });
});
