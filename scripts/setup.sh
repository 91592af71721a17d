#!/usr/bin/env bash
# Installs what h2fs needs on a fresh Debian/Ubuntu machine: system packages
# (libfuse2, fuse3, openssh-server, rsync; iproute2, gcc, python3 for the
# tests) through apt when running as root,
# npm packages, then builds. Without root it says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libfuse.so.2' || need+=(libfuse2)
command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
# The tests also use ip/ss (network namespaces, socket counters), gcc and python3 (xattrs).
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
command -v python3 >/dev/null 2>&1 || need+=(python3)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # Debian 13 and Ubuntu 24.04 renamed libfuse2.
    pkgs=()
    for p in "${need[@]}"; do
      if [ "$p" = libfuse2 ] && ! apt-cache show libfuse2 >/dev/null 2>&1; then p=libfuse2t64; fi
      pkgs+=("$p")
    done
    apt-get install -y -qq "${pkgs[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${need[*]}" >&2
    echo "setup: install them (e.g. sudo apt-get install ${need[*]}) and run again" >&2
    exit 1
  fi
fi

if [ ! -d node_modules/lmdb ] || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm install --no-audit --no-fund --loglevel=error 2>&1 | grep -v 'Unknown user config' || true
  [ -d node_modules/lmdb ] || { echo "setup: npm install failed" >&2; exit 1; }
fi
npm run --silent build
