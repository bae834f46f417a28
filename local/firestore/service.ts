/**
 * The google.firestore.v1.Firestore gRPC surface, as a subclass of
 * `@firestore-emulator/server`'s FirestoreServiceV1Impl whose every method is overridden
 * to use DocumentStore instead of the package's FirestoreState. (Subclass state must be
 * ES #private: the base class declares an index signature of handlers.)
 *
 * FACTS.md bugs of @firestore-emulator/server 0.3.15, and what became of them:
 * - transactions not isolated, commit never aborts → fixed (store.ts: optimistic
 *   concurrency, ABORTED on conflict, atomic serialized commits; unknown or expired
 *   transaction → INVALID_ARGUMENT "transaction has expired", which the client retries).
 * - set() without merge merges; FieldValue.delete() does nothing; serverTimestamp() and
 *   increment() in one write drop transforms; arrayUnion on a missing field errors;
 *   lastUpdateTime preconditions ignored → fixed (writes.ts). create() on an existing
 *   document → ALREADY_EXISTS, update() on a missing one → NOT_FOUND.
 * - orderBy(f) returns documents lacking f; cursors, offset, collectionGroup, nested
 *   field paths in filters wrong → fixed (query.ts).
 * - listDocuments, listCollections, BulkWriter (BatchWrite) unimplemented → implemented
 *   here (simple, unpaged beyond page_token = last name).
 * - still not implemented: Listen (onSnapshot), the streaming Write RPC, PartitionQuery,
 *   reads at a past read_time (answered from the current state), findNearest, explain.
 *   warmer does not rely on them: the ports in shared/ports.ts have no watch or
 *   point-in-time method, and its stores need only get/getAll, the queries, count(),
 *   transactions and writes pinned by test/adapters/firestore/conformance.test.ts.
 * - other known differences from production: no composite-index requirement, no limits
 *   (document size, writes per commit), int64 exact only up to 2^53, read-only
 *   transactions read the current state instead of a snapshot, and contention is
 *   resolved by aborting at commit (optimistic) instead of by locks.
 * - its start() binds 0.0.0.0 on a fixed port → not used; emulator.ts serves this
 *   service on its own @grpc/grpc-js server.
 */
import { randomBytes } from 'node:crypto';
import type { ServerDuplexStream, ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import { FirestoreError, Status } from './errors.js';
import {
  AggregationResult,
  BatchGetDocumentsResponse,
  BatchWriteResponse,
  BeginTransactionResponse,
  CommitResponse,
  Document,
  Empty,
  FirestoreServiceV1Impl,
  FirestoreState,
  ListCollectionIdsResponse,
  ListDocumentsResponse,
  RunAggregationQueryResponse,
  RunQueryResponse,
  Status as RpcStatus,
  WriteResult,
  type BatchGetDocumentsRequest,
  type BatchWriteRequest,
  type BeginTransactionRequest,
  type CommitRequest,
  type CreateDocumentRequest,
  type DeleteDocumentRequest,
  type DocumentMask,
  type GetDocumentRequest,
  type ListCollectionIdsRequest,
  type ListDocumentsRequest,
  type ListenRequest,
  type ListenResponse,
  type PartitionQueryRequest,
  type PartitionQueryResponse,
  type RollbackRequest,
  type RunAggregationQueryRequest,
  type RunQueryRequest,
  type StructuredAggregationQueryAggregation,
  type TransactionOptions,
  type UpdateDocumentRequest,
  type Value,
  type WriteRequest,
  type WriteResponse,
} from './proto.js';
import { parseQuery, projectResult, type StoredDocument } from './query.js';
import type { DocumentStore, ReadConsistency } from './store.js';
import {
  NULL,
  fromProtoFields,
  getField,
  isNumber,
  microsToTimestamp,
  parseFieldPath,
  projectFields,
  toProtoFields,
  toProtoValue,
  type FsValue,
  type Micros,
} from './values.js';
import { parsePrecondition, parseWrite, type ParsedWrite } from './writes.js';

interface GrpcError {
  code: number;
  details: string;
  message: string;
}

function toGrpcError(err: unknown): GrpcError {
  if (err instanceof FirestoreError) return { code: err.code, details: err.message, message: err.message };
  console.error('firestore emulator: internal error', err);
  const message = err instanceof Error ? err.message : String(err);
  return { code: Status.INTERNAL, details: message, message };
}

function toProtoDocument(doc: StoredDocument, mask?: DocumentMask | null): Document {
  const fields = mask ? projectFields(doc.fields, mask.field_paths.map(parseFieldPath)) : doc.fields;
  return new Document({
    name: doc.name,
    fields: toProtoFields(fields),
    create_time: microsToTimestamp(doc.createTime),
    update_time: microsToTimestamp(doc.updateTime),
  });
}

function readOptions(options: TransactionOptions): ReadConsistency {
  const retry = options.has_read_write ? options.read_write.retry_transaction : new Uint8Array();
  return { kind: 'new', readOnly: options.has_read_only, retryOf: retry.length > 0 ? retry : null };
}

/** The consistency selector of a read request. `read_time` reads the current state. */
function consistencyOf(req: {
  has_transaction: boolean;
  transaction: Uint8Array;
  has_new_transaction?: boolean;
  new_transaction?: TransactionOptions;
}): ReadConsistency {
  if (req.has_new_transaction && req.new_transaction) return readOptions(req.new_transaction);
  if (req.has_transaction && req.transaction.length > 0) return { kind: 'transaction', id: req.transaction };
  return { kind: 'none' };
}

const unimplemented = (method: string): GrpcError => ({
  code: Status.UNIMPLEMENTED,
  details: `${method} is not implemented by the embedded Firestore emulator.`,
  message: `${method} is not implemented by the embedded Firestore emulator.`,
});

export class FaithfulFirestoreService extends FirestoreServiceV1Impl {
  #store: DocumentStore;
  /** Test knobs, read at each call: commitLatencyMs delays each Commit before it is validated and applied. */
  #knobs: { commitLatencyMs: number };

  constructor(store: DocumentStore, knobs: { commitLatencyMs: number } = { commitLatencyMs: 0 }) {
    // The base class's own state stays empty: no method of the base is used.
    super(new FirestoreState());
    this.#store = store;
    this.#knobs = knobs;
  }

  #unary<T>(callback: sendUnaryData<T>, run: () => T): void {
    let result: T;
    try {
      result = run();
    } catch (err) {
      callback(toGrpcError(err), null);
      return;
    }
    callback(null, result);
  }

  #stream<T>(call: ServerWritableStream<unknown, T>, run: () => T[]): void {
    let messages: T[];
    try {
      messages = run();
    } catch (err) {
      call.emit('error', toGrpcError(err));
      return;
    }
    for (const m of messages) call.write(m);
    call.end();
  }

  #stored(name: string): StoredDocument {
    const doc = this.#store.get(name);
    if (!doc) throw new FirestoreError(Status.INTERNAL, `written document ${name} vanished`);
    return doc;
  }

  #commit(writes: readonly ParsedWrite[], transaction: Uint8Array | null): { commitTime: Micros; results: WriteResult[] } {
    const { commitTime, results } = this.#store.commit(writes, transaction);
    return {
      commitTime,
      results: results.map(
        (r) =>
          new WriteResult({
            ...(r.updateTime !== null ? { update_time: microsToTimestamp(r.updateTime) } : {}),
            transform_results: r.transformResults.map(toProtoValue),
          }),
      ),
    };
  }

  override GetDocument(call: ServerUnaryCall<GetDocumentRequest, Document>, callback: sendUnaryData<Document>): void {
    this.#unary(callback, () => {
      const req = call.request;
      const { result } = this.#store.getDocuments([req.name], consistencyOf(req));
      const doc = result[0];
      if (!doc) throw new FirestoreError(Status.NOT_FOUND, `Document "${req.name}" not found`);
      return toProtoDocument(doc, req.has_mask ? req.mask : null);
    });
  }

  override ListDocuments(call: ServerUnaryCall<ListDocumentsRequest, ListDocumentsResponse>, callback: sendUnaryData<ListDocumentsResponse>): void {
    this.#unary(callback, () => {
      const req = call.request;
      let docs = this.#store.listDocuments(`${req.parent}/${req.collection_id}`, req.show_missing);
      if (req.page_token) docs = docs.filter((d) => d.name > req.page_token);
      const pageSize = req.page_size > 0 ? req.page_size : docs.length;
      const page = docs.slice(0, pageSize);
      return new ListDocumentsResponse({
        documents: page.map((d) => ('missing' in d ? new Document({ name: d.name }) : toProtoDocument(d, req.has_mask ? req.mask : null))),
        next_page_token: docs.length > pageSize ? (page[page.length - 1]?.name ?? '') : '',
      });
    });
  }

  override CreateDocument(call: ServerUnaryCall<CreateDocumentRequest, Document>, callback: sendUnaryData<Document>): void {
    this.#unary(callback, () => {
      const req = call.request;
      const id = req.document_id || randomBytes(15).toString('base64url').slice(0, 20);
      const name = `${req.parent}/${req.collection_id}/${id}`;
      const fields = fromProtoFields(req.document.fields);
      this.#commit([{ kind: 'update', name, fields, mask: null, transforms: [], precondition: { exists: false } }], null);
      return toProtoDocument(this.#stored(name), req.has_mask ? req.mask : null);
    });
  }

  override UpdateDocument(call: ServerUnaryCall<UpdateDocumentRequest, Document>, callback: sendUnaryData<Document>): void {
    this.#unary(callback, () => {
      const req = call.request;
      const name = req.document.name;
      this.#commit(
        [
          {
            kind: 'update',
            name,
            fields: fromProtoFields(req.document.fields),
            mask: req.has_update_mask ? req.update_mask.field_paths.map(parseFieldPath) : null,
            transforms: [],
            precondition: parsePrecondition(req.has_current_document, req.current_document),
          },
        ],
        null,
      );
      return toProtoDocument(this.#stored(name), req.has_mask ? req.mask : null);
    });
  }

  override DeleteDocument(call: ServerUnaryCall<DeleteDocumentRequest, Empty>, callback: sendUnaryData<Empty>): void {
    this.#unary(callback, () => {
      const req = call.request;
      const precondition = parsePrecondition(req.has_current_document, req.current_document);
      this.#commit([{ kind: 'delete', name: req.name, precondition }], null);
      return new Empty();
    });
  }

  override BatchGetDocuments(call: ServerWritableStream<BatchGetDocumentsRequest, BatchGetDocumentsResponse>): void {
    this.#stream(call, () => {
      const req = call.request;
      const { result, readTime, newTransaction } = this.#store.getDocuments(req.documents, consistencyOf(req));
      const mask = req.has_mask ? req.mask : null;
      const messages = result.map((doc, i) => {
        const res = new BatchGetDocumentsResponse();
        if (doc) res.found = toProtoDocument(doc, mask);
        else res.missing = req.documents[i] as string;
        res.read_time = microsToTimestamp(readTime);
        return res;
      });
      if (newTransaction) {
        const first = new BatchGetDocumentsResponse({ transaction: newTransaction });
        first.read_time = microsToTimestamp(readTime);
        messages.unshift(first);
      }
      return messages;
    });
  }

  override BeginTransaction(call: ServerUnaryCall<BeginTransactionRequest, BeginTransactionResponse>, callback: sendUnaryData<BeginTransactionResponse>): void {
    this.#unary(callback, () => {
      const options = readOptions(call.request.options);
      const readOnly = options.kind === 'new' && options.readOnly;
      const retryOf = options.kind === 'new' ? options.retryOf : null;
      return new BeginTransactionResponse({ transaction: this.#store.beginTransaction(readOnly, retryOf) });
    });
  }

  override Commit(call: ServerUnaryCall<CommitRequest, CommitResponse>, callback: sendUnaryData<CommitResponse>): void {
    if (this.#knobs.commitLatencyMs > 0) {
      const latency = this.#knobs.commitLatencyMs;
      setTimeout(() => this.#commitNow(call, callback), latency);
      return;
    }
    this.#commitNow(call, callback);
  }

  #commitNow(call: ServerUnaryCall<CommitRequest, CommitResponse>, callback: sendUnaryData<CommitResponse>): void {
    this.#unary(callback, () => {
      const req = call.request;
      const writes = req.writes.map(parseWrite);
      const { commitTime, results } = this.#commit(writes, req.transaction.length > 0 ? req.transaction : null);
      return new CommitResponse({ write_results: results, commit_time: microsToTimestamp(commitTime) });
    });
  }

  override Rollback(call: ServerUnaryCall<RollbackRequest, Empty>, callback: sendUnaryData<Empty>): void {
    this.#unary(callback, () => {
      this.#store.rollback(call.request.transaction);
      return new Empty();
    });
  }

  override RunQuery(call: ServerWritableStream<RunQueryRequest, RunQueryResponse>): void {
    this.#stream(call, () => {
      const req = call.request;
      if (!req.has_structured_query) throw new FirestoreError(Status.INVALID_ARGUMENT, 'A structured query is required.');
      if (req.has_explain_options) throw new FirestoreError(Status.UNIMPLEMENTED, 'Query explain is not supported by this emulator.');
      const query = parseQuery(req.parent, req.structured_query);
      const { result, readTime, newTransaction } = this.#store.runQuery(query, consistencyOf(req));
      const messages = result.map((doc) => {
        const res = new RunQueryResponse({ read_time: microsToTimestamp(readTime) });
        res.document = toProtoDocument(projectResult(query, doc));
        return res;
      });
      // The last message carries read_time (and the transaction if none came earlier).
      if (messages.length === 0) messages.push(new RunQueryResponse({ read_time: microsToTimestamp(readTime) }));
      if (newTransaction) (messages[0] as RunQueryResponse).transaction = newTransaction;
      return messages;
    });
  }

  override RunAggregationQuery(call: ServerWritableStream<RunAggregationQueryRequest, RunAggregationQueryResponse>): void {
    this.#stream(call, () => {
      const req = call.request;
      if (!req.has_structured_aggregation_query) {
        throw new FirestoreError(Status.INVALID_ARGUMENT, 'A structured aggregation query is required.');
      }
      if (req.has_explain_options) throw new FirestoreError(Status.UNIMPLEMENTED, 'Query explain is not supported by this emulator.');
      const agg = req.structured_aggregation_query;
      const query = parseQuery(req.parent, agg.structured_query);
      const { result: docs, readTime, newTransaction } = this.#store.runQuery(query, consistencyOf(req));
      const fields = new Map<string, Value>();
      for (const a of agg.aggregations) {
        fields.set(a.alias, toProtoValue(aggregate(a, docs)));
      }
      const res = new RunAggregationQueryResponse({
        result: new AggregationResult({ aggregate_fields: fields }),
        read_time: microsToTimestamp(readTime),
      });
      if (newTransaction) res.transaction = newTransaction;
      return [res];
    });
  }

  override BatchWrite(call: ServerUnaryCall<BatchWriteRequest, BatchWriteResponse>, callback: sendUnaryData<BatchWriteResponse>): void {
    // Not atomic, each write applied on its own (as Firestore's BatchWrite).
    this.#unary(callback, () => {
      const writeResults: WriteResult[] = [];
      const status: RpcStatus[] = [];
      for (const w of call.request.writes) {
        try {
          const { results } = this.#commit([parseWrite(w)], null);
          writeResults.push(results[0] as WriteResult);
          status.push(new RpcStatus({ code: 0 }));
        } catch (err) {
          const e = toGrpcError(err);
          writeResults.push(new WriteResult());
          status.push(new RpcStatus({ code: e.code, message: e.details }));
        }
      }
      return new BatchWriteResponse({ write_results: writeResults, status });
    });
  }

  override ListCollectionIds(
    call: ServerUnaryCall<ListCollectionIdsRequest, ListCollectionIdsResponse>,
    callback: sendUnaryData<ListCollectionIdsResponse>,
  ): void {
    this.#unary(callback, () => new ListCollectionIdsResponse({ collection_ids: this.#store.listCollectionIds(call.request.parent) }));
  }

  override Listen(call: ServerDuplexStream<ListenRequest, ListenResponse>): void {
    call.emit('error', unimplemented('Listen'));
  }

  override Write(call: ServerDuplexStream<WriteRequest, WriteResponse>): void {
    call.emit('error', unimplemented('Write'));
  }

  override PartitionQuery(_call: ServerUnaryCall<PartitionQueryRequest, PartitionQueryResponse>, callback: sendUnaryData<PartitionQueryResponse>): void {
    callback(unimplemented('PartitionQuery'), null);
  }
}

/** One aggregation over a query's result (count honours up_to; sum/avg as Firestore). */
function aggregate(a: StructuredAggregationQueryAggregation, docs: readonly StoredDocument[]): FsValue {
  switch (a.operator) {
    case 'count': {
      const upTo = a.count.has_up_to ? Number(a.count.up_to.value) : Infinity;
      return { kind: 'integer', value: Math.min(docs.length, upTo) };
    }
    case 'sum':
    case 'avg': {
      const path = parseFieldPath((a.operator === 'sum' ? a.sum : a.avg).field.field_path);
      const values = docs.map((d) => getField(d.fields, path)).filter(isNumber);
      if (a.operator === 'avg') {
        if (values.length === 0) return NULL;
        return { kind: 'double', value: values.reduce((s, v) => s + v.value, 0) / values.length };
      }
      const allIntegers = values.every((v) => v.kind === 'integer');
      const sum = values.reduce((s, v) => s + v.value, 0);
      return allIntegers && Number.isSafeInteger(sum) ? { kind: 'integer', value: sum } : { kind: 'double', value: sum };
    }
    default:
      throw new FirestoreError(Status.INVALID_ARGUMENT, 'Unknown aggregation.');
  }
}
