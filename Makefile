# The README's two commands: `make demo` serves the example project, `make test` runs the suite.
PYTHON_BIN ?= $(shell for p in python3.13 python3.12 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null && { command -v $$p; break; }; \
	done)
VENV ?= .venv
PY = $(VENV)/bin/python
PIP = $(VENV)/bin/pip
STAMP = $(VENV)/.installed-test
PYTEST_ARGS ?=

.PHONY: venv install test lint format demo bench docs clean

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

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist *.egg-info
