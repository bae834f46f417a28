/**
 * Loads the google.pubsub.v1 service definitions from the protos that
 * `@google-cloud/pubsub` ships, with the common Google protos from `google-gax`.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const require = createRequire(import.meta.url);

/** `<pkg>/build/src/index.js` → `<pkg>/build/protos`. */
function protosDirOf(entry: string): string {
  return path.join(path.dirname(require.resolve(entry)), '..', 'protos');
}

export interface PubSubServices {
  publisher: grpc.ServiceDefinition;
  subscriber: grpc.ServiceDefinition;
}

let cached: PubSubServices | undefined;

export function loadPubSubServices(): PubSubServices {
  if (cached) return cached;
  const pubsubProtos = protosDirOf('@google-cloud/pubsub');
  const gaxProtos = protosDirOf('google-gax');
  const definition = protoLoader.loadSync('google/pubsub/v1/pubsub.proto', {
    includeDirs: [pubsubProtos, gaxProtos],
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: false,
    arrays: true,
    objects: true,
    oneofs: true,
  });
  const publisher = definition['google.pubsub.v1.Publisher'];
  const subscriber = definition['google.pubsub.v1.Subscriber'];
  if (!publisher || !subscriber || 'format' in publisher || 'format' in subscriber) {
    throw new Error('google.pubsub.v1 services not found in the shipped protos');
  }
  cached = {
    publisher: publisher as grpc.ServiceDefinition,
    subscriber: subscriber as grpc.ServiceDefinition,
  };
  return cached;
}
