# The README's two commands: `make demo` serves the example project, `make test` runs the suite.
PYTHON_BIN ?= $(shell for p in python3.13 python3.12 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null && { command -v $$p; break; }; \
	done)
VENV ?= .venv
PY = $(VENV)/bin/python
PIP = $(VENV)/bin/pip
STAMP = $(VENV)/.installed-test
BROWSER_STAMP = $(VENV)/.installed-browser
DOCS_STAMP = $(VENV)/.installed-docs
CHROMIUM ?= /usr/bin/chromium
DEMO_DB ?= example_project/demo.sqlite3
DEMO_HOST ?= 127.0.0.1
DEMO_PORT ?= 8000
DEMO_ADDR = $(DEMO_HOST):$(DEMO_PORT)
DEMO_MANAGE = SCORIA_DEMO_DB=$(DEMO_DB) $(PY) example_project/manage.py
PYTEST_ARGS ?=

.PHONY: venv install test lint format demo bench docs clean browser-deps

$(PY):
	@if [ -z "$(PYTHON_BIN)" ]; then \
		echo "error: scoria_django needs Python >= 3.12 (Django 6). Install it (pyenv install 3.13) and retry." >&2; \
		exit 1; \
	fi
	$(PYTHON_BIN) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet -e ".[test]"
	@touch $(STAMP)

venv: $(PY)
install: $(STAMP)

test: $(STAMP) $(BROWSER_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/mypy scoria_django

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist *.egg-info

$(BROWSER_STAMP): $(STAMP)
	$(PIP) install --quiet -e ".[test,browser]"
	@touch $(BROWSER_STAMP)

$(DOCS_STAMP): $(STAMP)
	$(PIP) install --quiet -e ".[test,docs]"
	@touch $(DOCS_STAMP)

# Playwright drives Debian's chromium; nothing downloads a browser. Needs root for apt-get
# (the browser test also installs it itself when it can, and says why it skips otherwise).
browser-deps: $(BROWSER_STAMP)
	@if [ ! -x "$(CHROMIUM)" ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi
	@test -x "$(CHROMIUM)" && echo "chromium: $(CHROMIUM)"

docs: $(DOCS_STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

# The example project on SQLite: migrate, create the demo-only operator account (its
# password is printed once, on creation), then serve http://$(DEMO_ADDR) with uvicorn, an
# ASGI server (the live run pages hold an event stream open; docs/deployment.md).
demo: $(STAMP)
	$(DEMO_MANAGE) migrate --noinput
	$(DEMO_MANAGE) demo_operator
	@echo "Example project: http://$(DEMO_ADDR)/  API: http://$(DEMO_ADDR)/api/scoria/  admin: http://$(DEMO_ADDR)/admin/"
	SCORIA_DEMO_DB=$(DEMO_DB) $(VENV)/bin/uvicorn example_project.asgi:application \
		--host $(DEMO_HOST) --port $(DEMO_PORT)

# Benchmarks (not tests): `make bench`, or `make bench BENCH_ARGS=--quick`.
include bench/Makefile.mk
