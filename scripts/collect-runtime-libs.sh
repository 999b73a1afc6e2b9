#!/usr/bin/env bash
# Copies every shared library BINARY resolves to (ldd), except the C runtime and the CUDA
# driver (the container runtime injects libcuda), into DEST. Used by the Docker runtime stage
# so the image carries exactly the libraries the worker loads.
#   scripts/collect-runtime-libs.sh build/sdxl-worker /out/lib [EXTRA_DIR...]
# Every EXTRA_DIR is copied whole (libtorch dlopens parts of itself and of cuDNN at run time).
set -euo pipefail
binary=$1
dest=$2
shift 2
mkdir -p "$dest"
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libcuda\.so)'
ldd "$binary" | awk '/=> \//{print $1, $3}' | while read -r name path; do
  if [[ "$name" =~ $skip ]]; then continue; fi
  cp -L "$path" "$dest/$name"
done
for dir in "$@"; do
  cp -a "$dir"/. "$dest"/
done
if ldd "$binary" | grep -q "not found"; then
  echo "collect-runtime-libs: unresolved libraries:" >&2
  ldd "$binary" | grep "not found" >&2
  exit 1
fi
