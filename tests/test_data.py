"""adaste_tf.data: IDX parsing, the local/tfds source order, the tf.data pipeline, and errors.

Small IDX files are written in tmp_path; tfds is never allowed to download (the source probe is
monkeypatched), so the file runs offline in seconds.
"""

import gzip
import struct
import time
from pathlib import Path

import adaste_tf  # noqa: F401  (first: selects legacy Keras before TensorFlow)
from adaste_tf import data
from adaste_tf.zoo import data as zoo_data

import numpy as np
import pytest
import tensorflow as tf

N = 10  # examples in the small synthetic split


# --- helpers ---------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Encode a uint8 array as IDX (the magic defaults to the one its ndim implies)."""
    magic = (0x0800 | array.ndim) if magic is None else magic
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, *, gz: bool | None = None, **kwargs) -> Path:
    """Write `array` to `path`, gzipped when `gz` (default: when the name ends in .gz)."""
    raw = idx_bytes(array, **kwargs)
    gz = path.suffix == ".gz" if gz is None else gz
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def synthetic(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255  # so scaling has a known min and max
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def write_split(
    directory: Path, split: str = "train", *, gz: bool = True, n: int = N, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    images, labels = synthetic(n, seed)
    ext = ".gz" if gz else ""
    image_stem, label_stem = data.IDX_FILES[split]
    directory.mkdir(parents=True, exist_ok=True)
    write_idx(directory / f"{image_stem}{ext}", images)
    write_idx(directory / f"{label_stem}{ext}", labels)
    return images, labels


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No tfds data, no known local copies, no network: every source is absent."""
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setattr(
        data,
        "_known_local_sources",
        lambda name: [tmp_path / "nowhere" / name, tmp_path / "nowhere.npz"],
    )
    monkeypatch.setattr(data, "_network_available", lambda *a, **k: False)
    return tmp_path


def forbid(monkeypatch, *names):
    """Make the named module functions fail the test if called."""
    for name in names:

        def fail(*args, _name=name, **kwargs):
            raise AssertionError(f"{_name} should not be called")

        monkeypatch.setattr(data, name, fail)


# --- read_idx --------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("shape", [(5,), (3, 28, 28), (2, 4, 6)])
def test_read_idx_round_trip(tmp_path, gz, shape):
    array = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    path = write_idx(tmp_path / ("f.gz" if gz else "f"), array)
    out = data.read_idx(path)
    assert out.dtype == np.uint8 and out.shape == shape
    np.testing.assert_array_equal(out, array)


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    zipped_without_suffix = write_idx(tmp_path / "zipped", array, gz=True)
    plain_with_suffix = write_idx(tmp_path / "plain.gz", array, gz=False)
    np.testing.assert_array_equal(data.read_idx(zipped_without_suffix), array)
    np.testing.assert_array_equal(data.read_idx(plain_with_suffix), array)


# A wrong magic number, a missing file, a directory, a gzipped file cut short, an empty or a
# file data_dir, unknown names and splits, a zero batch size, and offline or failed downloads
# are cases of the bad-input catalogue (test_bad_inputs.py); the ones below are not there.


def test_read_idx_accepts_the_expected_magic(tmp_path):
    labels = write_idx(tmp_path / "labels.gz", np.zeros(4, np.uint8))
    assert data.read_idx(labels, magic=data.LABELS_MAGIC).shape == (4,)


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_rejects_non_idx(tmp_path, gz):
    path = tmp_path / "junk"
    raw = b"PK\x03\x04 this is not IDX"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(ValueError, match=r"junk: not an IDX file: magic number 0x504B0304"):
        data.read_idx(path)


def test_read_idx_truncated_plain_payload(tmp_path):  # gzipped: in the catalogue
    raw = idx_bytes(np.zeros((2, 28, 28), np.uint8))[:-100]
    path = tmp_path / "short"
    path.write_bytes(raw)
    expected, actual = 16 + 2 * 28 * 28, 16 + 2 * 28 * 28 - 100
    with pytest.raises(ValueError, match=rf"short: wrong size.*{expected} bytes.*{actual} bytes"):
        data.read_idx(path)


def test_read_idx_trailing_bytes_are_a_size_error(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros(3, np.uint8)) + b"\0")
    with pytest.raises(ValueError, match=r"long: wrong size.*11 bytes.*12 bytes"):
        data.read_idx(path)


def test_read_idx_truncated_header(tmp_path):
    path = tmp_path / "tiny"
    path.write_bytes(struct.pack(">I", data.IMAGES_MAGIC) + b"\0\0\0\2")  # 1 of 3 dims
    with pytest.raises(ValueError, match=r"tiny: truncated: expected a 16-byte header, got 8"):
        data.read_idx(path)


def test_read_idx_truncated_gzip_stream(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 28, 28), np.uint8)))[:-20])
    with pytest.raises(ValueError, match=r"cut\.gz: corrupt or truncated gzip"):
        data.read_idx(path)


# --- load_arrays from a data_dir -------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("split", ["train", "test"])
def test_load_arrays_from_data_dir(tmp_path, gz, split):
    images, labels = write_split(tmp_path, split, gz=gz)
    for name in data.DATASETS:
        out_images, out_labels = data.load_arrays(name, split, data_dir=tmp_path)
        assert out_images.dtype == np.uint8 and out_images.shape == (N, 28, 28)
        assert out_labels.dtype == np.int64 and out_labels.shape == (N,)
        np.testing.assert_array_equal(out_images, images)
        np.testing.assert_array_equal(out_labels, labels)


def test_load_arrays_data_dir_accepts_str_and_prefers_gz(tmp_path):
    images, _ = write_split(tmp_path, gz=True, seed=0)
    write_split(tmp_path, gz=False, seed=1)  # plain copies with other content
    out, _ = data.load_arrays("mnist", "train", data_dir=str(tmp_path))
    np.testing.assert_array_equal(out, images)


@pytest.mark.parametrize(
    "load",
    [
        lambda d: data.load_arrays("fashion_mnist", "train", data_dir=d),
        lambda d: zoo_data.load_splits("fashion_mnist", 32, data_dir=d),
    ],
    ids=["load_arrays", "load_splits"],
)  # make_dataset: in the catalogue
def test_data_dir_that_is_a_file_names_its_directory(tmp_path, load):
    write_split(tmp_path, "train")
    gz_file = tmp_path / "train-images-idx3-ubyte.gz"
    with pytest.raises(
        NotADirectoryError,
        match=rf"`data_dir` must be a directory holding the "
        rf"IDX files .*got the file {gz_file}\. Pass the directory it is in: "
        rf"data_dir='{tmp_path}'",
    ):
        load(gz_file)


def test_data_dir_that_does_not_exist(tmp_path):
    with pytest.raises(
        FileNotFoundError,
        match=r"make_dataset: `data_dir` must be a directory "
        r".* but .*absent does not exist",
    ):
        data.make_dataset("mnist", "train", 32, data_dir=tmp_path / "absent")


def test_load_arrays_missing_label_file(tmp_path):
    write_split(tmp_path, "train")
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        data.load_arrays("fashion_mnist", "train", data_dir=tmp_path)


def test_load_arrays_swapped_files_wrong_magic(tmp_path):
    images, labels = synthetic()
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", labels)  # labels where images belong
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", images)
    with pytest.raises(
        ValueError,
        match=r"t10k-images-idx3-ubyte\.gz: wrong IDX magic number "
        r"0x00000801 \(2049\), expected 0x00000803 \(2051\)",
    ):
        data.load_arrays("mnist", "test", data_dir=tmp_path)


def test_load_arrays_count_mismatch_names_both_files(tmp_path):
    images, labels = synthetic()
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels[:-1])
    with pytest.raises(
        ValueError,
        match=r"train-images-idx3-ubyte\.gz has 10 images but .*"
        r"train-labels-idx1-ubyte\.gz has 9 labels",
    ):
        data.load_arrays("mnist", "train", data_dir=tmp_path)


def test_load_arrays_rejects_wrong_image_size_and_labels(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 32, 32), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: images are 32x32"):
        data.load_arrays("mnist", "train", data_dir=tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([3, 12], np.uint8))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte: labels must be in 0\.\.9"):
        data.load_arrays("mnist", "train", data_dir=tmp_path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="cifar10"), r"load_arrays: `name` must be one of 'mnist', 'fashion_mnist'"),
        (dict(name="fashion-mnist"), r"`name` must be one of .*'fashion-mnist'"),
        (dict(split="validation"), r"`split` must be one of 'train', 'test', got 'validation'"),
        (dict(source="keras"), r"`source` must be one of 'auto', 'tfds', 'local', got 'keras'"),
    ],
)
def test_load_arrays_validates_choices(tmp_path, kwargs, match):
    args = dict(name="mnist", split="train", data_dir=tmp_path) | kwargs
    with pytest.raises(ValueError, match=match):
        data.load_arrays(**args)


def test_load_arrays_data_dir_with_tfds_source_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"`data_dir`.*source='tfds'"):
        data.load_arrays("mnist", "train", data_dir=tmp_path, source="tfds")


# --- make_dataset ----------------------------------------------------------------------------


def collect(ds):
    batches = [(x.numpy(), y.numpy()) for x, y in ds]
    return batches, np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def test_make_dataset_shapes_dtypes_scaling(tmp_path):
    images, labels = write_split(tmp_path, "test")
    ds = data.make_dataset("mnist", "test", batch_size=4, data_dir=tmp_path)
    assert ds.element_spec[0].dtype == tf.float32 and ds.element_spec[1].dtype == tf.int64
    assert ds.element_spec[0].shape.as_list() == [None, 28, 28]
    batches, x, y = collect(ds)
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_allclose(x, images.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(y, labels)  # the test split is not shuffled by default


def test_make_dataset_turns_tf_data_autotuning_off_and_keeps_the_order(tmp_path):
    # docs/performance.md, "Input pipelines on few cores": autotuning slowed about half of all
    # epochs on a 2-core machine. Off, the shuffled order is the same (the map keeps it either
    # way), and a caller can turn it back on.
    write_split(tmp_path, "train")
    ds = data.make_dataset("mnist", "train", batch_size=4, data_dir=tmp_path, seed=3)
    assert ds.options().autotune.enabled is False
    assert ds.batch(2).options().autotune.enabled is False  # kept through later steps
    on = tf.data.Options()
    on.autotune.enabled = True
    # Each dataset's first pass (the shuffle reorders every pass): the same seed, the same order.
    tuned = data.make_dataset("mnist", "train", batch_size=4, data_dir=tmp_path, seed=3)
    tuned = tuned.with_options(on)
    assert tuned.options().autotune.enabled is True
    for a, b in zip(collect(ds)[1:], collect(tuned)[1:]):
        np.testing.assert_array_equal(a, b)


def test_make_dataset_channels_limit_drop_remainder(tmp_path):
    write_split(tmp_path, "train")
    ds = data.make_dataset(
        "fashion_mnist",
        "train",
        batch_size=3,
        limit=7,
        channels=True,
        drop_remainder=True,
        data_dir=tmp_path,
        seed=0,
    )
    assert ds.element_spec[0].shape.as_list() == [3, 28, 28, 1]
    batches, x, y = collect(ds)
    assert len(batches) == 2 and x.shape == (6, 28, 28, 1)
    assert set(y) <= set(range(7))  # only the first 7 examples (labels 0..6)


def test_make_dataset_seeded_shuffle_is_reproducible(tmp_path):
    _, labels = write_split(tmp_path, "train", n=50)

    def order(seed, shuffle=None):
        ds = data.make_dataset(
            "mnist", "train", batch_size=16, seed=seed, shuffle=shuffle, data_dir=tmp_path
        )
        return collect(ds)[2]

    first = order(7)
    np.testing.assert_array_equal(first, order(7))
    assert sorted(first) == sorted(labels)  # a permutation: nothing lost or repeated
    assert not np.array_equal(first, labels)  # train is shuffled by default
    assert not np.array_equal(first, order(8))
    np.testing.assert_array_equal(order(7, shuffle=False), labels)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(batch_size=2.0), TypeError, r"`batch_size` must be an integer >= 1, got 2.0"),
        (dict(batch_size=True), TypeError, r"`batch_size`"),
        (dict(limit=0), ValueError, r"`limit` must be an integer >= 1, got 0"),
        (dict(shuffle="yes"), TypeError, r"`shuffle` must be True or False"),
        (dict(channels=1), TypeError, r"`channels` must be True or False"),
        (dict(source="web"), ValueError, r"`source` must be one of 'auto', 'tfds', 'local'"),
    ],
)
def test_make_dataset_validates_arguments(tmp_path, kwargs, error, match):
    write_split(tmp_path, "train")
    args = dict(name="mnist", split="train", batch_size=4, data_dir=tmp_path) | kwargs
    with pytest.raises(error, match=match):
        data.make_dataset(**args)


# --- source order ----------------------------------------------------------------------------


def test_auto_data_dir_comes_first(tmp_path, monkeypatch):
    forbid(
        monkeypatch, "_tfds_is_prepared", "_load_tfds", "_known_local_sources", "_network_available"
    )
    images, _ = write_split(tmp_path, "test")
    np.testing.assert_array_equal(data.load_arrays("mnist", "test", data_dir=tmp_path)[0], images)


def test_auto_prefers_prepared_tfds_over_local_copies(offline, monkeypatch):
    write_split(offline / "nowhere" / "fashion_mnist", "train")
    monkeypatch.setattr(data, "_tfds_is_prepared", lambda name: True)
    monkeypatch.setattr(data, "_load_tfds", lambda name, split, download: ("tfds", download))
    assert data.load_arrays("fashion_mnist", "train") == ("tfds", False)
    # source="local" never asks tfds.
    forbid(monkeypatch, "_tfds_is_prepared", "_load_tfds", "_network_available")
    assert data.load_arrays("fashion_mnist", "train", source="local")[0].shape == (N, 28, 28)


def test_auto_uses_local_copies_before_downloading(offline, monkeypatch):
    forbid(monkeypatch, "_network_available", "_load_tfds")
    images, _ = write_split(offline / "nowhere" / "fashion_mnist", "test", gz=False)
    np.testing.assert_array_equal(data.load_arrays("fashion_mnist", "test")[0], images)


def test_keras_mnist_npz_cache_is_a_local_source(offline):
    images, labels = synthetic()
    np.savez(
        offline / "nowhere.npz",
        x_train=images,
        y_train=labels,
        x_test=images[:3],
        y_test=labels[:3],
    )
    out_images, out_labels = data.load_arrays("mnist", "test", source="local")
    np.testing.assert_array_equal(out_images, images[:3])
    assert out_labels.dtype == np.int64


def test_tfds_source_ignores_local_copies(offline, monkeypatch):
    write_split(offline / "nowhere" / "fashion_mnist", "train")
    monkeypatch.setattr(data, "_network_available", lambda *a, **k: True)
    monkeypatch.setattr(data, "_load_tfds", lambda name, split, download: ("tfds", download))
    assert data.load_arrays("fashion_mnist", "train", source="tfds") == ("tfds", True)


def test_offline_with_nothing_local_fails_fast_and_clearly(offline, monkeypatch):
    forbid(monkeypatch, "_load_tfds")
    start = time.monotonic()
    with pytest.raises(data.DataUnavailableError) as info:
        data.load_arrays("mnist", "train")
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert "no network" in message and "no tensorflow-datasets download was tried" in message
    assert str(offline / "tfds" / "mnist") in message
    assert str(offline / "nowhere.npz") in message
    assert "data_dir=" in message and "train-images-idx3-ubyte" in message
    assert isinstance(info.value, FileNotFoundError)


def test_local_source_error_suggests_the_debian_package(offline):
    with pytest.raises(
        data.DataUnavailableError,
        match=r"(?s)does not download.*nowhere.*apt-get install "
        r"dataset-fashion-mnist.*data_dir=",
    ):
        data.load_arrays("fashion_mnist", "test", source="local")


def test_network_probe_is_bounded(monkeypatch):
    # Only loopback is ever contacted from tests. A connection that hangs is simulated.
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    start = time.monotonic()
    assert data._network_available(("127.0.0.1", 1), timeout=0.5) is False  # refused

    def hang(*args, **kwargs):  # past the deadline, then fails as a real connect would
        time.sleep(5)
        raise OSError("timed out")

    monkeypatch.setattr(data.socket, "create_connection", hang)
    assert data._network_available(("127.0.0.1", 1), timeout=0.5) is False
    assert time.monotonic() - start < 3
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert data._network_available(("127.0.0.1", 1), timeout=0.5) is True


def test_tfds_is_not_imported_when_nothing_is_prepared(offline):
    # The pre-check reads the filesystem only, so the offline path stays fast.
    assert data._tfds_is_prepared("mnist") is False


def test_tfds_path_with_mocked_tfds(offline, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(data, "_network_available", lambda *a, **k: True)
    with tfds.testing.mock_data(num_examples=7):  # no download: fake examples from the specs
        images, labels = data.load_arrays("mnist", "test", source="tfds")
    assert images.shape == (7, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (7,) and labels.dtype == np.int64
    assert labels.min() >= 0 and labels.max() <= 9


# --- Debian's Fashion-MNIST ------------------------------------------------------------------


@pytest.mark.skipif(
    not data.DEBIAN_FASHION_MNIST_DIR.is_dir(),
    reason=f"{data.DEBIAN_FASHION_MNIST_DIR} is absent (apt-get install dataset-fashion-mnist)",
)
@pytest.mark.parametrize("split, count", [("train", 60000), ("test", 10000)])
def test_debian_fashion_mnist(split, count):
    images, labels = data.load_arrays("fashion_mnist", split, source="local")
    assert images.shape == (count, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (count,) and labels.dtype == np.int64
    assert labels.min() == 0 and labels.max() == 9
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, count // 10))
    assert images.max() == 255
