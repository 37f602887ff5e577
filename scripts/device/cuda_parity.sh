#!/usr/bin/env bash
# ON THE GPU MACHINE, from the repo root, carry [".deps", ".fixtures"]: builds `sdpp` and runs the fixture parity
# suite on the GPU for each dtype in DTYPES (default "f32 f16 bf16"), single-file variants and randn cases left out.
# .fixtures/tiny.tgz is made HERE (64 MiB carry limit) from ../shared/fixtures:
#   tar -czf .fixtures/tiny.tgz -C ../shared/fixtures --exclude=tiny/models/sd15.safetensors \
#       --exclude=tiny/models/sdxl.safetensors --exclude='tiny/cases/randn_*' tiny clip-vocab
# Reduced-precision runs are judged by issue 4's bar: rel L2 <= MIN_REL_L2 (default 1e-2) where looser than a case's
# own tolerance, and 8-bit images within 4/255 on 99% of the values.
set -uo pipefail
source scripts/device/env.sh
OUTDIR=${OUT:-/tmp}
sdpp_build sdpp || exit 1
tar -xzf .fixtures/tiny.tgz -C .fixtures || exit 1
for dtype in ${DTYPES:-f32 f16 bf16}; do
  extra=()
  [ "$dtype" != f32 ] && extra=(--min-rel-l2 "${MIN_REL_L2:-1e-2}" --png-tol 4 --png-outlier-fraction 0.01)
  "$SDPP_DEVICE_BUILD/app/sdpp" parity --fixtures .fixtures/tiny --device cuda --dtype "$dtype" --variants folder \
    --filter "${FILTER:-^(?!randn)}" "${extra[@]}" >"$OUTDIR/parity_$dtype.log" 2>&1
  echo "== parity cuda $dtype (rc $?): $(tail -1 "$OUTDIR/parity_$dtype.log")"
  grep -iE "fail|error" "$OUTDIR/parity_$dtype.log" | head -${SHOW:-15}
done
