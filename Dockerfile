# syntax=docker/dockerfile:1
# sdxl-worker image: build on CUDA 12.8 devel (Ubuntu 24.04), run on the matching CUDA runtime.
#
#   docker build -t sdxl-worker .                                   # models on /runpod-volume
#   docker build --build-arg BAKE_MODELS=1 \
#     --secret id=civitai_api_key,env=CIVITAI_API_KEY -t sdxl-worker:baked .   # models in the image
#
# The build runs the same scripts as the README (scripts/install-deps.sh through scripts/build.sh),
# with a CUDA libtorch instead of Debian's CPU one.

ARG CUDA_IMAGE_VERSION=12.8.1
ARG UBUNTU_VERSION=24.04

FROM nvidia/cuda:${CUDA_IMAGE_VERSION}-devel-ubuntu${UBUNTU_VERSION} AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# libtorch 2.7.1 for CUDA 12.8 (C++11 ABI), pinned by SHA-256.
ARG LIBTORCH_VERSION=2.7.1
ARG LIBTORCH_SHA256=ae513b437ae99150744ef1d06b02a4ecbbb9275c9ffe540c88909623e3293041
ARG LIBTORCH_URL=https://download.pytorch.org/libtorch/cu128/libtorch-cxx11-abi-shared-with-deps-${LIBTORCH_VERSION}%2Bcu128.zip
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl unzip \
 && rm -rf /var/lib/apt/lists/* \
 && curl -fsSL --retry 5 -o /tmp/libtorch.zip "${LIBTORCH_URL}" \
 && echo "${LIBTORCH_SHA256}  /tmp/libtorch.zip" | sha256sum -c - \
 && unzip -q /tmp/libtorch.zip -d /opt \
 && rm /tmp/libtorch.zip

WORKDIR /src
# The README's install script, without Debian's CPU libtorch (the CUDA one above replaces it).
COPY scripts/install-deps.sh scripts/
RUN SDXLW_SKIP_TORCH=1 scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*

COPY . .
# Volta through Blackwell; PTX for newer parts.
ENV TORCH_CUDA_ARCH_LIST="7.0;7.5;8.0;8.6;8.9;9.0;10.0;12.0+PTX"
RUN SDXLW_SKIP_TORCH=1 scripts/build.sh -DCMAKE_PREFIX_PATH=/opt/libtorch -DSDXLW_BUILD_TESTS=OFF \
 && scripts/collect-runtime-libs.sh build/sdxl-worker /out/lib /opt/libtorch/lib \
 && install -D -m 0755 build/sdxl-worker /out/bin/sdxl-worker \
 && install -D -m 0644 assets/bpe_simple_vocab_16e6.txt.gz /out/bin/assets/bpe_simple_vocab_16e6.txt.gz \
 && install -D -m 0644 assets/LICENSE.openai-clip /out/bin/assets/LICENSE.openai-clip \
 && install -D -m 0644 models.json /out/app/models.json \
 && install -D -m 0644 test_input.json /out/app/test_input.json

# Optional: the models.json files baked into the image (--build-arg BAKE_MODELS=1). The Civitai
# key comes in as a build secret and never lands in a layer.
FROM builder AS models
ARG BAKE_MODELS=""
RUN --mount=type=secret,id=civitai_api_key \
    mkdir -p /out/models \
 && if [[ -n "${BAKE_MODELS}" ]]; then \
      CIVITAI_API_KEY="$(cat /run/secrets/civitai_api_key 2>/dev/null || true)" \
      LD_LIBRARY_PATH=/out/lib /out/bin/sdxl-worker --download-only \
        --models /out/app/models.json --models-dir /out/models; \
    fi

FROM nvidia/cuda:${CUDA_IMAGE_VERSION}-runtime-ubuntu${UBUNTU_VERSION} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# HTTPS to Civitai and RunPod needs the CA bundle libcurl was built to read; do not rely on the
# base image happening to keep it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=builder /out/lib/ /opt/sdxl-worker/lib/
COPY --from=builder /out/bin/ /opt/sdxl-worker/bin/
COPY --from=builder /out/app/ /app/
COPY --from=models /out/models/ /app/models/
# Models: --models-dir > MODELS_DIR > /runpod-volume/models (network volume) > ./models.
# A baked image points MODELS_DIR at its own copy; otherwise MODELS_DIR stays empty (unset).
ARG BAKE_MODELS=""
ENV LD_LIBRARY_PATH=/opt/sdxl-worker/lib \
    PATH=/opt/sdxl-worker/bin:${PATH} \
    MODELS_DIR=${BAKE_MODELS:+/app/models}
WORKDIR /app
ENTRYPOINT ["/opt/sdxl-worker/bin/sdxl-worker"]
