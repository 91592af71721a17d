#!/usr/bin/env bash
# Lag of mirror-stream: from `h2fs synctid` returning T on the master to the
# slave's link showing a TID >= T, over SSH to a temporary sshd on 127.0.0.1.
# Usage: scripts/bench/lag.sh [SAMPLES] [rest|load]   (default 100 rest)
# Prints one line: "lag (<mode>): n=<N> median=<ms> p99=<ms> max=<ms>".
set -euo pipefail
samples=${1:-100}
mode=${2:-rest}
source "$(dirname "$0")/lib.sh"
bash "$root/scripts/setup.sh" >/dev/null
bench_store master
bench_store slave
m=$bench_work/master/mnt s=$bench_work/slave/mnt
h2fs pfs-master "$m/obj" >/dev/null
bench_sshd
bench_rss_watch "mount daemon (master)" "$(bench_daemon_pid master)"
bench_rss_watch "mount daemon (slave)" "$(bench_daemon_pid slave)"
# The launcher itself (it execs node), not the h2fs() shell function, so that $! is the process to watch and stop.
"$root/bin/h2fs" -y mirror-stream "$m/obj" "127.0.0.1:$bench_port:$s/pfs1" 2>"$bench_work/stream.log" &
stream_pid=$!
bench_pids+=($stream_pid)
bench_rss_watch "mirror-stream" "$stream_pid"
if [ "$mode" = load ]; then
  # A steady write load on the master: files of 0-64 KiB, appends and deletes.
  ( i=0; while true; do i=$((i+1)); head -c $((RANDOM * 2)) /dev/urandom > "$m/obj/load-$((i % 200))"
      echo "$i" >> "$m/obj/load.log"; sleep 0.01; done ) &
  load_pid=$!
  bench_pids+=($load_pid)
fi
first=$(h2fs synctid "$m")
until [ -L "$s/pfs1" ] && [ "$(link_tid "$s/pfs1")" -ge "$((first))" ]; do sleep 0.05; done
slave_at() {
  if ! kill -0 "$stream_pid" 2>/dev/null; then
    echo "lag: mirror-stream exited; the last lines of its log:" >&2
    tail -n 5 "$bench_work/stream.log" >&2
    exit 1
  fi
  [ "$(link_tid "$s/pfs1")" -ge "$(($1))" ]
}
for i in $(seq 1 "$samples"); do
  echo "sample $i" > "$m/obj/lag-$i"
  ms_until slave_at "$(h2fs synctid "$m")"
  sleep 0.05
done > "$bench_work/lag.txt"
lag_report "lag ($mode)" "h2fs-$mode" "$bench_work/lag.txt"
# Memory: stop the stream and unmount, so each watcher writes its peak.
# SIGTERM: a background job of a script starts with SIGINT ignored.
# The load writes into the master: stop it first, or the umount finds it busy.
if [ -n "${load_pid:-}" ]; then kill -TERM "$load_pid"; wait "$load_pid" 2>/dev/null || true; fi
kill -TERM "$stream_pid"; wait "$stream_pid" 2>/dev/null || true
h2fs umount "$m" && h2fs umount "$s"
# The daemons exit just after umount answers; each watcher then writes its line.
for _ in $(seq 1 50); do [ "$(wc -l < "$bench_work/rss.txt" 2>/dev/null || echo 0)" -ge 3 ] && break; sleep 0.2; done
awk -v mode="$mode" '{ n=NF; hwm=$n; anon=$(n-1); $n=""; $(n-1)=""; sub(/ +$/, "");
  printf "memory (lag %s): %s: RssAnon peak %.0f MiB, VmHWM %.0f MiB\n", mode, $0, anon/1024, hwm/1024 }' "$bench_work/rss.txt"
