#!/bin/sh
# install_consumer: the installed package works as a newcomer uses it.
# Configures and builds libgrt.so and libgrt.a again with Debian's multiarch
# libdir (lib/x86_64-linux-gnu: three levels under the prefix), installs them
# with `cmake --install --prefix` into a temporary prefix, then builds a small
# program against that prefix three ways, each with -Wall -Wextra -Werror:
#   - pkg-config --cflags --libs grt            (libgrt.so, found by rpath)
#   - pkg-config --static --libs grt            (libgrt.a, no libgrt.so needed)
#   - CMake find_package(grt 0.1): grt::grt and grt::grt_static
# and runs each: grt_main, a goroutine sending on a channel, the profiler
# writing a profile, and grt_pprof_serve answering as this build was
# configured (-EINVAL for a bad address with the server, -ENOTSUP without).
# Also: grt.pc's Cflags and grt::grt's interface carry the frame-pointer
# flag and -fstack-clash-protection, libgrt.a defines no global names but
# grt_*, find_package(grt 9) fails, and without the server libgrt.so does
# not link libmicrohttpd and GRT_PPROF_ADDR says so in one line.
# Usage: install_consumer.sh <source dir> <cmake> <cc> <GRT_HTTP> <GRT_SANITIZE>
set -eu
src=$1 cmake=$2 cc=$3 http=$4 sanitize=$5
EXTRA_CFLAGS=${EXTRA_CFLAGS:-}
for tool in pkg-config nm readelf; do
  if ! command -v $tool >/dev/null 2>&1; then
    echo "SKIP: no $tool"
    exit 77
  fi
done
case $http in ON | on | 1 | TRUE | true | YES | yes) http=ON ;; *) http=OFF ;; esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
multiarch=lib/x86_64-linux-gnu
fail() {
  echo "install_consumer: FAIL: $*" >&2
  exit 1
}
step() { echo "== $*"; }

step "build and install (libdir $multiarch, GRT_HTTP=$http)"
"$cmake" -S "$src" -B "$tmp/build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_INSTALL_PREFIX=/nonexistent -DCMAKE_INSTALL_LIBDIR=$multiarch \
  -DGRT_HTTP=$http -DGRT_SANITIZE="$sanitize" >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; fail "configure"; }
"$cmake" --build "$tmp/build" --target grt grt_static grt-pprof -j 2 >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; fail "build"; }
"$cmake" --install "$tmp/build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "install"; }
for f in include/grt.h $multiarch/libgrt.so $multiarch/libgrt.so.0 $multiarch/libgrt.a \
  $multiarch/pkgconfig/grt.pc $multiarch/cmake/grt/grtConfig.cmake \
  $multiarch/cmake/grt/grtConfigVersion.cmake bin/grt-pprof; do
  test -e "$prefix/$f" || fail "not installed: $f"
done

# libgrt.a: the runtime's internals are local, as they are hidden in libgrt.so.
others=$(nm -g --defined-only "$prefix/$multiarch/libgrt.a" | awk 'NF == 3 && $3 !~ /^grt_/')
test -z "$others" || fail "libgrt.a defines global names other than grt_*: $others"
if [ $http = OFF ]; then
  if readelf -d "$prefix/$multiarch/libgrt.so" | grep -q microhttpd; then
    fail "GRT_HTTP=OFF, yet libgrt.so links libmicrohttpd"
  fi
fi

cat >"$tmp/consumer.c" <<'EOF'
#include <grt.h>
#include <stdio.h>
#include <stdlib.h>

static void sender(void *arg) {
  long v = 42;
  grt_chan_send(arg, &v);
}

static int real_main(int argc, char **argv) {
  (void)argc, (void)argv;
  grt_chan *c = grt_chan_make(sizeof(long), 0);
  if (!c || grt_go(sender, c) != 0) return 1;
  long v = 0;
  if (grt_chan_recv(c, &v) != 1 || v != 42) return 2;
  if (grt_prof_start(&(grt_prof_config){.path = getenv("PROFILE"), .hz = 100}) != 0) return 3;
  if (grt_prof_stop() != 0) return 4;
  printf("goroutine sent %ld; grt_pprof_serve(\"nonsense\") = %d\n", v,
         grt_pprof_serve("nonsense"));
  return 0;
}

int main(int argc, char **argv) { return grt_main(real_main, argc, argv); }
EOF
if [ $http = ON ]; then want=-22; else want=-95; fi # -EINVAL, -ENOTSUP

# run <name> <program>: checks its output and that it used the installed grt.
run() {
  name=$1 prog=$2
  status=0
  PROFILE=$tmp/$name.pb.gz timeout 30 "$prog" >"$tmp/$name.out" 2>"$tmp/$name.err" || status=$?
  if [ $status != 0 ]; then
    cat "$tmp/$name.out" "$tmp/$name.err"
    fail "$name: exit status $status"
  fi
  grep -qx "goroutine sent 42; grt_pprof_serve(\"nonsense\") = $want" "$tmp/$name.out" ||
    { cat "$tmp/$name.out" "$tmp/$name.err"; fail "$name: unexpected output"; }
  test -s "$tmp/$name.pb.gz" || fail "$name: no profile written"
  case $name in
  *static*)
    if readelf -d "$prog" | grep -q 'libgrt\.so'; then fail "$name: linked libgrt.so"; fi
    ;;
  *)
    readelf -d "$prog" | grep -q 'libgrt\.so\.0' || fail "$name: does not link libgrt.so.0"
    loaded=$(LD_TRACE_LOADED_OBJECTS=1 "$prog" | awk '$1 == "libgrt.so.0" {print $3}')
    if [ -z "$loaded" ] ||
      [ "$(realpath "$loaded")" != "$(realpath "$prefix/$multiarch/libgrt.so.0")" ]; then
      fail "$name: loads libgrt.so.0 from '$loaded', not from $prefix/$multiarch"
    fi
    ;;
  esac
  echo "$name: $(cat "$tmp/$name.out")"
}

step "pkg-config"
PKG_CONFIG_PATH=$prefix/$multiarch/pkgconfig
export PKG_CONFIG_PATH
test "$(pkg-config --modversion grt)" = 0.1.0 || fail "pkg-config --modversion grt"
libdir=$(pkg-config --variable=libdir grt)
test "$(cd "$libdir" && pwd -P)" = "$(cd "$prefix/$multiarch" && pwd -P)" ||
  fail "grt.pc: libdir is $libdir, installed in $prefix/$multiarch"
# The flags users' code needs: frame pointers, and page probes for large
# frames (a compiler without -fstack-clash-protection builds grt without it).
cflags=$(pkg-config --cflags grt)
want_cflags=-fno-omit-frame-pointer
if echo 'int x;' | "$cc" -fstack-clash-protection -c -x c -o /dev/null - 2>/dev/null; then
  want_cflags="$want_cflags -fstack-clash-protection"
fi
for f in $want_cflags; do
  echo " $cflags " | grep -q -- " $f " || fail "pkg-config --cflags grt lacks $f"
  grep -q -- "$f" "$prefix/$multiarch/cmake/grt/grtTargets.cmake" ||
    fail "grt::grt's interface lacks $f"
done
static_libs=$(pkg-config --static --libs grt)
echo "pkg-config --static --libs grt: $static_libs"
for l in -lgrt -lz -ldw -lelf; do
  echo " $static_libs " | grep -q -- " $l " || fail "pkg-config --static --libs grt lacks $l"
done
if [ $http = ON ]; then
  echo " $static_libs " | grep -q -- " -lmicrohttpd " || fail "--static lacks -lmicrohttpd"
elif echo " $static_libs " | grep -q -- " -lmicrohttpd "; then
  fail "GRT_HTTP=OFF, yet pkg-config --static --libs grt has -lmicrohttpd"
fi

# shellcheck disable=SC2046,SC2086 # word splitting is meant
"$cc" -std=gnu11 -Wall -Wextra -Werror "$tmp/consumer.c" $(pkg-config --cflags --libs grt) \
  -Wl,-rpath,"$libdir" $EXTRA_CFLAGS -o "$tmp/pc_shared"
run pc_shared "$tmp/pc_shared"

# libgrt.a rather than libgrt.so: name the archive (-l:libgrt.a).
# shellcheck disable=SC2046,SC2086
"$cc" -std=gnu11 -Wall -Wextra -Werror "$tmp/consumer.c" $(pkg-config --cflags grt) \
  $(pkg-config --static --libs grt | sed 's/-lgrt /-l:libgrt.a /') $EXTRA_CFLAGS \
  -o "$tmp/pc_static"
run pc_static "$tmp/pc_static"

step "CMake find_package(grt 0.1)"
mkdir "$tmp/app"
cp "$tmp/consumer.c" "$tmp/app/"
cat >"$tmp/app/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(grt 9 QUIET)
if(grt_FOUND)
  message(FATAL_ERROR "find_package(grt 9) found grt ${grt_VERSION}")
endif()
find_package(grt 0.1 REQUIRED)
message(STATUS "grt ${grt_VERSION} from ${grt_DIR}, HTTP server ${grt_HTTP}")
add_executable(cmake_shared consumer.c)
target_compile_options(cmake_shared PRIVATE -Wall -Wextra -Werror)
target_link_libraries(cmake_shared PRIVATE grt::grt)
add_executable(cmake_static consumer.c)
target_compile_options(cmake_static PRIVATE -Wall -Wextra -Werror)
target_link_libraries(cmake_static PRIVATE grt::grt_static)
EOF
"$cmake" -S "$tmp/app" -B "$tmp/app/build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_FLAGS="$EXTRA_CFLAGS" -DCMAKE_EXE_LINKER_FLAGS="$EXTRA_CFLAGS" \
  >"$tmp/app.log" 2>&1 || { cat "$tmp/app.log"; fail "consumer: configure"; }
grep "grt 0.1.0 from $prefix/$multiarch/cmake/grt, HTTP server $http" "$tmp/app.log" ||
  { cat "$tmp/app.log"; fail "find_package(grt 0.1) found another grt"; }
"$cmake" --build "$tmp/app/build" >>"$tmp/app.log" 2>&1 ||
  { cat "$tmp/app.log"; fail "consumer: build"; }
run cmake_shared "$tmp/app/build/cmake_shared"
run cmake_static "$tmp/app/build/cmake_static"

if [ $http = OFF ]; then
  step "GRT_PPROF_ADDR without the server"
  GRT_PPROF_ADDR=127.0.0.1:6060 PROFILE=$tmp/env.pb.gz timeout 30 "$tmp/pc_shared" \
    >/dev/null 2>"$tmp/env.err" || fail "GRT_PPROF_ADDR: the program failed"
  cat "$tmp/env.err"
  test "$(grep -c 'GRT_PPROF_ADDR' "$tmp/env.err")" -eq 1 ||
    fail "GRT_PPROF_ADDR: want one line saying the server is not built in"
  grep -q 'GRT_HTTP=OFF' "$tmp/env.err" || fail "GRT_PPROF_ADDR: the line does not say why"
fi
echo "install consumer: ok"
