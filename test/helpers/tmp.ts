/** Fresh temporary directories and stores, removed after the test file. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../../src/store/index.js';
import { Vfs } from '../../src/vfs/index.js';

const made: string[] = [];

export function tmpDir(prefix = 'h2fs-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

export function removeTmpDirs(): void {
  while (made.length) fs.rmSync(made.pop()!, { recursive: true, force: true });
}

/** A new store with PFS 0's root directory committed. */
export function tmpStore(): Store {
  const store = Store.create(path.join(tmpDir(), 'store'));
  Vfs.initRoot(store, 0);
  store.commit();
  return store;
}
