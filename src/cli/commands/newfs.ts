/** h2fs newfs STORE [label=NAME] */
import { H2Error } from '../../errors.js';
import { formatTid } from '../../tid.js';
import { Store } from '../../store/index.js';
import { Vfs } from '../../vfs/index.js';
import { parseCommandArgs, requirePositionals } from '../args.js';
import type { Command } from '../context.js';

const usage = 'newfs STORE [label=NAME]';

export const newfs: Command = {
  name: 'newfs',
  usage,
  summary: 'create an empty store (its root PFS holds an empty directory)',
  async run(ctx) {
    const { positionals } = parseCommandArgs('newfs', ctx.args, {}, usage);
    requirePositionals('newfs', positionals, 1, 2, usage);
    let label = '';
    if (positionals[1] !== undefined) {
      const m = /^label=(.*)$/.exec(positionals[1]);
      if (!m) throw H2Error.usage(`newfs: unknown option '${positionals[1]}'`, 'H2_USAGE', `usage: h2fs ${usage}`);
      label = m[1]!.replace(/^"(.*)"$/, '$1');
    }
    const store = Store.create(positionals[0]!, { label });
    Vfs.initRoot(store, 0);
    store.commit();
    await store.flushed();
    ctx.stdout.write(`Store ${store.dir} created\n` +
      `    store-uuid=${store.meta.uuid}\n    label="${label}"\n    first-tid=${formatTid(store.lastTid)}\n`);
    await store.close();
    return 0;
  },
};
