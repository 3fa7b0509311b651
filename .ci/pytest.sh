#!/usr/bin/env bash
# Runs the test suite; pytest's exit code 5 ("no tests collected") is a failure here, not a pass.
#
# One pytest-xdist worker per core, at most 4 (each worker imports TensorFlow, ~1 GiB): much of a
# test's time is single-threaded Python (tracing, building Keras models, converting), so on the
# 2-core CI machine two workers finish the suite in about two thirds of the serial time.
# Arguments come after, so `-n 0` runs it serially.
set -u
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest -q --numprocesses=auto --maxprocesses=4 "$@"
code=$?
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$code"
