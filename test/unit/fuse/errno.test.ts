import { expect } from 'chai';
import { H2Error } from '../../../src/errors.js';
import { toErrno } from '../../../src/fuse/errno.js';

/** Runs fn with process.stderr.write captured; returns what was written. */
function captureStderr(fn: () => void): string {
  const orig = process.stderr.write;
  let text = '';
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = orig;
  }
  return text;
}

describe('fuse/errno toErrno', () => {
  it('maps POSIX-coded H2Errors to -errno', () => {
    expect(toErrno(H2Error.posix('ENOENT'))).to.equal(-2);
    expect(toErrno(H2Error.posix('EROFS'))).to.equal(-30);
    expect(toErrno(H2Error.posix('ENOTEMPTY'))).to.equal(-39);
    expect(toErrno(new H2Error('EEXIST', 'x'))).to.equal(-17);
    expect(toErrno(H2Error.posix('ENODATA'))).to.equal(-61);
    expect(toErrno(H2Error.posix('ENAMETOOLONG'))).to.equal(-36);
  });

  it('maps a plain Error and domain H2Errors to -EIO, and logs them', () => {
    let n = 0;
    const logged = captureStderr(() => {
      n = toErrno(new Error('boom'));
    });
    expect(n).to.equal(-5);
    expect(logged).to.include('internal error');
    expect(logged).to.include('boom');
    let m = 0;
    const logged2 = captureStderr(() => {
      m = toErrno(new H2Error('H2_BUSY', 'busy'));
    });
    expect(m).to.equal(-5);
    expect(logged2).to.include('H2_BUSY');
    let k = 0;
    captureStderr(() => {
      k = toErrno('not even an error');
    });
    expect(k).to.equal(-5);
  });

  it('maps a store error caused by a full map to -ENOSPC', () => {
    let n = 0;
    captureStderr(() => {
      n = toErrno(H2Error.store('commit failed', new Error('MDB_MAP_FULL: Environment mapsize limit reached')));
    });
    expect(n).to.equal(-28);
  });
});
