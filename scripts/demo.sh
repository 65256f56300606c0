#!/usr/bin/env bash
# The main job, runnable from a fresh checkout: set up and build, then describe every fixture
# model (one summary line each) and print the full table of one of them.
# The fixtures sit beside the repository: ../shared/fixtures/models.
# Usage: scripts/demo.sh [MODEL_FOR_FULL_TABLE]   (default: qwen35-f16.gguf)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODELS="$(cd "$(dirname "$0")/../../shared/fixtures/models" 2>/dev/null && pwd)" || {
  echo "demo: fixture models not found at $(dirname "$0")/../../shared/fixtures/models" >&2
  exit 1
}
FULL="${1:-qwen35-f16.gguf}"

"$ROOT/scripts/setup.sh"
LAYERLAB="$ROOT/build/layerlab"

echo
echo "== every fixture model (layerlab inspect --summary)"
for model in "$MODELS"/*.gguf; do
  "$LAYERLAB" inspect "$model" --summary
done

echo
echo "== full description of $FULL (layerlab inspect)"
"$LAYERLAB" inspect "$MODELS/$FULL"
