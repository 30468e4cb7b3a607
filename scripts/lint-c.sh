#!/bin/sh
# Checks that the C and C++ sources are formatted as .clang-format says (the
# engine and native tests: kernel-like C with tabs; the binding's C++ and the
# benchmark peers have a .clang-format of their own in their directories).
#   sh scripts/lint-c.sh          list unformatted files with their diff; exit 1 if any
#   sh scripts/lint-c.sh --fix    format them in place
# Needs clang-format (Debian/Ubuntu: apt-get install clang-format).
set -e
cd "$(dirname "$0")/.."

if ! command -v clang-format >/dev/null 2>&1; then
  echo "lint-c: clang-format is not installed (Debian/Ubuntu: apt-get install clang-format)" >&2
  exit 2
fi

files=$(git ls-files '*.c' '*.h' '*.cc')
if [ "$1" = "--fix" ]; then
  # shellcheck disable=SC2086
  clang-format -i $files
  exit 0
fi

bad=0
for f in $files; do
  if ! clang-format "$f" | diff -u --label "$f" --label "$f (clang-format)" "$f" - >/dev/null; then
    clang-format "$f" | diff -u --label "$f" --label "$f (clang-format)" "$f" - | head -n 40 || true
    bad=$((bad + 1))
  fi
done
if [ "$bad" -gt 0 ]; then
  echo "lint-c: $bad file(s) not formatted; run: sh scripts/lint-c.sh --fix" >&2
  exit 1
fi
echo "lint-c: $(echo "$files" | wc -w) files formatted"
