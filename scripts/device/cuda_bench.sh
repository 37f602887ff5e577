#!/usr/bin/env bash
# ON THE GPU MACHINE, from the repo root, carry [".deps"]: build test_cuda + sdpp_unet_bench, run the op tests
# (errors logged to $OUT/test_cuda_verbose.log), then each benchmark line given in BENCH (one argument list per
# line, ';'-separated), e.g. BENCH="--model sd15 --profile;--model sd15 --graph".
set -uo pipefail
source scripts/device/env.sh
OUTDIR=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader
sdpp_build test_cuda sdpp_unet_bench || exit 1
SDPP_TEST_VERBOSE=1 "$SDPP_DEVICE_BUILD/tests/test_cuda" >"$OUTDIR/test_cuda_verbose.log" 2>&1
echo "test_cuda: $(grep -E '^\[  (PASSED|FAILED) ' "$OUTDIR/test_cuda_verbose.log" | tr '\n' ' ')"
grep -E "^\[  FAILED" "$OUTDIR/test_cuda_verbose.log" | head -20
SDPP_CUDA_LAYOUT=nchw "$SDPP_DEVICE_BUILD/tests/test_cuda" >"$OUTDIR/test_cuda_nchw.log" 2>&1
echo "test_cuda (SDPP_CUDA_LAYOUT=nchw): $(grep -E '^\[  (PASSED|FAILED) ' "$OUTDIR/test_cuda_nchw.log" | tr '\n' ' ')"
grep -E "^\[  FAILED" "$OUTDIR/test_cuda_nchw.log" | head -10
IFS=';' read -ra runs <<<"${BENCH:---model sd15}"
i=0
for args in "${runs[@]}"; do
  i=$((i + 1))
  echo "== sdpp_unet_bench $args"
  # shellcheck disable=SC2086
  "$SDPP_DEVICE_BUILD/bench/sdpp_unet_bench" $args >"$OUTDIR/bench_$i.log" 2>&1
  grep -E "^model|^unet|sdpp_unet_bench:" "$OUTDIR/bench_$i.log"
  if grep -q "per-op" "$OUTDIR/bench_$i.log"; then sed -n '/per-op/,/^unet/p' "$OUTDIR/bench_$i.log" | head -${TOP:-40}; fi
done
