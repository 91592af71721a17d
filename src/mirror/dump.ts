/** mirror-dump: one line per frame, HAMMER-like. */
import { formatTid } from '../tid.js';
import { RECTYPE_NAME } from '../store/keys.js';
import { MREC, type Frame } from './frame.js';

const hex16 = (n: number | bigint): string => BigInt(n).toString(16).padStart(16, '0');

export function formatFrame(f: Frame): string {
  switch (f.type) {
    case MREC.HELLO:
      return `HELLO  version=${f.msg.version} shared-uuid=${f.msg.sharedUuid} unique-uuid=${f.msg.uniqueUuid} ` +
        `label="${f.msg.label}" beg-tid=${formatTid(f.msg.begTid)} ${f.msg.twoWay ? 'two-way' : 'one-way'}`;
    case MREC.TARGET:
      return `TARGET version=${f.msg.version} shared-uuid=${f.msg.sharedUuid} sync-end-tid=${formatTid(f.msg.syncEndTid)}`;
    case MREC.BATCH:
      return `BATCH  ${formatTid(f.msg.begTid)} < tid <= ${formatTid(f.msg.endTid)}`;
    case MREC.REC:
      return `REC    obj=${hex16(f.msg.objId)} rt=${RECTYPE_NAME[f.msg.recType] ?? f.msg.recType} key=${hex16(f.msg.key)} ` +
        `tids ${formatTid(f.msg.createTid)}:${formatTid(0n)} data=${f.data.length}`;
    case MREC.PATCH:
      return `PATCH  obj=${hex16(f.msg.objId)} rt=${RECTYPE_NAME[f.msg.recType] ?? f.msg.recType} key=${hex16(f.msg.key)} ` +
        `tids ${formatTid(f.msg.createTid)}:${formatTid(0n)} base=${formatTid(f.msg.baseTid)} off=${f.msg.off} data=${f.data.length}`;
    case MREC.DEL:
      return `DEL    obj=${hex16(f.msg.objId)} rt=${RECTYPE_NAME[f.msg.recType] ?? f.msg.recType} key=${hex16(f.msg.key)} ` +
        `tids ${formatTid(f.msg.createTid)}:${formatTid(f.msg.deleteTid)}`;
    case MREC.SYNC:
      return `SYNC   ${formatTid(f.msg.tid)} records=${f.msg.count}`;
    case MREC.ACK:
      return `ACK    ${formatTid(f.msg.tid)}`;
    case MREC.TERM:
      return `TERM   ${formatTid(f.msg.endTid)}`;
    default:
      return `ERROR  ${f.msg.code}: ${f.msg.message}`;
  }
}
