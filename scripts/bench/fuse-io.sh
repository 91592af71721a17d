#!/usr/bin/env bash
# Benchmark part 1 (fuse): raw file I/O through h2fs, next to two C peers in
# the same run:
#   h2fs    a fresh store (bench_store), daemon started with H2FS_OPSTATS=1
#   bindfs  bindfs over a private tmpfs: the C FUSE passthrough ceiling
#           (with h2fs's request sizes: big_writes, max_write/max_read 128 KiB)
#   tmpfs   a plain private tmpfs: no FUSE at all
# Per target and per run:
#   write_mbs        dd bs=1M of SIZE MiB from a random file kept on tmpfs
#                    (after one untimed write of the same file, removed again)
#   write_fsync_mbs  the same with conv=fsync
#   read_mbs         dd bs=1M of the file back, after sync + drop_caches
#   write_new_mbs    (context, no goal) the same write to a second file while
#                    the first stays, so every target takes memory it has not
#                    just freed, as h2fs does in every write (it keeps history);
#                    on a VM that hands freed memory back to its host
#                    (virtio-balloon free page reporting) such memory is slow
#                    to touch again
#   create/stat/read/unlink_fps
#                    NFILES files of 4 KiB in subdirectories of 1000; one
#                    python3 process per phase (timed inside python, so the
#                    interpreter's start-up is not counted); sync + drop_caches
#                    before each phase
# MB/s is 10^6 bytes/s (as dd prints it). Prints one RESULT line per
# measurement per run, then a table of medians with the h2fs/bindfs ratio
# (goal >= 0.70), the h2fs daemon's peak memory and its op stats line.
# Usage: scripts/bench/fuse-io.sh [--size MiB] [--files N] [--runs R]
#        (defaults 1024, 20000, 3). Needs root (tmpfs, drop_caches), bindfs, python3.
set -euo pipefail

usage() { echo "usage: $0 [--size MiB] [--files N] [--runs R]   (defaults 1024 20000 3)"; }
size=1024 files=20000 runs=3
while [ $# -gt 0 ]; do
  case $1 in
    --size|--files|--runs)
      [ $# -ge 2 ] || { echo "fuse-io: $1 needs a value" >&2; usage >&2; exit 2; }
      opt=${1#--} val=$2; shift 2 ;;
    --size=*|--files=*|--runs=*)
      opt=${1%%=*} opt=${opt#--} val=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "fuse-io: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  [[ $val =~ ^[1-9][0-9]*$ ]] || { echo "fuse-io: --$opt expects a positive integer, got '$val'" >&2; exit 2; }
  printf -v "$opt" '%s' "$val"
done

[ "$(id -u)" = 0 ] || { echo "fuse-io: must run as root (mounts tmpfs, writes /proc/sys/vm/drop_caches)" >&2; exit 1; }
for c in bindfs python3 dd fusermount3 mountpoint; do
  command -v "$c" >/dev/null 2>&1 || { echo "fuse-io: '$c' not found (apt-get install bindfs python3 fuse3 util-linux)" >&2; exit 1; }
done
[ -e /dev/fuse ] || { echo "fuse-io: /dev/fuse missing" >&2; exit 1; }

source "$(dirname "$0")/lib.sh"

# Everything this script mounts lives under $bench_work; unmount it before
# lib.sh's bench_cleanup (which unmounts the h2fs store and rm -rf's the dir).
fuse_io_cleanup() {
  local rc=$?
  set +e
  cd /
  if [ "$rc" != 0 ]; then
    say "stopped (exit $rc); unmounting and removing $bench_work"
    if [ -s "$bench_work/h2fs/store/h2fs.log" ]; then
      say "last lines of the h2fs daemon log:"
      tail -n 20 "$bench_work/h2fs/store/h2fs.log" >&2
    fi
  fi
  # The memory watcher ignores bench_cleanup's SIGINT (a background job); stop
  # it quietly here instead of leaving it to the kill -9.
  if [ -n "${rss_watcher:-}" ]; then kill "$rss_watcher" 2>/dev/null; wait "$rss_watcher" 2>/dev/null; fi
  if mountpoint -q "$bench_work/bindfs" 2>/dev/null; then
    fusermount3 -u "$bench_work/bindfs" 2>/dev/null || fusermount -u "$bench_work/bindfs" 2>/dev/null \
      || umount -l "$bench_work/bindfs"
  fi
  for d in tmpfs-b tmpfs src; do
    if mountpoint -q "$bench_work/$d" 2>/dev/null; then umount "$bench_work/$d" 2>/dev/null || umount -l "$bench_work/$d"; fi
  done
  # h2fs's store tmpfs: bench_cleanup unmounts what is left under $bench_work.
  bench_cleanup
  exit "$rc"
}
trap fuse_io_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { echo "fuse-io: $*" >&2; }

# settle: write back dirty data and drop the page, dentry and inode caches
# (also those of the FUSE mounts), so reads really go through the file system.
can_drop=1
settle() {
  sync
  if [ "$can_drop" = 1 ] && ! { echo 3 > /proc/sys/vm/drop_caches; } 2>/dev/null; then
    say "warning: cannot write /proc/sys/vm/drop_caches; reads may be served from cache"
    can_drop=0
  fi
}

now_ns() { date +%s%N; }

# The small-file workload (scripts/bench/files.py), the same for every target.
files_py=$(cd "$(dirname "$0")" && pwd)/files.py

bytes=$((size * 1024 * 1024))
tmpfs_size=$((size * 2 + files * 8 / 1024 + 64))m
targets=(h2fs bindfs tmpfs)
declare -A dir=(
  [h2fs]=$bench_work/h2fs/mnt
  [bindfs]=$bench_work/bindfs
  [tmpfs]=$bench_work/tmpfs
)

say "size=${size}MiB files=$files runs=$runs work=$bench_work"
mkdir -p "$bench_work/src" "$bench_work/tmpfs-b" "$bench_work/bindfs" "$bench_work/tmpfs"
mount -t tmpfs -o "size=$((size + 16))m,mode=700" fuse-io-src "$bench_work/src"
mount -t tmpfs -o "size=$tmpfs_size,mode=755" fuse-io-b "$bench_work/tmpfs-b"
# The same FUSE request sizes as h2fs's mount (src/fuse/mount.ts): bindfs uses
# libfuse 2, which without big_writes sends 4 KiB writes (~8x slower).
bindfs -o big_writes,max_write=131072,max_read=131072 "$bench_work/tmpfs-b" "$bench_work/bindfs"
mount -t tmpfs -o "size=$tmpfs_size,mode=755" fuse-io-tmpfs "$bench_work/tmpfs"
# h2fs's store on a tmpfs too, so all three FUSE/tmpfs targets sit on the
# same medium and the ratios measure the filesystems, not the disk. It keeps
# history, so it needs room for all three sequential writes of every run.
mkdir -p "$bench_work/h2fs"
mount -t tmpfs -o "size=$(( (size * 4 * runs) + files * runs * 16 / 1024 + 1024 ))m,mode=700" fuse-io-h2fs "$bench_work/h2fs"
H2FS_OPSTATS=1 bench_store h2fs
h2fs_pid=$(bench_daemon_pid h2fs)
bench_rss_watch h2fs "$h2fs_pid"
rss_watcher=${bench_pids[-1]}
for t in "${targets[@]}"; do
  mountpoint -q "${dir[$t]}" || { say "${dir[$t]} ($t) is not mounted"; exit 1; }
done

say "generating ${size} MiB of random data on tmpfs"
head -c "$bytes" /dev/urandom > "$bench_work/src/data"

# record TARGET METRIC VALUE UNIT
record() {
  result fuse "$1" "$2" "$3" "$4"
  echo "$1 $2 $3" >> "$bench_work/results.txt"
}

for run in $(seq 1 "$runs"); do
  for t in "${targets[@]}"; do
    d=${dir[$t]}
    say "run $run/$runs: $t"
    echo "run $run $t sequential" > "$bench_work/phase"
    f=$d/seq.bin
    # Untimed warm-up write: a target's first GiB is not like its second
    # (tmpfs recycles the pages the rm freed; an h2fs store already holds the
    # last GiB as history), and the two timed writes must see the same state.
    dd if="$bench_work/src/data" of="$f" bs=1M status=none
    for mode in write_mbs write_fsync_mbs; do
      rm -f "$f"
      settle
      conv=; [ "$mode" = write_fsync_mbs ] && conv=conv=fsync
      t0=$(now_ns)
      dd if="$bench_work/src/data" of="$f" bs=1M $conv status=none
      t1=$(now_ns)
      record "$t" "$mode" "$(mbs_ns "$bytes" $((t1 - t0)))" MB/s
    done
    got=$(stat -c %s "$f")
    [ "$got" = "$bytes" ] || { say "$t: $f has $got bytes after the write, expected $bytes"; exit 1; }
    settle
    t0=$(now_ns)
    dd if="$f" of=/dev/null bs=1M status=none
    t1=$(now_ns)
    record "$t" read_mbs "$(mbs_ns "$bytes" $((t1 - t0)))" MB/s
    cmp -s "$bench_work/src/data" "$f" || { say "$t: $f read back differs from what was written"; exit 1; }
    # The first file stays while a second is written: no target can reuse
    # what it just freed. Both go before the next phase.
    settle
    t0=$(now_ns)
    dd if="$bench_work/src/data" of="$d/new.bin" bs=1M status=none
    t1=$(now_ns)
    record "$t" write_new_mbs "$(mbs_ns "$bytes" $((t1 - t0)))" MB/s
    rm -f "$f" "$d/new.bin"
    mkdir "$d/files"
    for phase in create stat read unlink; do
      settle
      echo "run $run $t $phase" > "$bench_work/phase"
      fps=$(python3 "$files_py" "$phase" "$d/files" "$files")
      record "$t" "${phase}_fps" "$fps" files/s
    done
    rmdir "$d/files"
  done
done

# Unmount h2fs now so the daemon exits: it writes its op stats to the log and
# the memory watcher writes its line.
h2fs umount "${dir[h2fs]}"
for _ in $(seq 1 300); do [ -e "/proc/$h2fs_pid" ] || break; sleep 0.1; done
if [ -e "/proc/$h2fs_pid" ]; then say "warning: h2fs daemon $h2fs_pid still running 30 s after umount"; fi
wait "$rss_watcher" 2>/dev/null || true
rss_watcher=

# median_of TARGET METRIC
median_of() { awk -v t="$1" -v m="$2" '$1 == t && $2 == m { print $3 }' "$bench_work/results.txt" | median; }

echo
echo "fuse-io: medians of $runs run(s); size=${size} MiB, files=$files x 4 KiB; MB/s = 10^6 B/s"
printf '%-16s %10s %10s %10s %12s %6s\n' metric h2fs bindfs tmpfs h2fs/bindfs goal
for m in write_mbs write_fsync_mbs read_mbs create_fps stat_fps read_fps unlink_fps write_new_mbs; do
  h=$(median_of h2fs "$m") b=$(median_of bindfs "$m") p=$(median_of tmpfs "$m")
  read -r ratio ok < <(awk -v h="$h" -v b="$b" 'BEGIN { if (b + 0 > 0) { r = h / b; printf "%.2f %s\n", r, (r >= 0.70 ? "ok" : "BELOW") } else print "- -" }')
  [ "$m" = write_new_mbs ] && ok="-"
  printf '%-16s %10s %10s %10s %12s %6s\n' "$m" "$h" "$b" "$p" "$ratio" "$ok"
done
echo "(goal: h2fs/bindfs >= 0.70; write_new_mbs is context: every target writing into memory it did not just free)"

echo
if read -r _ anon hwm < <(grep '^h2fs ' "$bench_work/rss.txt" 2>/dev/null); then
  anon_mib=$(awk -v k="$anon" 'BEGIN { printf "%.1f", k / 1024 }')
  hwm_mib=$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')
  result fuse h2fs peak_rss_anon_mib "$anon_mib" MiB
  result fuse h2fs peak_vmhwm_mib "$hwm_mib" MiB
  at=$(awk -F '\t' '$1 == "h2fs" { print $2 }' "$bench_work/rss-phase.txt" 2>/dev/null)
  echo "h2fs daemon peak memory: RssAnon ${anon_mib} MiB${at:+ (during $at)}, VmHWM ${hwm_mib} MiB (VmHWM includes LMDB's mmapped pages)"
else
  echo "h2fs daemon peak memory: not recorded (no line in $bench_work/rss.txt)"
fi
ops=$(grep 'op stats' "$bench_work/h2fs/store/h2fs.log" | tail -n 1 || true)
echo "${ops:-h2fs: op stats: none in the daemon log}"
