# ShopLens — `make demo` and `make test` each do their own set-up on a fresh Debian machine with Python 3.11.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODELS ?= var/models/fashion-mnist
PYTEST_ARGS ?=

.PHONY: install data demo test test-fast bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: the CPU build of 2.13.0 (a bare `torch` requirement could pull a CUDA build).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

data:
	@scripts/ensure-data.sh

demo: install
	@scripts/ensure-data.sh --required
	@bundle=$$(ls -d $(MODELS)/*/config.json 2>/dev/null | sort | tail -n 1 | xargs -r dirname); \
	if [ -z "$$bundle" ]; then \
		echo "no model bundle in $(MODELS): training the default preset (fast)…"; \
		$(BIN)/shoplens train --preset fast || exit $$?; \
		bundle=$$(ls -d $(MODELS)/*/config.json | sort | tail -n 1 | xargs dirname); \
	else \
		echo "using $$bundle"; $(BIN)/shoplens evaluate $$bundle || exit $$?; \
	fi; \
	echo "model bundle: $$bundle"; echo "report:       $$bundle/report/report.md"

# pytest's exit code 5 ("no tests collected") is a failure here, never a silent pass.
test: install data
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: install
	@scripts/ensure-data.sh --required
	$(BIN)/python bench/train_vs_seed.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
