#!/usr/bin/env bash
# ON THE GPU MACHINE, from the repo root, carry [".deps", ".peers"]: an interleaved A/B of `sdpp bench` on the full-size
# random-weight SD 1.5 checkpoint (bench/make_random_checkpoint.py), in one device command.
#   BASE=<file made here by `git archive <commit> | gzip`>  bash scripts/device/ab_bench.sh   base build vs working tree
#   ENV_AB=SDPP_CUDA_GN_SMALL                                bash scripts/device/ab_bench.sh   one build, switch =0 vs =1
#   (AB_VALUES, default "0 1", lists the switch's values)
# ROUNDS (default 2) alternations; REPEATS (default 20) passed to `sdpp bench --repeats`; ARCH sd15 (default) or sdxl
# (1024x1024, 30 steps); TARGETS (default sdpp) what to build of the working tree, e.g. "sdpp test_cuda" so that
# cuda_test.sh run next finds it built. The base builds beside the working tree, at the same time. SINGLE_FILE=1 (sd15)
# benches the original-layout fp16 single file that diffusers' conversion script makes of the folder, as peer_bench.sh
# does (load to first image from a local single file).
# Prints one line per run: load, first image (and its phases), end to end, memory, text encoder, UNet step, VAE.
set -uo pipefail
OUTDIR=${OUT:-/tmp}
CK=${CKPT_ROOT:-/tmp/peers}
ARCH=${ARCH:-sd15}
mkdir -p "$CK" && tar -xzf .peers/diffusers-src.tar.gz -C "$CK" || exit 1
export PYTHONPATH=$CK/src PYTHONUNBUFFERED=1
source scripts/device/env.sh
( [ -f "$CK/$ARCH/model_index.json" ] ||
  python3 bench/make_random_checkpoint.py --arch "$ARCH" --vocab .peers/clip-vocab --out "$CK/$ARCH" >"$OUTDIR/ckpt.log" 2>&1 ) &
CKP=$!
if [ -n "${BASE:-}" ]; then
  mkdir -p /tmp/ab_base && tar -xzf "$BASE" -C /tmp/ab_base || exit 1
  (cd /tmp/ab_base && OUT=/tmp/ab_base sdpp_build sdpp) &
  BASEP=$!
fi
# shellcheck disable=SC2086  # TARGETS is a list
sdpp_build ${TARGETS:-sdpp} || exit 1
[ -z "${BASE:-}" ] || wait $BASEP || { echo "base build failed"; exit 1; }
wait $CKP
[ -f "$CK/$ARCH/model_index.json" ] || { echo "checkpoint failed"; tail -20 "$OUTDIR/ckpt.log"; exit 1; }
size=512 steps=20
[ "$ARCH" = sdxl ] && size=1024 steps=30
model=("$CK/$ARCH")
if [ "${SINGLE_FILE:-0}" = 1 ]; then
  [ -f "$CK/$ARCH.safetensors" ] || python3 "$CK/scripts/convert_diffusers_to_original_stable_diffusion.py" \
    --model_path "$CK/$ARCH" --checkpoint_path "$CK/$ARCH.safetensors" --half --use_safetensors >"$OUTDIR/convert.log" 2>&1 ||
    { echo "single-file conversion failed"; tail -20 "$OUTDIR/convert.log"; exit 1; }
  model=("$CK/$ARCH.safetensors" --tokenizer .peers/clip-vocab)
fi
bench() {
  timeout 300 "$@" bench --model "${model[@]}" --device cuda --width $size --height $size --steps $steps \
    --repeats "${REPEATS:-20}" 2>&1 |
    grep -E '^(model |unet_step |unet_batch2 |end_to_end|vae_decode |text_encoder|first_image|device_memory)' |
    sed -E 's/^model .* (load [0-9.]+ s)/\1/; s/  +/ /g; s/\([^)]*\)//g; s/in use at most, sampled every ms while loading and generating //' |
    tr '\n' ';'
}
for round in $(seq "${ROUNDS:-2}"); do
  if [ -n "${BASE:-}" ]; then
    echo "== $ARCH base round $round: $(bench /tmp/ab_base/$SDPP_DEVICE_BUILD/app/sdpp)"
    echo "== $ARCH head round $round: $(bench $SDPP_DEVICE_BUILD/app/sdpp)"
  else
    [ -n "${ENV_AB:-}" ] || { echo "set BASE or ENV_AB"; exit 1; }
    for v in ${AB_VALUES:-0 1}; do
      (export "$ENV_AB=$v"; echo "== $ARCH $ENV_AB=$v round $round: $(bench $SDPP_DEVICE_BUILD/app/sdpp)")
    done
  fi
done
