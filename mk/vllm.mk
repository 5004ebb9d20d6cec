# vLLM targets (included by the Makefile). See docs/vllm.md.
.PHONY: bench-vllm test-vllm

bench-vllm: assets ## vLLM feature extraction: harness vs raw requests to the same server (texts/s, ratio)
	$(PY) benchmarks/vllm_throughput.py $(ARGS)

test-vllm: assets ## only the vLLM backend tests (real servers on CPU, ~5 min)
	$(PY) -m pytest tests/transfer/backends -m "not gpu" $(ARGS)
