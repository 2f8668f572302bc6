# `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo test lint bench examples clean render-tools

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

# LibreOffice and poppler for tests/test_render.py (the workbooks printed to PDF by a
# real client), and a font to set the text in (a bare image may have none): installed
# once where the machine allows (root with apt-get: about 30 s and 300 MB on Debian 12);
# elsewhere those tests skip, saying why. The file records the attempt, so a machine
# that cannot install is not asked again.
$(VENV)/.render-tools: | $(VENV)/bin/python
	@if command -v soffice >/dev/null && command -v pdftotext >/dev/null; then \
		echo "already installed" > $@; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing libreoffice-calc, poppler-utils and fonts-dejavu-core for the rendering tests"; \
		if (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends libreoffice-calc poppler-utils fonts-dejavu-core) > $(VENV)/render-tools.log 2>&1; \
		then echo "installed" > $@; \
		else echo "apt-get failed (see $(VENV)/render-tools.log): rendering tests skip" | tee $@; fi; \
	else \
		echo "not root or no apt-get: the rendering tests skip" | tee $@; \
	fi

test: $(VENV)/.installed-dev $(VENV)/.render-tools
	$(PY) -m pytest -q

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# every benchmark, each rewriting its table in the README (about 2 hours with the backtest, household-book and Dask-book benchmarks; run it on
# a quiet machine)
bench: $(VENV)/.installed
	$(PY) -m benchmarks.bench_propose --runs 7 --readme
	$(PY) -m benchmarks.bench_whatif --repeats 5 --readme
	$(PY) -m benchmarks.bench_scale --runs 3 --before 3d067b3 --peer --readme
	$(PY) -m benchmarks.bench_cache --runs 5 --readme
	$(PY) -m benchmarks.bench_vs_pypfopt --covariance ledoit-wolf --readme
	$(PY) -m benchmarks.bench_vs_pypfopt --covariance ledoit-wolf-weekly --readme
	$(PY) -m benchmarks.bench_vs_pypfopt --covariance factor --readme
	$(PY) -m benchmarks.bench_book --accounts 1000 --names 2000 --workers 2 --peer --readme
	$(PY) -m benchmarks.bench_household_book --accounts 1000 --names 2000 --workers 2 --runs 3 --readme
	$(PY) -m benchmarks.bench_book --accounts 10000 --names 2000 --workers 2 --dask --readme
	$(PY) -m benchmarks.bench_lots --lots 1000 3000 10000 100000 --runs 3 --before bffa4fd --before-lots 1000 3000 --readme
	$(PY) -m benchmarks.bench_rounding --readme
	$(PY) -m benchmarks.bench_drift --repeats 5 --readme
	$(PY) -m benchmarks.backtest_library --readme
	$(PY) -m benchmarks.bench_backtest --runs 3 --readme
	$(PY) -m benchmarks.bench_backtest_peer --names 100 --readme

examples: $(VENV)/.installed
	$(PY) examples/make_examples.py

render-tools: $(VENV)/.render-tools

clean:
	rm -rf out .pytest_cache build *.egg-info
