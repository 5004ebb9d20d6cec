# Statistics and reports (analysis/, issue #4). Included by the main Makefile (-include mk/*.mk).
STUDY ?=
LAB   ?=
AAR   ?= ../shared/data/aar/cache_results.tar.gz
REPORT_ARGS ?=

.PHONY: report report-usage import-aar ci-coverage verdict-check

report: report-usage $(STAMP) ## statistics + paper-ready report: make report STUDY=<experiment> [LAB=<lab study>] -> reports/<study>/
	$(BIN)/transfer-report --study "$(STUDY)" $(if $(LAB),--lab "$(LAB)") $(REPORT_ARGS)

import-aar: $(STAMP) ## import the AAR per-seed results as lab study `aar`: make import-aar AAR=../shared/data/aar/cache_results.tar.gz
	$(BIN)/transfer-import-aar "$(AAR)" --study aar

ci-coverage: $(STAMP) ## coverage of the report's 95% CIs on simulated studies with known truth, 5/10/20 seeds, 2 generators (rows in parallel: ARGS=--workers N)
	$(PY) benchmarks/ci_coverage.py $(ARGS)

verdict-check: $(STAMP) ## verdict rates and power calibration on planted-truth studies; exits 1 if a bar fails (~4 min)
	$(PY) benchmarks/verdicts.py $(ARGS)

report-usage:  # first prerequisite of report: the usage prints before any install
	@test -n "$(STUDY)" || { echo "usage: make report STUDY=<experiment> [LAB=<lab study>] [REPORT_ARGS='--set alpha=0.1']"; exit 2; }
