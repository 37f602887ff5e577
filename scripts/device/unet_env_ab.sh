#!/usr/bin/env bash
# ON THE GPU MACHINE, from the repo root, carry [".deps"] (and [".fixtures"] with TESTS=1): one build of the working
# tree, its recorded UNet step (`sdpp_unet_bench --graph`, median of ITERS replays) timed under each environment in
# CONFIGS (';'-separated; each a space-separated list of VAR=VALUE and extra bench flags such as --pair, or
# "defaults" for none), the configurations
# interleaved over ROUNDS rounds (each run cut off after RUN_TIMEOUT s, default 120); then one kernel trace (CUPTI) of
# the first and of the last, summed by scripts/device/trace_summary.py into $OUT/trace_{first,last}.csv. TESTS=1 first
# runs the CUDA tests (scripts/device/cuda_test.sh); VERBOSE=1 lists the trace summaries' every kind.
#   CONFIGS="SDPP_CUDA_FA_QTILES=1;defaults" TESTS=1 bash scripts/device/unet_env_ab.sh
set -uo pipefail
OUTDIR=${OUT:-/tmp}
MODEL=${MODEL:-sd15}
source scripts/device/env.sh
[ "${TESTS:-0}" = 1 ] && bash scripts/device/cuda_test.sh
sdpp_build sdpp_unet_bench || exit 1
bench=$SDPP_DEVICE_BUILD/bench/sdpp_unet_bench
args="--model $MODEL --latent ${LATENT:-64} --graph --iters ${ITERS:-50}"
IFS=';' read -ra configs <<<"${CONFIGS:-defaults}"
with_env() {  # with_env "VAR=1 VAR2=0 --flag|defaults" command... (flags go after the command's arguments)
  local config=$1 vars=() flags=()
  shift
  [ "$config" = defaults ] && config=
  for token in $config; do
    if [[ $token == --* ]]; then flags+=("$token"); else vars+=("$token"); fi
  done
  env "${vars[@]}" "$@" "${flags[@]}"
}
for round in $(seq "${ROUNDS:-3}"); do
  for c in "${configs[@]}"; do
    # shellcheck disable=SC2086
    echo "round $round [$c]: $(with_env "$c" timeout "${RUN_TIMEOUT:-120}" $bench $args 2>&1 | tail -1)"
  done
done
lines=${SUMMARY_LINES:-16}
[ "${VERBOSE:-0}" = 1 ] && lines=60
for which in first last; do
  c=${configs[0]}
  [ $which = last ] && c=${configs[${#configs[@]} - 1]}
  echo "== trace $which [$c]"
  # shellcheck disable=SC2086
  with_env "$c" timeout "${RUN_TIMEOUT:-120}" $bench $args --trace "$OUTDIR/trace_$which.csv" | grep '^trace'
  python3 scripts/device/trace_summary.py "$OUTDIR/trace_$which.csv" | head -"$lines"
done
