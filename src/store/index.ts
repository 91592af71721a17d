export { Store, STORE_FORMAT, type RecordView, type CommitResult, type StoreInfo, type StoreMeta, type MirrorEvent,
  type MirrorOp } from './store.js';
export type { ReadTxn } from './lmdb.js';
export { RECTYPE, RECTYPE_NAME, type LogicalKey, type RecType } from './keys.js';
export { OBJTYPE, visibleAt, type ObjType, type InodePayload, type DirentPayload, type SymlinkPayload,
  type XattrPayload, type DataPayload, type Payload, type StoredRecord } from './record.js';
export type { StagedRecord } from './flush-group.js';
export { PFS_MAX, checkUuid, newPfsHeader, parsePfsLinkTarget, pfsHeaderKey, pfsLinkTarget, type PfsHeader,
  type PfsMode } from './pfs.js';
