#!/usr/bin/env bash
# A/B of two h2fs builds, interleaved: A's round, then B's, R times, each on
# its own store on a private tmpfs. This VM's speed drifts by up to 2x within
# minutes, so two fuse-io.sh runs one after the other cannot tell a 20%
# change from the drift; alternating rounds can.
#   default      the small-file workload (files.py create, stat, read, unlink)
#   --seq MIB    fuse-io.sh's sequential steps instead: an untimed write of
#                MIB MiB, then dd bs=1M write, write + fsync and read, caches
#                dropped before each; a fresh store per round (history would
#                keep every round's data), which build goes first alternating;
#                also the mount daemon's CPU per step
#   --bindfs     with --seq: the same steps on bindfs over tmpfs after A and
#                B in every round, to see the machine's state beside them
# Usage: scripts/bench/fuse-ab.sh A_TREE B_TREE [--files N] [--rounds R] [--seq MIB [--bindfs]]
#        (defaults 5000, 4). A tree is an h2fs checkout with dist/ built
#        (git worktree add /tmp/a REV && cd /tmp/a && ln -s $PWD/node_modules
#        && npm run build). Prints each round, then medians and B/A.
set -euo pipefail
usage() { echo "usage: $0 A_TREE B_TREE [--files N] [--rounds R] [--seq MIB [--bindfs]]"; }
[ $# -ge 2 ] || { usage >&2; exit 2; }
a=$(cd "$1" && pwd) b=$(cd "$2" && pwd); shift 2
files=5000 rounds=4 seq=0 with_bindfs=0
while [ $# -gt 0 ]; do
  case $1 in
    --files|--rounds|--seq)
      [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "fuse-ab: $1 expects a positive integer" >&2; exit 2; }
      printf -v "${1#--}" '%s' "$2"; shift 2 ;;
    --bindfs) with_bindfs=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "fuse-ab: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "fuse-ab: must run as root (tmpfs, drop_caches)" >&2; exit 1; }
for t in "$a" "$b"; do
  [ -f "$t/dist/src/bin/h2fs.js" ] || { echo "fuse-ab: $t/dist/src/bin/h2fs.js missing (npm run build there)" >&2; exit 1; }
done
files_py=$(cd "$(dirname "$0")" && pwd)/files.py
# lib.sh: the work dir and its cleanup (h2fs mounts, then tmpfs, deepest first).
source "$(dirname "$0")/lib.sh"
declare -A tree=([A]=$a [B]=$b)
ab_h2fs() { local v=$1; shift; node "${tree[$v]}/dist/src/bin/h2fs.js" "$@"; }
echo "fuse-ab: A=$a ($(git -C "$a" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "fuse-ab: B=$b ($(git -C "$b" rev-parse --short HEAD 2>/dev/null || echo '?'))"
results=$bench_work/results.txt
settle() { sync; echo 3 > /proc/sys/vm/drop_caches; }
# med LABEL PHASE: the median of LABEL's results for PHASE.
med() { awk -v v="$1" -v p="$2" '$1 == v && $2 == p {print $3}' "$results" | median; }
# report PHASE...: each phase's medians over the rounds, and B/A.
report() {
  printf '%-12s %10s %10s %7s   (medians of %d rounds)\n' phase A B B/A "$rounds"
  local ph ma mb
  for ph in "$@"; do
    ma=$(med A "$ph") mb=$(med B "$ph")
    printf '%-12s %10.1f %10.1f %7.2f\n' "$ph" "$ma" "$mb" "$(awk -v x="$ma" -v y="$mb" 'BEGIN {print y / x}')"
  done
}

if [ "$seq" -gt 0 ]; then
  bytes=$((seq * 1024 * 1024))
  mkdir -p "$bench_work/src"
  mount -t tmpfs -o "size=$((seq + 16))m,mode=700" fuse-ab-src "$bench_work/src"
  head -c "$bytes" /dev/urandom > "$bench_work/src/data"
  # step LABEL NAME PID IN OUT [conv]: one timed dd of IN to OUT; records
  # NAME's MB/s and PID's CPU ms, and prints both.
  step() {
    local c0 t0 t1 c1 mbs
    c0=$(proc_counters "$3" | awk '{print $1}'); t0=$(date +%s%N)
    dd if="$4" of="$5" bs=1M ${6:+conv=$6} status=none
    t1=$(date +%s%N); c1=$(proc_counters "$3" | awk '{print $1}')
    mbs=$(mbs_ns "$bytes" $((t1 - t0)))
    printf '%s %s %s\n%s %s_cpu %s\n' "$1" "$2" "$mbs" "$1" "$2" $((c1 - c0)) >> "$results"
    printf ' %s=%s MB/s (daemon %s ms)' "$2" "$mbs" $((c1 - c0))
  }
  # seq_steps LABEL MOUNT PID: the steps on MOUNT, PID the FUSE daemon's.
  seq_steps() {
    local src=$bench_work/src/data f=$2/seq.bin
    dd if="$src" of="$f" bs=1M status=none
    printf 'round %s %s:' "$r" "$1"
    rm -f "$f"; settle; step "$1" write "$3" "$src" "$f"
    rm -f "$f"; settle; step "$1" write_fsync "$3" "$src" "$f" fsync
    settle; step "$1" read "$3" "$f" /dev/null
    echo
    cmp -s "$src" "$f" || { echo "fuse-ab: $1: the file read back differs from what was written" >&2; exit 1; }
  }
  order=(A B); [ "$with_bindfs" = 1 ] && order+=(P)
  for r in $(seq 1 "$rounds"); do
    for v in "${order[@]}"; do
      w=$bench_work/$v$r
      mkdir -p "$w"
      mount -t tmpfs -o "size=$((seq * 3 + 512))m,mode=700" "fuse-ab-$v$r" "$w"
      mkdir "$w/mnt"
      if [ "$v" = P ]; then
        # bindfs over its own tmpfs, mounted as fuse-io.sh mounts it.
        mkdir "$w/back"
        bindfs -o big_writes,max_write=131072,max_read=131072 "$w/back" "$w/mnt"
        pid=$(pgrep -n -x bindfs)
        seq_steps P "$w/mnt" "$pid"
        fusermount3 -u "$w/mnt" 2>/dev/null || fusermount -u "$w/mnt"
        for _ in $(seq 1 300); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
      else
        ab_h2fs "$v" newfs "$w/store" >/dev/null
        ab_h2fs "$v" mount "$w/store" "$w/mnt"
        pid=$(cat "$w/store/h2fs.pid")
        seq_steps "$v" "$w/mnt" "$pid"
        ab_h2fs "$v" umount "$w/mnt"
        # The daemon closes the store after the unmount returns.
        for _ in $(seq 1 300); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
      fi
      umount "$w"; rmdir "$w"
    done
    # Which build goes first alternates (the peer, when there, goes last).
    order=("${order[1]}" "${order[0]}" "${order[@]:2}")
  done
  report write write_fsync read write_cpu write_fsync_cpu read_cpu
  if [ "$with_bindfs" = 1 ]; then
    printf '%-12s %10s %10s %10s   (bindfs, medians)\n' phase P A/P B/P
    for ph in write write_fsync read; do
      mp=$(med P "$ph") ma=$(med A "$ph") mb=$(med B "$ph")
      printf '%-12s %10.1f %10.2f %10.2f\n' "$ph" "$mp" "$(awk -v x="$ma" -v y="$mp" 'BEGIN {print x / y}')" "$(awk -v x="$mb" -v y="$mp" 'BEGIN {print x / y}')"
    done
  fi
  exit 0
fi

for v in A B; do
  mkdir -p "$bench_work/$v"
  mount -t tmpfs -o "size=$(( files * rounds * 32 / 1024 + 512 ))m,mode=700" "h2fs-ab-$v" "$bench_work/$v"
  mkdir "$bench_work/$v/mnt"
  ab_h2fs "$v" newfs "$bench_work/$v/store" >/dev/null
  ab_h2fs "$v" mount "$bench_work/$v/store" "$bench_work/$v/mnt"
done
phases=(create stat read unlink)
for r in $(seq 1 "$rounds"); do
  for v in A B; do
    d=$bench_work/$v/mnt/r$r
    mkdir "$d"
    line="round $r $v:"
    for ph in "${phases[@]}"; do
      settle
      fps=$(python3 "$files_py" "$ph" "$d" "$files")
      echo "$v $ph $fps" >> "$results"
      line="$line $ph=$fps"
    done
    echo "$line"
  done
done
report "${phases[@]}"
