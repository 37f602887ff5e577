#!/usr/bin/env bash
# Run ON THE GPU MACHINE from the repo root: measures MUFU.SIN over curand's Box-Muller angles (see
# philox_mufu_probe.cu) and leaves the log, the SASS of __sincosf and the delta-coded table under $OUT.
set -euo pipefail
out=${OUT:-/tmp/philox_probe}
mkdir -p "$out" /tmp/philox_probe_build
cd /tmp/philox_probe_build
nvcc -O3 -arch=sm_90 -o probe "$OLDPWD/scripts/device/philox_mufu_probe.cu"
cuobjdump -sass probe | grep -B3 -A3 'MUFU' >"$out/sass.txt" || true
./probe "$out" | tee "$out/probe.log"
gzip -9 "$out"/sin_table_*.bin
for f in "$out"/sin_table_*.gz; do
  if [ "$(stat -c %s "$f")" -gt 15000000 ]; then split -b 15000000 "$f" "$f.part"; rm "$f"; fi
done
ls -l "$out"
