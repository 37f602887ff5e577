#!/usr/bin/env bash
# The test command (README, .ci/run): install deps, build, run every test (unit, fixture parity, CLI, server, browser),
# then build the unit tests again with AddressSanitizer + UndefinedBehaviorSanitizer and run them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 1800

echo "== unit tests under ASan + UBSan"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSDPP_SANITIZE=ON -DSDPP_CUDA=OFF -DSDPP_BENCH=OFF >/dev/null
sanitized=(test_core test_io test_text test_image test_schedulers)
targets=()
for t in "${sanitized[@]}"; do [ -n "$(ls tests/${t#test_}/*.cpp 2>/dev/null)" ] && targets+=("$t"); done
cmake --build build-asan -j"$(nproc)" --target "${targets[@]}"
labels=$(IFS='|'; echo "${targets[*]//test_/}")
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -L "^($labels)\$"
