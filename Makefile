# Two entry points (see README): `make demo` sets up and generates a wiki offline; `make test` sets up and tests.
PY ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
# llama.cpp is built for any x86-64 with AVX2 (GGML_NATIVE=OFF), not for this CPU: where the CPU reports AMX, as
# the 2-core VMs here do, the -march=native build's AMX kernels crash the first decode (SIGSEGV in
# ggml_backend_amx_mul_mat). pip's wheel cache does not key on CMAKE_ARGS, so this wheel has a directory of its own,
# built once per machine (about 6 minutes on 2 cores) and reused by every checkout.
LLAMA_VERSION := 0.3.36
LLAMA_WHEELS := $(HOME)/.cache/wikismith/llama-cpp-python-$(LLAMA_VERSION)-portable

# The web app's browser assets (Mermaid, Swagger UI) come from the npm registry, pinned by package-lock.json.
WEB_VENDOR := src/wikismith/server/web/vendor
WEB_STAMP := $(WEB_VENDOR)/node_modules/.installed

.PHONY: setup demo test lint clean browser

$(STAMP): pyproject.toml Makefile
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	# torch is pinned to the CPU build first, so nothing pulls a multi-GB CUDA build.
	$(VENV)/bin/pip install -q "torch==2.13.0"
	ls $(LLAMA_WHEELS)/*.whl >/dev/null 2>&1 || { rm -rf $(LLAMA_WHEELS).tmp && \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF" $(VENV)/bin/pip wheel -q --no-deps --no-cache-dir \
	    "llama-cpp-python==$(LLAMA_VERSION)" -w $(LLAMA_WHEELS).tmp && mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS); }
	$(VENV)/bin/pip install -q --find-links $(LLAMA_WHEELS) "llama-cpp-python==$(LLAMA_VERSION)"
	$(VENV)/bin/pip install -q -e ".[dev]"
	touch $(STAMP)

$(WEB_STAMP): $(WEB_VENDOR)/package.json $(WEB_VENDOR)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is required for the web app's Mermaid and API docs assets (Debian: apt-get install npm)"; exit 1; }
	cd $(WEB_VENDOR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

setup: $(STAMP) $(WEB_STAMP)

# The browser tests drive Debian's chromium (Playwright's own browser download cannot work here).
browser:
	@command -v chromium >/dev/null || { echo "installing chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: setup
	$(VENV)/bin/wikismith generate examples/tinycalc --provider local --output wiki-out/tinycalc

test: setup browser
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy src
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) wiki-out .pytest_cache .mypy_cache .ruff_cache $(WEB_VENDOR)/node_modules
