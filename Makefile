# Two entry points (see README): `make demo` sets up and generates a wiki offline; `make test` sets up and tests.
PY ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	# torch is pinned to the CPU build first, so nothing pulls a multi-GB CUDA build.
	$(VENV)/bin/pip install -q "torch==2.13.0"
	$(VENV)/bin/pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/wikismith generate examples/tinycalc --provider local --output wiki-out/tinycalc

test: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy src
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) wiki-out .pytest_cache .mypy_cache .ruff_cache
