#!/bin/sh
# Build the C benchmark peers into bench/peers/bin/ (libc only).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/bin"
mkdir -p "$out"
CC=${CC:-cc}
for prog in epoll-echo loadgen wake-floor; do
    src="$here/$prog.c"
    bin="$out/$prog"
    # rebuild only when the source is newer than the binary
    if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$0" -nt "$bin" ] || [ "$here/../../packages/core-native/src/compat/liburing_compat.h" -nt "$bin" ]; then
        libs=""
        [ "$prog" = wake-floor ] && libs="$(pkg-config --libs liburing 2>/dev/null || echo -luring)"
        # wake-floor's fd passing comes from the addon's liburing compat header
        $CC -O2 -pthread -Wall -I"$here/../../packages/core-native/src/compat" -o "$bin" "$src" $libs
    fi
    echo "$bin"
done
