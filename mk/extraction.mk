# Feature-extraction benchmark (issue 15). Included by the main Makefile (-include mk/*.mk).
.PHONY: bench-extraction

bench-extraction: assets ## extraction texts/s and FLOP/s vs this machine's matmul FLOP/s, float32 vs bfloat16 (~15 min)
	$(PY) benchmarks/extraction.py $(ARGS)
