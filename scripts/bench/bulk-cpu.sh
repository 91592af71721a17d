#!/usr/bin/env bash
# Where a bulk copy's CPU goes: one master store holding a generated tree,
# then COPIES first mirrors of it (mirror-copy over SSH on 127.0.0.1, each
# to a new slave PFS of one slave store), each with its wall time, MB/s and
# the user+system CPU time of every process on the way: the master daemon,
# the local mirror-copy (the relay, with its ssh2 client), sshd (its
# sessions, reaped by the listener) and the slave daemon.
# Usage: scripts/bench/bulk-cpu.sh [--files N] [--copies C] [--slave-tmpfs]
#        (defaults 20000, 3). --slave-tmpfs puts the slave store on a tmpfs,
#        where fdatasync costs nothing: the difference is what the slave's
#        syncs cost the copy.
set -euo pipefail
usage() { echo "usage: $0 [--files N] [--copies C] [--slave-tmpfs]"; }
files=20000 copies=3 slave_tmpfs=0
while [ $# -gt 0 ]; do
  case $1 in
    --files) files=${2:?}; shift 2 ;;
    --copies) copies=${2:?}; shift 2 ;;
    --slave-tmpfs) slave_tmpfs=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "bulk-cpu: must run as root (FUSE, sshd)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bulk-cpu: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }
source "$(dirname "$0")/lib.sh"
[ -f "$root/dist/src/bin/h2fs.js" ] || { echo "bulk-cpu: $root/dist is not built (run scripts/setup.sh)" >&2; exit 1; }

bench_sshd
bench_store m
if [ "$slave_tmpfs" = 1 ]; then
  mkdir -p "$bench_work/s"
  mount -t tmpfs -o size=16g tmpfs "$bench_work/s"
fi
bench_store s
M=$bench_work/m/mnt S=$bench_work/s/mnt
h2fs pfs-master "$M/obj" >/dev/null
read -r bytes nf < <(python3 "$root/scripts/bench/tree.py" gen "$M/obj" "$files" 7)
echo "bulk-cpu: tree of $nf files, $bytes bytes (slave store on $([ "$slave_tmpfs" = 1 ] && echo tmpfs || echo "$(df -P "$bench_work" | awk 'NR == 2 { print $1 }')"))"
sync
sleep 2
mpid=$(bench_daemon_pid m) spid=$(bench_daemon_pid s) sshpid=$(cat "$bench_work/sshd/sshd.pid")
# cpu PID: "user-ms system-ms children-user-ms children-system-ms"
cpu() { awk -v t="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%d %d %d %d\n", $12*1000/t, $13*1000/t, $14*1000/t, $15*1000/t }' "/proc/$1/stat"; }
for i in $(seq 1 "$copies"); do
  read -r mu0 ms0 _ _ < <(cpu "$mpid"); read -r su0 ss0 _ _ < <(cpu "$spid"); read -r _ _ hu0 hs0 < <(cpu "$sshpid")
  t0=$(date +%s%N)
  /usr/bin/time -f "%U %S" -o "$bench_work/time.txt" "$root/bin/h2fs" -y mirror-copy "$M/obj" "127.0.0.1:$bench_port:$S/p$i" >/dev/null
  t1=$(date +%s%N)
  read -r mu1 ms1 _ _ < <(cpu "$mpid"); read -r su1 ss1 _ _ < <(cpu "$spid"); read -r _ _ hu1 hs1 < <(cpu "$sshpid")
  read -r ru rs < "$bench_work/time.txt"
  ms=$(( (t1 - t0) / 1000000 ))
  echo "copy $i: $ms ms, $(awk -v b="$bytes" -v ms="$ms" 'BEGIN { printf "%.1f", b / 1e3 / ms }') MB/s; CPU ms user+system:" \
    "master daemon $((mu1 - mu0))+$((ms1 - ms0)), mirror-copy $(awk -v u="$ru" -v s="$rs" 'BEGIN { printf "%d+%d", u * 1000, s * 1000 }')," \
    "sshd $((hu1 - hu0))+$((hs1 - hs0)), slave daemon $((su1 - su0))+$((ss1 - ss0))"
  sleep 2
done
