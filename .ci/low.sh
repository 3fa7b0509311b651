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

source .ci/venv.sh
test_venv low "$PYTHON" "$VENV" constraints/low.txt
"$VENV/bin/python" -c 'import adaste_tf, tensorflow as tf, larq, tf_keras
print(f"low: tensorflow {tf.__version__}, tf-keras {tf_keras.__version__}, larq {larq.__version__}")'
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --numprocesses=auto --maxprocesses=4 "${TESTS[@]}"
