#!/usr/bin/env bash
# The lowest supported versions (constraints/low.txt: TensorFlow and tf-keras 2.18, larq 0.14,
# NumPy 1.26) in a virtualenv of their own (.venv-low), and a subset of the tests there: the
# quantizer against the oracle in every mode, saving and loading, the callbacks and
# schedules, and what `import adaste_tf` does. The whole suite runs on the newest set (make test).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV_LOW:-.venv-low}
TESTS=(tests/test_import.py tests/test_quantizers.py tests/test_ops.py tests/test_callbacks.py
       tests/test_schedules.py)

stamp="$VENV/.installed"
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ constraints/low.txt -nt "$stamp" ]; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  if ! { "$VENV/bin/python" -m pip install -q --upgrade pip \
         && "$VENV/bin/python" -m pip install -q -c constraints/low.txt -e ".[test]"; } \
         > "$VENV/pip.log" 2>&1; then
    tail -n 40 "$VENV/pip.log"
    echo "low: FAILED: pip could not install the lowest supported versions" >&2
    exit 1
  fi
  touch "$stamp"
fi
"$VENV/bin/python" -c 'import adaste_tf, tensorflow as tf, larq, tf_keras
print(f"low: tensorflow {tf.__version__}, tf-keras {tf_keras.__version__}, larq {larq.__version__}")'
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --numprocesses=auto --maxprocesses=4 "${TESTS[@]}"
