#!/usr/bin/env bash
# Installs everything sdpp needs to build, run and test on a fresh Debian 12 machine (Debian packages + npm only).
# Idempotent: skips apt when every package is already installed. Runs apt through sudo when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git python3
  libopenblas-dev nlohmann-json3-dev libcpp-httplib-dev libcli11-dev libpng-dev libjpeg-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  chromium nodejs
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian ships npm as its own package; NodeSource's nodejs bundles it (and conflicts with Debian's npm).
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "sdpp: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Browser-test driver (the browser itself is Debian's chromium; playwright-core never downloads one).
if [ -f tests/web/package.json ] && [ ! -d tests/web/node_modules/playwright-core ]; then
  (cd tests/web && npm install --no-audit --no-fund --loglevel=error)
fi
