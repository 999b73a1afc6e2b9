#!/usr/bin/env bash
# Runs one golden fixture job (tests/fixtures/jobs/NAME) on the tiny random-weight fixture
# checkpoint, offline: no Civitai key, no GPU, no download. The PNGs land in ./output/ and the
# job's JSON result is printed on stdout. Its images are coloured noise by design: the fixture
# weights are random, so this proves the pipeline, not the art.
#   scripts/run-fixture-job.sh [01_euler_64]
set -euo pipefail
cd "$(dirname "$0")/.."
job=${1:-01_euler_64}
[[ -f "tests/fixtures/jobs/$job/job.json" ]] || { echo "no fixture job $job (see tests/fixtures/jobs/)" >&2; exit 2; }
[[ -x build/sdxl-worker && -x build/sdxl-make-checkpoint ]] || scripts/build.sh >&2
mkdir -p models-fixture output
build/sdxl-make-checkpoint --recipe tests/fixtures/tiny_a.recipe.json \
  --out models-fixture/tiny_a.safetensors --if-missing >&2
cp -f tests/fixtures/lora_a.safetensors models-fixture/
# The rebuilt checkpoint holds the fixture's tensors byte for byte, but its header is formatted by
# our writer, so the file's SHA-256 differs from tests/fixtures/models.json: name it without one.
cat > models-fixture/models.json <<'JSON'
{
  "checkpoint": {"name": "tiny_a", "filename": "tiny_a.safetensors"},
  "loras": [{"name": "lora_a", "filename": "lora_a.safetensors", "scale": 1.0}]
}
JSON
exec build/sdxl-worker --device cpu --models models-fixture/models.json --models-dir models-fixture \
  --test_input "$(cat "tests/fixtures/jobs/$job/job.json")" --output-dir output
