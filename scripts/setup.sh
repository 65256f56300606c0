#!/usr/bin/env bash
# Installs the Debian packages layerlab needs (idempotent) and builds a Release tree in build/.
# Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  clang libclang-rt-dev          # libFuzzer and the sanitizer runtimes
  libcli11-dev                   # command line parsing
  nlohmann-json3-dev             # JSON output and safetensors headers
  libfmt-dev                     # formatting
  libhwy-dev                     # portable SIMD with run-time dispatch
  libpcre2-dev                   # Unicode-aware pre-tokenizer regexes
  python3-numpy                  # tests run the fixtures' reference materializer (surgery.py)
  libgtest-dev libbenchmark-dev  # tests and benchmarks
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

if [ "${1:-}" != "--no-build" ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build build
fi
