/** h2fs info PATH|STORE: size, record count, TID range, mount state. */
import { formatTid } from '../../tid.js';
import { Store, type StoreInfo } from '../../store/index.js';
import { controlCall } from '../../control/client.js';
import { parseCommandArgs, requirePositionals } from '../args.js';
import { resolveTarget } from '../target.js';
import type { Command } from '../context.js';

const usage = 'info PATH|STORE';

type Info = Omit<StoreInfo, 'firstTid' | 'lastTid'> & {
  firstTid: string; lastTid: string; mountpoint?: string; pid?: number; pendingRecords?: number; openFiles?: number;
};

export const info: Command = {
  name: 'info',
  usage,
  summary: 'show a store: size, records, TID range, mount state',
  async run(ctx) {
    const { positionals } = parseCommandArgs('info', ctx.args, {}, usage);
    requirePositionals('info', positionals, 1, 1, usage);
    const t = resolveTarget('info', positionals[0]!);
    let i: Info;
    if (t.kind === 'mount') {
      i = await controlCall<Info>(t.store, 'info');
    } else {
      const store = Store.open(t.store, { readOnly: true });
      const raw = store.info();
      await store.close();
      i = { ...raw, firstTid: formatTid(raw.firstTid), lastTid: formatTid(raw.lastTid) };
    }
    if (ctx.global.json) {
      ctx.stdout.write(JSON.stringify({ ...i, mounted: i.mountpoint !== undefined }) + '\n');
      return 0;
    }
    const lines = [
      `store ${i.path} {`,
      `    store-uuid=${i.uuid}`,
      `    label="${i.label}"`,
      `    size=${i.bytes}`,
      `    records=${i.records}`,
      `    first-tid=${i.firstTid}`,
      `    last-tid=${i.lastTid}`,
      i.mountpoint !== undefined
        ? `    mounted on ${i.mountpoint} (pid ${i.pid}, ${i.pendingRecords} staged records, ${i.openFiles} open files)`
        : '    not mounted',
      '}',
    ];
    ctx.stdout.write(lines.join('\n') + '\n');
    return 0;
  },
};
