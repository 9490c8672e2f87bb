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
# The demo needs the package, its server and Pydantic AI (the assistant is an agent), not
# the test tooling.
DEMO_STAMP = $(VENV)/.installed-demo
CHROMIUM ?= /usr/bin/chromium
DEMO_DB ?= example_project/demo.sqlite3
DEMO_ADDR ?= 127.0.0.1:8000
DEMO_MANAGE = SCORIA_DEMO_DB=$(DEMO_DB) $(PY) example_project/manage.py
PYTEST_ARGS ?=
# Line and branch coverage of the package on every full run; the floor is the measured level
# of the SQLite suite minus a small margin (raise it when coverage grows). Test order is
# shuffled by pytest-randomly: a failure prints the seed, replay it with
# PYTEST_ARGS=--randomly-seed=N (or -p no:randomly to run in file order). A subset of the
# suite misses the floor: `make test COV_ARGS= PYTEST_ARGS=tests/test_x.py`.
COV_FLOOR ?= 93
COV_ARGS ?= --cov=scoria_django --cov-branch --cov-report=term-missing:skip-covered \
	--cov-fail-under=$(COV_FLOOR)

.PHONY: venv install test lint format demo demo-url bench docs clean browser-deps

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
	$(PY) -m pytest $(COV_ARGS) $(PYTEST_ARGS)

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

# The address to open, from what runserver binds: a bare port (8001) is 127.0.0.1:8001 and a
# wildcard host (0.0.0.0, [::]) is opened as 127.0.0.1 (the demo's ALLOWED_HOSTS).
demo-url:
	@addr='$(DEMO_ADDR)'; \
	case "$$addr" in *:*) host="$${addr%:*}"; port="$${addr##*:}";; *) host=""; port="$$addr";; esac; \
	case "$$host" in ""|0.0.0.0|"[::]") host=127.0.0.1;; esac; \
	echo "http://$$host:$$port"

$(DEMO_STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet -e ".[demo,pydantic-ai]"
	@touch $(DEMO_STAMP)

# The example project on SQLite: migrate, create the demo-only operator account (its
# password is printed once, on creation), then serve it on $(DEMO_ADDR) with uvicorn, an
# ASGI server (the live run pages hold an event stream open; docs/deployment.md).
demo: $(DEMO_STAMP)
	$(DEMO_MANAGE) migrate --noinput
	$(DEMO_MANAGE) demo_operator
	@url="$$($(MAKE) -s --no-print-directory demo-url)"; \
	echo "Example project: $$url/  API: $$url/api/scoria/  admin: $$url/admin/"
	@addr='$(DEMO_ADDR)'; \
	case "$$addr" in *:*) host="$${addr%:*}"; port="$${addr##*:}";; *) host=127.0.0.1; port="$$addr";; esac; \
	host="$${host#[}"; host="$${host%]}"; \
	SCORIA_DEMO_DB=$(DEMO_DB) exec $(VENV)/bin/uvicorn example_project.asgi:application \
		--host "$$host" --port "$$port"

# Benchmarks (not tests): `make bench`, or `make bench BENCH_ARGS=--quick`.
include bench/Makefile.mk
