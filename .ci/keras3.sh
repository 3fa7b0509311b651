#!/usr/bin/env bash
# The Keras 3 path (adaste_tf.keras3) on JAX, in a virtualenv of its own (.venv-keras3) with
# only what that path needs: keras 3, JAX on CPU, NumPy 2 and pytest, at the versions of
# constraints/keras3.txt, and no TensorFlow and no larq. The package goes in without its
# dependencies (its base install is the larq path's: TensorFlow, larq, NumPy < 2). Runs
# tests/keras3 and the docstring examples of adaste_tf/keras3 and of the shared modules there,
# with --confcutdir so that tests/conftest.py (which imports TensorFlow) is not loaded. The
# TensorFlow backend is tested in the main suite (tests/test_keras3_tf_backend.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV_KERAS3:-.venv-keras3}
CONSTRAINTS=constraints/keras3.txt
stamp="$VENV/.installed"

# Made again only when the interpreter, the package's metadata or the constraints changed.
if ! { [ -f "$stamp" ] && [ ! setup.cfg -nt "$stamp" ] && [ ! pyproject.toml -nt "$stamp" ] \
       && [ ! "$CONSTRAINTS" -nt "$stamp" ] && [ "$(cat "$stamp")" = "$PYTHON" ]; }; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  if ! { "$VENV/bin/python" -m pip install -q --upgrade pip \
         && "$VENV/bin/python" -m pip install -q -c "$CONSTRAINTS" keras "jax[cpu]" numpy pytest \
         && "$VENV/bin/python" -m pip install -q --no-deps -e .; } > "$VENV/pip.log" 2>&1; then
    tail -n 40 "$VENV/pip.log"
    echo "keras3: FAILED: pip could not install keras 3 and JAX with $CONSTRAINTS" >&2
    exit 1
  fi
  echo "$PYTHON" > "$stamp"
fi

export KERAS_BACKEND=jax
"$VENV/bin/python" - <<'PYTHON'
import sys
import jax, keras, numpy
from adaste_tf import keras3
loaded = sorted(m for m in ("tensorflow", "larq", "tf_keras") if m in sys.modules)
if loaded:
    sys.exit(f"keras3: FAILED: importing adaste_tf.keras3 imported {loaded}")
print(f"keras3: keras {keras.__version__} ({keras.backend.backend()}), jax {jax.__version__}, "
      f"numpy {numpy.__version__}; no tensorflow, no larq")
PYTHON
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --confcutdir=tests/keras3 \
    tests/keras3 adaste_tf/keras3 adaste_tf/_rules.py adaste_tf/_scheduling.py \
    adaste_tf/_quantizer_config.py
