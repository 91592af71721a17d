#!/usr/bin/env bash
# Rebuilds vendor/h2fs-native/prebuilds/linux-x64/madvise.node from
# vendor/h2fs-native/madvise.c, crc32.c and readahead.c (needs gcc, make, python3 and
# Node's headers).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$root"/vendor/h2fs-native/*.c "$root"/vendor/h2fs-native/*.h "$root/vendor/h2fs-native/binding.gyp" "$work/"
cd "$work"
node_gyp="$(dirname "$(command -v npm)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
node "$node_gyp" rebuild --loglevel=warn --nodedir="${NODEDIR:-/usr}"
mkdir -p "$root/vendor/h2fs-native/prebuilds/linux-x64"
strip --strip-unneeded -o "$root/vendor/h2fs-native/prebuilds/linux-x64/madvise.node" build/Release/madvise.node
echo "rebuilt $root/vendor/h2fs-native/prebuilds/linux-x64/madvise.node"
