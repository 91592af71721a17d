/**
 * pfs-master, pfs-slave, pfs-status, pfs-update, pfs-upgrade, pfs-downgrade,
 * pfs-destroy: HAMMER's PFS commands, run by the mount daemon.
 */
import { H2Error } from '../../errors.js';
import { controlCall } from '../../control/client.js';
import { parsePfsOptions, type PfsOptions, type PfsStatus } from '../../vfs/index.js';
import { parseCommandArgs, requirePositionals } from '../args.js';
import { pathInMount } from '../target.js';
import { askTty } from '../tty.js';
import type { Command, CommandContext } from '../context.js';

/** A control call whose errors read `<cmd>: <path>: <why>`. */
async function call<T>(cmd: string, p: string, op: string, args: Record<string, unknown>): Promise<T> {
  const { store, inner } = pathInMount(cmd, p);
  try {
    return await controlCall<T>(store, op, { path: inner, ...args });
  } catch (e) {
    if (e instanceof H2Error && e.code !== 'H2_NOT_MOUNTED') {
      throw new H2Error(e.code, `${cmd}: ${p}: ${e.message}`, e.hint ? { hint: e.hint } : {});
    }
    throw e;
  }
}

export function formatPfsStatus(p: string, s: PfsStatus): string {
  return `${p}\tPFS#${s.pfs} {\n` +
    `    sync-beg-tid=${s.syncBegTid}\n` +
    `    sync-end-tid=${s.syncEndTid}\n` +
    `    shared-uuid=${s.sharedUuid}\n` +
    `    unique-uuid=${s.uniqueUuid}\n` +
    `    label="${s.label}"\n` +
    `    operating as a ${s.mode === 'slave' ? 'SLAVE' : 'MASTER'}\n` +
    '}\n';
}

function printStatus(ctx: CommandContext, p: string, s: PfsStatus): void {
  ctx.stdout.write(ctx.global.json ? JSON.stringify({ path: p, ...s }) + '\n' : formatPfsStatus(p, s));
}

function createCommand(name: 'pfs-master' | 'pfs-slave'): Command {
  const usage = name === 'pfs-master' ? 'pfs-master PATH [key=value...]' : 'pfs-slave PATH shared-uuid=UUID [key=value...]';
  return {
    name,
    usage,
    summary: name === 'pfs-master' ? 'create a master PFS and its link at PATH' : 'create a slave PFS and its link at PATH',
    async run(ctx) {
      const { positionals } = parseCommandArgs(name, ctx.args, {}, usage);
      requirePositionals(name, positionals, 1, Infinity, usage);
      const p = positionals[0]!;
      const opts: PfsOptions = parsePfsOptions(positionals.slice(1));
      const s = await call<PfsStatus>(name, p, 'pfs-create', { mode: name === 'pfs-master' ? 'master' : 'slave', opts });
      if (!ctx.global.json) ctx.stdout.write(`Creating PFS#${s.pfs}\tsucceeded!\n`);
      printStatus(ctx, p, s);
      return 0;
    },
  };
}

export const pfsMaster = createCommand('pfs-master');
export const pfsSlave = createCommand('pfs-slave');

export const pfsStatus: Command = {
  name: 'pfs-status',
  usage: 'pfs-status [PATH...]',
  summary: 'show the PFS header of each PATH (default: .)',
  async run(ctx) {
    const { positionals } = parseCommandArgs('pfs-status', ctx.args, {}, this.usage);
    let failed = 0;
    for (const p of positionals.length ? positionals : ['.']) {
      try {
        printStatus(ctx, p, await call<PfsStatus>('pfs-status', p, 'pfs-status', {}));
      } catch (e) {
        if (positionals.length <= 1) throw e;
        ctx.stderr.write(`h2fs: ${(e as Error).message}\n`);
        failed++;
      }
    }
    return failed ? 1 : 0;
  },
};

export const pfsUpdate: Command = {
  name: 'pfs-update',
  usage: 'pfs-update PATH key=value...',
  summary: 'change label, shared-uuid, unique-uuid, sync-beg-tid or sync-end-tid',
  async run(ctx) {
    const { positionals } = parseCommandArgs('pfs-update', ctx.args, {}, this.usage);
    requirePositionals('pfs-update', positionals, 2, Infinity, this.usage);
    const p = positionals[0]!;
    const opts = parsePfsOptions(positionals.slice(1));
    const r = await call<{ status: PfsStatus; warnings: string[] }>('pfs-update', p, 'pfs-update', { opts });
    for (const w of r.warnings) ctx.stderr.write(`h2fs: warning: ${w}\n`);
    printStatus(ctx, p, r.status);
    return 0;
  },
};

export const pfsUpgrade: Command = {
  name: 'pfs-upgrade',
  usage: 'pfs-upgrade PATH',
  summary: 'turn a slave into a master, dropping what is newer than its sync-end-tid',
  async run(ctx) {
    const { positionals } = parseCommandArgs('pfs-upgrade', ctx.args, {}, this.usage);
    requirePositionals('pfs-upgrade', positionals, 1, 1, this.usage);
    const r = await call<{ status: PfsStatus; rolledBackTo: string; dropped: number; undeleted: number }>(
      'pfs-upgrade', positionals[0]!, 'pfs-upgrade', {});
    ctx.stdout.write(`pfs-upgrade of PFS#${r.status.pfs} (${r.status.label}) succeeded` +
      ` (${r.dropped} records after ${r.rolledBackTo} dropped, ${r.undeleted} undeleted)\n`);
    return 0;
  },
};

export const pfsDowngrade: Command = {
  name: 'pfs-downgrade',
  usage: 'pfs-downgrade PATH',
  summary: 'turn a master into a read-only slave at its last committed TID',
  async run(ctx) {
    const { positionals } = parseCommandArgs('pfs-downgrade', ctx.args, {}, this.usage);
    requirePositionals('pfs-downgrade', positionals, 1, 1, this.usage);
    const s = await call<PfsStatus>('pfs-downgrade', positionals[0]!, 'pfs-downgrade', {});
    ctx.stdout.write(`pfs-downgrade of PFS#${s.pfs} (${s.label}) succeeded, locked at ${s.syncEndTid}\n`);
    return 0;
  },
};

export const pfsDestroy: Command = {
  name: 'pfs-destroy',
  usage: 'pfs-destroy PATH',
  summary: 'destroy a PFS: every record of it, and its link',
  async run(ctx) {
    const { positionals } = parseCommandArgs('pfs-destroy', ctx.args, {}, this.usage);
    requirePositionals('pfs-destroy', positionals, 1, 1, this.usage);
    const p = positionals[0]!;
    const s = await call<PfsStatus>('pfs-destroy', p, 'pfs-status', {});
    if (!ctx.global.yes) {
      const first = askTty(`You have requested that PFS#${s.pfs} (${s.label}) be destroyed\n` +
        'This will irrevocably destroy all data on this PFS!!!!!\nDo you really want to do this? [y/n] ');
      if (first === undefined) {
        throw new H2Error('H2_USAGE', `pfs-destroy: no terminal to confirm on; refusing to destroy PFS#${s.pfs}`,
          { hint: 'h2fs -y pfs-destroy PATH answers yes' });
      }
      const second = first && s.mode === 'master'
        ? askTty('This PFS is currently setup as a MASTER!\nAre you absolutely sure you want to destroy it? [y/n] ')
        : first;
      if (!second) {
        ctx.stderr.write(`h2fs: pfs-destroy: PFS#${s.pfs} left as it was\n`);
        return 1;
      }
    }
    const r = await call<{ removed: number }>('pfs-destroy', p, 'pfs-destroy', {});
    ctx.stdout.write(`pfs-destroy of PFS#${s.pfs} (${s.label}) succeeded (${r.removed} records removed)\n`);
    return 0;
  },
};
