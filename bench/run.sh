#!/usr/bin/env bash
# `make bench`: scoria against the raw database, naive ORM code, DBOS and LangGraph, on SQLite
# and on the local PostgreSQL. The peers live in their own venv (bench/.venv), never in the
# project's. Extra arguments go to `python -m bench.run` (e.g. --quick, --db postgres).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
PEER_VENV=bench/.venv
STAMP=$PEER_VENV/.installed

if [ ! -f "$STAMP" ] || [ bench/requirements.txt -nt "$STAMP" ]; then
    echo "bench: installing the peers (DBOS, LangGraph) into $PEER_VENV"
    base=$("$PY" -c 'import sys; print(sys._base_executable)')
    if "$base" -m venv "$PEER_VENV" \
        && "$PEER_VENV/bin/pip" install --quiet --upgrade pip \
        && "$PEER_VENV/bin/pip" install --quiet -r bench/requirements.txt; then
        touch "$STAMP"
    else
        # bench.run records the peers as not measured, with this reason, rather than guess.
        echo "bench: could not install bench/requirements.txt; peers will be reported as skipped" >&2
        rm -f "$PEER_VENV/bin/python"
    fi
fi

exec "$PY" -m bench.run "$@"
