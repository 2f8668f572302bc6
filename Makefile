# `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo test lint bench examples clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/rebalancer demo --out-dir out

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# every benchmark, each rewriting its table in the README (about 45 minutes; run it on
# a quiet machine)
bench: $(VENV)/.installed
	$(PY) -m benchmarks.bench_propose --runs 7 --readme
	$(PY) -m benchmarks.bench_whatif --repeats 5 --readme
	$(PY) -m benchmarks.bench_scale --runs 3 --before 3d067b3 --readme
	$(PY) -m benchmarks.bench_vs_pypfopt --covariance ledoit-wolf --readme
	$(PY) -m benchmarks.bench_vs_pypfopt --covariance ledoit-wolf-weekly --readme
	$(PY) -m benchmarks.bench_vs_pypfopt --covariance factor --readme
	$(PY) -m benchmarks.bench_book --accounts 1000 --names 2000 --workers 2 --peer --readme
	$(PY) -m benchmarks.bench_lots --lots 1000 3000 10000 100000 --runs 3 --before bffa4fd --before-lots 1000 3000 --readme
	$(PY) -m benchmarks.bench_rounding --readme
	$(PY) -m benchmarks.bench_drift --repeats 5 --readme

examples: $(VENV)/.installed
	$(PY) examples/make_examples.py

clean:
	rm -rf out .pytest_cache build *.egg-info
