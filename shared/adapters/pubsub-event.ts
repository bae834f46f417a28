/** The CloudEvent functions-framework hands a Pub/Sub-triggered function, decoded. */

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
