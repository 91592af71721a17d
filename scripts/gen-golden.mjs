#!/usr/bin/env node
/**
 * Writes the v1 mirror-stream golden fixtures: one frame per file,
 * test/fixtures/mrecord/v1/<name>.bin, each exactly encodeFrame(frame) of the
 * frames in test/helpers/golden-frames.ts. Deterministic: running it twice
 * gives identical files. Run after `npm run build`:
 *
 *   npm run build && node scripts/gen-golden.mjs
 *
 * The committed .bin files are the wire format's reference; the unit test
 * test/unit/mirror/frame.test.ts fails if the encoder ever produces other
 * bytes. Regenerate them only for a deliberate format change (and then bump
 * STREAM_VERSION and write test/fixtures/mrecord/v2/ instead of editing v1).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(path.join(root, 'dist', p)).href;

let frameMod;
let goldenMod;
try {
  frameMod = await import(dist('src/mirror/frame.js'));
  goldenMod = await import(dist('test/helpers/golden-frames.js'));
} catch (e) {
  console.error(`gen-golden: cannot load the build (${e.message}); run 'npm run build' first`);
  process.exit(1);
}
const { encodeFrame, STREAM_VERSION } = frameMod;
if (STREAM_VERSION !== 1) {
  console.error(`gen-golden: this build speaks stream v${STREAM_VERSION}; v1 fixtures must not be rewritten by it`);
  process.exit(1);
}

const outDir = path.join(root, 'test', 'fixtures', 'mrecord', 'v1');
fs.mkdirSync(outDir, { recursive: true });
const check = process.argv.includes('--check');
let differ = 0;
for (const { name, frame } of goldenMod.goldenFrames()) {
  const bytes = encodeFrame(frame);
  const file = path.join(outDir, `${name}.bin`);
  if (check) {
    const old = fs.existsSync(file) ? fs.readFileSync(file) : null;
    const same = old !== null && old.equals(bytes);
    if (!same) differ++;
    console.log(`${same ? 'same   ' : 'DIFFERS'} ${path.relative(root, file)} (${bytes.length} bytes)`);
  } else {
    fs.writeFileSync(file, bytes);
    console.log(`wrote ${path.relative(root, file)} (${bytes.length} bytes)`);
  }
}
process.exit(differ ? 1 : 0);
