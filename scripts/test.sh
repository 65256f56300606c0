#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite from nothing:
#   1. Release build + every CTest test;
#   2. the same tests under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. each libFuzzer target for a bounded time (FUZZ_SECONDS, default 60), seeded from the fixtures.
# The last line printed is CTest's summary of the Release run.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)

scripts/setup.sh

echo "== sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLAYERLAB_SANITIZE=ON -DLAYERLAB_BENCH=OFF
cmake --build build-asan
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$JOBS"

echo "== fuzzers"
scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

echo "== release tests"
ctest --test-dir build --output-on-failure -j "$JOBS"
