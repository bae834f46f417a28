/**
 * Push delivery as a binary-mode CloudEvent, the way a Pub/Sub-triggered Cloud Run
 * function receives it and functions-framework 5 parses it.
 */
import http from 'node:http';
import https from 'node:https';
import { parseSubscriptionName, parseTopicName, type PushDelivery } from './broker.js';

export const PUBSUB_MESSAGE_PUBLISHED = 'google.cloud.pubsub.topic.v1.messagePublished';

export interface PushRequest {
  headers: Record<string, string>;
  body: string;
}

/** The HTTP request a push delivery becomes (exported so tests can check its shape). */
export function buildPushRequest(delivery: PushDelivery): PushRequest {
  const { subscription, message } = delivery;
  const topic = parseTopicName(subscription.topic);
  const sub = parseSubscriptionName(subscription.name);
  const publishTime = new Date(message.publishTime).toISOString();
  const body: Record<string, unknown> = {
    message: {
      data: message.data.toString('base64'),
      attributes: message.attributes,
      messageId: message.messageId,
      message_id: message.messageId,
      publishTime,
      publish_time: publishTime,
      ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}),
    },
    subscription: subscription.name,
  };
  if (delivery.deliveryAttempt !== undefined) body.deliveryAttempt = delivery.deliveryAttempt;
  const project = topic?.project ?? sub?.project ?? 'unknown';
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-id': message.messageId,
    'ce-type': PUBSUB_MESSAGE_PUBLISHED,
    'ce-source': `//pubsub.googleapis.com/projects/${project}/topics/${topic?.topic ?? 'unknown'}`,
    'ce-time': publishTime,
  };
  return { headers, body: JSON.stringify(body) };
}

/** POSTs the CloudEvent; resolves true on a 2xx answer, false on anything else. */
export function pushCloudEvent(delivery: PushDelivery): Promise<boolean> {
  const { headers, body } = buildPushRequest(delivery);
  const url = new URL(delivery.subscription.pushEndpoint ?? '');
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<boolean>((resolve) => {
    const req = client.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal: delivery.signal,
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300));
        res.on('error', () => resolve(false));
      },
    );
    req.on('error', () => resolve(false));
    req.end(body);
  });
}
