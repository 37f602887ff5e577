#!/usr/bin/env bash
# The main job: install deps, build, run `sdpp` with the given arguments (e.g. `serve --models DIR`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >&2
scripts/build.sh >&2
exec build/app/sdpp "$@"
