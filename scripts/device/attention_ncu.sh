#!/usr/bin/env bash
# ON THE GPU MACHINE, from the repo root, carry [".deps"]: Nsight Compute's full sections for the first calls of the
# fused attention on the sdpp_attention_bench shape MATCH (default "sd15 64x64 self"), for each choice in KERNELS
# (default "own cudnn"): $OUT/ncu_<choice>_details.txt; for the own kernel also its SASS with the warp-stall samples
# of every instruction ($OUT/ncu_own_sass.csv).
#   KERNELS=own bash scripts/device/attention_ncu.sh
set -uo pipefail
source scripts/device/env.sh
OUTDIR=${OUT:-/tmp}
sdpp_build sdpp_attention_bench || exit 1
bench=$SDPP_DEVICE_BUILD/bench/sdpp_attention_bench
for choice in ${KERNELS:-own cudnn}; do
  # The own kernel is the first flash_attention launch; cuDNN's are whatever its plan launches first.
  filter=regex:. count=3
  [ "$choice" = own ] && filter=regex:flash_attention count=1
  timeout 240 ncu --set full --import-source no -k "$filter" -c "$count" -f -o "/tmp/ncu_$choice" "$bench" \
    --match "${MATCH:-sd15 64x64 self}" --kernels "$choice" --iters 1 --repeats 1 >"/tmp/ncu_$choice.log" 2>&1
  echo "ncu $choice rc $?"
  tail -3 "/tmp/ncu_$choice.log"
  ncu --import "/tmp/ncu_$choice.ncu-rep" --page details >"$OUTDIR/ncu_${choice}_details.txt" 2>&1
  [ "$choice" = own ] &&
    ncu --import "/tmp/ncu_$choice.ncu-rep" --page source --print-source sass --csv >"$OUTDIR/ncu_own_sass.csv" 2>&1
done
grep -E "^  [a-z_]|Duration|Registers|Achieved Occupancy|Issue Slots Busy|Executed Ipc Active|No Eligible|Compute \(SM\) Throughput|Memory Throughput" \
  "$OUTDIR"/ncu_*_details.txt | head -60
