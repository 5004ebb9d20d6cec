# The scale ladder (issue 28, docs/ladder.md). Included by the main Makefile (-include mk/*.mk).
LADDER      ?= cpu
LADDER_ARGS ?=

.PHONY: ladder ladder-usage ladder-check

ladder: ladder-usage assets ## run a lab study's methods on a ladder of strong models and forecast production: make ladder LAB=<study> [LADDER=cpu]
	$(BIN)/transfer-ladder --lab "$(LAB)" --ladder "$(LADDER)" $(LADDER_ARGS)

ladder-check: $(STAMP) ## the ladder forecast's calibration on planted-truth ladders (interval coverage, verdict Brier); exits 1 if a bar fails
	$(PY) benchmarks/ladder_check.py $(ARGS)

ladder-usage:
	@test -n "$(LAB)" || { echo "usage: make ladder LAB=<lab study> [LADDER=cpu] [LADDER_ARGS='--seeds 10 --methods vanilla,logconf']"; exit 2; }
