#!/bin/sh
# readme_example: the README's example compiles with -Wall -Wextra -Werror
# against this build and runs to a clean exit, with every job summed once.
# Usage: readme_example.sh <source dir> <library dir>
# (A cross build gives its compiler in CC, and its emulator in
# GRT_TEST_EMULATOR.)
set -eu
src=$1 lib=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -n '/^```c$/,/^```$/p' "$src/README.md" | sed '1d;$d' > "$tmp/ex.c"
test -s "$tmp/ex.c"
${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -fno-omit-frame-pointer -I"$src/include" "$tmp/ex.c" \
  -L"$lib" -lgrt -Wl,-rpath,"$lib" -pthread $EXTRA_CFLAGS -o "$tmp/ex"
${GRT_TEST_EMULATOR:-} "$tmp/ex" > "$tmp/out"
cat "$tmp/out"
# Four workers; together they summed 1..1000 exactly once.
test "$(wc -l < "$tmp/out")" -eq 4
total=$(awk '{s += $4} END {print s}' "$tmp/out")
test "$total" -eq 500500
echo "readme example: ok"
