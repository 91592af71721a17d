/**
 * Loads fuse-native with h2fs's patched native addon (vendor/fuse-native:
 * upstream passes atime twice to utimens, losing every mtime). node-gyp-build
 * reads FUSE_NATIVE_PREBUILD to find the addon, so it is set before the
 * first require. Loaded lazily: commands that do not mount never load libfuse.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type FuseClass from 'fuse-native';
import * as log from '../log.js';

const require = createRequire(import.meta.url);
let loaded: typeof FuseClass | undefined;

/** vendor/fuse-native, found from dist/src/fuse or src/fuse. */
function vendorDir(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'vendor', 'fuse-native');
    if (fs.existsSync(path.join(candidate, 'prebuilds', `${process.platform}-${process.arch}`))) return candidate;
    dir = path.dirname(dir);
  }
  return undefined;
}

export function loadFuseNative(): typeof FuseClass {
  if (loaded) return loaded;
  const vendor = vendorDir();
  if (vendor && !process.env.FUSE_NATIVE_PREBUILD) process.env.FUSE_NATIVE_PREBUILD = vendor;
  if (!vendor) log.error('h2fs: warning: patched fuse-native addon not found; utimensat will not set mtimes');
  loaded = require('fuse-native') as typeof FuseClass;
  return loaded;
}
