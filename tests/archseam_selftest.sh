#!/bin/sh
# archseam_selftest: tests/archseam.sh fails on x86 names outside src/arch/
# (naming file:line) and passes arch-neutral trees, on synthetic trees in a
# temp dir.
# Usage: archseam_selftest.sh <source dir>
set -u
src=$(cd "$1" && pwd) || exit 2
check="$src/tests/archseam.sh"
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
fails=0

# A clean tree: arch-neutral code with near-miss words, and x86 code where
# it belongs (src/arch/x86_64).
mk_clean() {
  t=$tmp/$1
  mkdir -p "$t/src/runtime" "$t/src/arch/x86_64" "$t/include"
  cat > "$t/src/runtime/x.c" <<'EOF'
/* A ripple of crisp words: rips, grip, rsprefix, arbitrary, r16, r7, xmm,
 * esp. (English), REG_EXTENDED and REG_NOSUB from <regex.h>, mcontext. */
#include <regex.h>
static int flags = REG_EXTENDED | REG_NOSUB;
int r8x, rax_count_total; /* identifiers merely starting like registers */
int ripcord(void) { return flags; }
EOF
  cat > "$t/src/arch/x86_64/ctx.h" <<'EOF'
#define ARCH_PC(uc) ((uc)->uc_mcontext.gregs[REG_RIP])
static inline void arch_pause(void) { __builtin_ia32_pause(); }
/* movq %rsp, %rax */
EOF
  printf 'movq %%rsp, %%rax\n' > "$t/src/arch/x86_64/switch.S"
  printf '#ifndef GRT_H\n#define GRT_H\nint grt_go(void);\n#endif\n' > "$t/include/grt.h"
  printf 'runtime 1\narch/x86_64 0\n' > "$t/src/LAYERS"
}

# expect <name> <pass|fail> <tree> [<text the output must hold> ...]
expect() {
  name=$1 want=$2 tree=$3
  shift 3
  sh "$check" "$tree" > "$tmp/out" 2>&1
  rc=$?
  ok=1
  case $want in
    pass) [ $rc -eq 0 ] || ok=0 ;;
    fail) [ $rc -eq 1 ] || ok=0 ;;
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

# hit <name> <file below the tree> <line> <token>: that one line, added to a
# clean tree, must fail the check at file:line naming the token.
hit() {
  mk_clean "$1"
  mkdir -p "$(dirname "$tmp/$1/$2")"
  printf 'int ok_line;\n%s\n' "$3" >> "$tmp/$1/$2"
  n=$(wc -l < "$tmp/$1/$2")
  expect "$1" fail "$tmp/$1" "$2:$n: $4"
}

mk_clean clean
expect clean pass "$tmp/clean" "archseam: ok"

hit reg_rip        src/runtime/x.c 'uintptr_t pc = uc->uc_mcontext.gregs[REG_RIP];' 'uc_mcontext,gregs,REG_RIP'
hit reg_rsp_only   src/runtime/y.c 'int i = REG_RSP;' 'REG_RSP'
hit gregs          src/sampler/sigprof.c 'long *g = mc->gregs;' 'gregs'
hit asm_rsp        include/grt.h '__asm__("movq %%rsp, %0" : "=r"(sp));' 'rsp'
hit quoted_rip     src/runtime/x.c 'const char *name = "rip";' 'rip'
hit comment_rbp    src/base/unwind.h '/* the caller saved RBP here */' 'RBP'
hit r12            src/runtime/runtime.h 'uintptr_t rbx, r12;' 'rbx,r12'
hit r15d           src/runtime/x.c '/* r15d */' 'r15d'
hit ia32           src/runtime/lock.c '__builtin_ia32_pause();' '__builtin_ia32_pause'
hit mm_pause       src/runtime/lock.c '_mm_pause();' '_mm_pause'
hit intrin_header  src/runtime/lock.c '#include <immintrin.h>' 'immintrin'
hit x86_ifdef      src/top/main.c '#ifdef __x86_64__' '__x86_64__'
hit xmm            src/pprof/pprof.c '/* xmm0 holds the result */' 'xmm0'
hit nested_dir     src/pprof/collector/c.c 'int r = REG_RBP;' 'REG_RBP'

# Several hits: every one is listed.
mk_clean many
printf 'int a = REG_RIP;\nint b;\nint c = REG_RSP;\n' > "$tmp/many/src/runtime/m.c"
expect every_hit_listed fail "$tmp/many" "src/runtime/m.c:1: REG_RIP" "src/runtime/m.c:3: REG_RSP"

# src/arch/ is exempt at any depth, other folders named arch are not.
mk_clean arch_exempt
mkdir -p "$tmp/arch_exempt/src/arch/aarch64"
echo 'int x = REG_RIP; /* rsp */' > "$tmp/arch_exempt/src/arch/aarch64/a.c"
expect arch_any_depth_exempt pass "$tmp/arch_exempt" "archseam: ok"
mkdir -p "$tmp/arch_exempt/src/runtime/arch"
echo 'int x = REG_RIP;' > "$tmp/arch_exempt/src/runtime/arch/a.c"
expect only_src_arch_exempt fail "$tmp/arch_exempt" "src/runtime/arch/a.c:1: REG_RIP"

if [ $fails -ne 0 ]; then
  echo "archseam_selftest: FAIL: $fails case(s) wrong"
  exit 1
fi
echo "archseam_selftest: ok: the checker names every x86 leak outside src/arch/ and passes clean trees"
