/** Whether a directory holds an h2fs store, without loading LMDB (the CLI asks this often). */
import fs from 'node:fs';
import path from 'node:path';

export function isStoreDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'data.mdb'));
}
