/**
 * Record value encoding: 8 bytes of delete_tid (big-endian, 0 = live) followed
 * by the msgpack payload. Keeping delete_tid outside msgpack lets a delete be
 * stamped without decoding the payload. Records are self-contained (no shared
 * structures), so any value decodes on its own.
 */
import { Packr } from 'msgpackr';
import { H2Error } from '../errors.js';
import type { Tid } from '../tid.js';
import type { Payload } from './record.js';

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true });

export function encodePayload(p: Payload): Buffer {
  return packr.pack(p);
}

export function decodePayload<P = Payload>(b: Buffer): P {
  try {
    return packr.unpack(b) as P;
  } catch (e) {
    throw H2Error.store('undecodable record payload', e);
  }
}

export function encodeLeaf(deleteTid: Tid, payload: Payload): Buffer {
  const body = packr.pack(payload);
  const b = Buffer.allocUnsafe(8 + body.length);
  b.writeBigUInt64BE(deleteTid, 0);
  body.copy(b, 8);
  return b;
}

export function leafDeleteTid(leaf: Buffer): Tid {
  return leaf.readBigUInt64BE(0);
}

export function decodeLeaf<P = Payload>(leaf: Buffer): { deleteTid: Tid; payload: P } {
  return { deleteTid: leaf.readBigUInt64BE(0), payload: decodePayload<P>(leaf.subarray(8)) };
}

/** A copy of `leaf` with delete_tid set. */
export function stampDelete(leaf: Buffer, deleteTid: Tid): Buffer {
  const b = Buffer.from(leaf);
  b.writeBigUInt64BE(deleteTid, 0);
  return b;
}
