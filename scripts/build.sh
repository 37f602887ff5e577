#!/usr/bin/env bash
# Configures and builds sdpp into build/ (Release; the CUDA backend too when nvcc + cuDNN are present).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
