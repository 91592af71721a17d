/**
 * h2fs [-v] [-q] [-y] [-b RATE] [-i SECONDS] [--json] COMMAND ARGS
 *
 * The composition root: global options, the dispatch table and the one place
 * that turns an error into `h2fs: <what>: <why>` and an exit status.
 */
import type { Writable } from 'node:stream';
import { H2Error, isH2Error } from '../errors.js';
import * as log from '../log.js';
import { parseSeconds, parseSize } from './args.js';
import { EXIT_FAILURE, EXIT_USAGE } from './exit-codes.js';
import type { Command, GlobalOptions } from './context.js';
/**
 * Command modules load on demand: the heavy ones (LMDB, FUSE, SSH) cost
 * 50-80 ms each to load, and `h2fs synctid` needs none of them.
 */
export const COMMANDS: ReadonlyArray<readonly [string, () => Promise<Command>]> = [
  ['newfs', async () => (await import('./commands/newfs.js')).newfs],
  ['mount', async () => (await import('./commands/mount.js')).mount],
  ['umount', async () => (await import('./commands/mount.js')).umount],
  ['synctid', async () => (await import('./commands/synctid.js')).synctid],
  ['history', async () => (await import('./commands/history.js')).history],
  ['info', async () => (await import('./commands/info.js')).info],
  ['pfs-master', async () => (await import('./commands/pfs.js')).pfsMaster],
  ['pfs-slave', async () => (await import('./commands/pfs.js')).pfsSlave],
  ['pfs-status', async () => (await import('./commands/pfs.js')).pfsStatus],
  ['pfs-update', async () => (await import('./commands/pfs.js')).pfsUpdate],
  ['pfs-upgrade', async () => (await import('./commands/pfs.js')).pfsUpgrade],
  ['pfs-downgrade', async () => (await import('./commands/pfs.js')).pfsDowngrade],
  ['pfs-destroy', async () => (await import('./commands/pfs.js')).pfsDestroy],
  ['mirror-read', async () => (await import('./commands/mirror-ends.js')).mirrorRead],
  ['mirror-read-stream', async () => (await import('./commands/mirror-ends.js')).mirrorReadStream],
  ['mirror-write', async () => (await import('./commands/mirror-ends.js')).mirrorWrite],
  ['mirror-dump', async () => (await import('./commands/mirror.js')).mirrorDump],
  ['mirror-copy', async () => (await import('./commands/mirror.js')).mirrorCopy],
  ['mirror-stream', async () => (await import('./commands/mirror-stream.js')).mirrorStream],
];

export const VERSION = '0.1.0';

export async function usageText(): Promise<string> {
  const commands = await Promise.all(COMMANDS.map(([, load]) => load()));
  const lines = commands.map((c) => `    h2fs ${c.usage}`);
  return 'usage: h2fs [-v] [-q] [-y] [-2] [-b RATE] [-i SECONDS] [--json] COMMAND ARGS\n' +
    'commands:\n' + lines.join('\n') + '\n' + 'see h2fs(8) for details\n';
}

export interface Stdio {
  stdout: Writable;
  stderr: Writable;
}

function parseGlobal(argv: string[]): { global: GlobalOptions; rest: string[]; help: boolean; version: boolean } {
  const global: GlobalOptions = { verbose: 0, yes: false, json: false, twoWay: false };
  let i = 0;
  let help = false;
  let version = false;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { i++; break; }
    if (!a.startsWith('-') || a === '-') break;
    if (a === '--json') global.json = true;
    else if (a === '--help' || a === '-h') help = true;
    else if (a === '--version') version = true;
    else if (/^-v+$/.test(a)) global.verbose += a.length - 1;
    else if (a === '-q') global.verbose -= 1;
    else if (a === '-y') global.yes = true;
    else if (a === '-2') global.twoWay = true;
    else if (a === '-b' || a === '-i') {
      const v = argv[++i];
      if (v === undefined) throw H2Error.usage(`option ${a} needs a value`);
      if (a === '-b') global.bandwidth = parseSize(v);
      else global.interval = parseSeconds(v);
    } else {
      throw H2Error.usage(`unknown option '${a}'`, 'H2_USAGE', 'run h2fs --help for the options');
    }
  }
  const rest = argv.slice(i);
  // --json reads naturally after the command too ("h2fs info --json /mnt").
  const filtered = rest.filter((a) => a !== '--json');
  if (filtered.length !== rest.length) global.json = true;
  return { global, rest: filtered, help, version };
}

/** Runs one h2fs command line; returns the exit status. Never throws. */
export async function run(argv: string[], stdio: Stdio, self: string[] = [process.execPath, process.argv[1] ?? 'h2fs']): Promise<number> {
  let cmdName = '';
  try {
    const { global, rest, help, version } = parseGlobal(argv);
    log.setLogLevel(global.verbose);
    if (version) {
      stdio.stdout.write(`h2fs ${VERSION}\n`);
      return 0;
    }
    if (help || rest.length === 0) {
      (help ? stdio.stdout : stdio.stderr).write(await usageText());
      return help ? 0 : EXIT_USAGE;
    }
    cmdName = rest[0]!;
    const load = COMMANDS.find(([name]) => name === cmdName)?.[1];
    if (!load) throw H2Error.usage(`unknown command '${cmdName}'`, 'H2_USAGE', 'run h2fs --help for the commands');
    const cmd = await load();
    return await cmd.run({ args: rest.slice(1), global, stdout: stdio.stdout, stderr: stdio.stderr, self });
  } catch (e) {
    return reportError(e, stdio.stderr);
  }
}

export function reportError(e: unknown, stderr: Writable): number {
  if (isH2Error(e)) {
    stderr.write(`h2fs: ${e.message}\n`);
    if (e.hint) stderr.write(`hint: ${e.hint}\n`);
    if (log.logLevel() >= 2 && e.stack) stderr.write(e.stack + '\n');
    return e.code === 'H2_USAGE' || e.code === 'H2_BAD_TID' ? EXIT_USAGE : EXIT_FAILURE;
  }
  const err = e as NodeJS.ErrnoException;
  stderr.write(`h2fs: internal error: ${err?.message ?? String(e)}\n`);
  if (log.logLevel() >= 1 && err?.stack) stderr.write(err.stack + '\n');
  return EXIT_FAILURE;
}
