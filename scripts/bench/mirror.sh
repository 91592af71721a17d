#!/usr/bin/env bash
# Benchmark parts 2 (incremental) and 3 (bulk): mirroring a generated tree
# from a master to a slave over SSH (to lib.sh's temporary sshd on
# 127.0.0.1), by three peers, one after the other:
#   h2fs   master store (bench_store), `h2fs pfs-master $M/obj`, tree in
#          $M/obj; each mirror is
#          `h2fs mirror-copy $M/obj 127.0.0.1:PORT:$S/pfs1` (the first with
#          -y, which creates the slave PFS) into a second bench_store;
#          mirror-copy makes its consistent point itself (a synctid).
#          h2fs uses its built-in SSH client (ssh2), the others OpenSSH.
#   btrfs  two loop-mounted btrfs images in $bench_work (on /tmp, ext4),
#          source tree in a subvolume; each mirror is
#          `btrfs subvolume snapshot -r` then
#          `btrfs send [-p PREV] NEW | ssh ... btrfs receive DIR`.
#   rsync  source and destination are plain directories in $bench_work (on
#          /tmp, ext4); each mirror is
#          `rsync -a --delete --stats -e "ssh ..." SRC/ root@127.0.0.1:DST/`.
# Times are wall clock around the commands above, SSH connection set-up
# included; they include the step that makes the consistent point (btrfs:
# the read-only snapshot, also reported on its own as prep_ms; h2fs: inside
# mirror-copy, prep_ms 0). Before each timed mirror everything is written
# back (`sync`, then 2 s so h2fs's 1 s flush group commits too), untimed,
# so that no peer's time includes writing the changes back. Note that
# `h2fs mirror-copy` returns only once the slave has the last TID on disk;
# rsync and btrfs receive return with the data still in the page cache.
# Bytes on the wire = the payload the source ships, before SSH framing:
#   h2fs   the slave daemon's log line per session,
#          "mirror-write session PATH: N bytes in" (stream bytes it decoded);
#          cross-checked against mirror-copy -v's "B bytes on the wire".
#   btrfs  the size of the send stream: the same `btrfs send [-p PREV] NEW`
#          piped into `wc -c` again after the timed run, untimed, so the
#          timed pipeline carries no counting stage (the stream of a given
#          pair of snapshots is deterministic).
#   rsync  --stats "Total bytes sent" (rsync protocol bytes into ssh).
# Part 3 "bulk": the first full mirror of the tree (time, MB/s of tree
#   content, bytes): the median of K first copies (--bulk-copies, default
#   3) of the 1x tree, each to a destination of its own (the first is the
#   one the rounds go on to), one of the big tree; and the ceiling:
#   `ssh ... 'cat >/dev/null' < FILE` with FILE random and as big as the
#   tree's content (median of 3).
# Part 2 "incr": R rounds of 100 changes (50 modify = overwrite 512 B..16 KiB
#   at a random offset, 20 create, 15 delete, 15 rename into a random
#   directory), the same list for every peer (fixed seed), each round
#   mirrored; per-round time and bytes, medians. Then the same with the "big"
#   tree (F times as many files; its own change list, same mix) to see
#   whether the cost follows the changes or the tree ("incr-big"). h2fs's
#   1x pair stays mounted meanwhile and gets a round (further rounds of the
#   1x list) next to each big one ("incr-ctl"): its growth goal is big over
#   that, both measured in the same minutes (see peer_h2fs).
# Tree: files of 1 to 64 KiB of seeded random content, 100 files a
#   directory, 32 directories a top directory. It is written once to
#   $bench_work/stage (untimed) and copied into each peer's source with
#   cp -a (untimed). Each peer's source and destination are compared
#   (names, sizes, SHA-1 of content) after its last mirror, and the three
#   peers' trees with each other; --no-verify skips that.
# Peers run one at a time and each is torn down before the next (but
# h2fs's 1x pair, kept for the big rounds), so the disk holds the staging
# tree plus one peer's source and copies at a time (the script checks for
# room first). MB/s is 10^6 bytes/s.
# Usage: scripts/bench/mirror.sh [--files N] [--big-factor F] [--rounds R]
#          [--bulk-copies K] [--part bulk|incr|all] [--no-verify]   (defaults 50000 10 5 3 all)
# Prints RESULT lines (lib.sh's result), then a table of medians with the
# h2fs/btrfs and h2fs/rsync ratios against the goals, and the h2fs daemons'
# peak memory. Needs root (loop mounts, FUSE), btrfs-progs, rsync, ssh, python3.
set -euo pipefail

usage() { echo "usage: $0 [--files N] [--big-factor F] [--rounds R] [--bulk-copies K] [--part bulk|incr|all] [--no-verify]   (defaults 50000 10 5 3 all)"; }
files=50000 big_factor=10 rounds=5 bulk_copies=3 part=all verify=1
while [ $# -gt 0 ]; do
  case $1 in
    --files|--big-factor|--rounds|--bulk-copies|--part)
      [ $# -ge 2 ] || { echo "mirror: $1 needs a value" >&2; usage >&2; exit 2; }
      opt=${1#--} val=$2; shift 2 ;;
    --files=*|--big-factor=*|--rounds=*|--bulk-copies=*|--part=*)
      opt=${1%%=*} opt=${opt#--} val=${1#*=}; shift ;;
    --no-verify) verify=0; shift; continue ;;
    -h|--help) usage; exit 0 ;;
    *) echo "mirror: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  opt=${opt//-/_}
  if [ "$opt" = part ]; then
    case $val in bulk|incr|all) ;; *) echo "mirror: --part expects bulk, incr or all, got '$val'" >&2; exit 2 ;; esac
  else
    [[ $val =~ ^[1-9][0-9]*$ ]] || { echo "mirror: --${opt//_/-} expects a positive integer, got '$val'" >&2; exit 2; }
  fi
  printf -v "$opt" '%s' "$val"
done
do_bulk=0 do_incr=0
case $part in bulk) do_bulk=1 ;; incr) do_incr=1 ;; all) do_bulk=1 do_incr=1 ;; esac
changes_per_round=100
seed=20240601

[ "$(id -u)" = 0 ] || { echo "mirror: must run as root (FUSE and loop mounts, sshd)" >&2; exit 1; }
for c in btrfs mkfs.btrfs losetup rsync ssh python3 mountpoint; do
  command -v "$c" >/dev/null 2>&1 || { echo "mirror: '$c' not found (apt-get install btrfs-progs rsync openssh-client python3 util-linux)" >&2; exit 1; }
done
[ -e /dev/fuse ] || { echo "mirror: /dev/fuse missing" >&2; exit 1; }

source "$(dirname "$0")/lib.sh"
[ -f "$root/dist/src/bin/h2fs.js" ] || { echo "mirror: $root/dist is not built (run scripts/setup.sh)" >&2; exit 1; }

# What this script mounts besides the h2fs stores: btrfs loop mounts. They
# go before lib.sh's bench_cleanup, which unmounts the stores and rm -rf's
# $bench_work (where the images and mount points are).
btrfs_mounts=() loop_devs=()
mirror_cleanup() {
  local rc=$?
  set +e
  cd /
  local m d
  for m in "${btrfs_mounts[@]}"; do
    if mountpoint -q "$m" 2>/dev/null; then umount "$m" 2>/dev/null || umount -l "$m"; fi
  done
  for d in "${loop_devs[@]}"; do
    losetup "$d" >/dev/null 2>&1 && losetup -d "$d"
  done
  bench_cleanup
  exit "$rc"
}
trap mirror_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { echo "mirror: $(date +%T) $*" >&2; }
now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }
# mbs BYTES MS: 10^6 bytes per second, one decimal.
mbs() { awk -v b="$1" -v ms="$2" 'BEGIN { printf "%.1f", (ms > 0 ? b / 1e6 / (ms / 1e3) : 0) }'; }
# settle: write everything back, and give h2fs's 1 s flush group time to commit.
settle() { sync; sleep 2; }

# record PART PEER METRIC VALUE UNIT: a RESULT line, kept for the table too.
record() {
  result "$@"
  echo "$1 $2 $3 $4" >> "$bench_work/results.txt"
}
: > "$bench_work/results.txt"

# The tree generator, change list and its applier, and the tree digest.
treepy() { python3 "$root/scripts/bench/tree.py" "$@"; }

bench_sshd
# OpenSSH takes ~/.ssh from the passwd entry, not $HOME: name the bench key
# and known_hosts explicitly.
ssh_cmd="ssh -p $bench_port -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -i $HOME/.ssh/id_ed25519 -o UserKnownHostsFile=$HOME/.ssh/known_hosts -o StrictHostKeyChecking=yes -o LogLevel=ERROR"
$ssh_cmd root@127.0.0.1 true || { say "cannot ssh to the bench sshd on 127.0.0.1:$bench_port"; exit 1; }

# ---------------------------------------------------------------- h2fs
# h2fs_setup VARIANT(1x|big): the master and slave stores, their memory
# watchers, the tree copied into the master PFS.
declare -A h2fs_watch=()
h2fs_setup() {
  local v=$1 mn=h2m_$1 sn=h2s_$1
  local M=$bench_work/$mn/mnt
  bench_store "$mn"
  bench_store "$sn"
  local sfx=; [ "$v" = big ] && sfx=-big
  bench_rss_watch "h2fs-master$sfx" "$(bench_daemon_pid "$mn")"; h2fs_watch[$v]=${bench_pids[-1]}
  bench_rss_watch "h2fs-slave$sfx" "$(bench_daemon_pid "$sn")"; h2fs_watch[$v]="${h2fs_watch[$v]} ${bench_pids[-1]}"
  h2fs pfs-master "$M/obj" >/dev/null
  say "h2fs: copying the tree into $M/obj (untimed)"
  local t=$(now_ns)
  cp -a "$bench_work/stage/." "$M/obj/"
  say "h2fs: copied in $(( $(ms_since "$t") / 1000 )) s"
}

# h2fs_round VARIANT ROUND PART_BULK PART_INCR [PFS]: one timed mirror-copy
# of what the master holds to slave PFS (default pfs1; round 0: a first
# copy, which creates it).
h2fs_round() {
  local v=$1 r=$2 pb=$3 pi=$4 pfs=${5:-pfs1} mn=h2m_$1 sn=h2s_$1
  local M=$bench_work/$mn/mnt S=$bench_work/$sn/mnt
  local log=$bench_work/$sn/store/h2fs.log out=$bench_work/h2fs-copy-$v.log
  local mpid spid y=
  mpid=$(bench_daemon_pid "$mn") spid=$(bench_daemon_pid "$sn")
  [ "$r" = 0 ] && y=-y
  local lines t0 t1 t2 bytes wire
  lines=$(wc -l < "$log")
  # mirror-copy commits the master's pending changes itself (as HAMMER's
  # mirror-read does a synctid first): no separate prep step.
  local cm cs
  cm=$(proc_counters "$mpid") cs=$(proc_counters "$spid")
  t0=$(now_ns)
  t1=$t0
  h2fs -v $y mirror-copy "$M/obj" "127.0.0.1:$bench_port:$S/$pfs" >"$out" 2>&1 || { cat "$out" >&2; say "h2fs: mirror-copy failed"; exit 1; }
  t2=$(now_ns)
  # The slave logs its session line when the session ends, maybe just
  # after mirror-copy has returned.
  for _ in $(seq 1 300); do
    awk -v k="$lines" 'NR > k && /mirror-write session .*bytes in/ { f = 1 } END { exit !f }' "$log" && break
    sleep 0.1
  done
  bytes=$(awk -v k="$lines" 'NR > k && match($0, /mirror-write session .*: [0-9]+ bytes in/) {
      s = substr($0, RSTART, RLENGTH); sub(/ bytes in$/, "", s); sub(/.*: /, "", s); n++; t += s }
    END { if (n) printf "%.0f\n", t }' "$log")
  [ -n "$bytes" ] || { say "h2fs: no 'mirror-write session' line in $log"; exit 1; }
  if ! awk -v k="$lines" 'NR > k && /mirror-write session/ && !/\(completed\)/ { f = 1 } END { exit f }' "$log"; then
    say "h2fs: warning: a mirror-write session did not complete: $(awk -v k="$lines" 'NR > k && /mirror-write session/' "$log")"
  fi
  wire=$(sed -n 's/.* \([0-9][0-9]*\) bytes on the wire.*/\1/p' "$out" | tail -n 1)
  [ "$wire" = "$bytes" ] || say "h2fs: note: mirror-copy -v says ${wire:-?} bytes on the wire, the slave log $bytes"
  mirror_record h2fs "$v" "$r" "$pb" "$pi" $(( (t2 - t0) / 1000000 )) $(( (t1 - t0) / 1000000 )) "$bytes"
  # Where a round's time goes, per daemon: CPU, major page faults (pages
  # of the store read back from disk through the map) and bytes read.
  if [ "$r" -gt 0 ]; then
    local who c0 c1 cpu0 maj0 rb0 cpu1 maj1 rb1
    for who in master slave; do
      if [ "$who" = master ]; then c0=$cm c1=$(proc_counters "$mpid"); else c0=$cs c1=$(proc_counters "$spid"); fi
      read -r cpu0 maj0 rb0 <<<"$c0"; read -r cpu1 maj1 rb1 <<<"$c1"
      say "h2fs: round $r ($pi): $who daemon $(( cpu1 - cpu0 )) ms CPU, $(( maj1 - maj0 )) major faults, $(( (rb1 - rb0) / 1024 )) KiB read from disk"
      record "$pi" "h2fs-$who" "round${r}_cpu_ms" $(( cpu1 - cpu0 )) ms
      record "$pi" "h2fs-$who" "round${r}_majflt" $(( maj1 - maj0 )) faults
      record "$pi" "h2fs-$who" "round${r}_read_kib" $(( (rb1 - rb0) / 1024 )) KiB
    done
  fi
}

# h2fs_teardown VARIANT VERIFY_AS: checks the slave against the master
# (VERIFY_AS: the variant whose other peers' trees it must also equal;
# "-" for none), unmounts both, reports the logs' warnings, removes the stores.
h2fs_teardown() {
  local v=$1 mn=h2m_$1 sn=h2s_$1
  local M=$bench_work/$mn/mnt S=$bench_work/$sn/mnt log=$bench_work/h2s_$1/store/h2fs.log
  local mpid spid
  mpid=$(bench_daemon_pid "$mn") spid=$(bench_daemon_pid "$sn")
  if [ "$verify" = 1 ]; then
    verify_pair h2fs "$2" "$(cd -P "$M/obj" && pwd)" "$(cd -P "$S/pfs1" && pwd)"
  fi
  # Unmount: the daemons exit and the memory watchers write their lines.
  h2fs umount "$M"
  h2fs umount "$S"
  for _ in $(seq 1 300); do [ -e "/proc/$mpid" ] || [ -e "/proc/$spid" ] || break; sleep 0.1; done
  [ -e "/proc/$mpid" ] && say "warning: h2fs master daemon $mpid still running 30 s after umount"
  [ -e "/proc/$spid" ] && say "warning: h2fs slave daemon $spid still running 30 s after umount"
  # shellcheck disable=SC2086 # two pids
  wait ${h2fs_watch[$v]} 2>/dev/null || true
  local f
  for f in "$bench_work/$mn/store/h2fs.log" "$log"; do
    awk '!/mirror-write session .*\(completed\)/ && /[Ee]rror|[Ww]arn|[Ff]ail|[Rr]efus|[Ll]ost|replace/' "$f" |
      sed "s|^|mirror: h2fs log ${f#$bench_work/}: |" >&2
  done
  say "h2fs: store sizes: master $(du -sh "$bench_work/$mn/store" | cut -f1), slave $(du -sh "$bench_work/$sn/store" | cut -f1)"
  rm -rf "${bench_work:?}/$mn" "${bench_work:?}/$sn"
}

# peer_h2fs VARIANT(1x|big) PART_BULK PART_INCR
# The growth goal compares two h2fs round times, and this VM drifts by more
# than 20% in the quarter of an hour between the 1x rounds and the big ones
# (run H: 1.21 from the two phases; 24 rounds interleaved, another day: 1.02). So
# with the incremental part on, the 1x pair stays mounted after its own
# rounds, and every big round is paired with a 1x round (the 1x list's
# rounds R+1..2R) run right before or after it, in alternating order: part
# "incr-ctl". The growth is incr-big over incr-ctl; incr-big over incr (the
# phases' ratio) is printed beside it.
peer_h2fs() {
  local v=$1 pb=$2 pi=$3 r
  h2fs_setup "$v"
  settle
  h2fs_round "$v" 0 "$pb" "$pi"
  # The other first copies of the bulk median, each to a slave PFS of its own.
  for r in $(seq 2 "$(copies_of "$v")"); do settle; h2fs_round "$v" 0 "$pb" "$pi" "bulk$r"; done
  bulk_summary h2fs "$pb"
  for r in $(seq 1 "$nr"); do
    treepy apply "$bench_work/changes-$v/round-$r.txt" "$bench_work/h2m_$v/mnt/obj"
    if [ "$v" = big ]; then treepy apply "$bench_work/changes-1x/round-$((nr + r)).txt" "$bench_work/h2m_1x/mnt/obj"; fi
    settle
    if [ "$v" != big ]; then
      h2fs_round "$v" "$r" "$pb" "$pi"
    elif [ $((r % 2)) = 1 ]; then
      h2fs_round big "$r" "$pb" "$pi"; h2fs_round 1x "$((nr + r))" - incr-ctl
    else
      h2fs_round 1x "$((nr + r))" - incr-ctl; h2fs_round big "$r" "$pb" "$pi"
    fi
  done
  if [ "$v" = 1x ] && [ "$do_incr" = 1 ]; then
    # Kept for the big rounds' interleaved 1x rounds: checked now, against the other peers too.
    if [ "$verify" = 1 ]; then
      verify_pair h2fs 1x "$(cd -P "$bench_work/h2m_1x/mnt/obj" && pwd)" "$(cd -P "$bench_work/h2s_1x/mnt/pfs1" && pwd)"
    fi
    return 0
  fi
  h2fs_teardown "$v" "$v"
  if [ "$v" = big ]; then h2fs_teardown 1x -; fi
}

# ---------------------------------------------------------------- btrfs
# btrfs_image NAME SIZE: a loop-mounted btrfs at $bench_work/btrfs/NAME-mnt
btrfs_image() {
  local img=$bench_work/btrfs/$1.img mp=$bench_work/btrfs/$1-mnt dev
  mkdir -p "$mp"
  truncate -s "$2" "$img"
  mkfs.btrfs -q -f "$img" >/dev/null
  dev=$(losetup --find --show "$img")
  loop_devs+=("$dev")
  mount -t btrfs "$dev" "$mp"
  btrfs_mounts+=("$mp")
}

# btrfs_mirror TREE SNAP DIR [-p PARENT]: a read-only snapshot SNAP of TREE,
# sent (from PARENT) to `btrfs receive DIR` over ssh; sets copy_ms (all of
# it) and copy_prep (the snapshot).
btrfs_mirror() {
  local tree=$1 snap=$2 into=$3 t0 t1 t2
  shift 3
  t0=$(now_ns)
  btrfs subvolume snapshot -r "$tree" "$snap" >/dev/null
  t1=$(now_ns)
  btrfs send -q "$@" "$snap" | $ssh_cmd root@127.0.0.1 "btrfs receive $into" \
    >"$bench_work/btrfs-recv.log" 2>&1 || { cat "$bench_work/btrfs-recv.log" >&2; say "btrfs: send | receive failed"; exit 1; }
  t2=$(now_ns)
  copy_ms=$(( (t2 - t0) / 1000000 )) copy_prep=$(( (t1 - t0) / 1000000 ))
}

peer_btrfs() {
  local v=$1 pb=$2 pi=$3 size
  local src=$bench_work/btrfs/src-mnt dst=$bench_work/btrfs/dst-mnt
  # Room for the tree twice (a snapshot's changes), 8 KiB a file of block
  # slack and metadata, and 1 GiB; the files are sparse.
  # Each further first copy of the bulk median takes as much again.
  local k copies; copies=$(copies_of "$v")
  size=$(( (tree_bytes * (1 + copies) + nfiles * 8192 * copies + (1 << 30)) >> 20 << 20 ))
  mkdir -p "$bench_work/btrfs"
  btrfs_image src "$size"
  btrfs_image dst "$size"
  btrfs subvolume create "$src/tree" >/dev/null
  mkdir "$dst/recv"
  say "btrfs: copying the tree into $src/tree (untimed)"
  local t=$(now_ns)
  cp -a "$bench_work/stage/." "$src/tree/"
  say "btrfs: copied in $(( $(ms_since "$t") / 1000 )) s"
  local r parent=()
  for r in $(seq 0 "$nr"); do
    if [ "$r" -gt 0 ]; then treepy apply "$bench_work/changes-$v/round-$r.txt" "$src/tree"; fi
    settle
    local bytes
    btrfs_mirror "$src/tree" "$src/snap-$r" "$dst/recv" "${parent[@]}"
    bytes=$(btrfs send -q "${parent[@]}" "$src/snap-$r" 2>/dev/null | wc -c)
    parent=(-p "$src/snap-$r")
    mirror_record btrfs "$v" "$r" "$pb" "$pi" "$copy_ms" "$copy_prep" "$bytes"
    [ "$r" -gt 0 ] && continue
    # The other first copies of the bulk median: a snapshot of the same
    # tree each, received into a directory of its own.
    for k in $(seq 2 "$copies"); do
      settle
      mkdir "$dst/recv$k"
      btrfs_mirror "$src/tree" "$src/snap-0-$k" "$dst/recv$k"
      mirror_record btrfs "$v" 0 "$pb" "$pi" "$copy_ms" "$copy_prep" "$bytes"
    done
    bulk_summary btrfs "$pb"
  done
  if [ "$verify" = 1 ]; then verify_pair btrfs "$v" "$src/snap-$nr" "$dst/recv/snap-$nr"; fi
  say "btrfs: used: source $(du -sh --apparent-size "$bench_work/btrfs/src.img" | cut -f1) (apparent), $(du -sh "$bench_work/btrfs/src.img" | cut -f1) on disk; destination $(du -sh "$bench_work/btrfs/dst.img" | cut -f1) on disk"
  local m d
  for m in "${btrfs_mounts[@]}"; do umount "$m"; done
  for d in "${loop_devs[@]}"; do losetup -d "$d" 2>/dev/null || true; done
  btrfs_mounts=() loop_devs=()
  rm -rf "${bench_work:?}/btrfs"
}

# ---------------------------------------------------------------- rsync
# rsync_mirror SRC DST: `rsync -a --delete` of SRC to DST over ssh; sets
# copy_ms and copy_bytes (--stats "Total bytes sent").
rsync_mirror() {
  local t0 t2
  t0=$(now_ns)
  rsync -a --delete --stats -e "$ssh_cmd" "$1/" "root@127.0.0.1:$2/" >"$bench_work/rsync.log" 2>&1 ||
    { cat "$bench_work/rsync.log" >&2; say "rsync: failed"; exit 1; }
  t2=$(now_ns)
  copy_ms=$(( (t2 - t0) / 1000000 ))
  copy_bytes=$(sed -n 's/^Total bytes sent: *//p' "$bench_work/rsync.log" | tr -d ',.')
  [ -n "$copy_bytes" ] || { cat "$bench_work/rsync.log" >&2; say "rsync: no 'Total bytes sent' in --stats"; exit 1; }
}

peer_rsync() {
  local v=$1 pb=$2 pi=$3
  local src=$bench_work/rsync/src dst=$bench_work/rsync/dst
  mkdir -p "$src" "$dst"
  say "rsync: copying the tree into $src (untimed)"
  cp -a "$bench_work/stage/." "$src/"
  local r
  for r in $(seq 0 "$nr"); do
    if [ "$r" -gt 0 ]; then treepy apply "$bench_work/changes-$v/round-$r.txt" "$src"; fi
    settle
    rsync_mirror "$src" "$dst"
    mirror_record rsync "$v" "$r" "$pb" "$pi" "$copy_ms" 0 "$copy_bytes"
    [ "$r" -gt 0 ] && continue
    # The other first copies of the bulk median, each to a directory of its own.
    local k
    for k in $(seq 2 "$(copies_of "$v")"); do
      settle
      rsync_mirror "$src" "$dst-$k"
      mirror_record rsync "$v" 0 "$pb" "$pi" "$copy_ms" 0 "$copy_bytes"
    done
    bulk_summary rsync "$pb"
  done
  if [ "$verify" = 1 ]; then verify_pair rsync "$v" "$src" "$dst"; fi
  rm -rf "${bench_work:?}/rsync"
}

# mirror_record PEER VARIANT ROUND PART_BULK PART_INCR TIME_MS PREP_MS BYTES
# Round 0 is the first (bulk) mirror, rounds 1.. the incremental ones.
mirror_record() {
  local peer=$1 v=$2 r=$3 pb=$4 pi=$5 ms=$6 prep=$7 bytes=$8
  if [ "$r" = 0 ]; then
    local k=1
    [ -f "$bench_work/bulk-$pb-$peer-time" ] && k=$(( $(wc -l < "$bench_work/bulk-$pb-$peer-time") + 1 ))
    say "$peer: first mirror ($k): $ms ms (prep $prep ms), $bytes bytes, $(mbs "$tree_bytes" "$ms") MB/s"
    record "$pb" "$peer" "copy${k}_time_ms" "$ms" ms
    echo "$ms" >> "$bench_work/bulk-$pb-$peer-time"
    echo "$prep" >> "$bench_work/bulk-$pb-$peer-prep"
    echo "$bytes" > "$bench_work/bulk-$pb-$peer-bytes"
  else
    say "$peer: round $r: $ms ms (prep $prep ms), $bytes bytes"
    record "$pi" "$peer" "round${r}_time_ms" "$ms" ms
    record "$pi" "$peer" "round${r}_prep_ms" "$prep" ms
    record "$pi" "$peer" "round${r}_bytes" "$bytes" B
    echo "$ms" >> "$bench_work/rounds-$pi-$peer-time"
    echo "$prep" >> "$bench_work/rounds-$pi-$peer-prep"
    echo "$bytes" >> "$bench_work/rounds-$pi-$peer-bytes"
  fi
}

# copies_of VARIANT: first copies in the bulk median (--bulk-copies for the
# 1x tree; one of the big tree, whose copies take minutes each).
copies_of() { if [ "$1" = 1x ]; then echo "$bulk_copies"; else echo 1; fi; }

# bulk_summary PEER PART_BULK: the median of the peer's first copies.
bulk_summary() {
  local ms prep
  ms=$(median < "$bench_work/bulk-$2-$1-time") prep=$(median < "$bench_work/bulk-$2-$1-prep")
  say "$1: first mirror, median of $(wc -l < "$bench_work/bulk-$2-$1-time"): $ms ms, $(mbs "$tree_bytes" "$ms") MB/s"
  record "$2" "$1" time_ms "$ms" ms
  record "$2" "$1" prep_ms "$prep" ms
  record "$2" "$1" mbs "$(mbs "$tree_bytes" "$ms")" MB/s
  record "$2" "$1" bytes "$(cat "$bench_work/bulk-$2-$1-bytes")" B
}

# verify_pair PEER VARIANT SRC DST: the mirror is the source, and the same
# tree as the other peers'.
declare -A digests=()
verify_pair() {
  local a b
  a=$(treepy digest "$3") b=$(treepy digest "$4")
  if [ "$a" != "$b" ]; then say "$1: MISMATCH: source $3: $a; destination $4: $b"; exit 1; fi
  say "$1: verified: destination = source ($a)"
  local k
  for k in "${!digests[@]}"; do
    [ "${k#$2/}" != "$k" ] && [ "${digests[$k]}" != "$a" ] && { say "$1: MISMATCH with $k: ${digests[$k]} vs $a"; exit 1; }
  done
  digests[$2/$1]=$a
}

# run_variant VARIANT NFILES PART_BULK PART_INCR
run_variant() {
  local v=$1 n=$2 pb=$3 pi=$4 need avail
  # Room: the staging tree plus one peer's source and copies (h2fs counted
  # 1.5x); during the big rounds, h2fs's 1x pair too.
  need=$(( n * 33280 * (3 + $(copies_of "$v")) / 1024 + (1 << 20) ))
  [ "$v" = big ] && need=$(( need + files * 33280 * 3 / 1024 ))
  avail=$(df -Pk "$bench_work" | awk 'NR == 2 { print $4 }')
  if [ "$avail" -lt "$need" ]; then
    say "$v tree of $n files needs about $((need >> 20)) GiB free in $bench_work, there are $((avail >> 20)) GiB"; exit 1
  fi
  say "$v: generating $n files in $bench_work/stage (untimed)"
  mkdir "$bench_work/stage"
  read -r tree_bytes nfiles < <(treepy gen "$bench_work/stage" "$n" "$seed")
  [ -n "${nfiles:-}" ] || { say "$v: generating the tree failed"; exit 1; }
  say "$v: $nfiles files, $tree_bytes bytes"
  record "$pb" all tree_files "$nfiles" files
  record "$pb" all tree_bytes "$tree_bytes" B
  nr=0
  if [ "$do_incr" = 1 ]; then
    nr=$rounds
    mkdir "$bench_work/changes-$v"
    # The 1x list also has the rounds h2fs pairs with the big ones (peer_h2fs).
    local listed=$rounds; [ "$v" = 1x ] && listed=$((rounds * 2))
    treepy changes "$n" "$seed" "$listed" "$changes_per_round" "$bench_work/changes-$v"
  fi
  if [ "$v" = 1x ] && [ "$do_bulk" = 1 ]; then
    # The ceiling: raw ssh throughput for as many bytes as the tree holds.
    head -c "$tree_bytes" /dev/urandom > "$bench_work/raw.bin"
    sync
    local i t0
    for i in 1 2 3; do
      t0=$(now_ns)
      $ssh_cmd root@127.0.0.1 'cat >/dev/null' < "$bench_work/raw.bin"
      ms_since "$t0" >> "$bench_work/raw-ms"
    done
    rm -f "$bench_work/raw.bin"
    local raw_ms
    read -r _ raw_ms _ < <(stats < "$bench_work/raw-ms")
    say "raw ssh: $tree_bytes bytes in $raw_ms ms (median of 3)"
    record bulk raw-ssh time_ms "$raw_ms" ms
    record bulk raw-ssh mbs "$(mbs "$tree_bytes" "$raw_ms")" MB/s
    record bulk raw-ssh bytes "$tree_bytes" B
  fi
  peer_h2fs "$v" "$pb" "$pi"
  peer_btrfs "$v" "$pb" "$pi"
  peer_rsync "$v" "$pb" "$pi"
  local p m s
  if [ "$do_incr" = 1 ]; then
    for p in h2fs btrfs rsync; do
      for m in time prep bytes; do
        read -r _ s _ < <(stats < "$bench_work/rounds-$pi-$p-$m")
        local unit=ms metric=median_${m}_ms
        [ "$m" = bytes ] && unit=B metric=median_bytes
        record "$pi" "$p" "$metric" "$s" "$unit"
      done
    done
    if [ "$v" = big ]; then
      read -r _ s _ < <(stats < "$bench_work/rounds-incr-ctl-h2fs-time")
      record incr-ctl h2fs median_time_ms "$s" ms
    fi
  fi
  rm -rf "${bench_work:?}/stage"
}

say "files=$files big-factor=$big_factor rounds=$rounds part=$part work=$bench_work (ext4 /tmp) sshd 127.0.0.1:$bench_port"
run_variant 1x "$files" bulk incr
if [ "$do_incr" = 1 ]; then
  run_variant big $((files * big_factor)) bulk-big incr-big
fi

# ---------------------------------------------------------------- table
# get PART PEER METRIC
get() { awk -v p="$1" -v q="$2" -v m="$3" '$1 == p && $2 == q && $3 == m { v = $4 } END { print (v == "" ? "-" : v) }' "$bench_work/results.txt"; }
# ratio A B [FORMAT]
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'; }
# check VALUE OP LIMIT: ok / MISSED / -
check() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { if (v == "-") { print "-"; exit }
  ok = (op == "<=" ? v <= l : op == "<" ? v < l : v >= l); print (ok ? "ok" : "MISSED") }'; }
scale() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "-") print "-"; else printf "%.1f\n", v / d }'; }

row() { # LABEL h2fs btrfs rsync
  printf '%-26s %11s %11s %11s %11s %11s\n' "$1" "$2" "$3" "$4" "$(ratio "$2" "$3")" "$(ratio "$2" "$4")"
}
echo
tb=$(get bulk all tree_bytes) tf=$(get bulk all tree_files)
echo "mirror: tree $tf files, $(scale "$tb" 1e6) MB; big tree $(get bulk-big all tree_files) files, $(scale "$(get bulk-big all tree_bytes)" 1e6) MB;"
echo "        $rounds rounds of $changes_per_round changes (50 modify, 20 create, 15 delete, 15 rename); medians over rounds; MB = 10^6 B"
printf '%-26s %11s %11s %11s %11s %11s\n' metric h2fs btrfs rsync h2fs/btrfs h2fs/rsync
for p in bulk bulk-big; do
  [ "$(get "$p" h2fs time_ms)" = - ] && continue
  row "$p time (s)" "$(scale "$(get "$p" h2fs time_ms)" 1000)" "$(scale "$(get "$p" btrfs time_ms)" 1000)" "$(scale "$(get "$p" rsync time_ms)" 1000)"
  row "$p throughput (MB/s)" "$(get "$p" h2fs mbs)" "$(get "$p" btrfs mbs)" "$(get "$p" rsync mbs)"
  row "$p on the wire (MB)" "$(scale "$(get "$p" h2fs bytes)" 1e6)" "$(scale "$(get "$p" btrfs bytes)" 1e6)" "$(scale "$(get "$p" rsync bytes)" 1e6)"
done
for p in incr incr-big; do
  [ "$(get "$p" h2fs median_time_ms)" = - ] && continue
  row "$p time (ms)" "$(get "$p" h2fs median_time_ms)" "$(get "$p" btrfs median_time_ms)" "$(get "$p" rsync median_time_ms)"
  row "$p  of which prep (ms)" "$(get "$p" h2fs median_prep_ms)" "$(get "$p" btrfs median_prep_ms)" -
  row "$p on the wire (KB)" "$(scale "$(get "$p" h2fs median_bytes)" 1e3)" "$(scale "$(get "$p" btrfs median_bytes)" 1e3)" "$(scale "$(get "$p" rsync median_bytes)" 1e3)"
done
declare -A growth=()
if [ "$do_incr" = 1 ]; then
  for p in h2fs btrfs rsync; do growth[$p]=$(ratio "$(get incr-big "$p" median_time_ms)" "$(get incr "$p" median_time_ms)"); done
  printf '%-26s %11s %11s %11s\n' "incr time big/1x" "${growth[h2fs]}" "${growth[btrfs]}" "${growth[rsync]}"
  for p in h2fs btrfs rsync; do result incr-big "$p" time_growth "${growth[$p]}" x; done
  # h2fs's goal: big rounds over the 1x rounds interleaved with them (peer_h2fs).
  ctl=$(get incr-ctl h2fs median_time_ms)
  growth_ctl=$(ratio "$(get incr-big h2fs median_time_ms)" "$ctl")
  printf '%-26s %11s   (1x rounds interleaved with the big ones: %s ms)\n' "incr time big/1x, paired" "$growth_ctl" "$ctl"
  result incr-big h2fs time_growth_paired "$growth_ctl" x
fi
if [ "$do_bulk" = 1 ]; then
  echo "raw ssh ceiling ('cat >/dev/null', OpenSSH): $(get bulk raw-ssh mbs) MB/s"
fi

echo
echo "goals:"
goal() { printf '  %-48s %8s  %s\n' "$1" "$2" "$(check "$2" "$3" "$4")"; }
if [ "$do_incr" = 1 ]; then
  goal "incr time h2fs/btrfs <= 0.75" "$(ratio "$(get incr h2fs median_time_ms)" "$(get incr btrfs median_time_ms)")" "<=" 0.75
  goal "incr time h2fs/rsync <= 0.40" "$(ratio "$(get incr h2fs median_time_ms)" "$(get incr rsync median_time_ms)")" "<=" 0.40
  goal "h2fs incr time, big tree / 1x tree < 1.20" "$growth_ctl" "<" 1.20
fi
if [ "$do_bulk" = 1 ]; then
  goal "bulk MB/s h2fs/btrfs >= 1.5" "$(ratio "$(get bulk h2fs mbs)" "$(get bulk btrfs mbs)")" ">=" 1.5
  goal "bulk MB/s h2fs/rsync >= 1.5" "$(ratio "$(get bulk h2fs mbs)" "$(get bulk rsync mbs)")" ">=" 1.5
  goal "bulk MB/s h2fs/raw ssh >= 0.50" "$(ratio "$(get bulk h2fs mbs)" "$(get bulk raw-ssh mbs)")" ">=" 0.50
fi

echo
echo "h2fs daemons' peak memory (RssAnon = own memory; VmHWM includes LMDB's mmapped pages):"
for l in h2fs-master h2fs-slave h2fs-master-big h2fs-slave-big; do
  if read -r _ anon hwm < <(grep "^$l " "$bench_work/rss.txt" 2>/dev/null); then
    a=$(awk -v k="$anon" 'BEGIN { printf "%.1f", k / 1024 }') h=$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')
    result mem "$l" peak_rss_anon_mib "$a" MiB
    result mem "$l" peak_vmhwm_mib "$h" MiB
    printf '  %-18s RssAnon %8s MiB   VmHWM %8s MiB\n' "$l" "$a" "$h"
  fi
done
