#!/usr/bin/env bash
# tags: scripts|setup — desc: idempotent install of every Debian package vtb needs, then configure + build (release preset).
#
# usage: scripts/setup.sh [--no-build] [--deps-only]
#   installs what is missing (apt-get, non-interactive; root or sudo needed
#   only when something is missing), then `cmake --preset release` and
#   `cmake --build --preset release -j2`. Safe to run again: installed
#   packages are skipped, the build is incremental.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=1
for a in "$@"; do
  case "$a" in
    --no-build|--deps-only) BUILD=0 ;;
    -h|--help) sed -n '4,9p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "setup.sh: unknown option '$a' (--no-build)" >&2; exit 2 ;;
  esac
done

# Everything the project builds and tests with (Debian 12 package names).
PKGS=(build-essential cmake pkg-config git libgtest-dev libbenchmark-dev libcapstone-dev
      nlohmann-json3-dev libcli11-dev libfmt-dev
      qemu-system-x86 busybox-static cpio python3 python3-matplotlib python3-numpy)
# The benchmark/paper part lists its own needs, one package per line.
if [ -f "$ROOT/harness/bench/DEPENDENCIES" ]; then
  while read -r p _; do
    case "$p" in ''|'#'*) continue ;; esac
    PKGS+=("$p")
  done < "$ROOT/harness/bench/DEPENDENCIES"
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    case " ${missing[*]-} " in *" $p "*) ;; *) missing+=("$p") ;; esac
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 5; }
    SUDO=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#PKGS[@]} packages present"
fi

if [ "$BUILD" = 1 ]; then
  cd "$ROOT"
  echo "setup: configure (cmake --preset release)"
  cmake --preset release >/dev/null
  echo "setup: build (cmake --build --preset release -j2)"
  cmake --build --preset release -j2
fi
