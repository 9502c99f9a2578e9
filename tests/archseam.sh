#!/bin/sh
# archseam: x86 details stay behind the arch seam.  No file under src/ or
# include/ outside src/arch/ may name an x86 register, a ucontext register
# slot or an x86 intrinsic.  Each hit is printed as file:line: token: text.
#
# Tokens are whole identifiers (split at every character other than
# [A-Za-z0-9_]), so "ripple" or "REG_EXTENDED" never match, while "%rsp",
# "\"rip\"" and "RBP" in a comment do (register names match in any case:
# reword such comments, e.g. "the frame pointer").  Forbidden:
#   - ucontext register slots: REG_RIP, REG_RSP, ... (x86_64 and i386 gregs
#     indices), gregs, uc_mcontext (reading the machine context is arch code)
#   - register names: rax rbx rcx rdx rsi rdi rbp rsp rip r8..r15 (and their
#     r8d/r8w/r8b forms), rflags eflags, xmm/ymm/zmm<n>
#     (32-bit names like esp are left out: "esp" is also English)
#   - intrinsics and their headers: __builtin_ia32_*, _mm_*, __rdtsc,
#     *intrin.h, cpuid.h; the predefined __x86_64__/__amd64__/__i386__
#
# Usage: archseam.sh <source dir>
# Exit: 0 clean, 1 hits (each printed), 2 usage error.
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 <source dir>" >&2
  exit 2
fi
srcdir=${1%/}
[ -d "$srcdir/src" ] || { echo "archseam: FAIL: $srcdir/src is not a directory" >&2; exit 2; }

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

# Every regular text file under src/ and include/, except under src/arch/.
(cd "$srcdir" && find src include -path src/arch -prune -o -type f -print 2>/dev/null) |
  LC_ALL=C sort > "$tmp/files"
n=0
while IFS= read -r f; do
  grep -Iq . "$srcdir/$f" 2>/dev/null || continue # binary or empty
  n=$((n + 1))
  printf '%s\n' "$f"
done < "$tmp/files" > "$tmp/text"

hits=$(cd "$srcdir" && tr '\n' '\0' < "$tmp/text" | xargs -0 -r awk '
  BEGIN {
    # ucontext gregs indices, <sys/ucontext.h> x86_64 then i386-only ones
    split("REG_R8 REG_R9 REG_R10 REG_R11 REG_R12 REG_R13 REG_R14 REG_R15 " \
          "REG_RDI REG_RSI REG_RBP REG_RBX REG_RDX REG_RAX REG_RCX REG_RSP REG_RIP " \
          "REG_EFL REG_CSGSFS REG_ERR REG_TRAPNO REG_OLDMASK REG_CR2 " \
          "REG_GS REG_FS REG_ES REG_DS REG_EDI REG_ESI REG_EBP REG_ESP REG_EBX " \
          "REG_EDX REG_ECX REG_EAX REG_EIP REG_CS REG_UESP REG_SS", a, " ")
    for (i in a) exact[a[i]] = 1
    exact["gregs"] = 1; exact["uc_mcontext"] = 1; exact["__rdtsc"] = 1
    exact["__x86_64__"] = 1; exact["__amd64__"] = 1; exact["__i386__"] = 1
    split("rax rbx rcx rdx rsi rdi rbp rsp rip rflags eflags", b, " ")
    for (i in b) reg[b[i]] = 1
  }
  FNR == 1 { fname = FILENAME }
  {
    line = $0; rest = line; found = ""
    while (match(rest, /[A-Za-z0-9_]+/)) {
      t = substr(rest, RSTART, RLENGTH); rest = substr(rest, RSTART + RLENGTH)
      l = tolower(t)
      if ((t in exact) || (l in reg) || l ~ /^r([89]|1[0-5])[dwb]?$/ || l ~ /^[xyz]mm[0-9]+$/ ||
          t ~ /^__builtin_ia32_/ || t ~ /^_mm_/ || l ~ /intrin$/ || l == "cpuid")
        found = found (found == "" ? "" : ",") t
    }
    if (found != "") printf "%s:%d: %s: %s\n", fname, FNR, found, line
  }
')
if [ -n "$hits" ]; then
  printf '%s\n' "$hits"
  echo "archseam: FAIL: $(printf '%s\n' "$hits" | wc -l) line(s) outside src/arch/ name x86 registers," \
    "ucontext register slots or x86 intrinsics (move the code behind the arch seam, or reword)"
  exit 1
fi
echo "archseam: ok: $n file(s) under src/ and include/ (outside src/arch/) are arch-neutral"
