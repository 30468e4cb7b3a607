#!/bin/sh
# Build the C benchmark peers into bench/peers/bin/ (libc only).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/bin"
mkdir -p "$out"
CC=${CC:-cc}
for prog in epoll-echo loadgen; do
    src="$here/$prog.c"
    bin="$out/$prog"
    # rebuild only when the source is newer than the binary
    if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$0" -nt "$bin" ]; then
        $CC -O2 -pthread -Wall -o "$bin" "$src"
    fi
    echo "$bin"
done
