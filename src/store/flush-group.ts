/**
 * The changes of the flush group being built: the latest staged state of each
 * logical key (a payload, or null for "delete"), not yet under any TID. The
 * live view reads through it; commit() turns it into one LMDB transaction.
 */
import { RECTYPE, type LogicalKey, type RecType } from './keys.js';
import type { Payload } from './record.js';

export interface StagedRecord {
  lk: LogicalKey;
  /** null = the record is deleted by this flush group. */
  payload: Payload | null;
  /** DATA records: the block; only the first `len` bytes are content. */
  data?: Buffer;
  /** `data` came from a BlockPool: the commit gives it back. */
  pooled?: boolean;
}

function objKey(pfs: number, objId: number): string {
  return `${pfs}:${objId}`;
}

function subKey(recType: RecType, key: bigint): string {
  return `${recType}:${key.toString(16)}`;
}

/** Keys are grouped by their high 48 bits: a name's hash slot (see namekey). */
function slotKey(pfs: number, objId: number, recType: RecType, key: bigint): string {
  return `${pfs}:${objId}:${recType}:${(key >> 16n).toString(16)}`;
}

export class FlushGroup {
  private readonly byObj = new Map<string, Map<string, StagedRecord>>();
  /** The same records by hash slot, so a name lookup in a big staged directory is not a scan of it. */
  private readonly bySlot = new Map<string, StagedRecord[]>();
  private count = 0;
  /** Bytes of block buffers held, for flushing early under memory pressure. */
  dataBytes = 0;

  get size(): number {
    return this.count;
  }

  get isEmpty(): boolean {
    return this.count === 0;
  }

  /** Stages `rec` over the key's earlier staged state, which it returns. */
  stage(rec: StagedRecord): StagedRecord | undefined {
    const ok = objKey(rec.lk.pfs, rec.lk.objId);
    let m = this.byObj.get(ok);
    if (!m) {
      m = new Map();
      this.byObj.set(ok, m);
    }
    const sk = subKey(rec.lk.recType, rec.lk.key);
    const prev = m.get(sk);
    if (prev?.data) this.dataBytes -= prev.data.length;
    else if (!prev) this.count++;
    if (rec.data) this.dataBytes += rec.data.length;
    m.set(sk, rec);
    if (rec.lk.recType !== RECTYPE.DATA) {
      const slk = slotKey(rec.lk.pfs, rec.lk.objId, rec.lk.recType, rec.lk.key);
      const list = this.bySlot.get(slk);
      if (!list) this.bySlot.set(slk, [rec]);
      else {
        const i = list.findIndex((r) => r.lk.key === rec.lk.key);
        if (i >= 0) list[i] = rec; else list.push(rec);
      }
    }
    return prev;
  }

  /** Account for a staged block buffer that was replaced by a bigger one. */
  adjustDataBytes(delta: number): void {
    this.dataBytes += delta;
  }

  get(lk: LogicalKey): StagedRecord | undefined {
    return this.byObj.get(objKey(lk.pfs, lk.objId))?.get(subKey(lk.recType, lk.key));
  }

  /** Staged records of one object (of one rec_type if given), in no particular order. */
  ofObject(pfs: number, objId: number, recType?: RecType): StagedRecord[] {
    const m = this.byObj.get(objKey(pfs, objId));
    if (!m) return [];
    const out: StagedRecord[] = [];
    for (const r of m.values()) if (recType === undefined || r.lk.recType === recType) out.push(r);
    return out;
  }

  /** Staged records of one object and rec_type with from <= key <= to, in no particular order. */
  inRange(pfs: number, objId: number, recType: RecType, from: bigint, to: bigint): StagedRecord[] {
    if (recType !== RECTYPE.DATA && from >> 16n === to >> 16n) {
      return (this.bySlot.get(slotKey(pfs, objId, recType, from)) ?? []).filter((r) => r.lk.key >= from && r.lk.key <= to);
    }
    return this.ofObject(pfs, objId, recType).filter((r) => r.lk.key >= from && r.lk.key <= to);
  }

  hasObject(pfs: number, objId: number): boolean {
    return this.byObj.has(objKey(pfs, objId));
  }

  *all(): IterableIterator<StagedRecord> {
    for (const m of this.byObj.values()) yield* m.values();
  }

  /** Moves every staged record into a new group (handed to a commit) and leaves this one empty. */
  seal(): FlushGroup {
    const g = new FlushGroup();
    for (const [k, m] of this.byObj) g.byObj.set(k, m);
    for (const [k, l] of this.bySlot) g.bySlot.set(k, l);
    g.count = this.count;
    g.dataBytes = this.dataBytes;
    this.clear();
    return g;
  }

  clear(): void {
    this.byObj.clear();
    this.bySlot.clear();
    this.count = 0;
    this.dataBytes = 0;
  }
}
