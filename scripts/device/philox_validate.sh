#!/usr/bin/env bash
# Run ON THE GPU MACHINE from the repo root: checks the host Box-Muller model against logf, __sinf and
# curand_normal4 (see philox_validate.cu); the log lands under $OUT.
set -euo pipefail
out=${OUT:-/tmp/philox_validate}
mkdir -p "$out"
nvcc -O3 -std=c++20 -arch=sm_90 -Isrc -o /tmp/philox_validate scripts/device/philox_validate.cu \
  src/core/philox_device_math.cpp src/core/philox_sin_table.cpp
/tmp/philox_validate | tee "$out/validate.log"
