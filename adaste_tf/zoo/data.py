"""The harness's data: train / validation / test splits of every data set the recipes train on.

MNIST and Fashion-MNIST come from the add-on's loaders (`adaste_tf.data`: offline IDX files or
tensorflow-datasets); CIFAR-10/100 come from tensorflow-datasets only, with the official code's
augmentation and normalization. The validation split is held out of the training set as the
official code holds it out (its `--val-split`).

Examples:
    >>> from adaste_tf.zoo import data as zoo_data
    >>> zoo_data.DATASETS
    ('mnist', 'fashion_mnist', 'cifar10', 'cifar100')
"""

from __future__ import annotations

import dataclasses
import os

# Besides its public loaders, the splits reuse adaste_tf.data's batching pipeline and its
# data_dir check (private to the package, shared with its harness), so both pipelines are one.
from adaste_tf import data, extras, validation

import numpy as np
import tensorflow as tf

__all__ = ["CIFAR_NORMALIZATION", "DATASETS", "VALIDATION_FRACTION", "Splits", "load_splits"]

#: Per-channel (mean, std) of the official code (utils/data_utils.py), applied after / 255.
CIFAR_NORMALIZATION = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.507, 0.487, 0.441), (0.267, 0.256, 0.276)),
}
#: What the recipes train on: the add-on's offline data sets, then CIFAR.
DATASETS = (*data.DATASETS, *CIFAR_NORMALIZATION)
#: The fraction of the training set held out for validation (the official --val-split).
VALIDATION_FRACTION = 0.1


@dataclasses.dataclass
class Splits:
    """Batched train / validation / test datasets of one data set, with what a model needs.

    Examples:
        >>> splits = load_splits("fashion_mnist", 64, limit=100, conv=True)
        >>> splits.input_shape, splits.num_classes, splits.train_size
        ((32, 32, 1), 10, 90)
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    input_shape: tuple[int, ...]
    num_classes: int
    train_size: int


def load_splits(
    name: str,
    batch_size: int,
    *,
    seed: int = 0,
    limit: int | None = None,
    data_dir: str | os.PathLike | None = None,
    conv: bool = False,
) -> Splits:
    """Train (shuffled; augmented for CIFAR), validation (the last 10% of the training set,
    as the official code holds out) and test datasets.

    MNIST and Fashion-MNIST come from `adaste_tf.data.load_arrays` (offline files or tfds),
    shaped (28, 28) for an MLP, or with `conv=True` zero-padded to (32, 32, 1) for the
    CIFAR-shaped conv nets; CIFAR-10/100 come from tfds, with the official augmentation
    (4-pixel zero-padded random crop, horizontal flip) and per-channel normalization. `limit`
    keeps the first `limit` training examples (validation is the last 10% of those); the test
    split is always whole, so test accuracies of runs with and without a limit compare.

    Examples:
        >>> splits = load_splits("fashion_mnist", 128, limit=1000)
        >>> splits.input_shape, splits.num_classes, splits.train_size
        ((28, 28), 10, 900)
        >>> model = tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=splits.input_shape),
        ...                              tf.keras.layers.Dense(splits.num_classes)])
        >>> model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> history = model.fit(splits.train, validation_data=splits.validation, verbose=0)
        >>> sorted(history.history)
        ['loss', 'val_loss']
    """
    owner = "load_splits"
    validation.choice("name", name, DATASETS, owner=owner)
    validation.integer("batch_size", batch_size, minimum=1, owner=owner)
    if limit is not None:
        validation.integer("limit", limit, minimum=2, owner=owner)
    if data_dir is not None:
        data._checked_data_dir(data_dir, owner)
    cifar = name in CIFAR_NORMALIZATION
    load = (
        _load_tfds_images
        if cifar
        else (lambda name, split: data.load_arrays(name, split, data_dir=data_dir))
    )
    (x_train, y_train), (x_test, y_test) = (load(name, split) for split in data.SPLITS)
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    if conv and not cifar:
        x_train, x_test = (
            np.pad(x, [(0, 0), (2, 2), (2, 2)])[..., np.newaxis] for x in (x_train, x_test)
        )
    n_val = max(1, int(round(VALIDATION_FRACTION * len(y_train))))
    x_val, y_val = x_train[-n_val:], y_train[-n_val:]
    x_train, y_train = x_train[:-n_val], y_train[:-n_val]
    prepare = _cifar_preprocessor(name) if cifar else data._scale_to_unit

    def pipeline(x, y, train: bool) -> tf.data.Dataset:
        return data._batched(x, y, batch_size, shuffle=train, seed=seed, prepare=prepare)

    num_classes = 100 if name == "cifar100" else 10
    return Splits(
        pipeline(x_train, y_train, True),
        pipeline(x_val, y_val, False),
        pipeline(x_test, y_test, False),
        tuple(x_train.shape[1:]),
        num_classes,
        len(y_train),
    )


def _cifar_preprocessor(name: str):
    mean, std = (tf.constant(v, tf.float32) for v in CIFAR_NORMALIZATION[name])

    def prepare(images: tf.Tensor, train: bool) -> tf.Tensor:
        x = tf.cast(images, tf.float32) / 255.0
        if train:
            size = tf.shape(x)[1:3]
            x = tf.pad(x, [[0, 0], [4, 4], [4, 4], [0, 0]])
            x = tf.map_fn(lambda im: tf.image.random_crop(im, tf.concat([size, [3]], 0)), x)
            x = tf.image.random_flip_left_right(x)  # per image, on a batch
        return (x - mean) / std

    return prepare


def _load_tfds_images(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Any tfds image classification data set as uint8 images and int64 labels."""
    tfds = extras.require("tensorflow_datasets", f"loading {name!r} through tensorflow-datasets")

    try:
        ds = tfds.load(name, split=split, as_supervised=True, batch_size=10000)
    except Exception as error:
        raise data.DataUnavailableError(
            f"load_splits: {name!r} comes from tensorflow-datasets, which could not provide it "
            f"({error}). Run once online to download it to {data._tfds_data_dir()}, or set "
            f"TFDS_DATA_DIR to a directory that has it prepared."
        ) from error
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in ds))
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)
