/**
 * A stream is input: every record it carries is checked for the shape its
 * rec_type requires before it can reach a slave's store.
 */
import { H2Error } from '../errors.js';
import { RECTYPE, type RecType } from '../store/keys.js';
import type { Payload } from '../store/record.js';

function fail(what: string): never {
  throw new H2Error('H2_PROTOCOL', `invalid record in stream: ${what}`);
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !Buffer.isBuffer(x);
}

function nat(o: Record<string, unknown>, k: string, what: string, max = Number.MAX_SAFE_INTEGER): void {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) fail(`${what}.${k} is not a valid number`);
}

/** The largest data block a record may carry (the filesystem's block size). */
export const MAX_DATA_LEN = 64 * 1024;

const REC_TYPES = new Set<number>([RECTYPE.INODE, RECTYPE.DIRENTRY, RECTYPE.DATA, RECTYPE.SYMLINK, RECTYPE.XATTR]);

/** Checks the identity of a mirrored record (REC or DEL). */
export function validateKey(objId: number, recType: number, key: bigint): RecType {
  if (!REC_TYPES.has(recType)) fail(`rec_type ${recType} cannot be mirrored`);
  if (objId < 1) fail(`obj_id ${objId}`);
  if (key < 0n || key > 0xffffffffffffffffn) fail('key out of range');
  return recType as RecType;
}

/** Checks a mirrored record's payload; returns it typed for the store. */
export function validateRecord(objId: number, recType: number, key: bigint, payload: unknown, data: Buffer): {
  recType: RecType; payload: Payload;
} {
  validateKey(objId, recType, key);
  if (!isObj(payload) || payload.v !== 1) fail(`payload of obj ${objId} is not a v1 object`);
  switch (recType) {
    case RECTYPE.INODE:
      for (const k of ['objType', 'mode', 'uid', 'gid', 'size', 'nlink', 'rdev', 'atime', 'mtime', 'ctime']) nat(payload, k, 'inode');
      nat(payload, 'objType', 'inode', 7);
      if (key !== 0n) fail('inode key must be 0');
      break;
    case RECTYPE.DIRENTRY:
      if (typeof payload.name !== 'string' || payload.name === '' || payload.name === '.' || payload.name === '..'
        || /[/\0]/.test(payload.name) || payload.name.includes('@@') || Buffer.byteLength(payload.name) > 255) {
        fail(`dirent name ${JSON.stringify(String(payload.name)).slice(0, 80)}`);
      }
      nat(payload, 'objId', 'dirent');
      nat(payload, 'objType', 'dirent', 7);
      break;
    case RECTYPE.DATA:
      nat(payload, 'len', 'data', MAX_DATA_LEN);
      if (payload.len !== data.length) fail(`data length ${data.length} does not match its record (${String(payload.len)})`);
      break;
    case RECTYPE.SYMLINK:
      if (typeof payload.target !== 'string') fail('symlink target');
      break;
    default:
      if (typeof payload.name !== 'string' || !Buffer.isBuffer(payload.value)) fail('xattr');
  }
  if (recType !== RECTYPE.DATA && data.length !== 0) fail('data bytes on a record that has none');
  return { recType: recType as RecType, payload: payload as Payload };
}
