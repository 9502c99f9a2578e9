# Thin wrapper over CMake.  Every target first makes sure the Debian packages
# it needs are present: it installs them when run as root, and otherwise
# names exactly the ones missing.
#   make run     build and run the demo under the profiler (examples/demo.c):
#                prints a top-functions table and writes demo.pb.gz
#   make test    the whole suite, normal build then ASan+UBSan build
#   make bench   benchmarks next to their Go twins (bench/run.sh)
DEPS     := gcc make cmake binutils pkg-config golang-go libsqlite3-dev zlib1g-dev libdw-dev libmicrohttpd-dev
BUILD    := build
ASANDIR  := build-asan
JOBS     := $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build run test test-plain test-asan bench format clean

all: build

deps:
	@missing=""; for p in $(DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) || exit 1; \
	  else \
	    echo "missing Debian packages:$$missing"; \
	    echo "install them with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/demo

test-plain: build
	cd $(BUILD) && ctest --output-on-failure -j 1

test-asan: deps
	@cmake -S . -B $(ASANDIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRT_SANITIZE=ON >/dev/null
	@cmake --build $(ASANDIR) -j $(JOBS)
	cd $(ASANDIR) && ctest --output-on-failure -j 1

test: test-plain test-asan

bench: build
	./bench/run.sh $(BUILD)

format:
	clang-format -i include/*.h src/*/*.c src/*/*.h tests/*.c tests/*.h examples/*.c bench/*.c bench/*.h

clean:
	rm -rf $(BUILD) $(ASANDIR)
