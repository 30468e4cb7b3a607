#!/bin/sh
# One-time (and idempotent) set-up on a fresh Debian/Ubuntu machine:
# system packages, pnpm, dependencies, the native addon, TypeScript.
#   sh scripts/setup.sh          what running ringleader needs
#   sh scripts/setup.sh --test   plus the tools and servers the test suites drive
#   sh scripts/setup.sh --bench  plus the benchmark peers' tools (taskset; and
#                                HAProxy + nginx stream once `ringleader proxy`
#                                exists), best effort: the bench notes what is
#                                missing instead of failing
set -e
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }

apt_install() {
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ringleader: missing system packages:$1; install them (apt-get install$1) and run again" >&2
    exit 1
  fi
  say "installing$1"
  # package scripts must not start system services here (prometheus,
  # haproxy, nginx would each start a daemon): policy-rc.d says no
  policy=""
  if [ -z "$SUDO" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy=1
  fi
  $SUDO apt-get update -qq >/dev/null
  rc=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $1 >/dev/null || rc=$?
  [ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d
  return $rc
}

need=""
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
pkg-config --exists 'liburing >= 2.3' 2>/dev/null || need="$need liburing-dev"
command -v cc >/dev/null 2>&1 || need="$need gcc"
command -v c++ >/dev/null 2>&1 || need="$need g++"
command -v make >/dev/null 2>&1 || need="$need make"
if [ "$1" = "--test" ]; then
  command -v ip >/dev/null 2>&1 || need="$need iproute2"
  # packet loss inside network namespaces (bench/lib/netns.mjs; netem is often absent)
  command -v nft >/dev/null 2>&1 || need="$need nftables"
  command -v prlimit >/dev/null 2>&1 || need="$need util-linux"
  # the handler examples are driven by the real tools
  command -v wrk >/dev/null 2>&1 || need="$need wrk"
  command -v redis-benchmark >/dev/null 2>&1 || need="$need redis-tools"
  # real peers of the stress request modes (test/peers.ts starts them on loopback)
  [ -x /usr/sbin/nginx ] || need="$need nginx-light"
  command -v redis-server >/dev/null 2>&1 || need="$need redis-server"
  # the C/C++ format check (scripts/lint-c.sh)
  command -v clang-format >/dev/null 2>&1 || need="$need clang-format"
  # the admin endpoint is scraped by a real Prometheus and linted by promtool
  command -v prometheus >/dev/null 2>&1 || need="$need prometheus"
  # socket activation is tested with systemd-socket-activate, and a fake
  # NOTIFY_SOCKET in python3 (Node's dgram has no unix datagram sockets)
  command -v systemd-socket-activate >/dev/null 2>&1 || need="$need systemd"
  command -v python3 >/dev/null 2>&1 || need="$need python3"
fi
if [ "$1" = "--bench" ]; then
  command -v taskset >/dev/null 2>&1 || need="$need util-linux"
fi
if [ -n "$need" ]; then
  # package scripts must not start system services (nginx, redis) here
  if [ "$(id -u)" = 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    no_services=1
  fi
  apt_install "$need"
  [ -z "${no_services:-}" ] || rm -f /usr/sbin/policy-rc.d
fi

if ! command -v pnpm >/dev/null 2>&1; then
  say "installing pnpm"
  npm install -g --silent pnpm@10 >/dev/null 2>&1 || corepack enable pnpm
fi

say "installing dependencies and building the addon"
pnpm install --frozen-lockfile --reporter=silent
pnpm run --silent build

# The proxy suite compares `ringleader proxy` with HAProxy and nginx's stream
# module; install them only when there is a proxy to compare.
if [ "$1" = "--bench" ] && node packages/cli/dist/bin.js proxy --help 2>/dev/null | grep -q '^Usage: ringleader proxy'; then
  peers=""
  command -v haproxy >/dev/null 2>&1 || peers="$peers haproxy"
  command -v nginx >/dev/null 2>&1 || peers="$peers nginx-light"
  [ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || peers="$peers libnginx-mod-stream"
  if [ -n "$peers" ]; then
    (apt_install "$peers") || say "could not install$peers; the proxy suite will say what it skipped"
  fi
fi
say "ready"
