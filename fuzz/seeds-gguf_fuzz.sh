#!/usr/bin/env bash
# Seeds for gguf_fuzz: the target's own seed mode writes shrunken copies of the fixture GGUFs.
# Usage: fuzz/seeds-gguf_fuzz.sh BINARY CORPUS_DIR SHARED_DIR
set -euo pipefail
LAYERLAB_FUZZ_SEED_DIR="$2" LAYERLAB_SHARED_DIR="$3" "$1"
