// A continuous write load for crash tests: files whose content is a pattern
// ("<file>:<line>\n" for consecutive lines) written in whole-line chunks,
// plus renames and deletes. Runs until killed or the mount goes away.
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
fs.mkdirSync(dir, { recursive: true });
let i = 0;
for (;;) {
  const name = path.join(dir, `f${i}`);
  try {
    const fd = fs.openSync(name, 'w');
    let line = 0;
    const chunks = 1 + (i % 7);
    for (let c = 0; c < chunks; c++) {
      let s = '';
      while (s.length < 3000) s += `${i}:${line++}\n`;
      fs.writeSync(fd, s);
    }
    fs.closeSync(fd);
    if (i % 5 === 4) fs.renameSync(path.join(dir, `f${i - 1}`), path.join(dir, `r${i - 1}`));
    if (i % 9 === 8) fs.unlinkSync(path.join(dir, `f${i - 2}`));
  } catch {
    process.exit(0);
  }
  i++;
}
