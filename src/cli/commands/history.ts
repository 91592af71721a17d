/** h2fs history PATH...: the TIDs at which each object changed. */
import { H2Error } from '../../errors.js';
import { parseTid, tidToDate } from '../../tid.js';
import { controlCall } from '../../control/client.js';
import { parseCommandArgs, requirePositionals } from '../args.js';
import { resolveTarget } from '../target.js';
import type { Command } from '../context.js';

const usage = 'history PATH...';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** HAMMER's history date form, dd-Mon-YYYY HH:MM:SS, in local time. */
export function formatHistoryDate(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getDate())}-${MONTHS[d.getMonth()]}-${d.getFullYear()} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

interface HistoryResult {
  objId: number;
  dirty: boolean;
  tids: string[];
}

export const history: Command = {
  name: 'history',
  usage,
  summary: 'list the TIDs at which each file changed',
  async run(ctx) {
    const { positionals } = parseCommandArgs('history', ctx.args, {}, usage);
    requirePositionals('history', positionals, 1, Infinity, usage);
    let failed = 0;
    for (const p of positionals) {
      const t = resolveTarget('history', p);
      if (t.kind !== 'mount') {
        throw new H2Error('H2_NOT_MOUNTED', `history: ${p}: the store is not mounted`, { hint: 'mount it and give a path inside the mount' });
      }
      let r: HistoryResult;
      try {
        r = await controlCall<HistoryResult>(t.store, 'history', { path: t.inner });
      } catch (e) {
        if (e instanceof H2Error && e.code === 'ENOENT') {
          ctx.stderr.write(`h2fs: history: ${p}: no such file or directory\n`);
          failed++;
          continue;
        }
        throw e;
      }
      if (ctx.global.json) {
        ctx.stdout.write(JSON.stringify({ path: p, ...r }) + '\n');
        continue;
      }
      let out = `${p}\t${r.objId.toString(16).padStart(16, '0')} ${r.dirty ? 'dirty' : 'clean'} {\n`;
      for (const tid of r.tids) out += `    ${tid} ${formatHistoryDate(tidToDate(parseTid(tid)))}\n`;
      out += '}\n';
      ctx.stdout.write(out);
    }
    return failed ? 1 : 0;
  },
};
