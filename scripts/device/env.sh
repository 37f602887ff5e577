#!/usr/bin/env bash
# Source ON THE GPU MACHINE from the repo root (carry [".deps"], filled here by ../shared/device/fetch-debs.sh plus
# pkgconf): unpacks the carried -dev packages into /opt/deps (never into /) and points the toolchain at them.
mkdir -p /opt/deps
for f in .deps/debs/*.deb; do dpkg -x "$f" /opt/deps; done
export PATH=/opt/deps/usr/bin:$PATH
export CMAKE_PREFIX_PATH=/opt/deps/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
export CPATH=/opt/deps/usr/include${CPATH:+:$CPATH}
export LIBRARY_PATH=/opt/deps/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}
export LD_LIBRARY_PATH=/opt/deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# Debian's cpp-httplib.pc names openssl/zlib/brotli as private requirements the machine may not describe; the CUDA
# targets never link the server, so a minimal description that only has to be found is enough.
mkdir -p /opt/deps/pc
cat > /opt/deps/pc/cpp-httplib.pc <<PC
prefix=/opt/deps/usr
Name: cpp-httplib
Description: cpp-httplib (carried headers)
Version: 0.11.4
Libs: -L\${prefix}/lib/x86_64-linux-gnu -lcpp-httplib
Cflags: -I\${prefix}/include
PC
export PKG_CONFIG_PATH=/opt/deps/pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export SDPP_DEVICE_BUILD=${SDPP_DEVICE_BUILD:-build-dev}
# Configure once per machine: CUDA on, benchmarks only when bench/ exists.
sdpp_configure() {
  cmake -S . -B "$SDPP_DEVICE_BUILD" -G Ninja -DSDPP_CUDA=ON -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES=90a -DSDPP_FIXTURES="$PWD/.fixtures/tiny" "$@" >"${OUT:-/tmp}/configure.log" 2>&1 ||
    { tail -40 "${OUT:-/tmp}/configure.log"; return 1; }
}
# Configure, then build the given targets; the log goes to $OUT/build.log and, on failure, its errors to stdout.
sdpp_build() {
  sdpp_configure || return 1
  cmake --build "$SDPP_DEVICE_BUILD" --target "$@" -j16 >"${OUT:-/tmp}/build.log" 2>&1 ||
    { grep -E "error|FAILED" -A3 "${OUT:-/tmp}/build.log" | head -60; return 1; }
}
