#!/usr/bin/env bash
# ON THE GPU MACHINE, from the repo root, carry [".deps", ".peers"]: sdpp against diffusers on the same full-size
# random-weight checkpoint, in one session. Builds `sdpp` (in the background) while bench/make_random_checkpoint.py
# writes the checkpoint, then runs `sdpp bench` and bench/peers.py on it; logs go to $OUT.
# .peers/ is made HERE (git-ignored; the CLIP vocab must never be committed):
#   mkdir -p .peers && cp -r ../shared/fixtures/clip-vocab .peers/ &&
#   git --git-dir=/work/.mirror/huggingface+diffusers/repo archive HEAD src \
#       scripts/convert_diffusers_to_original_stable_diffusion.py | gzip > .peers/diffusers-src.tar.gz
# If .peers/sdpp-head.tar.gz exists (`git archive HEAD | gzip > .peers/sdpp-head.tar.gz`), sdpp is built from that
# commit rather than from the working tree, so the numbers belong to a known commit whatever is uncommitted here.
# ARCHS (default "sd15"; "sd15 sdxl" adds SDXL at 1024x1024) and BUDGET_S (seconds the whole script may take,
# default 520; torch.compile is skipped when it would not fit) tune it. PEERS=0 times sdpp alone. SINGLE_FILE=1 also
# converts the SD 1.5 folder to an original-layout fp16 single file with diffusers' own conversion script and runs
# `sdpp bench` on that file (load to first image from a local single file).
set -uo pipefail
START=$(date +%s)
OUTDIR=${OUT:-/tmp}
BUDGET_S=${BUDGET_S:-520}
CKPT_ROOT=${CKPT_ROOT:-/tmp/peers}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
mkdir -p "$CKPT_ROOT"
tar -xzf .peers/diffusers-src.tar.gz -C "$CKPT_ROOT" || exit 1
export PYTHONPATH=$CKPT_ROOT/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
# Missing Python dependencies show here, before anything long starts.
python3 - <<'PY' || exit 1
import importlib
for m in ("torch", "transformers", "huggingface_hub", "safetensors", "filelock", "regex", "requests", "httpx", "PIL",
          "numpy"):
    try:
        mod = importlib.import_module(m)
        print(f"  {m} {getattr(mod, '__version__', '?')}")
    except Exception as e:
        print(f"  MISSING {m}: {e!r}")
import diffusers
from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
print(f"  diffusers {diffusers.__version__} from {diffusers.__file__}")
PY

source scripts/device/env.sh
SDPP_SRC=$PWD
if [ -f .peers/sdpp-head.tar.gz ]; then
  SDPP_SRC=/tmp/sdpp-head
  mkdir -p $SDPP_SRC && tar -xzf .peers/sdpp-head.tar.gz -C $SDPP_SRC || exit 1
fi
export SDPP_DEVICE_BUILD=$SDPP_SRC/$SDPP_DEVICE_BUILD
(cd "$SDPP_SRC" && sdpp_build sdpp) &  # prints the build's errors if it fails
BUILD_PID=$!
ARCHS=${ARCHS:-sd15}
for arch in $ARCHS; do
  [ -f "$CKPT_ROOT/$arch/model_index.json" ] && continue  # a warm machine keeps /tmp between calls
  python3 bench/make_random_checkpoint.py --arch "$arch" --vocab .peers/clip-vocab --out "$CKPT_ROOT/$arch" ||
    { echo "make_random_checkpoint $arch failed"; exit 1; }
done
wait $BUILD_PID || { echo "sdpp build failed"; exit 1; }
echo "== ready after $(($(date +%s) - START)) s"

for arch in $ARCHS; do
  size=512 steps=20
  [ "$arch" = sdxl ] && size=1024 steps=30
  echo "== sdpp bench $arch"
  "$SDPP_DEVICE_BUILD/app/sdpp" bench --model "$CKPT_ROOT/$arch" --device cuda --width $size --height $size \
    --steps $steps --repeats 20 2>&1 | tee "$OUTDIR/sdpp_$arch.log"
  if [ "$arch" = sd15 ] && [ "${SINGLE_FILE:-0}" = 1 ]; then
    [ -f "$CKPT_ROOT/sd15.safetensors" ] || python3 "$CKPT_ROOT/scripts/convert_diffusers_to_original_stable_diffusion.py" \
      --model_path "$CKPT_ROOT/sd15" --checkpoint_path "$CKPT_ROOT/sd15.safetensors" --half --use_safetensors ||
      { echo "single-file conversion failed"; exit 1; }
    echo "== sdpp bench sd15 single file ($(du -h "$CKPT_ROOT/sd15.safetensors" | cut -f1))"
    "$SDPP_DEVICE_BUILD/app/sdpp" bench --model "$CKPT_ROOT/sd15.safetensors" --tokenizer .peers/clip-vocab \
      --device cuda --width 512 --height 512 --steps 20 --repeats 10 2>&1 | tee "$OUTDIR/sdpp_sd15_single.log"
  fi
  [ "${PEERS:-1}" = 0 ] && continue
  echo "== peers.py $arch ($(($(date +%s) - START)) s elapsed)"
  left=$((BUDGET_S - ($(date +%s) - START)))
  # Later architectures keep time for their own eager run.
  [ "$arch" != "${ARCHS##* }" ] && left=$((left - 150))
  python3 bench/peers.py --model "$CKPT_ROOT/$arch" --width $size --height $size --steps $steps --budget-s "$left" \
    --json "$OUTDIR/peers_$arch.json" 2>&1 | tee "$OUTDIR/peers_$arch.log"
done
echo "== done after $(($(date +%s) - START)) s"
