/**
 * A 2 GiB file written and read back through the mount with the daemon's
 * anonymous memory bounded: writes are coalesced per block in the flush group
 * and committed early under pressure.
 */
import { expect } from 'chai';
import path from 'node:path';
import { daemonPidOf, rssOf, sh, useMountedStore } from '../helpers/h2fs.js';

const SIZE = 2 * 1024 * 1024 * 1024;
const LIMIT_KIB = 300 * 1024;

describe('a 2 GiB file', function () {
  this.timeout(900_000);
  const m = useMountedStore();

  it('is written and read back identical with daemon RssAnon under 300 MiB', () => {
    const pid = daemonPidOf(m.store)!;
    const file = path.join(m.mnt, 'big');
    let peakAnon = 0;
    let peakFile = 0;
    const sample = (): void => {
      const r = rssOf(pid);
      peakAnon = Math.max(peakAnon, r.anonKiB);
      peakFile = Math.max(peakFile, r.fileKiB);
    };
    // A sampler in a child shell, since this process blocks in execFileSync.
    const samples = path.join(path.dirname(m.mnt), 'rss.txt');
    const t0 = Date.now();
    const out = sh(`set -o pipefail
      ( while kill -0 ${pid} 2>/dev/null; do grep -E '^Rss(Anon|File):' /proc/${pid}/status | tr '\\n' ' '; echo; sleep 0.2; done ) > "${samples}" &
      sampler=$!
      w=$(head -c ${SIZE} /dev/urandom | tee >(sha256sum | cut -d' ' -f1 > "${samples}.w") | dd of="${file}" bs=128k iflag=fullblock status=none; sleep 0.5; cat "${samples}.w")
      s=$(date +%s.%N)
      r=$(sha256sum < "${file}" | cut -d' ' -f1)
      e=$(date +%s.%N)
      kill $sampler
      echo "$w $r $(stat -c %s "${file}") $s $e"`);
    const [w, r, size, s, e] = out.trim().split(' ');
    sample();
    for (const line of sh(`cat "${samples}"`).split('\n')) {
      const a = /RssAnon:\s+(\d+)/.exec(line);
      const f = /RssFile:\s+(\d+)/.exec(line);
      if (a) peakAnon = Math.max(peakAnon, Number(a[1]));
      if (f) peakFile = Math.max(peakFile, Number(f[1]));
    }
    const total = (Date.now() - t0) / 1000;
    const readSecs = Number(e) - Number(s);
    console.log(`      2 GiB: total ${total.toFixed(1)} s, read ${(SIZE / 1048576 / readSecs).toFixed(0)} MiB/s; ` +
      `daemon peak RssAnon ${(peakAnon / 1024).toFixed(0)} MiB, RssFile ${(peakFile / 1024).toFixed(0)} MiB`);
    expect(Number(size)).to.equal(SIZE);
    expect(w).to.match(/^[0-9a-f]{64}$/);
    expect(r).to.equal(w);
    expect(peakAnon).to.be.greaterThan(0);
    expect(peakAnon).to.be.lessThan(LIMIT_KIB);
  });
});
