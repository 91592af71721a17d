/** Questions asked on the controlling terminal, never on stdin (which may carry a stream). */
import fs from 'node:fs';

/** Asks on /dev/tty: true for yes, false for no, undefined when there is no terminal. */
export function askTty(question: string): boolean | undefined {
  let fd: number;
  try {
    fd = fs.openSync('/dev/tty', 'r+');
  } catch {
    return undefined;
  }
  try {
    fs.writeSync(fd, question);
    const buf = Buffer.alloc(1);
    let answer = '';
    while (fs.readSync(fd, buf, 0, 1, null) === 1 && buf[0] !== 0x0a) answer += buf.toString('latin1');
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    fs.closeSync(fd);
  }
}

