#!/usr/bin/env bash
# ON THE GPU MACHINE, from the repo root, carry [".deps", ".fixtures"]: build and run the CUDA tests (tests/cuda); the
# recorded-UNet test reads the tiny fixture UNets (.fixtures/tiny.tgz, made as scripts/device/cuda_parity.sh says).
#   bash scripts/device/cuda_test.sh [gtest args...]   (each run cut off after TEST_TIMEOUT s, default 300)
set -uo pipefail
source scripts/device/env.sh
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader
[ -f .fixtures/tiny.tgz ] && { [ -f .fixtures/tiny/manifest.json ] || tar -xzf .fixtures/tiny.tgz -C .fixtures; }
sdpp_build test_cuda || exit 1
timeout "${TEST_TIMEOUT:-300}" "$SDPP_DEVICE_BUILD/tests/test_cuda" --gtest_brief=1 "$@" 2>&1 | tee "${OUT:-/tmp}/test_cuda.log" | grep -v "^\[       OK \]"
SDPP_CUDA_LAYOUT=nchw timeout "${TEST_TIMEOUT:-300}" "$SDPP_DEVICE_BUILD/tests/test_cuda" --gtest_brief=1 "$@" 2>&1 | grep -E "^\[  (PASSED|FAILED)|FAILED"
