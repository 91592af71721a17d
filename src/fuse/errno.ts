/**
 * The FUSE boundary's only translation of errors to numbers: a POSIX-coded
 * H2Error becomes -errno, anything else is a bug and becomes -EIO (logged).
 */
import os from 'node:os';
import { isH2Error } from '../errors.js';
import * as log from '../log.js';

const ERRNO = os.constants.errno as Record<string, number>;

export function toErrno(e: unknown): number {
  if (isH2Error(e)) {
    if (e.isPosix) {
      const n = ERRNO[e.code];
      if (n !== undefined) return -n;
    }
    if (e.code === 'H2_STORE') {
      const cause = e.cause as NodeJS.ErrnoException | undefined;
      if (cause && /MDB_MAP_FULL|ENOSPC|No space/i.test(String(cause.message ?? cause))) return -(ERRNO.ENOSPC ?? 28);
    }
    log.error(`h2fs: ${e.code}: ${e.message}`);
    return -(ERRNO.EIO ?? 5);
  }
  log.error(`h2fs: internal error: ${(e as Error)?.stack ?? String(e)}`);
  return -(ERRNO.EIO ?? 5);
}
