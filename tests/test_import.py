"""What `import adaste_tf` does to Keras, checked in fresh interpreters."""

import configparser
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, **env):
    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    environment.update(env, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=180
    )


def test_fresh_import_selects_legacy_keras_and_larq_works():
    result = _run(
        "import adaste_tf, larq, tensorflow as tf\n"
        "print(tf.keras.layers.Layer.__module__)\n"
        "print(adaste_tf.__version__)\n"
        "larq.layers.QuantDense(2, kernel_quantizer='adaste')\n"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert lines[0].startswith("tf_keras")
    assert lines[1][0].isdigit()
    # AdaSTE needs no kernel_constraint, so larq's warning about it is not shown (issue 9).
    assert "starved weights" not in result.stderr


def test_supported_pythons_are_3_11_and_3_12():
    # tensorflow 2.21, tf-keras, larq 0.14 and larq-compute-engine 0.16 have wheels for both;
    # .ci/py312.sh installs the package on 3.12 and runs tests there.
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    supported = SpecifierSet(config["options"]["python_requires"])
    assert [v for v in ("3.10", "3.11", "3.12", "3.13") if v in supported] == ["3.11", "3.12"]
    classifiers = config["metadata"]["classifiers"]
    assert all(f"Python :: {v}" in classifiers for v in ("3.11", "3.12"))


def test_tensorflow_imported_first_with_the_variable_set_is_fine():
    result = _run(
        "import tensorflow as tf\nimport adaste_tf, larq\nprint(tf.keras.layers.Layer.__module__)",
        TF_USE_LEGACY_KERAS="1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("tf_keras")


@pytest.mark.parametrize(
    "code",
    [
        "import tensorflow as tf\nimport adaste_tf",  # TF set itself up for Keras 3
        "import tensorflow as tf\ntf.keras.layers\nimport adaste_tf",  # and bound tf.keras to it
    ],
)
def test_keras_3_already_loaded_is_a_clear_import_error(code):
    result = _run(code)
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "Keras 3" in result.stderr and "TF_USE_LEGACY_KERAS=1" in result.stderr
    assert "`import adaste_tf` first, before tensorflow, tf_keras, larq" in result.stderr


def test_larq_imported_first_is_named_and_the_variable_makes_any_order_work():
    """Issue 32: `import larq` first fails inside larq, before adaste_tf can say anything; an
    `import adaste_tf` after it says that larq came first and what works. With the variable set,
    larq first is fine."""
    first = _run("import larq")
    assert first.returncode != 0 and "LocallyConnected1D" in first.stderr  # larq's own failure
    result = _run("try:\n    import larq\nexcept AttributeError:\n    pass\nimport adaste_tf")
    assert result.returncode != 0
    assert "but larq was imported before adaste_tf" in result.stderr
    assert "LocallyConnected1D" in result.stderr and "then any order works" in result.stderr
    fine = _run("import larq, adaste_tf\nprint('ok')", TF_USE_LEGACY_KERAS="1")
    assert fine.returncode == 0 and fine.stdout.strip() == "ok", fine.stderr


@pytest.mark.parametrize("value", ["0", "false"])
def test_explicit_keras_3_request_is_a_clear_import_error(value):
    result = _run("import adaste_tf", TF_USE_LEGACY_KERAS=value)
    assert result.returncode != 0
    assert f"TF_USE_LEGACY_KERAS='{value}'" in result.stderr


def test_the_test_command_runs_the_docstring_examples():
    # `make test` and a bare `pytest` read this: the package's examples run with the tests.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "adaste_tf" in config["testpaths"] and "tests" in config["testpaths"]
    assert "--doctest-modules" in config["addopts"].split()


def test_the_add_on_loads_none_of_the_harness():
    # adaste_tf.zoo (networks, recipes, CLI, plots) builds on the add-on, never the reverse.
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, adaste_tf, larq; "
        "print(sorted(m for m in sys.modules if m.startswith('adaste_tf.zoo')))"
    )
    out = (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    assert out == "[]", out
    package = Path(__file__).resolve().parents[1] / "adaste_tf"
    importers = [p.name for p in package.glob("*.py") if "adaste_tf.zoo" in p.read_text()]
    assert importers == [], importers


def _requirements(section: str, key: str) -> list[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return [line.strip() for line in config[section][key].splitlines() if line.strip()]


def test_requirements_are_ranges_and_the_base_install_is_light():
    base = _requirements("options", "install_requires")
    extras = {
        name: _requirements("options.extras_require", name)
        for name in ("export", "data", "zoo", "test", "docs", "dev")
    }
    for requirement in base + [r for reqs in extras.values() for r in reqs]:
        assert "==" not in requirement, requirement
    names = {r.split(">")[0].split("<")[0].split("[")[0] for r in base}
    assert names == {"tensorflow", "tf-keras", "tensorboard", "larq", "numpy"}
    assert any(r.startswith("larq-compute-engine") for r in extras["export"])
    assert any(r.startswith("tensorflow-datasets") for r in extras["data"])
    assert any(r.startswith("matplotlib") for r in extras["zoo"])


@pytest.fixture
def without(monkeypatch):
    """Make `import <name>` (and its submodules) fail as if it were not installed."""

    def hide(name: str) -> None:
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.delitem(sys.modules, module)
        monkeypatch.setitem(sys.modules, name, None)

    return hide


def test_a_missing_extra_is_an_import_error_that_names_it(without, tmp_path):
    from adaste_tf import data, export
    from adaste_tf.tflite_file import predict
    from adaste_tf.zoo import plots

    import numpy as np
    import tensorflow as tf

    without("larq_compute_engine")
    without("tensorflow_datasets")
    without("matplotlib")
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
    with pytest.raises(
        ImportError,
        match=r"convert\(engine='lce'\) needs larq-compute-engine.*"
        r'pip install "adaste_tf\[export\]"',
    ):
        export.convert(model, engine="lce")
    flatbuffer = export.convert(model, engine="tflite")  # the stock converter needs no extra
    with pytest.raises(ImportError, match=r"adaste_tf\[export\]"):
        predict(flatbuffer, np.zeros((1, 3), np.float32), interpreter="lce")
    with pytest.raises(ImportError, match=r"needs tensorflow-datasets.*adaste_tf\[data\]"):
        data.make_dataset("mnist", "train", 32, source="tfds")
    with pytest.raises(ImportError, match=r"needs matplotlib.*adaste_tf\[zoo\]"):
        plots.figure("x")
