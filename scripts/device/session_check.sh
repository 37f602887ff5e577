#!/usr/bin/env bash
# ON THE GPU MACHINE, from the repo root, carry [".deps", ".fixtures", ".peers"]: the checks a session owes its GPU
# work, in one device command (machines are scarce: a session may get one start), most important first, each given
# what is left of BUDGET_S (default 560 s) and skipped, with a line saying so, when too little is left:
#   1. the GPU suite (scripts/device/cuda_test.sh, both layouts); 1b. tests/pipeline on the GPU (SDPP_TEST_DEVICE=cuda:
#      the f16 NaN fallbacks);
#   2. sdpp_attention_bench with the kernel choices of the default (cuDNN timed on large shapes) logged;
#   3. an interleaved A/B of `sdpp bench` on the full-size SD 1.5 checkpoint, ENV_AB (default
#      SDPP_CUDA_CUDNN_ATTENTION) =0 against =1 (scripts/device/ab_bench.sh);
#   4. the SD 1.5 and SDXL UNet steps (sdpp_unet_bench, graph replays) under each of UNET_ENVS (space-separated
#      settings, a setting's variables joined by commas; default: own attention only, then the default);
#   5. fixture parity on the GPU in f16 and f32 (scripts/device/cuda_parity.sh);
#   8. Nsight Compute's per-kernel times of one SD 1.5 forward (scripts/device/cuda_ncu.sh);
#   6. (after 8) the full-size SD 1.5 text encoder, UNet and VAE against diffusers float32 (scripts/device/full_size_fixtures.py
#      writes the references for step 3's checkpoint), f16 with issue 4's bar, then f32 with the cases' own;
#   7. diffusers' own fp16 on the tiny txt2img fixtures, judged by issue 4's f16 bar
#      (scripts/device/diffusers_f16_parity.py: does fp16 reach the DDIM clip_sample cases at all?);
# SKIP (e.g. "5 6") leaves steps out. Logs go to $OUT, this script's output to $OUT/session.log too.
set -uo pipefail
START=$(date +%s)
BUDGET_S=${BUDGET_S:-560}
ENV_AB=${ENV_AB:-SDPP_CUDA_CUDNN_ATTENTION}
UNET_ENVS=${UNET_ENVS:-SDPP_CUDA_CUDNN_ATTENTION=0 SDPP_CUDA_CUDNN_ATTENTION=1}
OUTDIR=${OUT:-/tmp}
# Everything also goes to $OUT/session.log: the device answer keeps only the output's tail.
exec > >(tee "$OUTDIR/session.log") 2>&1
source scripts/device/env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
version_h=$(find / -name cudnn_version.h -not -path '/proc/*' 2>/dev/null | head -1)
echo "cuDNN $(grep -hE 'define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ' "$version_h" | awk '{print $3}' | tr '\n' '.')"
# Every target the steps run is built once, while the full-size SD 1.5 checkpoint of step 3 is made alongside.
CK=${CKPT_ROOT:-/tmp/peers}
mkdir -p "$CK" && tar -xzf .peers/diffusers-src.tar.gz -C "$CK" || exit 1
( [ -f "$CK/sd15/model_index.json" ] || PYTHONPATH=$CK/src python3 bench/make_random_checkpoint.py --arch sd15 \
    --vocab .peers/clip-vocab --out "$CK/sd15" >"$OUTDIR/ckpt.log" 2>&1 ) &
CKP=$!
sdpp_build sdpp test_cuda test_pipeline sdpp_unet_bench sdpp_attention_bench || exit 1

left() { echo $((BUDGET_S - ($(date +%s) - START))); }
# step N NEEDED_S COMMAND...: runs COMMAND under `timeout` of what is left, if at least NEEDED_S is.
step() {
  local n=$1 needed=$2
  shift 2
  if [[ " ${SKIP:-} " == *" $n "* ]]; then echo "== step $n skipped (SKIP)"; return; fi
  local l
  l=$(left)
  if [ "$l" -lt "$needed" ]; then echo "== step $n skipped: ${l} s left, it needs about ${needed} s"; return; fi
  echo "== step $n ($l s left): $*"
  timeout "$l" "$@"
  local rc=$?
  [ "$rc" -eq 124 ] && echo "== step $n cut off by the budget"
}
bench=$SDPP_DEVICE_BUILD/bench
step 1 90 bash -c 'bash scripts/device/cuda_test.sh 2>&1 | grep -E "^\[  (PASSED|FAILED)|FAILED|note:|rel_l2"'
step 1b 30 bash -c "SDPP_TEST_DEVICE=cuda $SDPP_DEVICE_BUILD/tests/test_pipeline --gtest_brief=1 2>&1 |
  grep -E '^\[  (PASSED|FAILED)|FAILED|Failure|Expected|Which is|actual'"
step 2 50 bash -c "SDPP_CUDA_VERBOSE=1 $bench/sdpp_attention_bench --repeats 5 2>$OUTDIR/attention_choices.log |
  grep -v cross; grep 'sdpp cuda: attention' $OUTDIR/attention_choices.log | sort -u"
wait $CKP
step 3 150 env ENV_AB="$ENV_AB" AB_VALUES="${AB_VALUES:-0 1}" CKPT_ROOT="$CK" ROUNDS=2 REPEATS=15 \
  bash scripts/device/ab_bench.sh
step 4 100 bash -c "for m in 'sd15 64' 'sdxl 128'; do set -- \$m; for e in $UNET_ENVS; do
  echo \"\$1 \$e: \$(timeout 60 env \${e//,/ } $bench/sdpp_unet_bench --model \$1 --latent \$2 --graph --iters 15 | grep ^unet)\"; done; done"
step 5 60 env DTYPES="f16 f32" bash scripts/device/cuda_parity.sh
step 8 120 env ARGS="--model sd15" bash scripts/device/cuda_ncu.sh
step 6 60 bash -c "PYTHONPATH=$CK/src python3 scripts/device/full_size_fixtures.py --checkpoint $CK/sd15 \
  --out /tmp/full_size && for d in f16 f32; do echo \"-- \$d\"; $SDPP_DEVICE_BUILD/app/sdpp parity \
  --fixtures /tmp/full_size --device cuda --dtype \$d --min-rel-l2 \$([ \$d = f32 ] && echo 0 || echo 1e-2); done"
step 7 60 bash -c "( [ -f .fixtures/tiny/manifest.json ] || tar -xzf .fixtures/tiny.tgz -C .fixtures ) &&
  PYTHONPATH=$CK/src python3 scripts/device/diffusers_f16_parity.py .fixtures/tiny 2>&1 | grep -v 'it/s'"
echo "== done in $(($(date +%s) - START)) s"
