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
import { newfs } from './commands/newfs.js';
import { mount, umount } from './commands/mount.js';
import { synctid } from './commands/synctid.js';
import { history } from './commands/history.js';
import { info } from './commands/info.js';
import { mirrorCopy, mirrorDump, mirrorRead, mirrorReadStream, mirrorWrite } from './commands/mirror.js';
import { mirrorStream } from './commands/mirror-stream.js';
import { pfsDestroy, pfsDowngrade, pfsMaster, pfsSlave, pfsStatus, pfsUpdate, pfsUpgrade } from './commands/pfs.js';

export const COMMANDS: readonly Command[] = [
  newfs, mount, umount, synctid, history, info,
  pfsMaster, pfsSlave, pfsStatus, pfsUpdate, pfsUpgrade, pfsDowngrade, pfsDestroy,
  mirrorRead, mirrorReadStream, mirrorWrite, mirrorDump, mirrorCopy, mirrorStream,
];

export const VERSION = '0.1.0';

export function usageText(): string {
  const lines = COMMANDS.map((c) => `    h2fs ${c.usage}`);
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
      (help ? stdio.stdout : stdio.stderr).write(usageText());
      return help ? 0 : EXIT_USAGE;
    }
    cmdName = rest[0]!;
    const cmd = COMMANDS.find((c) => c.name === cmdName);
    if (!cmd) throw H2Error.usage(`unknown command '${cmdName}'`, 'H2_USAGE', 'run h2fs --help for the commands');
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
