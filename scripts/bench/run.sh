#!/usr/bin/env bash
# npm run bench -- [--part fuse|mirror|lag|all] [--size small|full] [--runs N]
# The benchmark suite, side by side with the peers in one run on this
# machine: installs what it needs (bindfs, rsync, btrfs-progs, lsyncd),
# builds h2fs, runs each part several times and prints medians; every part
# cleans up after itself. Results (RESULT lines and the human tables) go to
# stdout and to bench-results/<date>.txt.
#   fuse    FUSE I/O: h2fs vs bindfs over tmpfs vs tmpfs     (fuse-io.sh)
#   mirror  bulk first mirror and incremental rounds: h2fs mirror-copy vs
#           rsync -a --delete vs btrfs send/receive, over SSH (mirror.sh)
#   lag     mirror-stream lag at rest and under load vs lsyncd (lag.sh,
#           lag-lsyncd.sh)
# --size small is a quick look (minutes); full is the issue's sizes.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
part=all size=full runs=3
while [ $# -gt 0 ]; do
  case $1 in
    --part) part=${2:?}; shift 2 ;;
    --size) size=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "bench: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $part in fuse|mirror|lag|all) ;; *) echo "bench: --part is fuse, mirror, lag or all" >&2; exit 2 ;; esac
case $size in small|full) ;; *) echo "bench: --size is small or full" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "bench: run as root (FUSE mounts, loop-mounted btrfs, sshd)" >&2; exit 1; }

need=()
for p in bindfs:bindfs rsync:rsync mkfs.btrfs:btrfs-progs lsyncd:lsyncd; do
  command -v "${p%%:*}" >/dev/null || need+=("${p#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
  else
    echo "bench: please install ${need[*]}" >&2; exit 1
  fi
fi
bash "$root/scripts/setup.sh" >/dev/null

mkdir -p "$root/bench-results"
out="$root/bench-results/$(date +%Y%m%d-%H%M%S).txt"
{
  echo "# h2fs benchmarks $(date -Is) on $(uname -r), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "# h2fs $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), part=$part size=$size runs=$runs"
  if [ "$part" = fuse ] || [ "$part" = all ]; then
    if [ "$size" = full ]; then bash "$root/scripts/bench/fuse-io.sh" --runs "$runs"
    else bash "$root/scripts/bench/fuse-io.sh" --size 128 --files 2000 --runs "$runs"; fi
  fi
  if [ "$part" = mirror ] || [ "$part" = all ]; then
    if [ "$size" = full ]; then bash "$root/scripts/bench/mirror.sh" --rounds "$runs"
    else bash "$root/scripts/bench/mirror.sh" --files 2000 --big-factor 5 --rounds "$runs"; fi
  fi
  if [ "$part" = lag ] || [ "$part" = all ]; then
    n=100 nl=20
    [ "$size" = small ] && n=20 nl=5
    bash "$root/scripts/bench/lag.sh" "$n" rest
    bash "$root/scripts/bench/lag.sh" "$n" load
    bash "$root/scripts/bench/lag-lsyncd.sh" "$nl" 15 rest
    bash "$root/scripts/bench/lag-lsyncd.sh" "$n" 1 rest
  fi
} 2>&1 | tee "$out"
echo "bench: results in $out"
