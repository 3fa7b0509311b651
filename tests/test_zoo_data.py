"""The harness's splits (adaste_tf.zoo.data): the held-out validation set, the conv padding,
and CIFAR's augmentation and normalization, against numpy computations of the same."""

from adaste_tf import data
from adaste_tf.zoo import data as zoo_data

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds


@pytest.fixture
def numbered_mnist(monkeypatch):
    """50 training and 20 test images; image i is filled with the value i, its label is i % 10."""

    def fake(name, split, data_dir=None, source="auto"):
        n = 50 if split == "train" else 20
        images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None], (n, 28, 28))
        return images.copy(), np.arange(n, dtype=np.int64) % 10

    monkeypatch.setattr(data, "load_arrays", fake)


def _arrays(ds: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    batches = list(ds.as_numpy_iterator())
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def test_validation_is_the_last_tenth_of_the_training_set(numbered_mnist):
    splits = zoo_data.load_splits("mnist", 8, seed=0)
    train_x, _ = _arrays(splits.train)
    val_x, val_y = _arrays(splits.validation)
    test_x, _ = _arrays(splits.test)

    def ids(x):  # the value each image is filled with
        return np.rint(x[:, 0, 0] * 255).astype(int)

    assert ids(val_x).tolist() == list(range(45, 50)) and val_y.tolist() == [5, 6, 7, 8, 9]
    assert sorted(ids(train_x).tolist()) == list(range(45))  # shuffled, none held out twice
    assert ids(test_x).tolist() == list(range(20))  # the test split keeps its order
    assert splits.train_size == 45 and splits.input_shape == (28, 28)


def test_limit_cuts_the_training_set_only(numbered_mnist):
    """Issue 32: `--limit` cut the test set too, so its test accuracy was measured on other
    images than a run without it."""
    splits = zoo_data.load_splits("mnist", 8, seed=0, limit=10)
    (train_x, _), (val_x, _), (test_x, _) = (
        _arrays(ds) for ds in (splits.train, splits.validation, splits.test)
    )
    assert (len(train_x), len(val_x), splits.train_size) == (9, 1, 9)
    assert np.rint(test_x[:, 0, 0] * 255).astype(int).tolist() == list(range(20))


def test_every_split_has_tf_data_autotuning_off(numbered_mnist):
    splits = zoo_data.load_splits("mnist", 8, seed=0)
    for ds in (splits.train, splits.validation, splits.test):
        assert ds.options().autotune.enabled is False


def test_conv_networks_get_the_images_zero_padded_to_32_by_32(numbered_mnist):
    splits = zoo_data.load_splits("mnist", 8, conv=True)
    x, _ = _arrays(splits.test)
    assert x.shape == (20, 32, 32, 1) and splits.input_shape == (32, 32, 1)
    filled = np.arange(20, dtype=np.float32)[:, None, None] / np.float32(255)
    np.testing.assert_allclose(
        x[:, 2:30, 2:30, 0], np.broadcast_to(filled, (20, 28, 28)), rtol=1e-6
    )
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert not x[:, border].any()


def test_cifar_is_normalized_per_channel_and_only_training_is_augmented():
    with tfds.testing.mock_data(num_examples=20):
        splits = zoo_data.load_splits("cifar10", 20, seed=0)
        raw_test, _ = zoo_data._load_tfds_images("cifar10", "test")
    mean, std = (np.asarray(v, np.float32) for v in zoo_data.CIFAR_NORMALIZATION["cifar10"])
    test_x, _ = _arrays(splits.test)
    np.testing.assert_allclose(test_x, (raw_test / np.float32(255) - mean) / std, rtol=1e-6)
    assert splits.input_shape == (32, 32, 3) and splits.num_classes == 10
    np.testing.assert_array_equal(_arrays(splits.validation)[0], _arrays(splits.validation)[0])
    # Training batches are random crops of the 4-pixel zero-padded images, and flips: two
    # passes differ, and every value is an image value or the normalized zero padding.
    first, second = _arrays(splits.train)[0], _arrays(splits.train)[0]
    assert first.shape == (18, 32, 32, 3) and not np.array_equal(first, second)
    padding = -mean / std
    values = np.unique(np.round(((first * std + mean) * 255), 3))
    assert np.allclose(values, np.round(values)) and values.min() >= 0 and values.max() <= 255
    assert np.isclose(first, padding, atol=1e-5).any()  # crops that reach into the padding


def test_cifar100_has_100_classes():
    with tfds.testing.mock_data(num_examples=10):
        assert zoo_data.load_splits("cifar100", 5).num_classes == 100


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(name="imagenet"),
            r"load_splits: `name` must be one of 'mnist', 'fashion_mnist', "
            r"'cifar10', 'cifar100', got 'imagenet'",
        ),
        (dict(batch_size=0), r"load_splits: `batch_size` must be"),
        (dict(limit=1), r"load_splits: `limit` must be"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, message):
    arguments = dict(name="mnist", batch_size=8) | kwargs
    with pytest.raises((ValueError, TypeError), match=message):
        zoo_data.load_splits(**arguments)
