#!/usr/bin/env bash
# The GPU checks in one prepared run, for a lent GPU machine with torch/transformers/peft but no hub, vllm, Ray or
# MLflow: unpack the kit (benchmarks/gpu_kit.py), run the gpu-marked tests, then the extraction benchmark on CUDA.
#   here:   python benchmarks/gpu_kit.py pack .devkit/kit.tar.gz   # + hydra-core/omegaconf/antlr4 wheels in .devkit/whl
#   there:  OUT=/some/folder bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
if ls .devkit/whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .devkit/whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1 TRANSFER_HOME=/tmp/kithome TRANSFER_DATA=/tmp/kithome/data
nvidia-smi -L
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'cpus', __import__('os').cpu_count())"
python3 benchmarks/gpu_kit.py unpack .devkit/kit.tar.gz /tmp/kithome || exit 1
tests_rc=0
if [ -z "${SKIP_TESTS:-}" ]; then
  python3 -m pytest -m gpu tests/transfer/test_gpu.py -q -p no:cacheprovider 2>&1 | tee "$OUT/gpu-tests.log"
  tests_rc=${PIPESTATUS[0]}
fi
python3 benchmarks/extraction.py --backends hf --device cuda --models ${MODELS:-minilm_l6 smollm2_135m gemma3_270m} \
  --pairs ${PAIRS:-1024} --rounds ${ROUNDS:-3} --batch-sizes ${BATCH_SIZES:-16 256} --json "$OUT/gpu-extraction.json" \
  2>&1 | tee "$OUT/gpu-extraction.log"
bench_rc=${PIPESTATUS[0]}
echo "gpu tests rc=$tests_rc, benchmark rc=$bench_rc"
exit $(( tests_rc || bench_rc ))
