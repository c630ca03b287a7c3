# difflab — the two commands a new user needs are `make demo` and `make test`.
# Both create .venv on first use and are idempotent: a second run installs nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU wheel of torch, pinned so that no multi-GB CUDA build is pulled in.
TORCH := torch==2.13.0
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test install dev-install browser readme check-readme export format lint docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.stamp-install: $(BIN)/python settings.ini setup.py
	$(PIP) install "$(TORCH)"
	$(PIP) install "$(TORCH)" -e .
	touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-install settings.ini setup.py
	$(PIP) install "$(TORCH)" -e ".[dev]"
	touch $@

install: $(VENV)/.stamp-install
dev-install: $(VENV)/.stamp-dev

## make demo: install, train DDPM on 2D moons in seconds, write a PNG of data vs samples
demo: install
	$(BIN)/difflab demo

## Debian's chromium for the browser tests (root only; skipped with a message otherwise)
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "could not install chromium: browser tests will be skipped"; \
	  else echo "chromium missing and not root: browser tests will be skipped"; fi; fi

## make test: dev tools, every notebook under nbdev_test, then pytest
test: dev-install browser
	$(BIN)/nbdev_export
	@git diff --quiet -- difflab 2>/dev/null || { echo "nbdev_export changed difflab/: run nbdev_export and commit"; git --no-pager diff --stat -- difflab; exit 1; }
	$(MAKE) --no-print-directory lint
	$(BIN)/nbdev_test --n_workers 2 --timing
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not browser" tests
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m browser tests

## README.md is generated from nbs/index.ipynb (no Quarto needed)
readme: dev-install
	$(BIN)/python tools/make_readme.py

check-readme: dev-install
	$(BIN)/python tools/make_readme.py --check

export: dev-install
	$(BIN)/nbdev_export

## make format: ruff-format every notebook so that the exported difflab/ is ruff-clean (tools/format_nbs.py)
format: dev-install
	$(BIN)/python tools/format_nbs.py
	$(BIN)/nbdev_clean

## make lint: the style checks `make test` runs on the exported library
lint: dev-install
	$(BIN)/ruff check difflab
	$(BIN)/python tools/format_nbs.py --check

## make docs: the site in _docs/ (Sphinx + myst-nb fed by nbdev's processors, API by autodoc/autosummary, source by
## viewcode; see docs/README.md). Notebooks are not executed; MathJax, the widget manager and fonts are fetched once
## from the npm registry, then the build is offline.
docs: dev-install
	$(BIN)/python tools/docs_assets.py
	$(BIN)/python tools/build_docs.py

clean:
	rm -rf _docs _proc build dist *.egg-info
