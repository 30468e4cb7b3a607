#!/bin/sh
# One-time (and idempotent) set-up on a fresh Debian/Ubuntu machine:
# system packages, pnpm, dependencies, the native addon, TypeScript.
#   sh scripts/setup.sh          what running ringleader needs
#   sh scripts/setup.sh --test   plus the tools the test suites drive
set -e
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }

apt_install() {
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ringleader: missing system packages:$1; install them (apt-get install$1) and run again" >&2
    exit 1
  fi
  say "installing$1"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $1 >/dev/null
}

need=""
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
pkg-config --exists 'liburing >= 2.3' 2>/dev/null || need="$need liburing-dev"
command -v cc >/dev/null 2>&1 || need="$need gcc"
command -v c++ >/dev/null 2>&1 || need="$need g++"
command -v make >/dev/null 2>&1 || need="$need make"
if [ "$1" = "--test" ]; then
  command -v ip >/dev/null 2>&1 || need="$need iproute2"
  command -v prlimit >/dev/null 2>&1 || need="$need util-linux"
  # the handler examples are driven by the real tools
  command -v wrk >/dev/null 2>&1 || need="$need wrk"
  command -v redis-benchmark >/dev/null 2>&1 || need="$need redis-tools"
fi
[ -z "$need" ] || apt_install "$need"

if ! command -v pnpm >/dev/null 2>&1; then
  say "installing pnpm"
  npm install -g --silent pnpm@10 >/dev/null 2>&1 || corepack enable pnpm
fi

say "installing dependencies and building the addon"
pnpm install --frozen-lockfile --reporter=silent
pnpm run --silent build
say "ready"
