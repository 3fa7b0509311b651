"""MNIST / Fashion-MNIST as NumPy arrays from local IDX files, without TensorFlow.

`adaste_tf.data` (the larq path's) builds `tf.data` pipelines; a Keras 3 model on JAX takes
NumPy arrays, so this reads the same gzipped IDX files (Debian's `dataset-fashion-mnist`
installs them in `FASHION_MNIST_DIR`) with NumPy alone.

Examples:
    >>> from adaste_tf.keras3 import data
    >>> x, y = data.load_arrays("test")
    >>> x.shape, x.dtype, y.shape
    ((10000, 28, 28), dtype('uint8'), (10000,))
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from adaste_tf import validation

import numpy as np

__all__ = ["load_arrays", "FASHION_MNIST_DIR", "FILES"]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

# The split's (images, labels) files, as Yann LeCun's MNIST names them (Fashion-MNIST too).
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """An unsigned-byte IDX file of `ndim` dimensions (magic 0x0000080N), gzipped or not."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    header = 4 + 4 * ndim
    if len(raw) < header or raw[:4] != bytes([0, 0, 8, ndim]):
        raise ValueError(f"{path}: not an unsigned-byte IDX file of {ndim} dimensions.")
    shape = tuple(int(n) for n in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    if len(raw) != header + int(np.prod(shape)):
        raise ValueError(f"{path}: truncated or too long for its shape {shape}.")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def load_arrays(
    split: str, data_dir: str | os.PathLike = FASHION_MNIST_DIR
) -> tuple[np.ndarray, np.ndarray]:
    """The images (`uint8`, N x 28 x 28) and labels (`uint8`, N) of `split` ("train" or "test")
    from the IDX files in `data_dir` (`.gz` or plain); by default Fashion-MNIST's.

    Examples:
        >>> load_arrays("validation")
        Traceback (most recent call last):
        ...
        ValueError: load_arrays: `split` must be one of 'train', 'test', got 'validation'.
    """
    validation.choice("split", split, FILES, owner="load_arrays")
    arrays = []
    for name, ndim in zip(FILES[split], (3, 1)):
        candidates = [Path(data_dir, name + ".gz"), Path(data_dir, name)]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise FileNotFoundError(
                f"load_arrays: no {name}(.gz) in {data_dir}: install Debian's "
                f"dataset-fashion-mnist, or pass `data_dir` holding the IDX files."
            )
        arrays.append(_read_idx(path, ndim))
    images, labels = arrays
    if len(images) != len(labels):
        raise ValueError(
            f"load_arrays: {len(images)} images but {len(labels)} labels in {data_dir}."
        )
    return images, labels
