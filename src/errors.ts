/**
 * One error class for all of h2fs. POSIX conditions carry their errno name as
 * the code (mapped to -errno at the FUSE boundary); domain failures carry an
 * H2_* code (mapped to a one-line message and an exit status at the CLI).
 */
export type PosixCode =
  | 'ENOENT' | 'EEXIST' | 'ENOTDIR' | 'EISDIR' | 'ENOTEMPTY' | 'EROFS' | 'EINVAL'
  | 'ENAMETOOLONG' | 'EXDEV' | 'ENOSPC' | 'EBADF' | 'EPERM' | 'EACCES' | 'ENODATA'
  | 'ERANGE' | 'EFBIG' | 'EOPNOTSUPP' | 'EMLINK' | 'ELOOP' | 'EBUSY' | 'EIO';

export type DomainCode =
  | 'H2_USAGE' | 'H2_BAD_TID' | 'H2_STORE' | 'H2_NOT_MOUNTED' | 'H2_BUSY'
  | 'H2_CONTROL' | 'H2_CONTROL_CLOSED' | 'H2_MOUNT' | 'H2_NOT_PFS' | 'H2_PFS_STATE'
  | 'H2_BAD_MRECORD' | 'H2_PROTOCOL' | 'H2_SHARED_UUID_MISMATCH' | 'H2_NOT_SLAVE' | 'H2_VERSION' | 'H2_TRANSPORT'
  | 'H2_HOSTKEY' | 'H2_AUTH';

export type H2Code = PosixCode | DomainCode;

export interface H2ErrorOptions {
  hint?: string;
  cause?: unknown;
}

export class H2Error extends Error {
  readonly code: H2Code;
  readonly hint: string | undefined;

  constructor(code: H2Code, message: string, opts: H2ErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.hint = opts.hint;
  }

  override get name(): string {
    return 'H2Error';
  }

  /** True for codes that name a POSIX errno. */
  get isPosix(): boolean {
    return !this.code.startsWith('H2_');
  }

  /**
   * An errno answer (ENOENT for every negative lookup, EEXIST, ...): an
   * expected outcome on the FUSE hot path, so no stack trace is captured
   * (that was a third of a failed lookup's time).
   */
  static posix(code: PosixCode, message: string = code): H2Error {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new H2Error(code, message);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  static usage(message: string, code: 'H2_USAGE' | 'H2_BAD_TID' = 'H2_USAGE', hint?: string): H2Error {
    const e = new H2Error(code, message, hint === undefined ? {} : { hint });
    Error.captureStackTrace(e, H2Error.usage);
    return e;
  }

  static store(message: string, cause?: unknown): H2Error {
    const e = new H2Error('H2_STORE', message, { cause });
    Error.captureStackTrace(e, H2Error.store);
    return e;
  }
}

export function isH2Error(e: unknown): e is H2Error {
  return e instanceof H2Error;
}

export function isErrnoException(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string';
}
