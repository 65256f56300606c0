#!/usr/bin/env bash
# Seeds for safetensors_fuzz: a few small valid safetensors files built with printf.
# Usage: fuzz/seeds-safetensors_fuzz.sh BINARY CORPUS_DIR SHARED_DIR (only CORPUS_DIR is used)
set -euo pipefail
out="$2"
mkdir -p "$out"

# seed NAME HEADER_JSON DATA_BYTES: u64 little-endian header length, header, DATA_BYTES zero bytes.
seed() {
  local name="$1" header="$2" nbytes="$3" n le="" k
  n=${#header}
  for k in 0 1 2 3 4 5 6 7; do le+=$(printf '\\x%02x' $(( (n >> (8 * k)) & 255 ))); done
  { printf "$le"; printf '%s' "$header"; head -c "$nbytes" /dev/zero; } > "$out/$name.safetensors"
}

seed empty '{}' 0
seed meta '{"__metadata__":{"format":"pt"}}' 0
seed f32 '{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}' 24
seed mixed '{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2,2],"data_offsets":[8,16]},"c":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}}' 24
seed hf '{"model.layers.0.self_attn.q_proj.weight":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]},"model.embed_tokens.weight":{"dtype":"F16","shape":[8,4],"data_offsets":[64,128]},"scalar":{"dtype":"F64","shape":[],"data_offsets":[128,136]}}' 136
seed padded '{"x":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}        ' 8
