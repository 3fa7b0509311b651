"""The README's Quick start, run exactly as written, on 4000 Fashion-MNIST training images (the
local copy, `make test` installs it; random images of the same shape where it is missing)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import adaste_tf  # noqa: F401  (first: selects legacy Keras)

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block(page: Path, heading: str) -> str:
    """The first Python code block after `heading` in `page`."""
    section = page.read_text().split(heading, 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def quick_start_code() -> str:
    return python_block(README, "## Quick start")


def _images(count: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        x, y = adaste_tf.data.load_arrays("fashion_mnist", "train")
    except (OSError, ValueError):  # no local copy: the same shapes, random
        rng = np.random.default_rng(0)
        return rng.random((count, 28, 28), dtype=np.float32), rng.integers(0, 10, count)
    return x[:count].astype(np.float32) / 255.0, y[:count]


def test_the_quick_start_runs_the_whole_relaxation_path_in_its_five_epochs(tmp_path, monkeypatch):
    """A larq-style network, AdaSTEMomentum on the binary kernels and Adam on the rest, as
    written: no warning, beta over its whole path, the network learns."""
    monkeypatch.chdir(tmp_path)  # it saves m.keras
    x, y = _images(4000)
    namespace = {"x_train": x[..., None], "y_train": y}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a path left short would warn
        exec(compile(quick_start_code(), "README.md (Quick start)", "exec"), namespace)
    betas = namespace["history"].history["beta"]
    assert len(betas) == 5
    np.testing.assert_allclose(
        betas, [min(0.01 * 1.05 ** (100 * e + 1), 100.0) for e in range(5)], rtol=1e-6
    )
    assert betas[-1] == pytest.approx(100.0)  # 1 / alpha: the relaxed weight is sign(theta)
    assert namespace["history"].history["accuracy"][-1] > 0.5


USAGE = README.parent / "docs" / "usage.md"


def official_recipe_code() -> str:
    return python_block(USAGE, "## The official recipe in your own model")


def test_the_official_recipe_of_the_usage_page_runs_as_written():
    """usage.md's official recipe in a model of one's own, as written, on 2048 images: beta
    follows its whole path within the fit and the network learns."""
    x, y = _images(2048)
    namespace = {"x": x[..., None], "y": y}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a path left short would warn
        exec(compile(official_recipe_code(), "docs/usage.md (official recipe)", "exec"), namespace)
    history = namespace["model"].history.history
    assert len(history["beta"]) == namespace["epochs"]
    assert history["beta"][-1] == pytest.approx(100.0)
    assert history["accuracy"][-1] > 0.5
