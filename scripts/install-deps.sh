#!/usr/bin/env bash
# Brings a fresh Debian 12 / Ubuntu 24.04 machine to a state where sdxl-worker builds.
# Idempotent and silent when everything is already installed.
#   SDXLW_SKIP_TORCH=1  do not install Debian's CPU libtorch (the Docker image brings a CUDA one)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  nlohmann-json3-dev libspdlog-dev libcurl4-openssl-dev libstb-dev libgtest-dev
  libcpp-httplib-dev libssl-dev libicu-dev zlib1g-dev
)
if [[ "${SDXLW_SKIP_TORCH:-0}" != "1" ]]; then
  # libopenblas0-pthread: without it Debian's libtorch runs fp32 matrix products ~30x slower.
  packages+=(libtorch-dev libopenblas0-pthread)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
