#!/usr/bin/env bash
# Lint, formatting, types and the docs site, with the tools pinned in constraints/tested.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
"$PY" -m pip install -q -c constraints/tested.txt -e ".[docs,dev]"
"$PY" -m ruff check .
"$PY" -m ruff format --check .
"$PY" -m mypy
NO_MKDOCS_2_WARNING=1 "$PY" -m mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
echo "lint: ruff, ruff format, mypy and mkdocs build --strict passed"
