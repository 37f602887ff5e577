#!/usr/bin/env bash
# ON THE GPU MACHINE, from the repo root, carry [".deps"]: per-kernel device time of one eager SD forward under Nsight
# Compute (no event overhead): $OUT/ncu.csv, and a table of the kernels summed by name: device time, DRAM and SM
# throughput, and the warp instructions executed and issue slots busy (whether a kernel is bound by its instructions).
# KERNELS limits it to kernels whose names match a regular expression.
# DETAIL=N instead prints Nsight Compute's own report (throughput, warp stall reasons, occupancy, launch) of the first
# N matching kernels after SKIP of them, to $OUT/ncu_detail.txt and, trimmed to its tables, stdout.
#   ARGS="--model sd15" KERNELS="apply_kernel|small_kernel" bash scripts/device/cuda_ncu.sh
set -uo pipefail
source scripts/device/env.sh
OUTDIR=${OUT:-/tmp}
sdpp_build sdpp_unet_bench || exit 1
filter=()
[ -n "${KERNELS:-}" ] && filter=(--kernel-name "regex:${KERNELS}")
if [ -n "${DETAIL:-}" ]; then
  # shellcheck disable=SC2086
  ncu --profile-from-start off --cache-control none --clock-control none "${filter[@]}" --launch-skip "${SKIP:-0}" \
    --launch-count "$DETAIL" --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats \
    --section Occupancy --section LaunchStats "$SDPP_DEVICE_BUILD/bench/sdpp_unet_bench" ${ARGS:---model sd15} --ncu \
    --iters 1 --warmup 2 >"$OUTDIR/ncu_detail.txt" 2>&1
  echo "ncu rc $?"
  wanted="^  [a-z_]+.*\(|Duration|Throughput|Busy|Stall|Warp Cycles|Issued|Occupancy|Registers|Block Size|Grid Size"
  grep -E "$wanted|Waves|Active Warps|Hit Rate" "$OUTDIR/ncu_detail.txt" | grep -v "^    ----" |
    head -"${DETAIL_LINES:-150}"
  exit 0
fi
# shellcheck disable=SC2086
ncu --profile-from-start off --cache-control none --clock-control none "${filter[@]}" \
  --metrics gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__throughput.avg.pct_of_peak_sustained_elapsed,smsp__inst_executed.sum,smsp__issue_active.avg.pct_of_peak_sustained_active \
  --csv "$SDPP_DEVICE_BUILD/bench/sdpp_unet_bench" ${ARGS:---model sd15} --ncu --iters 1 --warmup 2 >"$OUTDIR/ncu.csv" 2>"$OUTDIR/ncu.err"
echo "ncu rc $?; $(grep -c gpu__time_duration "$OUTDIR/ncu.csv") kernels"
python3 - "$OUTDIR/ncu.csv" <<'PY'
import csv, sys, collections
rows = list(csv.reader(l for l in open(sys.argv[1]) if l.startswith('"')))
head = rows[0]; idx = {k: i for i, k in enumerate(head)}
tot = collections.defaultdict(lambda: [0.0, 0, 0.0, 0.0, 0.0, 0.0])
for r in rows[1:]:
    name = r[idx["Kernel Name"]][:90]
    metric, value = r[idx["Metric Name"]], float(r[idx["Metric Value"]].replace(",", "") or 0)
    scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3, "s": 1e6, "second": 1e6}.get(r[idx["Metric Unit"]], 1.0)
    t = tot[name]
    if metric.startswith("gpu__time"): t[0] += value * scale; t[1] += 1
    elif metric.startswith("dram"): t[2] += value
    elif metric.startswith("sm__"): t[3] += value
    elif metric.startswith("smsp__inst"): t[4] += value
    else: t[5] += value
unit = 1.0  # durations are in us
all_us = sum(t[0] for t in tot.values()) * unit
print(f"total {all_us:.1f} us over {sum(t[1] for t in tot.values())} kernels")
for name, t in sorted(tot.items(), key=lambda kv: -kv[1][0])[:40]:
    n = max(t[1], 1)
    print(f"{t[0]*unit:9.1f} us {t[1]:4d}  dram {t[2]/n:5.1f}%  sm {t[3]/n:5.1f}%  "
          f"warp instr/call {t[4]/n:9.0f}  issue busy {t[5]/n:5.1f}%  {name}")
PY
