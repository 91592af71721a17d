#!/usr/bin/env bash
# Rebuilds vendor/fuse-native/prebuilds/linux-x64/node.napi.node: fuse-native's
# own source from node_modules with vendor/fuse-native/utimens-mtime.patch,
# inline-dispatch.patch and reply-thread.patch.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$root/node_modules/fuse-native" "$work/fn"
mkdir -p "$work/fn/node_modules"
for d in napi-macros fuse-shared-library fuse-shared-library-linux node-gyp-build nanoresource; do
  ln -s "$root/node_modules/$d" "$work/fn/node_modules/$d"
done
cd "$work/fn"
patch -p1 < "$root/vendor/fuse-native/utimens-mtime.patch"
patch -p1 < "$root/vendor/fuse-native/inline-dispatch.patch"
patch -p1 < "$root/vendor/fuse-native/reply-thread.patch"
node_gyp="$(dirname "$(command -v npm)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
node "$node_gyp" rebuild --nodedir="${NODEDIR:-/usr}"
strip --strip-unneeded -o "$root/vendor/fuse-native/prebuilds/linux-x64/node.napi.node" build/Release/fuse.node
echo "rebuilt $root/vendor/fuse-native/prebuilds/linux-x64/node.napi.node"
