# The two commands of the README: `make demo` and `make test`. Both set up what they need first:
# Debian's Fashion-MNIST files (the demo's offline data) and a virtualenv with the pinned stack.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FASHION_MNIST := /usr/share/datasets/fashion-mnist
PYTEST_ARGS ?=

.PHONY: demo test test-py312 setup data

demo: setup
	$(PY) examples/train_fashion_mnist.py

test: setup
	bash .ci/pytest.sh $(PYTEST_ARGS)

# The second supported Python: a 3.12 virtualenv (.venv312) and a subset of the tests.
test-py312:
	bash .ci/py312.sh

setup: data $(VENV)/.installed

data:
	@if [ ! -f $(FASHION_MNIST)/train-images-idx3-ubyte.gz ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist; \
	fi

$(VENV)/.installed: setup.cfg pyproject.toml constraints/tested.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints/tested.txt -e ".[test]"
	touch $@
