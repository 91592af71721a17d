/**
 * The only importer of 'lmdb'. One environment per store with four named
 * databases that commit together: records, data, tidindex and meta.
 */
import { open, type Database, type RootDatabase, type Transaction } from 'lmdb';
import fs from 'node:fs';
import path from 'node:path';
import { H2Error } from '../errors.js';
import { MapAdvice } from './map-advice.js';

export type BinDb = Database<Buffer, Buffer>;
/** A read transaction held across several calls (lmdb-js's `useReadTransaction`); end it with `done()`. */
export type ReadTxn = Transaction;

/**
 * A value read in `txn` without a copy of its own: valid until the next
 * read of this environment. (lmdb-js takes the transaction here as it
 * does for `get`; its typings leave the option out.)
 */
export function getFast(db: BinDb, key: Buffer, txn: ReadTxn): Buffer | undefined {
  const fast = db.getBinaryFast as (this: BinDb, id: Buffer, options: { transaction: ReadTxn }) => Buffer | undefined;
  const b = fast.call(db, key, { transaction: txn });
  // The reused buffer is bigger than the value: lmdb-js overrides its `length`, which copy() does not honour.
  return b?.subarray(0, b.length);
}

export interface LmdbEnv {
  root: RootDatabase<Buffer, Buffer>;
  records: BinDb;
  data: BinDb;
  tidindex: BinDb;
  meta: BinDb;
  dataFile: string;
  /** Readaround off for the mirror writer's scattered reads. */
  advice: MapAdvice;
}

/**
 * Meant as lmdb-js's "commit without waiting for the flush". Measured with
 * strace, a `transactionSync` still ends in one `fdatasync` of data.mdb
 * with or without it, and `flushed` then resolves at once; callers await
 * `flushed` anyway, so a commit that does not sync stays correct.
 */
export const NO_SYNC_FLUSH = 0x10000;

/** `adviceDepth`: another thread's `env.advice.depthBuffer`, to share its readaround holders. */
export function openLmdb(dir: string, opts: { readOnly?: boolean; adviceDepth?: SharedArrayBuffer } = {}): LmdbEnv {
  try {
    const root = open<Buffer, Buffer>({
      path: dir,
      encoding: 'binary',
      keyEncoding: 'binary',
      maxDbs: 8,
      compression: false,
      readOnly: opts.readOnly ?? false,
      // 64 GiB of address space; LMDB only uses what it needs.
      mapSize: 64 * 1024 * 1024 * 1024,
    });
    const sub = (name: string): BinDb =>
      root.openDB<Buffer, Buffer>(name, { encoding: 'binary', keyEncoding: 'binary', compression: false });
    const env: LmdbEnv = {
      root,
      records: sub('records'),
      data: sub('data'),
      tidindex: sub('tidindex'),
      meta: sub('meta'),
      dataFile: path.join(dir, 'data.mdb'),
      advice: new MapAdvice(path.join(dir, 'data.mdb'), opts.adviceDepth),
    };
    if (!opts.readOnly) {
      for (const f of ['data.mdb', 'lock.mdb']) {
        const p = path.join(dir, f);
        if (fs.existsSync(p)) fs.chmodSync(p, 0o600);
      }
    }
    return env;
  } catch (e) {
    throw H2Error.store(`cannot open store ${dir}: ${(e as Error).message}`, e);
  }
}

/** LMDB's page size in this environment (lmdb-js types `getStats()` as `{}`). */
export function pageSizeOf(env: LmdbEnv): number {
  const s = env.root.getStats() as { pageSize?: unknown };
  return typeof s.pageSize === 'number' ? s.pageSize : 4096;
}
