#!/usr/bin/env bash
# A/B of two h2fs builds on the small-file workload, interleaved: A's round,
# then B's, R times, each on its own store on one private tmpfs. This VM's
# speed drifts by up to 2x within minutes, so two fuse-io.sh runs one after
# the other cannot tell a 20% change from the drift; alternating rounds can.
# Usage: scripts/bench/fuse-ab.sh A_TREE B_TREE [--files N] [--rounds R]
#        (defaults 5000, 4). A tree is an h2fs checkout with dist/ built
#        (git worktree add /tmp/a REV && cd /tmp/a && ln -s $PWD/node_modules
#        && npm run build). Prints each round, then medians and B/A.
set -euo pipefail
usage() { echo "usage: $0 A_TREE B_TREE [--files N] [--rounds R]"; }
[ $# -ge 2 ] || { usage >&2; exit 2; }
a=$(cd "$1" && pwd) b=$(cd "$2" && pwd); shift 2
files=5000 rounds=4
while [ $# -gt 0 ]; do
  case $1 in
    --files|--rounds)
      [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "fuse-ab: $1 expects a positive integer" >&2; exit 2; }
      printf -v "${1#--}" '%s' "$2"; shift 2 ;;
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
for v in A B; do
  mkdir -p "$bench_work/$v"
  mount -t tmpfs -o "size=$(( files * rounds * 32 / 1024 + 512 ))m,mode=700" "h2fs-ab-$v" "$bench_work/$v"
  mkdir "$bench_work/$v/mnt"
  node "${tree[$v]}/dist/src/bin/h2fs.js" newfs "$bench_work/$v/store" >/dev/null
  node "${tree[$v]}/dist/src/bin/h2fs.js" mount "$bench_work/$v/store" "$bench_work/$v/mnt"
done
echo "fuse-ab: A=$a ($(git -C "$a" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "fuse-ab: B=$b ($(git -C "$b" rev-parse --short HEAD 2>/dev/null || echo '?'))"
phases=(create stat read unlink)
results=$bench_work/results.txt
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
printf '%-8s %10s %10s %7s   (files/s, medians of %d rounds of %d files)\n' phase A B B/A "$rounds" "$files"
for ph in "${phases[@]}"; do
  ma=$(awk -v p="$ph" '$1 == "A" && $2 == p {print $3}' "$results" | median)
  mb=$(awk -v p="$ph" '$1 == "B" && $2 == p {print $3}' "$results" | median)
  printf '%-8s %10.1f %10.1f %7.2f\n' "$ph" "$ma" "$mb" "$(awk -v x="$ma" -v y="$mb" 'BEGIN {print y / x}')"
done
