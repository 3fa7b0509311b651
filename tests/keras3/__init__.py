"""Tests of adaste_tf.keras3 on JAX (see conftest.py). A package, so that its conftest is
`keras3.conftest`, not a second `conftest` beside tests/conftest.py, which the main suite's
tests import from (`from conftest import ...`)."""
