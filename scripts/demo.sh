#!/usr/bin/env bash
# The main job, on this machine: two stores (a master and a slave), each
# mounted; mirror-stream from the master's PFS to the slave over SSH to a
# temporary sshd on 127.0.0.1 (or a local path when sshd is missing); writes
# on the master while it streams; and the user's check, the slave's
# `tar cf - . | md5sum` next to the master's at the same TID.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
root=$PWD
# bin/h2fs, the command a user runs (it drops NODE_EXTRA_CA_CERTS, see there).
h2fs() { "$root/bin/h2fs" "$@"; }
work=$(mktemp -d /tmp/h2fs-demo.XXXXXX)
mstore=$work/master-store mmnt=$work/master
sstore=$work/slave-store smnt=$work/slave
mkdir -p "$mmnt" "$smnt"
stream_pid='' sshd_pid=''
cleanup() {
  set +e
  cd /
  [ -n "$stream_pid" ] && kill -TERM "$stream_pid" 2>/dev/null && wait "$stream_pid" 2>/dev/null || true
  [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null || true
  for m in "$mmnt" "$smnt"; do
    if grep -q " $m fuse.h2fs " /proc/mounts; then h2fs umount "$m" || umount -l "$m"; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
link_tid() { readlink "$smnt/pfs1" | sed 's/^@@\(0x[0-9a-f]*\):.*/\1/'; }
wait_slave() { # until the slave link shows a TID >= $1
  for _ in $(seq 1 600); do
    [ -L "$smnt/pfs1" ] && [ $(( $(link_tid) )) -ge $(( $1 )) ] && return 0
    sleep 0.05
  done
  echo "slave did not catch up" >&2; return 1
}
check() {
  local t; t=$(link_tid)
  local s m
  s=$(cd -P "$smnt/pfs1" && tar cf - . | md5sum | cut -d' ' -f1)
  m=$(tar cf - -C "$mmnt/obj/@@$t" . | md5sum | cut -d' ' -f1)
  printf '  slave  cd -P pfs1 (%s)  %s\n  master obj/@@%s       %s  %s\n' "$(cd -P "$smnt/pfs1" && pwd | sed "s|$work/||")" "$s" "$t" "$m" \
    "$([ "$s" = "$m" ] && echo SAME || echo DIFFERENT)"
  [ "$s" = "$m" ]
}

say "both hosts: h2fs newfs STORE && h2fs mount STORE MNT"
h2fs newfs "$mstore" label=master >/dev/null && h2fs mount "$mstore" "$mmnt"
h2fs newfs "$sstore" label=slave >/dev/null && h2fs mount "$sstore" "$smnt"
say "master: h2fs pfs-master $mmnt/obj"
h2fs pfs-master "$mmnt/obj" | head -1
h2fs pfs-status "$mmnt/obj" | grep shared-uuid
say "slave: h2fs pfs-slave $smnt/pfs1 \$(h2fs pfs-status $mmnt/obj | grep shared-uuid)"
h2fs pfs-slave "$smnt/pfs1" $(h2fs pfs-status "$mmnt/obj" | grep shared-uuid) | head -1
echo "  $smnt/pfs1 -> $(readlink "$smnt/pfs1")"

dst="$smnt/pfs1" via='a local path'
if [ -x /usr/sbin/sshd ] && [ "$(id -u)" = 0 ]; then
  mkdir -p /run/sshd "$work/home/.ssh"
  ssh-keygen -q -t ed25519 -N '' -f "$work/hostkey"
  ssh-keygen -q -t ed25519 -N '' -f "$work/home/.ssh/id_ed25519"
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  cat > "$work/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $work/hostkey
PidFile $work/sshd.pid
AuthorizedKeysFile $work/home/.ssh/id_ed25519.pub
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel ERROR
EOF
  echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$work/hostkey.pub")" > "$work/home/.ssh/known_hosts"
  /usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
  sshd_pid=$!
  for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  export HOME=$work/home H2FS_REMOTE="$root/bin/h2fs" SSH_AUTH_SOCK=
  dst="127.0.0.1:$port:$smnt/pfs1" via="SSH to a temporary sshd on 127.0.0.1:$port"
fi

say "master: h2fs -v -b 20m mirror-stream $mmnt/obj $dst   ($via)"
# The launcher itself (it execs node), not the h2fs() function, so that $! is the process to stop.
"$root/bin/h2fs" -v -b 20m mirror-stream "$mmnt/obj" "$dst" 2>"$work/stream.log" &
stream_pid=$!

say "write on the master while it streams: a real tree, then edits"
src=$(ls -d /usr/share/perl5 /usr/share/perl 2>/dev/null | head -1)
cp -a "$src" "$mmnt/obj/tree"
T=$(h2fs synctid "$mmnt"); wait_slave "$T"; check
mapfile -t pms < <(find "$mmnt/obj/tree" -name '*.pm' | sort)
for round in 1 2 3; do
  for f in "${pms[@]:$((round * 10)):10}"; do echo "# round $round" >> "$f"; done
  rm -f "${pms[$((round * 10 + 50))]}"
  mkdir -p "$mmnt/obj/round-$round" && echo "round $round" > "$mmnt/obj/round-$round/note"
  T=$(h2fs synctid "$mmnt")
  start=$(date +%s%N); wait_slave "$T"; end=$(date +%s%N)
  say "round $round: master committed $T, slave showed it $(( (end - start) / 1000000 )) ms later"
  check
done

say "the slave is read-only, and keeps history"
touch "$smnt/pfs1/nope" 2>&1 | sed 's/^/  /' || true
first=$(h2fs history "$mmnt/obj/round-1/note" | sed -n 2p | awk '{print $1}')
echo "  round-1/note as of $first on the slave: $(cat "$smnt/@@$first:$(readlink "$smnt/pfs1" | sed 's/.*://')/round-1/note")"

# SIGTERM: a script's background job starts with SIGINT ignored.
kill -TERM "$stream_pid"; wait "$stream_pid" || true; stream_pid=''
say "mirror-stream's own words (-v):"
tail -n 3 "$work/stream.log" | tr '\r' '\n' | grep -v '^$' | tail -n 3 | sed 's/^/  /'
say "OK: slave == master at every TID checked"
