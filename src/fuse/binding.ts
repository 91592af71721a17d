/**
 * Loads fuse-native with h2fs's patched native addon (vendor/fuse-native:
 * upstream passes atime twice to utimens, losing every mtime). node-gyp-build
 * reads FUSE_NATIVE_PREBUILD to find the addon, so it is set before the
 * first require. Loaded lazily: commands that do not mount never load libfuse.
 */
import { createRequire } from 'node:module';
import type FuseClass from 'fuse-native';
import * as log from '../log.js';
import { vendorDir } from '../vendor.js';

const require = createRequire(import.meta.url);
let loaded: typeof FuseClass | undefined;

export function loadFuseNative(): typeof FuseClass {
  if (loaded) return loaded;
  const vendor = vendorDir('fuse-native');
  if (vendor && !process.env.FUSE_NATIVE_PREBUILD) process.env.FUSE_NATIVE_PREBUILD = vendor;
  if (!vendor) log.error('h2fs: warning: patched fuse-native addon not found; utimensat will not set mtimes');
  loaded = require('fuse-native') as typeof FuseClass;
  return loaded;
}
