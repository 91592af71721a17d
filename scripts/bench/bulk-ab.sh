#!/usr/bin/env bash
# A/B of two h2fs builds on a first copy (mirror-copy over SSH), interleaved.
# One master store (mounted by B's build) holds a generated tree; each build
# has its own slave store, mounted by that build, and each copy goes to a
# new slave PFS there. The copies alternate A B, B A, ...: this VM's speed
# drifts by 10-30% between sessions and within one, so a change of a few
# per cent shows only this way (a before/after pair once looked 3-5% faster
# for a change that an interleaved run then showed did nothing).
# Usage: scripts/bench/bulk-ab.sh A_TREE B_TREE [--files N] [--copies C]
#        (defaults 20000, 4 per build, after one untimed warm-up copy
#        each). A tree is an h2fs checkout with dist/ built (see
#        round-ab.sh). Prints each copy with mirror-copy's and the slave
#        daemon's CPU, then medians and B/A.
set -euo pipefail
usage() { echo "usage: $0 A_TREE B_TREE [--files N] [--copies C]"; }
[ $# -ge 2 ] || { usage >&2; exit 2; }
a=$(cd "$1" && pwd) b=$(cd "$2" && pwd); shift 2
files=20000 copies=4
while [ $# -gt 0 ]; do
  case $1 in
    --files|--copies)
      [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "bulk-ab: $1 expects a positive integer" >&2; exit 2; }
      printf -v "${1#--}" '%s' "$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bulk-ab: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "bulk-ab: must run as root (FUSE mounts, sshd)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bulk-ab: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }
for t in "$a" "$b"; do
  [ -f "$t/dist/src/bin/h2fs.js" ] || { echo "bulk-ab: $t/dist/src/bin/h2fs.js missing (npm run build there)" >&2; exit 1; }
done
source "$(dirname "$0")/lib.sh"
ab_builds bulk-ab "$a" "$b"
read -r bytes nf < <(python3 "$root/scripts/bench/tree.py" gen "$M" "$files" 7)
echo "bulk-ab: tree of $nf files, $bytes bytes (untimed)"
sync; sleep 2
results=$bench_work/results.txt
# copy BUILD N: one first copy into a new slave PFS; prints "ms mirror-copy-cpu-ms slave-cpu-ms".
copy() {
  local v=$1 n=$2 spid t0 t1 c0 c1 ru rs
  spid=$(bench_daemon_pid "s$v")
  read -r c0 _ _ < <(proc_counters "$spid")
  t0=$EPOCHREALTIME
  H2FS_REMOTE="$(ab_cmd "$v")" /usr/bin/time -f "%U %S" -o "$bench_work/time.txt" \
    $(ab_cmd "$v") -y mirror-copy -p "$bench_port" "$M" "127.0.0.1:$bench_work/s$v/mnt/p$n" >/dev/null
  t1=$EPOCHREALTIME
  read -r c1 _ _ < <(proc_counters "$spid")
  read -r ru rs < "$bench_work/time.txt"
  echo "$(( (${t1/./} - ${t0/./}) / 1000 )) $(awk -v u="$ru" -v s="$rs" 'BEGIN { printf "%d", (u + s) * 1000 }') $(( c1 - c0 ))"
  sleep 2
}
for v in A B; do copy "$v" 0 >/dev/null; done
for i in $(seq 1 "$copies"); do
  order=(A B); [ $((i % 2)) = 0 ] && order=(B A)
  line="copy $i:"
  for v in "${order[@]}"; do
    read -r ms mc sl < <(copy "$v" "$i")
    echo "$v $ms $mc $sl" >> "$results"
    line="$line $v=${ms} ms (CPU ms: mirror-copy $mc, slave daemon $sl)"
  done
  echo "$line"
done
# med BUILD COLUMN: the median of that build's column in the results.
med() { awk -v v="$1" -v c="$2" '$1 == v {print $c}' "$results" | median; }
printf 'median copy: A %s ms, B %s ms, B/A %s; median CPU ms: mirror-copy A %s, B %s; slave daemon A %s, B %s   (%d copies each of %d bytes)\n' \
  "$(med A 2)" "$(med B 2)" "$(awk -v a="$(med A 2)" -v b="$(med B 2)" 'BEGIN {printf "%.2f", b / a}')" \
  "$(med A 3)" "$(med B 3)" "$(med A 4)" "$(med B 4)" "$copies" "$bytes"
