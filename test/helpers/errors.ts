/** The H2Error code a call throws ('no error' if it returns); other errors propagate. */
import { H2Error } from '../../src/errors.js';

export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof H2Error) return e.code;
    throw e;
  }
  return 'no error';
}
