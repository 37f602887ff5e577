#!/usr/bin/env bash
# ON THE GPU MACHINE, from the repo root, carry [".deps", ".fixtures"]: the CUDA attention tests and
# sdpp_attention_bench (shapes whose name contains MATCH, default "self") under each value of VAR (default
# SDPP_CUDA_WGMMA: 0 leaves every shape to the mma.sync kernel) in VALUES (default "0 1"), from one build. Every run
# is cut off after RUN_TIMEOUT seconds (default 90), so a kernel that hangs costs minutes, not the machine.
#   VALUES="0 1" bash scripts/device/attention_ab.sh
set -uo pipefail
source scripts/device/env.sh
VAR=${VAR:-SDPP_CUDA_WGMMA}
[ -f .fixtures/tiny.tgz ] && { [ -f .fixtures/tiny/manifest.json ] || tar -xzf .fixtures/tiny.tgz -C .fixtures; }
sdpp_build test_cuda sdpp_attention_bench || exit 1
limit=${RUN_TIMEOUT:-90}
for value in ${VALUES:-0 1}; do
  echo "== $VAR=$value"
  timeout "$limit" env "$VAR=$value" "$SDPP_DEVICE_BUILD/tests/test_cuda" --gtest_brief=1 --gtest_filter='*Attention*' 2>&1 |
    grep -E "^\[  (PASSED|FAILED)|FAILED|Failure|rel_l2|Which is|Expected" | head -30
  [ "${PIPESTATUS[0]}" = 124 ] && echo "tests cut off after $limit s"
  timeout "$limit" env "$VAR=$value" "$SDPP_DEVICE_BUILD/bench/sdpp_attention_bench" --repeats 5 --match "${MATCH:-self}"
  [ $? = 124 ] && echo "bench cut off after $limit s"
done
