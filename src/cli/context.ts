/** What every command receives: its arguments, the global options and the output streams. */
import type { Writable } from 'node:stream';

export interface GlobalOptions {
  verbose: number;
  yes: boolean;
  /** -2: mirror-read/mirror-write talk both ways over stdin/stdout. */
  twoWay: boolean;
  json: boolean;
  bandwidth?: number;
  interval?: number;
}

export interface CommandContext {
  args: string[];
  global: GlobalOptions;
  stdout: Writable;
  stderr: Writable;
  /** argv[0..1] to re-run this h2fs (for the background mount daemon). */
  self: string[];
}

export interface Command {
  name: string;
  usage: string;
  summary: string;
  run(ctx: CommandContext): Promise<number>;
}
