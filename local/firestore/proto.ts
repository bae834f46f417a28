/**
 * The generated google.firestore.v1 message classes shipped by
 * `@firestore-emulator/proto` (the proto loading `@firestore-emulator/server` uses), in
 * one place. The packages have no exports map, so their CommonJS files are imported by
 * full path. Each file is a separate bundle with its own copies of the messages it
 * depends on; messages are duck-typed when serialized, so mixing them is fine.
 */
export { FirestoreServiceV1Impl } from '@firestore-emulator/server/dist/server/FirestoreServiceV1Impl/index.js';
export { FirestoreState } from '@firestore-emulator/server/dist/FirestoreState/index.js';
export { ArrayValue, Document, MapValue, Value } from '@firestore-emulator/proto/dist/google/firestore/v1/document.js';
export {
  BatchGetDocumentsResponse,
  BatchWriteResponse,
  BeginTransactionResponse,
  CommitResponse,
  ListCollectionIdsResponse,
  ListDocumentsResponse,
  RunAggregationQueryResponse,
  RunQueryResponse,
} from '@firestore-emulator/proto/dist/google/firestore/v1/firestore.js';
export type {
  BatchGetDocumentsRequest,
  BatchWriteRequest,
  BeginTransactionRequest,
  CommitRequest,
  CreateDocumentRequest,
  DeleteDocumentRequest,
  GetDocumentRequest,
  ListCollectionIdsRequest,
  ListDocumentsRequest,
  ListenRequest,
  ListenResponse,
  PartitionQueryRequest,
  PartitionQueryResponse,
  RollbackRequest,
  RunAggregationQueryRequest,
  RunQueryRequest,
  UpdateDocumentRequest,
  WriteRequest,
  WriteResponse,
} from '@firestore-emulator/proto/dist/google/firestore/v1/firestore.js';
export type { DocumentMask, Precondition, TransactionOptions } from '@firestore-emulator/proto/dist/google/firestore/v1/common.js';
export { WriteResult, type DocumentTransformFieldTransform, type Write } from '@firestore-emulator/proto/dist/google/firestore/v1/write.js';
export type {
  Cursor,
  StructuredAggregationQuery,
  StructuredAggregationQueryAggregation,
  StructuredQuery,
  StructuredQueryFilter,
} from '@firestore-emulator/proto/dist/google/firestore/v1/query.js';
export { AggregationResult } from '@firestore-emulator/proto/dist/google/firestore/v1/aggregation_result.js';
export { Timestamp } from '@firestore-emulator/proto/dist/google/protobuf/timestamp.js';
export { Empty } from '@firestore-emulator/proto/dist/google/protobuf/empty.js';
export { LatLng } from '@firestore-emulator/proto/dist/google/type/latlng.js';
export { Status } from '@firestore-emulator/proto/dist/google/rpc/status.js';
