#!/usr/bin/env bash
# A/B of two h2fs builds on an incremental mirror-copy round over SSH,
# interleaved. One master store (mounted by B's build) holds a generated
# tree; each build has its own slave store, mounted by that build. Every
# round applies 100 changes to the master (tree.py's mix), writes them back
# (sync, then 2 s for the flush group), and then runs each build's
# mirror-copy to its own slave, the two in alternating order: both copy the
# same changes, a few seconds apart. This VM's speed drifts by up to 2x
# within minutes; a few tens of ms a round are only visible this way.
# Usage: scripts/bench/round-ab.sh A_TREE B_TREE [--files N] [--rounds R] [--cold]
#        (defaults 2000, 10). --cold drops the page cache before each copy
#        (as when the stores are much larger than RAM) and reports the
#        slave daemon's bytes read from disk. A tree is an h2fs checkout with dist/ built
#        (git worktree add /tmp/a REV && cd /tmp/a && ln -s $PWD/node_modules
#        && npm run build). Prints each round, then medians and B/A.
set -euo pipefail
usage() { echo "usage: $0 A_TREE B_TREE [--files N] [--rounds R] [--cold]"; }
[ $# -ge 2 ] || { usage >&2; exit 2; }
a=$(cd "$1" && pwd) b=$(cd "$2" && pwd); shift 2
files=2000 rounds=10 cold=0
while [ $# -gt 0 ]; do
  case $1 in
    --files|--rounds)
      [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "round-ab: $1 expects a positive integer" >&2; exit 2; }
      printf -v "${1#--}" '%s' "$2"; shift 2 ;;
    --cold) cold=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "round-ab: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "round-ab: must run as root (FUSE mounts, sshd)" >&2; exit 1; }
for t in "$a" "$b"; do
  [ -f "$t/dist/src/bin/h2fs.js" ] || { echo "round-ab: $t/dist/src/bin/h2fs.js missing (npm run build there)" >&2; exit 1; }
done
# lib.sh: the work dir, the temporary sshd and the cleanup (mounts, daemons).
source "$(dirname "$0")/lib.sh"
treepy() { python3 "$root/scripts/bench/tree.py" "$@"; }
ab_builds round-ab "$a" "$b"
echo "round-ab: writing $files files into the master (untimed)"
treepy gen "$M" "$files" 1
mkdir "$bench_work/changes"
treepy changes "$files" 1 "$rounds" 100 "$bench_work/changes"
sync; sleep 2
# Each build's first copy creates its slave PFS (untimed).
for v in A B; do
  H2FS_REMOTE="$(ab_cmd "$v")" ab_run "$v" -y mirror-copy -p "$bench_port" "$M" "127.0.0.1:$bench_work/s$v/mnt/pfs"
done
results=$bench_work/results.txt
for r in $(seq 1 "$rounds"); do
  treepy apply "$bench_work/changes/round-$r.txt" "$M"
  sync; sleep 2
  order=(A B); [ $((r % 2)) = 0 ] && order=(B A)
  line="round $r:"
  for v in "${order[@]}"; do
    if [ "$cold" = 1 ]; then
      sync; echo 3 > /proc/sys/vm/drop_caches
      spid=$(bench_daemon_pid "s$v")
      read -r _ _ rb0 < <(proc_counters "$spid")
    fi
    t0=$EPOCHREALTIME
    H2FS_REMOTE="$(ab_cmd "$v")" ab_run "$v" mirror-copy -p "$bench_port" "$M" "127.0.0.1:$bench_work/s$v/mnt/pfs"
    t1=$EPOCHREALTIME
    ms=$(( (${t1/./} - ${t0/./}) / 1000 ))
    echo "$v $ms" >> "$results"
    line="$line $v=${ms}ms"
    if [ "$cold" = 1 ]; then
      read -r _ _ rb1 < <(proc_counters "$spid")
      line="$line (slave read $(( (rb1 - rb0) / 1024 )) KiB)"
    fi
  done
  echo "$line"
done
ma=$(awk '$1 == "A" {print $2}' "$results" | median)
mb=$(awk '$1 == "B" {print $2}' "$results" | median)
printf 'median round: A %s ms, B %s ms, B/A %s   (%d rounds of 100 changes in %d files)\n' \
  "$ma" "$mb" "$(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.2f", b / a}')" "$rounds" "$files"
