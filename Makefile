# Set-up is part of every target: a fresh machine needs nothing but python3, make and apt.
VENV ?= .venv
PY := $(VENV)/bin/python
HASH := $(shell cksum < pyproject.toml | cut -d' ' -f1)
RUNTIME := $(VENV)/.runtime-$(HASH)
STAMP := $(VENV)/.installed-$(HASH)
SCENARIO ?= scenarios/10_stp_loop_dns_symptoms

.PHONY: demo test lint check setup setup-runtime system-deps clean

## demo: set up what replay needs, then replay the embedded STP-loop incident
demo: setup-runtime
	$(VENV)/bin/strata replay $(SCENARIO)

## test: set up, then lint, type-check and run every test
test: setup lint
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

setup: system-deps $(STAMP)

# Runtime only (no test tools, no llama-cpp-python build): what `make demo` needs.
setup-runtime:
	@bash .ci/system-deps --runtime
	@$(MAKE) --no-print-directory $(RUNTIME)

system-deps:
	@bash .ci/system-deps

$(RUNTIME): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	rm -f $(VENV)/.runtime-*
	touch $@

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# llama-cpp-python builds from source; a portable build keeps pip's cached wheel usable elsewhere.
	CMAKE_ARGS="$${CMAKE_ARGS:--DGGML_NATIVE=OFF}" $(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* $(VENV)/.runtime-*
	touch $@ $(RUNTIME)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
