#!/usr/bin/env bash
# ON THE GPU MACHINE, from the repo root, carry [".deps"] (and the BASE tarball): the recorded UNet step of the
# working tree, and of a base build when BASE is given, timed alternately (`sdpp_unet_bench --graph`, median of
# ITERS replays, ROUNDS rounds), then one kernel trace of each (CUPTI: every kernel's device time in a replay) summed
# by kind with scripts/device/trace_summary.py. Traces go to $OUT/trace_{head,base}.csv.
#   BASE=<file made by `git archive <commit> | gzip`> MODEL=sd15 bash scripts/device/unet_trace.sh
# PDL=0 also traces the head with dependent launch off (own kernels' durations without their waits).
set -uo pipefail
OUTDIR=${OUT:-/tmp}
MODEL=${MODEL:-sd15}
LATENT=${LATENT:-64}
source scripts/device/env.sh
if [ -n "${BASE:-}" ]; then
  mkdir -p /tmp/trace_base && tar -xzf "$BASE" -C /tmp/trace_base || exit 1
  (cd /tmp/trace_base && OUT=/tmp/trace_base sdpp_build sdpp_unet_bench) &
  BASEP=$!
fi
# shellcheck disable=SC2086  # TARGETS is a list
sdpp_build sdpp_unet_bench ${TARGETS:-} || exit 1
[ -z "${BASE:-}" ] || wait "$BASEP" || { echo "base build failed"; tail -30 /tmp/trace_base/build.log; exit 1; }
head_bench=$SDPP_DEVICE_BUILD/bench/sdpp_unet_bench
base_bench=/tmp/trace_base/$SDPP_DEVICE_BUILD/bench/sdpp_unet_bench
args="--model $MODEL --latent $LATENT --graph --iters ${ITERS:-50}"
for round in $(seq "${ROUNDS:-2}"); do
  # shellcheck disable=SC2086
  [ -z "${BASE:-}" ] || echo "base round $round: $($base_bench $args 2>&1 | tail -1)"
  # shellcheck disable=SC2086
  echo "head round $round: $($head_bench $args 2>&1 | tail -1)"
done
# shellcheck disable=SC2086
$head_bench $args --trace "$OUTDIR/trace_head.csv" | grep '^trace'
python3 scripts/device/trace_summary.py "$OUTDIR/trace_head.csv" | head -${SUMMARY_LINES:-16}
if [ "${PDL:-1}" = 0 ]; then
  # shellcheck disable=SC2086
  SDPP_CUDA_PDL=0 $head_bench $args --trace "$OUTDIR/trace_head_nopdl.csv" | grep '^trace'
  python3 scripts/device/trace_summary.py "$OUTDIR/trace_head_nopdl.csv" | head -${SUMMARY_LINES:-16}
fi
if [ -n "${BASE:-}" ]; then  # bases before eb793c3 have no --trace
  # shellcheck disable=SC2086
  if $base_bench $args --trace "$OUTDIR/trace_base.csv" 2>&1 | grep '^trace'; then
    python3 scripts/device/trace_summary.py "$OUTDIR/trace_base.csv" | head -${SUMMARY_LINES:-16}
  fi
fi
