#!/usr/bin/env bash
# The main job, on this machine: a store mounted with FUSE, a tree written,
# its state pinned by synctid, changed, and the old state proved intact by
# `tar cf - . | md5sum` on the @@ view, before and after a remount.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
root=$PWD
h2fs() { node "$root/dist/src/bin/h2fs.js" "$@"; }
work=$(mktemp -d /tmp/h2fs-demo.XXXXXX)
store=$work/store mnt=$work/mnt
mkdir -p "$mnt"
cleanup() {
  cd /
  if grep -q " $mnt fuse.h2fs " /proc/mounts; then h2fs umount "$mnt" || umount -l "$mnt"; fi
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
say "h2fs newfs $store && h2fs mount $store $mnt"
h2fs newfs "$store" label=demo
h2fs mount "$store" "$mnt"

say "write a tree (a copy of /usr/share/perl*), then pin it"
src=$(ls -d /usr/share/perl /usr/share/perl5 2>/dev/null | head -1)
cp -a "$src" "$mnt/tree"
T1=$(h2fs synctid "$mnt")
sum1=$(tar cf - -C "$mnt/tree" . | md5sum | cut -d' ' -f1)
echo "T1=$T1  tree md5 $sum1"

say "change it: modify, delete, rename, add"
mapfile -t pms < <(find "$mnt/tree" -name '*.pm' | sort)
for f in "${pms[@]:0:20}"; do echo "# changed" >> "$f"; done
mapfile -t pods < <(find "$mnt/tree" -name '*.pod' | sort)
rm -f "${pods[@]:0:20}"
mapfile -t dirs < <(find "$mnt/tree" -mindepth 2 -maxdepth 2 -type d | sort)
mv "${dirs[0]}" "${dirs[0]}.renamed"
echo "new file" > "$mnt/tree/NEW"
T2=$(h2fs synctid "$mnt")
now=$(tar cf - -C "$mnt/tree" . | md5sum | cut -d' ' -f1)
then=$(tar cf - -C "$mnt/@@$T1/tree" . | md5sum | cut -d' ' -f1)
printf '%-34s %s\n' "live tree (T2=$T2)" "$now" "$mnt/@@$T1/tree" "$then"

say "history of one changed file"
h2fs history "${pms[0]}"

say "unmount, mount again, check the old view once more"
h2fs umount "$mnt"
h2fs mount "$store" "$mnt"
again=$(tar cf - -C "$mnt/@@$T1/tree" . | md5sum | cut -d' ' -f1)
printf '%-34s %s\n' "after remount, @@$T1" "$again"
h2fs info "$mnt"

if [ "$then" = "$sum1" ] && [ "$again" = "$sum1" ] && [ "$now" != "$sum1" ]; then
  say "OK: the view at $T1 still matches the tree as it was ($sum1)"
else
  say "MISMATCH"; exit 1
fi
