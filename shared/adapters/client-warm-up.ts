/**
 * Warms the cloud clients of the claim path before a new instance takes its first claim.
 *
 * A fresh client pays on its first call for what every later call reuses: the GAPIC
 * client and its protos (protobufjs loading the service definitions, then generating the
 * encoder and decoder of each message type on first use), the gRPC channel and, in the
 * cloud, the access token and the TLS handshake. Measured on the local stack, that made a
 * new process's first claim 15–30× a warm one. The warm-up makes the claim's own calls in
 * the claim's own shapes, with nothing written:
 *
 *   Firestore  the candidate query (equality on pool and state, ordered by readyAt, an
 *              empty field mask, one result) for a pool that cannot exist; one record
 *              read whole (its value types decoded, if the collection has one); a read-only
 *              transaction reading a record that cannot exist (BatchGetDocuments opening
 *              the transaction); a Commit of a claimed record's value types that its
 *              precondition refuses. The query first, then the rest at once: two round trips.
 *   Pub/Sub    the publisher's GAPIC client, its gRPC stub and its channel, connected (no
 *              call: publishing is the only call the claim path makes, and a message
 *              would be a side effect).
 *   codecs     the messages of a served claim that the calls above never carry (a
 *              transaction's read-write options and the found records it reads, a commit
 *              of a set and a create and its write results, a publish and its message id),
 *              encoded and decoded in memory by the clients' own gRPC methods: protobufjs
 *              generates each message type's code on its first use. Nothing is sent.
 *
 * In the cloud this costs about three billed reads per new instance (a query returning
 * nothing is billed one read) and no write.
 */
import { Timestamp, type Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import { GoogleAuth } from 'google-auth-library';

/** Neither a pool name nor an instance name can hold an underscore or a capital. */
export const WARM_UP_ID = 'Warmer_warm-up';

const GRPC_NOT_FOUND = 5;
const GRPC_FAILED_PRECONDITION = 9;

const grpcCode = (err: unknown): unknown => (err as { code?: unknown } | null)?.code;

/** The calls of a claim against `instances` (the records' collection), concurrently, nothing written. */
export async function warmFirestore(db: Firestore, instances: string): Promise<void> {
  const collection = db.collection(instances);
  const missing = collection.doc(WARM_UP_ID);
  // Alone first: it builds the client (in the cloud, with its credentials and channel).
  await collection.where('pool', '==', WARM_UP_ID).where('state', '==', 'ready').orderBy('readyAt').select().limit(1).get();
  await Promise.all([
    // One whole record, if there is one: decoding a document of every value type a record holds.
    collection.limit(1).get(),
    // A transactional read (BatchGetDocuments opening a transaction); read-only: no commit.
    db.runTransaction((tx) => tx.getAll(missing), { readOnly: true }),
    // A commit of the value types of a claimed record and its receipt, refused by its
    // precondition (a last update in 1970): NOT_FOUND, or FAILED_PRECONDITION were it there.
    // "When set, the target document must exist and have been last updated at that time.
    // Timestamp must be microsecond aligned." (Precondition.update_time,
    // https://cloud.google.com/ruby/docs/reference/google-cloud-firestore-v1/latest/Google-Cloud-Firestore-V1-Precondition)
    missing
      .update(
        { state: 'claimed', claim: { labels: { a: 'b' }, keys: ['k'], at: new Date(0), n: 1, x: 0.5, ok: true, none: null } },
        { lastUpdateTime: Timestamp.fromMillis(1) },
      )
      .then(
        () => {
          throw new Error(`the warm-up's update of ${instances}/${WARM_UP_ID} was committed`);
        },
        (err: unknown) => {
          if (grpcCode(err) !== GRPC_NOT_FOUND && grpcCode(err) !== GRPC_FAILED_PRECONDITION) throw err;
        },
      ),
  ]);
}

/**
 * Resolves when Application Default Credentials can be found, rejects (cleanly) when not.
 * A warm-up must ask first outside the emulators: a Firestore call without credentials
 * leaves rejections inside the SDK that nothing handles, and functions-framework ends the
 * process on an unhandled rejection (a process without credentials must not end on its
 * own: its requests report the problem).
 */
export async function assertCredentials(): Promise<void> {
  await new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] }).getClient();
}

/** How long the warm-up waits for the publisher's channel to connect. */
const CONNECT_WITHIN_MS = 5_000;

interface GrpcStub {
  waitForReady?(deadline: Date, callback: (err?: Error) => void): void;
}

/**
 * Builds the publisher's GAPIC client and gRPC stub, as the first publish would, and
 * connects its channel (grpc-js channels resolve and connect on their first call
 * otherwise: `waitForReady` asks for the connection without a call).
 */
export async function warmPubSub(pubsub: PubSub): Promise<void> {
  const client = (await pubsub.getClientAsync_({ client: 'PublisherClient' })) as unknown as { initialize(): Promise<GrpcStub> };
  const stub = await client.initialize();
  warmPublishCodecs(stub as unknown as Record<string, GrpcMethod>, 'projects/warm-up/topics/warm-up');
  if (typeof stub.waitForReady !== 'function') return;
  await new Promise<void>((resolve, reject) => stub.waitForReady!(new Date(Date.now() + CONNECT_WITHIN_MS), (err) => (err ? reject(err) : resolve())));
}

/** A client gRPC method as @grpc/proto-loader builds it: its messages' codecs. */
interface GrpcMethod {
  requestSerialize?(value: object): Buffer;
  responseSerialize?(value: object): Buffer;
  responseDeserialize?(bytes: Buffer): unknown;
}

/** Encodes `request`, and encodes then decodes `responses`, as a call of `method` would; nothing is sent. 1 if done, 0 if the method has no codecs. */
function roundTrip(method: GrpcMethod | undefined, request: object, responses: object[]): number {
  if (!method?.requestSerialize || !method.responseSerialize || !method.responseDeserialize) return 0;
  method.requestSerialize(request);
  for (const r of responses) method.responseDeserialize(method.responseSerialize(r));
  return 1;
}

const time = { seconds: '1', nanos: 1000 };
/** A stored record's value types: strings, integers, doubles, booleans, null, timestamps, maps, arrays. */
const fields = {
  s: { stringValue: 'a' },
  i: { integerValue: '1' },
  d: { doubleValue: 0.5 },
  b: { booleanValue: true },
  n: { nullValue: 'NULL_VALUE' },
  t: { timestampValue: time },
  m: { mapValue: { fields: { s: { stringValue: 'a' }, a: { arrayValue: { values: [{ stringValue: 'a' }, { integerValue: '1' }] } } } } },
};

/**
 * The codecs of a served claim's Firestore calls on the client the pool holds (the SDK's
 * ClientPool and its GAPIC client's stub: not public API, so anything missing is skipped).
 * Run after a call (warmFirestore), which creates that client. Returns how many methods
 * were warmed (4, unless the SDK changed).
 */
export async function warmFirestoreCodecs(db: Firestore, instances: string): Promise<number> {
  const pool = (db as unknown as { _clientPool?: { activeClients?: Map<{ firestoreStub?: Promise<Record<string, GrpcMethod>> }, unknown> } })._clientPool;
  const client = pool?.activeClients?.keys().next().value;
  const stub = await client?.firestoreStub;
  if (!stub) return 0;
  // Any names will do: the codecs are what is warmed.
  const database = 'projects/warm-up/databases/(default)';
  const name = `${database}/documents/${instances}/${WARM_UP_ID}`;
  const doc = { name, fields, createTime: time, updateTime: time };
  const transaction = Buffer.from('warm-up');
  let warmed = roundTrip(stub.batchGetDocuments, { database, documents: [name, name], newTransaction: { readWrite: {} } }, [
    { found: doc, transaction, readTime: time },
    { missing: name, readTime: time },
  ]);
  warmed += roundTrip(stub.commit, { database, transaction, writes: [{ update: doc }, { update: doc, currentDocument: { exists: false } }] }, [
    { writeResults: [{ updateTime: time }, { updateTime: time }], commitTime: time },
  ]);
  warmed += roundTrip(stub.runQuery, { parent: `${database}/documents` }, [{ document: { name, createTime: time, updateTime: time }, readTime: time }]);
  warmed += roundTrip(stub.rollback, { database, transaction }, [{}]);
  return warmed;
}

/** The codecs of a publish (a refill request's message and its id) on the publisher's stub; 1 if warmed. */
export function warmPublishCodecs(stub: Record<string, GrpcMethod>, topic: string): number {
  return roundTrip(stub.publish, { topic, messages: [{ data: Buffer.from('{}'), attributes: { kind: 'refill', pool: 'warm-up' } }] }, [{ messageIds: ['1'] }]);
}
