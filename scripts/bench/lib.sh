# Shared set-up for the benchmark scripts: two mounted stores (master and
# slave) and a temporary sshd on 127.0.0.1, all removed by bench_cleanup.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# bin/h2fs, the command a user runs (it drops NODE_EXTRA_CA_CERTS, see there).
h2fs() { "$root/bin/h2fs" "$@"; }
bench_work=$(mktemp -d /tmp/h2fs-bench.XXXXXX)
bench_pids=()
bench_cleanup() {
  set +e
  cd /
  disown -a 2>/dev/null
  for p in "${bench_pids[@]}"; do kill -INT "$p" 2>/dev/null; done
  sleep 1
  for p in "${bench_pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for m in "$bench_work"/*/mnt; do
    grep -q " $m fuse.h2fs " /proc/mounts && { h2fs umount "$m" || umount -l "$m"; }
  done
  # Anything else a part mounted under the work dir (tmpfs, loop images), deepest first.
  awk -v w="$bench_work/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$bench_work"
}
trap bench_cleanup EXIT
# So that a kill (or timeout(1)) still runs the cleanup.
trap 'exit 143' TERM
trap 'exit 130' INT

# bench_store NAME [mount options]: newfs + mount at $bench_work/NAME/mnt
bench_store() {
  mkdir -p "$bench_work/$1/mnt"
  h2fs newfs "$bench_work/$1/store" >/dev/null
  h2fs mount "$bench_work/$1/store" "$bench_work/$1/mnt" ${2:+-o "$2"}
}

# bench_sshd: starts sshd on 127.0.0.1:$bench_port; exports HOME, H2FS_REMOTE for h2fs.
# Its sessions get HOME=$bench_work/sshd/home: sshd runs every remote
# command through the login shell, and bash then reads ~/.bashrc; on a
# machine whose root .bashrc does real work (here: pyenv init, about 100 ms,
# measured) that would add to every peer's every round and measure the shell
# set-up rather than the tools.
bench_sshd() {
  local d=$bench_work/sshd
  mkdir -p /run/sshd "$d/home/.ssh"
  ssh-keygen -q -t ed25519 -N '' -f "$d/hostkey"
  ssh-keygen -q -t ed25519 -N '' -f "$d/home/.ssh/id_ed25519"
  bench_port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  printf '%s\n' "Port $bench_port" "ListenAddress 127.0.0.1" "HostKey $d/hostkey" "PidFile $d/sshd.pid" \
    "AuthorizedKeysFile $d/home/.ssh/id_ed25519.pub" "PermitRootLogin yes" "PasswordAuthentication no" \
    "KbdInteractiveAuthentication no" "UsePAM no" "StrictModes no" "LogLevel ERROR" \
    "SetEnv HOME=$d/home" > "$d/sshd_config"
  echo "[127.0.0.1]:$bench_port $(cut -d' ' -f1,2 "$d/hostkey.pub")" > "$d/home/.ssh/known_hosts"
  /usr/sbin/sshd -D -e -f "$d/sshd_config" 2>"$d/sshd.log" &
  bench_pids+=($!)
  for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$bench_port") 2>/dev/null && break; sleep 0.05; done
  export HOME=$d/home H2FS_REMOTE="$root/bin/h2fs" SSH_AUTH_SOCK=
}

# proc_counters PID: "CPU-ms major-faults bytes-read-from-disk" of a process so far.
proc_counters() {
  local tck; tck=$(getconf CLK_TCK)
  awk -v t="$tck" '{ sub(/.*\) /, ""); printf "%d %d ", ($12 + $13) * 1000 / t, $10 }' "/proc/$1/stat"
  awk '$1 == "read_bytes:" { print $2 }' "/proc/$1/io"
}

# link_tid LINK: the TID a slave link points at, as a number.
link_tid() { printf '%d' "$(readlink "$1" | sed 's/^@@\(0x[0-9a-f]*\):.*/\1/')"; }

# mbs_ns BYTES NS: 10^6 bytes per second, one decimal.
mbs_ns() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.1f", b / 1e6 / (ns / 1e9) }'; }

# median: reads numbers, prints their median ("-" when there are none).
median() {
  sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2];
                                      else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# stats: reads numbers (ms), prints "n median p99 max"
stats() { sort -n | awk '{a[NR]=$1} END {n=NR; m=a[int((n+1)/2)]; p=a[int(n*0.99+0.999)]; printf "%d %s %s %s\n", n, m, p, a[n]}'; }

# bench_rss_watch LABEL PID: samples PID's memory every 0.2 s until it exits
# (or bench_cleanup); appends "LABEL peak_rss_anon_kib peak_hwm_kib" to
# $bench_work/rss.txt when it ends. RssAnon is the process's own memory;
# VmHWM also counts LMDB's mmapped file pages (reclaimable page cache).
# A part that writes its current phase to $bench_work/phase also gets
# "LABEL<TAB>phase" of the RssAnon peak in $bench_work/rss-phase.txt.
bench_rss_watch() {
  local label=$1 pid=$2
  (
    anon=0 hwm=0 at=
    while [ -r "/proc/$pid/status" ]; do
      read -r a h < <(awk '/^RssAnon:/ {a=$2} /^VmHWM:/ {h=$2} END {print a+0, h+0}' "/proc/$pid/status" 2>/dev/null || echo "0 0")
      if [ "${a:-0}" -gt "$anon" ]; then
        anon=$a
        [ -r "$bench_work/phase" ] && at=$(<"$bench_work/phase")
      fi
      [ "${h:-0}" -gt "$hwm" ] && hwm=$h
      sleep 0.2
    done
    echo "$label $anon $hwm" >> "$bench_work/rss.txt"
    [ -n "$at" ] && printf '%s\t%s\n' "$label" "$at" >> "$bench_work/rss-phase.txt"
  ) &
  bench_pids+=($!)
}

# bench_daemon_pid NAME: the mount daemon's pid of store NAME.
bench_daemon_pid() { cat "$bench_work/$1/store/h2fs.pid"; }

# ms_until CMD...: runs CMD every 2 ms until it succeeds; prints the ms that
# took. Gives up (status 1, a line on stderr) after $ms_until_limit ms
# (default 120000), so a sample that never comes stops the run, not hangs it.
ms_until() {
  # EPOCHREALTIME (microseconds, no fork): the loop polls every 2 ms.
  local start now limit=${ms_until_limit:-120000}
  start=${EPOCHREALTIME/[.,]/}
  until "$@"; do
    now=${EPOCHREALTIME/[.,]/}
    if (( (now - start) / 1000 > limit )); then
      echo "bench: gave up after $limit ms waiting for: $*" >&2
      return 1
    fi
    sleep 0.002
  done
  now=${EPOCHREALTIME/[.,]/}
  echo $(( (now - start) / 1000 ))
}

# lag_report LABEL PEER FILE: the summary line and RESULT lines of FILE's samples (ms).
lag_report() {
  local n med p99 max
  read -r n med p99 max < <(stats < "$3")
  echo "$1: n=$n median=${med}ms p99=${p99}ms max=${max}ms"
  result lag "$2" median_ms "$med" ms
  result lag "$2" p99_ms "$p99" ms
}

# result PART PEER METRIC VALUE UNIT: one machine-readable result line on stdout.
result() { printf 'RESULT part=%s peer=%s metric=%s value=%s unit=%s\n' "$@"; }

# The A/B scripts (round-ab.sh, bulk-ab.sh). ab_builds NAME A_TREE B_TREE:
# the two builds, as `ab_cmd BUILD` (each build as a user runs it: its bin/h2fs
# launcher where it has one) and `ab_run BUILD ARGS...`; then a master store
# mounted by B's build with a master PFS at $M, each build's own slave store
# at $bench_work/sA and sB mounted by that build, and the sshd.
declare -A ab_tree
ab_builds() {
  local name=$1 v
  ab_tree=([A]=$2 [B]=$3)
  mkdir -p "$bench_work/m/mnt" "$bench_work/sA/mnt" "$bench_work/sB/mnt"
  ab_run B newfs "$bench_work/m/store" >/dev/null
  ab_run B mount "$bench_work/m/store" "$bench_work/m/mnt"
  for v in A B; do
    ab_run "$v" newfs "$bench_work/s$v/store" >/dev/null
    ab_run "$v" mount "$bench_work/s$v/store" "$bench_work/s$v/mnt"
  done
  bench_sshd
  M=$bench_work/m/mnt/obj
  ab_run B pfs-master "$M" >/dev/null
  for v in A B; do
    echo "$name: $v=${ab_tree[$v]} ($(git -C "${ab_tree[$v]}" rev-parse --short HEAD 2>/dev/null || echo '?'))"
  done
}
ab_cmd() { if [ -x "${ab_tree[$1]}/bin/h2fs" ]; then echo "${ab_tree[$1]}/bin/h2fs"; else echo "$(command -v node) ${ab_tree[$1]}/dist/src/bin/h2fs.js"; fi; }
ab_run() { local v=$1; shift; $(ab_cmd "$v") "$@"; }
