/**
 * h2fs's own native addons live in vendor/<name>/prebuilds/<platform>-<arch>,
 * committed, so nothing compiles at install time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** vendor/<name> holding a prebuild for this platform, found from dist/src or src. */
export function vendorDir(name: string): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'vendor', name);
    if (fs.existsSync(path.join(candidate, 'prebuilds', `${process.platform}-${process.arch}`))) return candidate;
    dir = path.dirname(dir);
  }
  return undefined;
}

/** The prebuilt addon file vendor/<name>/prebuilds/<platform>-<arch>/<file>, if there is one. */
export function vendorAddon(name: string, file: string): string | undefined {
  const dir = vendorDir(name);
  const p = dir && path.join(dir, 'prebuilds', `${process.platform}-${process.arch}`, file);
  return p && fs.existsSync(p) ? p : undefined;
}
