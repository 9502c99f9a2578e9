# Thin wrapper over CMake.  Every target first makes sure the Debian packages
# of deps/debian.txt are present (deps/install.sh): it installs them when run
# as root, and otherwise names exactly the ones missing.
#   make run     build libgrt, the demo and grt-pprof only, and run the demo
#                under the profiler (examples/demo.c): it writes demo.pb.gz,
#                and `grt-pprof top -n 15 demo.pb.gz` prints its top functions
#   make test    the whole suite: normal build, ASan+UBSan build, then the
#                aarch64 cross build under qemu-user (test-aarch64)
#   make bench   benchmarks next to their Go twins (bench/run.sh)
#   make test-aarch64  cross build for 64-bit Arm (cmake/aarch64-linux-gnu.cmake,
#                Debian packages in deps/debian-aarch64.txt) and the suite
#                under qemu-user twice: the default CPU (with pointer
#                authentication) and QEMU_CPU=cortex-a57 (without)
BUILD    := build
ASANDIR  := build-asan
A64DIR   := build-aarch64
JOBS     := $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build run test test-plain test-asan test-aarch64 bench format clean

all: build

deps:
	@sh deps/install.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Quiet: the configure and build output goes to a log, shown only on failure.
run: deps
	@echo "building libgrt, the demo and grt-pprof (log: $(BUILD)/run-build.log)"
	@mkdir -p $(BUILD)
	@{ cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo && \
	   cmake --build $(BUILD) -j $(JOBS) --target demo grt-pprof; } >$(BUILD)/run-build.log 2>&1 || \
	 { cat $(BUILD)/run-build.log; echo "make run: the build failed (log above)"; exit 1; }
	./$(BUILD)/demo
	@echo
	./$(BUILD)/grt-pprof top -n 15 demo.pb.gz

test-plain: build
	cd $(BUILD) && ctest --output-on-failure -j 1

test-asan: deps
	@cmake -S . -B $(ASANDIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRT_SANITIZE=ON >/dev/null
	@cmake --build $(ASANDIR) -j $(JOBS)
	cd $(ASANDIR) && ctest --output-on-failure -j 1

test: test-plain test-asan test-aarch64

test-aarch64:
	@sh deps/install.sh deps/debian-aarch64.txt
	@cmake -S . -B $(A64DIR) -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(A64DIR) -j $(JOBS)
	@echo "aarch64 under qemu-user, its default CPU (pointer authentication on)"
	cd $(A64DIR) && ctest --output-on-failure -j $(JOBS)
	@echo "aarch64 under qemu-user, QEMU_CPU=cortex-a57 (no pointer authentication)"
	cd $(A64DIR) && QEMU_CPU=cortex-a57 ctest --output-on-failure -j $(JOBS)

bench: build
	./bench/run.sh $(BUILD)

format:
	clang-format -i include/*.h src/*/*.c src/*/*.h src/arch/*/*.h tools/*/*.c tools/*/*.h tests/*.c tests/*.h tests/lib/*.c tests/fuzz/*.c \
	  examples/*.c bench/*.c bench/*.h bench/lib/*.c bench/lib/*.h

clean:
	rm -rf $(BUILD) $(ASANDIR) $(A64DIR)
