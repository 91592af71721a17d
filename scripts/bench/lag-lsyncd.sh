#!/usr/bin/env bash
# The lag peer: lsyncd (inotify + rsync over SSH to a temporary sshd on
# 127.0.0.1). From a file's close on the source to the same file, whole, on
# the target. Usage: scripts/bench/lag-lsyncd.sh [SAMPLES] [DELAY] [rest|load]
# (default 20 15 rest; lsyncd's own default delay is 15 s).
# Prints "lag lsyncd delay=D (<mode>): n=N median=<ms> p99=<ms> max=<ms>".
set -euo pipefail
samples=${1:-20}
delay=${2:-15}
mode=${3:-rest}
source "$(dirname "$0")/lib.sh"
command -v lsyncd >/dev/null || { echo "lsyncd is missing (apt-get install lsyncd)" >&2; exit 1; }
bench_sshd
src=$bench_work/lsyncd-src dst=$bench_work/lsyncd-dst
mkdir -p "$src" "$dst"
cat > "$bench_work/lsyncd.conf" <<CONF
settings { nodaemon = true, logfile = "$bench_work/lsyncd.log", statusFile = "$bench_work/lsyncd.status" }
sync {
  default.rsync,
  source = "$src",
  target = "root@127.0.0.1:$dst",
  delay = $delay,
  rsync = { archive = true, rsh = "/usr/bin/ssh -p $bench_port -o BatchMode=yes -i $HOME/.ssh/id_ed25519 -o UserKnownHostsFile=$HOME/.ssh/known_hosts" },
}
CONF
lsyncd "$bench_work/lsyncd.conf" >/dev/null 2>&1 &
bench_pids+=($!)
lsyncd_pid=$!
if [ "$mode" = load ]; then
  ( i=0; while true; do i=$((i+1)); head -c $((RANDOM * 2)) /dev/urandom > "$src/load-$((i % 200))"
      echo "$i" >> "$src/load.log"; sleep 0.01; done ) &
  bench_pids+=($!)
fi
# lsyncd's start-up rsync of the (empty) tree.
echo ready > "$src/ready"
until [ -f "$dst/ready" ]; do
  kill -0 "$lsyncd_pid" 2>/dev/null || { echo "lsyncd exited: $(tail -3 "$bench_work/lsyncd.log" 2>/dev/null)" >&2; exit 1; }
  sleep 0.05
done
for i in $(seq 1 "$samples"); do
  printf 'sample %s\n' "$i" > "$src/lag-$i"
  ms_until test -s "$dst/lag-$i"
  sleep 0.05
done > "$bench_work/lag.txt"
lag_report "lag lsyncd delay=$delay ($mode)" "lsyncd-delay$delay-$mode" "$bench_work/lag.txt"
