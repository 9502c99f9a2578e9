#!/bin/sh
# layering_selftest: tests/layering.sh fails when its rule is broken and
# passes when it is kept, on synthetic trees built in a temp dir (a fake
# src/<folder>/*.c layout compiled like CMake does, to <obj>/src/<folder>/f.c.o).
# Usage: layering_selftest.sh <source dir>
set -u
src=$(cd "$1" && pwd) || exit 2
check="$src/tests/layering.sh"
CC=${CC:-cc}
command -v nm >/dev/null 2>&1 || { echo "SKIP: nm (binutils) not found"; exit 77; }
command -v "$CC" >/dev/null 2>&1 || { echo "SKIP: no C compiler ($CC)"; exit 77; }
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
fails=0

# put <tree> <path below src/> <text>: a source file and its object
put() {
  mkdir -p "$(dirname "$1/src/$2")" "$(dirname "$1/obj/src/$2")"
  printf '%s\n' "$3" > "$1/src/$2"
  case $2 in
    *.S) flags= ;;
    *) flags="-std=gnu11 -O2 -fvisibility=hidden -Wall -Werror" ;;
  esac
  # shellcheck disable=SC2086
  "$CC" -fPIC $flags -c "$1/src/$2" -o "$1/obj/src/$2.o" || { echo "selftest: cannot compile $2"; exit 2; }
}
layers() { printf '%s\n' "$2" > "$1/src/LAYERS"; }

# expect <name> <want: pass|fail> <tree> [<text the output must hold> ...]
expect() {
  name=$1 want=$2 tree=$3
  shift 3
  sh "$check" "$tree" "$tree/obj" > "$tmp/out" 2>&1
  rc=$?
  ok=1
  case $want in
    pass) [ $rc -eq 0 ] || ok=0 ;;
    fail) [ $rc -ne 0 ] && [ $rc -ne 77 ] || ok=0 ;;
  esac
  for s in "$@"; do grep -qF -- "$s" "$tmp/out" || { ok=0; echo "  (output lacks: $s)"; }; done
  if [ $ok -eq 1 ]; then
    echo "ok   $name (want $want, exit $rc)"
  else
    echo "FAIL $name (want $want, exit $rc); checker output:"
    sed 's/^/  | /' "$tmp/out"
    fails=$((fails + 1))
  fi
}

# A clean base tree: base (0) <- top (1), arch/x86_64 (0) beside base.
mk_clean() {
  t=$tmp/$1
  put "$t" base/b.c 'int base_fn(void) { return 1; }
__thread int base_tls;
const int base_ro = 2;
int base_data = 3;'
  put "$t" base/b2.c 'int base_fn(void); int base2_fn(void) { return base_fn(); }'
  put "$t" top/t.c 'int base_fn(void); extern __thread int base_tls; extern int base_data;
int top_fn(void) { return base_fn() + base_tls + base_data; }
int top_entry(void) { return 0; }'
  put "$t" arch/x86_64/s.S '.text
.globl arch_fn
arch_fn:
  ret'
  layers "$t" '# test layers
base        0
arch/x86_64 0   # nested folder
top         1'
}

mk_clean clean
put "$tmp/clean" arch/x86_64/s2.c 'void arch_fn(void); void arch2(void) { arch_fn(); }'
expect clean pass "$tmp/clean" "layering: ok"

# A lower layer calls a higher one's function.
mk_clean up_call
put "$tmp/up_call" base/b2.c 'int top_fn(void); int base2_fn(void) { return top_fn(); }'
expect upward_call fail "$tmp/up_call" \
  "src/base/b2.c.o (base, rank 0) references top_fn, defined in src/top/t.c.o (top, rank 1)"

# ... reads a higher layer's data, TLS, rodata and a weak definition.
mk_clean up_data
put "$tmp/up_data" top/d.c 'int top_data = 1; __thread int top_tls; const int top_ro = 5;
__attribute__((weak)) int top_weak(void) { return 7; }'
put "$tmp/up_data" base/b2.c 'extern int top_data; extern __thread int top_tls; extern const int top_ro;
int top_weak(void);
int base2_fn(void) { return top_data + top_tls + top_ro + top_weak(); }'
expect upward_data_tls_ro_weak fail "$tmp/up_data" \
  "references top_data" "references top_tls" "references top_ro" "references top_weak"

# ... through a weak undefined reference (nm "w").
mk_clean up_weakref
put "$tmp/up_weakref" base/b2.c '__attribute__((weak)) int top_fn(void);
int base2_fn(void) { return top_fn ? top_fn() : 0; }'
expect upward_weak_reference fail "$tmp/up_weakref" "references top_fn"

# Assembly in the nested arch/x86_64 folder calls up: fails, unless allowed.
mk_clean arch_up
put "$tmp/arch_up" arch/x86_64/s.S '.text
.globl arch_fn
arch_fn:
  call top_entry@PLT
  ret'
expect arch_upward_not_allowed fail "$tmp/arch_up" \
  "src/arch/x86_64/s.S.o (arch/x86_64, rank 0) references top_entry"
layers "$tmp/arch_up" 'base 0
arch/x86_64 0
top 1
allow arch/x86_64 top_entry   # the sanctioned edge'
expect arch_upward_allowed pass "$tmp/arch_up" "layering: ok"
# The allow names a folder and a symbol: nothing else goes through.
put "$tmp/arch_up" base/b2.c 'int top_entry(void); int base2_fn(void) { return top_entry(); }'
expect allow_is_per_folder fail "$tmp/arch_up" "src/base/b2.c.o (base, rank 0) references top_entry"

# Equal ranks may reference each other both ways.
mk_clean equal
put "$tmp/equal" base/b.c 'void arch_fn(void); int base_fn(void) { arch_fn(); return 1; }
__thread int base_tls; const int base_ro = 2; int base_data = 3;'
put "$tmp/equal" arch/x86_64/s2.c 'int base_fn(void); int arch2(void) { return base_fn(); }'
expect equal_rank_both_ways pass "$tmp/equal" "layering: ok"

# Every folder must be declared: an object's, and a source folder's.
mk_clean undeclared
put "$tmp/undeclared" extra/e.c 'int base_fn(void); int extra_fn(void) { return base_fn(); }'
expect undeclared_folder fail "$tmp/undeclared" "folder extra (src/extra/e.c.o) is not declared"
mk_clean parent_only
layers "$tmp/parent_only" 'base 0
arch 0
top 1'
expect nested_folder_needs_own_line fail "$tmp/parent_only" "folder arch/x86_64"
mk_clean src_only
mkdir -p "$tmp/src_only/src/newdir" && echo 'int x;' > "$tmp/src_only/src/newdir/n.c"
expect undeclared_source_folder_unbuilt fail "$tmp/src_only" "folder newdir (src/newdir/n.c) is not declared"

# Malformed LAYERS lines, and a folder declared twice.
mk_clean malformed
layers "$tmp/malformed" 'base 0
arch/x86_64 zero
top 1
top 2'
expect malformed_layers fail "$tmp/malformed" "line 2" "folder top declared twice"

# A stale object (its source moved away) is skipped, not judged.
mk_clean stale
mkdir -p "$tmp/stale/obj/src/old"
cp "$tmp/stale/obj/src/top/t.c.o" "$tmp/stale/obj/src/old/t.c.o"
expect stale_object_skipped pass "$tmp/stale" "skipping src/old/t.c.o"

# No LAYERS at all.
mk_clean nolayers
rm "$tmp/nolayers/src/LAYERS"
expect missing_layers fail "$tmp/nolayers" "no LAYERS file"

if [ $fails -ne 0 ]; then
  echo "layering_selftest: FAIL: $fails case(s) wrong"
  exit 1
fi
echo "layering_selftest: ok: the checker fails on every broken rule and passes clean trees"
