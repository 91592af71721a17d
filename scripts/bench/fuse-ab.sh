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
# report PHASE...: each phase's medians over the rounds, and B/A.
report() {
  printf '%-12s %10s %10s %7s   (medians of %d rounds)\n' phase A B B/A "$rounds"
  local ph ma mb
  for ph in "$@"; do
    ma=$(awk -v p="$ph" '$1 == "A" && $2 == p {print $3}' "$results" | median)
    mb=$(awk -v p="$ph" '$1 == "B" && $2 == p {print $3}' "$results" | median)
    printf '%-12s %10.1f %10.1f %7.2f\n' "$ph" "$ma" "$mb" "$(awk -v x="$ma" -v y="$mb" 'BEGIN {print y / x}')"
  done
}

if [ "$seq" -gt 0 ]; then
  bytes=$((seq * 1024 * 1024))
  mkdir -p "$bench_work/src"
  mount -t tmpfs -o "size=$((seq + 16))m,mode=700" fuse-ab-src "$bench_work/src"
  head -c "$bytes" /dev/urandom > "$bench_work/src/data"
  # dd_mbs OUT [conv]: MB/s (10^6 B/s) of one dd of the source data into OUT.
  dd_mbs() {
    local t0 t1; t0=$(date +%s%N)
    dd if="$bench_work/src/data" of="$1" bs=1M ${2:+conv=$2} status=none
    t1=$(date +%s%N)
    awk -v b="$bytes" -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", b / 1e6 / (ns / 1e9) }'
  }
  cpu_ms() { proc_counters "$1" | awk '{print $1}'; }
  # seq_steps LABEL MOUNT PID: the steps on MOUNT, PID the FUSE daemon's.
  seq_steps() {
    local v=$1 f=$2/seq.bin pid=$3 ph mbs c0 c1 t0 t1 line="round $r $1:"
    dd if="$bench_work/src/data" of="$f" bs=1M status=none
    for ph in write write_fsync; do
      rm -f "$f"; settle
      c0=$(cpu_ms "$pid")
      mbs=$(dd_mbs "$f" "$([ $ph = write_fsync ] && echo fsync)")
      c1=$(cpu_ms "$pid")
      echo "$v $ph $mbs" >> "$results"; echo "$v ${ph}_cpu $((c1 - c0))" >> "$results"
      line="$line $ph=$mbs MB/s (daemon $((c1 - c0)) ms)"
    done
    settle
    c0=$(cpu_ms "$pid"); t0=$(date +%s%N)
    dd if="$f" of=/dev/null bs=1M status=none
    t1=$(date +%s%N); c1=$(cpu_ms "$pid")
    mbs=$(awk -v b="$bytes" -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", b / 1e6 / (ns / 1e9) }')
    echo "$v read $mbs" >> "$results"; echo "$v read_cpu $((c1 - c0))" >> "$results"
    echo "$line read=$mbs MB/s (daemon $((c1 - c0)) ms)"
    cmp -s "$bench_work/src/data" "$f" || { echo "fuse-ab: $v: the file read back differs from what was written" >&2; exit 1; }
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
      mp=$(awk -v p="$ph" '$1 == "P" && $2 == p {print $3}' "$results" | median)
      ma=$(awk -v p="$ph" '$1 == "A" && $2 == p {print $3}' "$results" | median)
      mb=$(awk -v p="$ph" '$1 == "B" && $2 == p {print $3}' "$results" | median)
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
      sync; echo 3 > /proc/sys/vm/drop_caches
      fps=$(python3 "$files_py" "$ph" "$d" "$files")
      echo "$v $ph $fps" >> "$results"
      line="$line $ph=$fps"
    done
    echo "$line"
  done
done
report "${phases[@]}"
