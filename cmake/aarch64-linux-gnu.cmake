# Cross build for 64-bit Arm Linux from an x86-64 Debian 12 host
# (deps/debian-aarch64.txt; `make test-aarch64`).  Every test runs under
# qemu-user through CMAKE_CROSSCOMPILING_EMULATOR (binfmt_misc is not
# relied on).
#
# The emulator gets no -L: the arm64 loader and libc are Debian's multiarch
# libc6:arm64 (/lib/ld-linux-aarch64.so.1, /lib/aarch64-linux-gnu), which
# the multiarch -dev packages (zlib1g-dev:arm64, libdw-dev:arm64...) pull
# in.  `-L /usr/aarch64-linux-gnu` would take the cross package's ld.so
# (libc6-arm64-cross, 2.36-8cross1) but let it load libc.so.6 from the
# multiarch path (2.36-9+deb12u14, found through /etc/ld.so.cache next to
# libz and libdw): a loader and libc of different builds, and the first
# pthread_mutex_lock spins forever.  Programs link against the cross
# package's libc (the same 2.36 ABI).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_ASM_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Debian multiarch: the libraries are in /usr/lib/aarch64-linux-gnu, the
# headers shared in /usr/include; never pick up an x86-64 program or library.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static)
# The binutils for the layering/sigsafe checks and the stripped test library.
set(CMAKE_NM aarch64-linux-gnu-nm)
set(CMAKE_OBJCOPY aarch64-linux-gnu-objcopy)
set(CMAKE_STRIP aarch64-linux-gnu-strip)
set(CMAKE_LINKER aarch64-linux-gnu-ld)
# pkg-config (FindCURL uses it) reads the arm64 .pc files, never the host's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
