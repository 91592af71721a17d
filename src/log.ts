/**
 * Diagnostics go to stderr only: stdout carries data (TIDs, reports, later the
 * mirror stream) and must never be polluted.
 */
export type LogLevel = -1 | 0 | 1 | 2 | 3;

let level: LogLevel = 0;

export function setLogLevel(l: number): void {
  level = Math.max(-1, Math.min(3, l)) as LogLevel;
}

export function logLevel(): LogLevel {
  return level;
}

function write(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : text + '\n');
}

/** Shown unless -q. */
export function info(text: string): void {
  if (level >= 0) write(text);
}

/** Shown with -v. */
export function verbose(text: string): void {
  if (level >= 1) write(text);
}

/** Shown with -vv. */
export function debug(text: string): void {
  if (level >= 2) write(text);
}

/** Always shown. */
export function error(text: string): void {
  write(text);
}
