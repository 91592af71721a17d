#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every suite (unit
# and integration: real FUSE mounts, real sshd on 127.0.0.1), and ends with
# one line "N passed, N failed[, N skipped]". Pass mocha globs to run a part.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

if [ $# -gt 0 ]; then specs=("$@"); else specs=('dist/test/unit/**/*.test.js' 'dist/test/integration/**/*.test.js'); fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
npx --no-install mocha "${specs[@]}" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}

passed=$(grep -Eo '^ +[0-9]+ passing' "$out" | grep -Eo '[0-9]+' | tail -1)
failed=$(grep -Eo '^ +[0-9]+ failing' "$out" | grep -Eo '[0-9]+' | tail -1)
skipped=$(grep -Eo '^ +[0-9]+ pending' "$out" | grep -Eo '[0-9]+' | tail -1)
passed=${passed:-0}; failed=${failed:-0}
# mocha exiting non-zero without reporting failures (a crash) counts as one.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
line="$passed passed, $failed failed"
[ -n "$skipped" ] && [ "$skipped" != 0 ] && line="$line, $skipped skipped"
echo "$line"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
