import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PubSub, type Message, type Subscription } from '@google-cloud/pubsub';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { startPubSubEmulator, type PubSubEmulator } from '../../../local/pubsub/emulator.js';

export const PROJECT = 'warmer-test';

/** The real client, pointed at an emulator by explicit options (no environment). */
export function clientFor(hostPort: string): PubSub {
  return new PubSub({ projectId: PROJECT, apiEndpoint: hostPort, emulatorMode: true });
}

/** An embedded Pub/Sub emulator and the real client on it; `stop` closes the client, then the emulator. */
export async function startTestPubSub(): Promise<{ emulator: PubSubEmulator; pubsub: PubSub; stop(): Promise<void> }> {
  const emulator = await startPubSubEmulator();
  const pubsub = clientFor(emulator.hostPort);
  return {
    emulator,
    pubsub,
    async stop() {
      await pubsub.close();
      await emulator.stop();
    },
  };
}

/** Serves a registered functions-framework function on an ephemeral port. */
export async function serveFunction(name: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = getTestServer(name);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Collects messages from a streaming-pull subscription, acking each. */
export function collect(subscription: Subscription): { messages: Message[]; next(timeoutMs?: number): Promise<Message> } {
  const messages: Message[] = [];
  const waiters: Array<(m: Message) => void> = [];
  subscription.on('message', (m: Message) => {
    m.ack();
    messages.push(m);
    waiters.shift()?.(m);
  });
  let taken = 0;
  return {
    messages,
    next(timeoutMs = 5_000) {
      const index = taken++;
      const ready = messages[index];
      if (ready) return Promise.resolve(ready);
      return new Promise<Message>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message #${index + 1} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((m) => {
          clearTimeout(timer);
          resolve(m);
        });
      });
    },
  };
}

export const ms = (n: number) => ({ seconds: Math.floor(n / 1000), nanos: (n % 1000) * 1e6 });
