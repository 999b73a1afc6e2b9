#!/bin/sh
# Keeps the CUDA-only engine code compiling on CPU-only machines (DESIGN §6): Debian's CPU
# libtorch ships the c10/cuda and ATen/cuda headers but not the generated
# c10/cuda/impl/cuda_cmake_macros.h, so a one-line stand-in is put on the include path and
# src/engine/*_cuda.cpp, and device.cpp with SDXLW_WITH_CUDA=1, are checked with -fsyntax-only
# against those headers plus the CUDA toolkit's.
# Usage: cuda_syntax_check.sh CXX SRC_DIR [TORCH_INCLUDE_DIR...]; exits 77 (skipped) without
# /usr/local/cuda/include.
set -eu
cuda_include=/usr/local/cuda/include
if [ ! -d "$cuda_include" ]; then
  echo "skipped: $cuda_include does not exist (no CUDA toolkit headers on this machine)"
  exit 77
fi
cxx=$1
src=$2
shift 2
standin=$(mktemp -d)
trap 'rm -rf "$standin"' EXIT
mkdir -p "$standin/c10/cuda/impl"
echo '#pragma once' > "$standin/c10/cuda/impl/cuda_cmake_macros.h"
flags="-I$standin -I/usr/include/torch/csrc/api/include"
for dir in "$@"; do flags="$flags -I$dir"; done
set -- $flags -I"$cuda_include"
for source in "$src"/engine/*_cuda.cpp; do
  echo "$cxx -fsyntax-only -std=c++17 $* $source"
  "$cxx" -fsyntax-only -std=c++17 "$@" "$source"
done
echo "$cxx -fsyntax-only -std=c++17 -DSDXLW_WITH_CUDA=1 -I$src $* $src/engine/device.cpp"
"$cxx" -fsyntax-only -std=c++17 -DSDXLW_WITH_CUDA=1 -I"$src" "$@" "$src/engine/device.cpp"
echo "ok: the CUDA-only engine code compiles against the CUDA headers"
