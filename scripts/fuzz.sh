#!/usr/bin/env bash
# Builds every libFuzzer target (fuzz/*_fuzz.cpp) with clang and runs each for SECONDS.
#   scripts/fuzz.sh [SECONDS]        (default 60)
# Seeds: if fuzz/seeds-<target>.sh exists it is run as
#   fuzz/seeds-<target>.sh BINARY CORPUS_DIR SHARED_DIR
# to fill build-fuzz/corpus-<target>/; otherwise the target starts from an empty corpus.
# Exits non-zero if any target finds a crash, leak, timeout or out-of-memory input; the
# reproducer is left in build-fuzz/artifacts-<target>/. FUZZ_BUILD_DIR overrides build-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-60}"
BUILD="${FUZZ_BUILD_DIR:-build-fuzz}"
SHARED="${LAYERLAB_SHARED_DIR:-$(cd .. && pwd)/shared}"

targets=()
for src in fuzz/*_fuzz.cpp; do
  [ -e "$src" ] || continue
  targets+=("$(basename "$src" .cpp)")
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no targets"
  exit 0
fi

CXX="${FUZZ_CXX:-clang++}" cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLAYERLAB_FUZZ=ON -DLAYERLAB_SHARED_DIR="$SHARED" >/dev/null
cmake --build "$BUILD" --target "${targets[@]}"

status=0
for t in "${targets[@]}"; do
  bin="$BUILD/fuzz/$t"
  corpus="$BUILD/corpus-$t"
  artifacts="$BUILD/artifacts-$t"
  mkdir -p "$corpus" "$artifacts"
  if [ -f "fuzz/seeds-$t.sh" ]; then
    bash "fuzz/seeds-$t.sh" "$bin" "$corpus" "$SHARED"
  fi
  echo "== fuzz $t for ${SECS}s ($(ls "$corpus" | wc -l) seeds)"
  log="$BUILD/$t.log"
  if "$bin" "$corpus" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$log" | tail -2 || true
  else
    status=1
    echo "fuzz: $t FAILED (log: $log, reproducer in $artifacts/)"
    tail -40 "$log"
  fi
done
exit $status
