#!/bin/sh
# layering: no object of the library references a symbol defined in a higher
# layer.  The layers are declared in ONE place, src/LAYERS:
#
#   <folder below src/> <rank>        e.g. "runtime 1", "arch/x86_64 0"
#   allow <folder> <symbol>           one sanctioned upward reference
#   # comments, blank lines
#
# Lower rank = lower layer.  An object in a folder of rank r may reference
# symbols defined in objects of rank <= r (equal ranks may reference each
# other); a reference to a symbol whose every definition is in a higher
# rank fails, unless src/LAYERS has "allow <that object's folder> <symbol>".
# Every folder holding objects (or .c/.S sources) must be declared: the
# folder is the object's path below .../src/, nested folders included
# (src/arch/x86_64/switch.S.o is in folder arch/x86_64; a line for "arch"
# does not cover it).
#
# Symbols come from nm: defined = every external (global or weak) symbol,
# code, data, bss, rodata, TLS, common, unique, ifunc (nm --defined-only
# --extern-only); referenced = undefined, weak undefined included
# (nm --undefined-only).  Objects whose source file no longer exists in the
# source tree (left in an old build dir after a move) are skipped, with a note.
#
# Usage: layering.sh <source dir> <object dir> [<LAYERS file>]
#   object dir: build/CMakeFiles/grt_objs.dir (objects at src/<folder>/<file>.o)
#   LAYERS file: default <source dir>/src/LAYERS
# Exit: 0 ok, 1 violation (each printed), 2 usage/setup error, 77 no nm.
set -u

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 <source dir> <object dir> [<LAYERS file>]" >&2
  exit 2
fi
srcdir=${1%/}
objdir=${2%/}
layers=${3:-$srcdir/src/LAYERS}
NM=${NM:-nm}

command -v "$NM" >/dev/null 2>&1 || { echo "SKIP: $NM (binutils) not found"; exit 77; }
[ -f "$layers" ] || { echo "layering: FAIL: no LAYERS file at $layers" >&2; exit 2; }
[ -d "$objdir" ] || { echo "layering: FAIL: object dir $objdir does not exist (not built?)" >&2; exit 2; }
[ -d "$srcdir/src" ] || { echo "layering: FAIL: $srcdir/src is not a directory" >&2; exit 2; }

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

# One record per line, fields separated by spaces (paths and symbols have none):
#   L <folder> <rank> <line no>      a layer line of LAYERS
#   A <folder> <symbol> <line no>    an allow line
#   E <message>                      a malformed LAYERS line
awk '
  { sub(/#.*/, ""); n = split($0, f, /[ \t]+/); k = 0
    for (i = 1; i <= n; i++) if (f[i] != "") w[++k] = f[i] }
  k == 0 { next }
  w[1] == "allow" {
    if (k != 3) print "E line " NR ": want \"allow <folder> <symbol>\": " $0
    else print "A " w[2] " " w[3] " " NR
    next }
  k == 2 && w[2] ~ /^[0-9]+$/ { sub(/^\.\//, "", w[1]); sub(/\/+$/, "", w[1])
    print "L " w[1] " " w[2] " " NR; next }
  { print "E line " NR ": want \"<folder> <rank>\" (rank a non-negative integer): " $0 }
' "$layers" > "$tmp/layers" || exit 2

# Objects, their folders and their symbols.
: > "$tmp/syms"
: > "$tmp/notes"
find "$objdir" -type f -name '*.o' | LC_ALL=C sort > "$tmp/objs"
nobj=0
while IFS= read -r obj; do
  rel=${obj#"$objdir"/}
  case $rel in
    src/*) ;;
    */src/*) rel=src/${rel#*/src/} ;; # e.g. a per-configuration subfolder
    *) echo "X $rel not-under-src" >> "$tmp/syms"; continue ;;
  esac
  # CMake names the object of src/x/f.c src/x/f.c.o: the source is the path minus .o
  if [ ! -e "$srcdir/${rel%.o}" ]; then
    echo "note: skipping $rel: its source ${rel%.o} is gone (stale object in the build dir)" >> "$tmp/notes"
    continue
  fi
  sub=${rel#src/}
  case $sub in
    */*) folder=${sub%/*} ;;
    *) folder=. ;;
  esac
  nobj=$((nobj + 1))
  echo "O $rel $folder" >> "$tmp/syms"
  "$NM" -P --defined-only --extern-only "$obj" > "$tmp/nm.def" 2> "$tmp/nm.err" ||
    { echo "layering: FAIL: $NM failed on $obj:"; cat "$tmp/nm.err"; exit 2; } >&2
  "$NM" -P --undefined-only "$obj" > "$tmp/nm.und" 2> "$tmp/nm.err" ||
    { echo "layering: FAIL: $NM failed on $obj:"; cat "$tmp/nm.err"; exit 2; } >&2
  awk -v o="$rel" -v d="$folder" 'NF { print "D " o " " d " " $1 " " $2 }' "$tmp/nm.def" >> "$tmp/syms"
  awk -v o="$rel" -v d="$folder" 'NF { print "U " o " " d " " $1 }' "$tmp/nm.und" >> "$tmp/syms"
done < "$tmp/objs"

# Source folders holding compiled sources (.c, .S, .s) must be declared too:
# an unbuilt or stale object dir must not hide an undeclared folder.
(cd "$srcdir/src" && find . -type f \( -name '*.c' -o -name '*.S' -o -name '*.s' \)) |
  sed 's|^\./||' | while IFS= read -r f; do
    case $f in */*) echo "S ${f%/*} $f" ;; *) echo "S . $f" ;; esac
  done >> "$tmp/syms"

cat "$tmp/notes" >&2
[ "$nobj" -gt 0 ] || { echo "layering: FAIL: no objects under $objdir/src (not built?)" >&2; exit 2; }

awk -v layers_file="$layers" '
  { file = (FILENAME == ARGV[1]) ? 1 : 2 }
  file == 1 && $1 == "E" { sub(/^E /, ""); err[++nerr] = layers_file ": " $0; next }
  file == 1 && $1 == "L" {
    if ($2 in rank) err[++nerr] = layers_file ": line " $4 ": folder " $2 " declared twice"
    rank[$2] = $3 + 0; next }
  file == 1 && $1 == "A" { allow[$2 SUBSEP $3] = $4; next }
  file == 2 && $1 == "X" { err[++nerr] = "object " $2 " is not below src/: cannot place it in a layer"; next }
  file == 2 && $1 == "O" { ofolder[$2] = $3; nobj++
    if (!($3 in rank) && !(($3) in undecl)) { undecl[$3] = $2 } next }
  file == 2 && $1 == "S" { if (!($2 in rank) && !($2 in undecl)) undecl[$2] = "src/" $3; srcfolder[$2] = 1; next }
  file == 2 && $1 == "D" {
    ndef++
    r = ($3 in rank) ? rank[$3] : -1
    if (!($4 in defrank) || r < defrank[$4]) { defrank[$4] = r; defobj[$4] = $2 }
    next }
  file == 2 && $1 == "U" { nref++; uobj[nref] = $2; ufolder[nref] = $3; usym[nref] = $4; next }
  END {
    for (f in undecl)
      err[++nerr] = "folder " f " (" undecl[f] ") is not declared in " layers_file ": add a line \"" f " <rank>\""
    for (k in allow) { split(k, p, SUBSEP)
      if (!(p[1] in rank)) err[++nerr] = layers_file ": line " allow[k] ": allow names undeclared folder " p[1] }
    nbad = 0
    for (i = 1; i <= nref; i++) {
      s = usym[i]; f = ufolder[i]
      if (!(s in defrank) || !(f in rank)) continue   # libc, or already reported
      checked++
      if (defrank[s] <= rank[f]) continue
      if ((f SUBSEP s) in allow) { used[f SUBSEP s] = 1; continue }
      df = ofolder[defobj[s]]
      printf "LAYER VIOLATION: %s (%s, rank %d) references %s, defined in %s (%s, rank %d)\n",
        uobj[i], f, rank[f], s, defobj[s], df, defrank[s]
      edge[f " -> " df]++; nbad++
    }
    for (k in allow) if (!(k in used)) { split(k, p, SUBSEP)
      printf "warning: %s: line %d: \"allow %s %s\" is not needed (no such upward reference)\n",
        layers_file, allow[k], p[1], p[2] > "/dev/stderr" }
    for (f in rank) if (!(f in srcfolder)) {
      seen = 0; for (o in ofolder) if (ofolder[o] == f) seen = 1
      if (!seen) printf "warning: %s: folder %s has no sources or objects\n", layers_file, f > "/dev/stderr" }
    for (i = 1; i <= nerr; i++) print "LAYERS ERROR: " err[i]
    if (nbad) { print "upward edges (referencing folder -> defining folder: references):"
      for (e in edge) print "  " e ": " edge[e] }
    if (nbad || nerr) { printf "layering: FAIL: %d upward reference(s), %d declaration error(s)\n", nbad, nerr; exit 1 }
    printf "layering: ok: %d objects, %d references to our own symbols checked\n", nobj, checked
  }
' "$tmp/layers" "$tmp/syms"
