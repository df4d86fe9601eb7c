# ShopLens — `make demo` and `make test` each do their own set-up on a fresh Debian machine with Python 3.11.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODELS ?= var/models/fashion-mnist
PYTEST_ARGS ?=
TEST_WORKERS ?= 2
SERVE_HOST ?= 127.0.0.1
SERVE_PORT ?= 8000

.PHONY: install constraints data demo lint test test-fast bench bench-inference clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The exact releases in constraints.txt (CONSTRAINTS= installs the newest pyproject.toml allows; `make
# constraints` resolves those again and writes them there). torch first: the CPU build of 2.13.0 (a bare `torch`
# requirement could pull a CUDA build).
CONSTRAINTS ?= constraints.txt
PIP_INSTALL = $(BIN)/pip install -q $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
$(VENV)/.installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP_INSTALL) --upgrade pip
	$(PIP_INSTALL) torch==2.13.0
	$(PIP_INSTALL) -e '.[test]'
	touch $@

install: $(VENV)/.installed

constraints:
	@scripts/freeze-constraints.sh

data:
	@scripts/ensure-data.sh

# a finished trained bundle (a killed training leaves its folder marked UNFINISHED; zero- and few-shot versions,
# which name their kind, are no trained bundles), and the newest of them
TRAINED = [ -f "$$d/config.json" ] && [ ! -e "$$d/UNFINISHED" ] && \
	$(BIN)/python -c 'import json, sys; sys.exit("kind" in json.load(open(sys.argv[1])))' "$$d/config.json"
NEWEST_BUNDLE = for d in $$(ls -d $(MODELS)/*/ 2>/dev/null | sort -r); do \
	if $(TRAINED); then echo "$${d%/}"; break; fi; done

demo: install
	@scripts/ensure-data.sh --required
	@active=$$(cat $(MODELS)/ACTIVE 2>/dev/null); \
	d=$(MODELS)/$$active; if [ -n "$$active" ] && $(TRAINED); then bundle=$$d; \
	else bundle=$$($(NEWEST_BUNDLE)); fi; \
	if [ -z "$$bundle" ]; then \
		echo "no model bundle in $(MODELS): training the default preset (fast)…"; \
		$(BIN)/shoplens train --preset fast || exit $$?; \
		bundle=$$($(NEWEST_BUNDLE)); \
	else \
		echo "using $$bundle"; $(BIN)/shoplens evaluate $$bundle || exit $$?; \
	fi; \
	echo "model bundle: $$bundle"; echo "report:       $$bundle/report/report.md"; \
	if [ ! -f "$$bundle/model.onnx" ] && $(BIN)/shoplens export --help >/dev/null 2>&1; then \
		$(BIN)/shoplens export $$bundle || exit $$?; \
	fi; \
	$(BIN)/shoplens models activate $$(basename $$bundle) --models-dir $(dir $(MODELS)) \
		--name $(notdir $(MODELS)) || exit $$?; \
	$(BIN)/shoplens data sample var/sample.png || exit $$?; \
	if [ ! -f var/demo-catalog/LOADED ]; then \
		echo "building the demo catalogue (10,000 products, 20 merchants) in var/catalog…"; \
		$(BIN)/shoplens demo-catalog --out var/demo-catalog || exit $$?; \
	fi; \
	echo; echo "console: http://$(SERVE_HOST):$(SERVE_PORT)/  (open it in a browser)"; \
	echo "serving on http://$(SERVE_HOST):$(SERVE_PORT) (anonymous, loopback only, same-site changes only); Ctrl+C stops it. Try:"; \
	echo "  curl -F file=@var/sample.png http://$(SERVE_HOST):$(SERVE_PORT)/v1/classify"; echo; \
	exec $(BIN)/shoplens serve --open --open-write --host $(SERVE_HOST) --port $(SERVE_PORT)

# Style and layers: ruff (lint and format) and import-linter's contracts in pyproject.toml.
lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	@if grep -q '^\[tool.importlinter\]' pyproject.toml; then $(BIN)/lint-imports; fi

# pytest's exit code 5 ("no tests collected") is a failure here, never a silent pass.
# The catalogue tests also run against a throw-away PostgreSQL cluster when PostgreSQL is installed.
# Two workers (pytest-xdist; TEST_WORKERS=0 runs in one process): most tests keep one core busy, so two take
# 0.61x the time on two cores; each worker has its own PostgreSQL database. Not --dist loadgroup/loadscope:
# they key work by test id, and the contract test's 38 schemathesis cases share one id (37 would never run).
test: install data
	@scripts/with-postgres.sh $(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

# Everything but the slow, live-server, browser and PostgreSQL tests (the markers are in pyproject.toml).
test-fast: install
	$(BIN)/python -m pytest -n 2 -m "not slow and not server and not browser and not postgres and not contract" $(PYTEST_ARGS)

bench: install
	@scripts/ensure-data.sh --required
	$(BIN)/python bench/train_vs_seed.py

# TensorFlow only for the Keras comparison, in its own venv so it never meets the project's torch.
TF_VENV ?= .venv-tf
$(TF_VENV)/.installed:
	$(PYTHON) -m venv $(TF_VENV)
	$(TF_VENV)/bin/pip install -q tensorflow-cpu==2.21.0
	touch $@

bench-inference: install $(TF_VENV)/.installed
	$(BIN)/python bench/inference.py --tf-python $(TF_VENV)/bin/python

clean:
	rm -rf $(VENV) $(TF_VENV) build *.egg-info .pytest_cache
