#!/bin/sh
# sdxl-bench runs every phase on the tiny checkpoint and prints one JSON object with the fields
# issue 7 asks for (DESIGN §7). Not a timing test: only that it runs and reports.
# Usage: bench_smoke.sh SDXL_BENCH CHECKPOINT
set -eu
out=$("$1" --checkpoint "$2" --device cpu --dtype bf16 --width 64 --height 64 --steps 1 --matmul-size 256 \
      --matmul-runs 1 --json 2>/dev/null)
for key in load_s text_encode_s unet_step_s vae_decode_s total_s peak_rss_bytes weights_bytes unet_flops \
           matmul_flops_per_s unet_efficiency device dtype width height steps; do
  if ! printf '%s\n' "$out" | grep -q "^  \"$key\": "; then
    echo "missing \"$key\" in:"
    printf '%s\n' "$out"
    exit 1
  fi
done
printf '%s\n' "$out" | grep -q '"dtype": "bf16"' || { echo "dtype is not bf16"; exit 1; }
printf '%s\n' "$out" | grep -q '"unet_efficiency": 0\.[0-9]*[1-9]' || printf '%s\n' "$out" | grep -q '"unet_efficiency": [1-9]' || {
  echo "unet_efficiency is not positive"; exit 1; }
echo "ok: sdxl-bench reported every field"
