/** h2fs synctid PATH: commit now and print the TID of the durable state. */
import { formatTid } from '../../tid.js';
import { controlCall } from '../../control/client.js';
import { parseCommandArgs, requirePositionals } from '../args.js';
import { resolveTarget } from '../target.js';
import type { Command } from '../context.js';

const usage = 'synctid PATH';

export const synctid: Command = {
  name: 'synctid',
  usage,
  summary: 'commit the flush group, wait until durable, print its TID',
  async run(ctx) {
    const { positionals } = parseCommandArgs('synctid', ctx.args, {}, usage);
    requirePositionals('synctid', positionals, 1, 1, usage);
    const t = resolveTarget('synctid', positionals[0]!);
    let tid: string;
    if (t.kind === 'mount') {
      tid = await controlCall<string>(t.store, 'synctid');
    } else {
      const { Store } = await import('../../store/index.js');
      const store = Store.open(t.store);
      tid = formatTid(store.lastTid);
      await store.close();
    }
    ctx.stdout.write(tid + '\n');
    return 0;
  },
};
