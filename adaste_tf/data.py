"""MNIST and Fashion-MNIST as `tf.data` pipelines, online through tensorflow-datasets or offline.

Where the examples come from, for `source="auto"` (the default), first match wins:

1. `data_dir=...`: the four IDX files in that directory, and nothing else.
2. tensorflow-datasets, if the dataset is already prepared in its data dir (`TFDS_DATA_DIR`,
   default `~/tensorflow_datasets`). Checking this reads local files only.
3. Known local copies: for Fashion-MNIST, Debian's `dataset-fashion-mnist` package
   (`/usr/share/datasets/fashion-mnist`) and the Keras cache (`~/.keras/datasets/fashion-mnist`);
   for MNIST, the Keras cache file `~/.keras/datasets/mnist.npz`.
4. A tensorflow-datasets download, tried only when its server answers within a few seconds:
   offline, tfds retries for minutes before failing, so we probe first and fail fast.

If all of them fail, `DataUnavailableError` lists every path searched and how to fix it
(`apt-get install dataset-fashion-mnist`, or `data_dir=` pointing at the IDX files).
`source="local"` uses steps 1 and 3 only; `source="tfds"` uses steps 2 and 4 only.

The offline copies are the same data as tfds serves: Debian's files hold the standard
Fashion-MNIST images and labels byte for byte once decompressed; only the gzip wrapper was
re-made, which is why tfds rejects them as a `manual_dir` (its checksums are of the `.gz`
files). So local files are parsed here, with numpy, rather than handed to tfds. tfds is
imported only when used: importing it takes seconds.

Examples:
    >>> import adaste_tf
    >>> from adaste_tf import data
    >>> train = data.make_dataset("fashion_mnist", "train", batch_size=128, seed=0)
    >>> test = data.make_dataset("fashion_mnist", "test", batch_size=512)
    >>> len(train), len(test)  # batches: 60000 / 128 and 10000 / 512, rounded up
    (469, 20)
"""

from __future__ import annotations

import gzip
import os
import socket
import threading
import zlib
from pathlib import Path
from typing import Any

from adaste_tf import extras, validation

import numpy as np
import tensorflow as tf

__all__ = [
    "DATASETS",
    "DEBIAN_FASHION_MNIST_DIR",
    "DataUnavailableError",
    "IDX_FILES",
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "SOURCES",
    "SPLITS",
    "load_arrays",
    "make_dataset",
    "read_idx",
]

DATASETS = ("mnist", "fashion_mnist")
SPLITS = ("train", "test")
SOURCES = ("auto", "tfds", "local")

#: Where Debian's `dataset-fashion-mnist` package installs the four gzipped IDX files.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

#: IDX magic numbers: two zero bytes, a type code (0x08 = uint8), then the number of dimensions.
IMAGES_MAGIC = 0x00000803  # 2051: uint8, N x rows x cols
LABELS_MAGIC = 0x00000801  # 2049: uint8, N

#: File names (without `.gz`) of each split, as distributed by LeCun and Zalando.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_IMAGE_SHAPE = (28, 28)
_NUM_CLASSES = 10
_GZIP_MAGIC = b"\x1f\x8b"
# IDX type codes; every multi-byte type is big-endian.
_IDX_DTYPES: dict[int, Any] = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
# The host tfds downloads MNIST and Fashion-MNIST from, probed before a download.
_TFDS_HOST = ("storage.googleapis.com", 443)
_PROBE_TIMEOUT_S = 3.0


class DataUnavailableError(FileNotFoundError):
    """No source could provide the dataset; the message lists what was searched and the fix.

    Examples:
        >>> try:
        ...     load_arrays("mnist", "test", source="local")
        ... except DataUnavailableError as error:
        ...     print("no local MNIST")
        no local MNIST
    """


def read_idx(path: str | os.PathLike, *, magic: int | None = None) -> np.ndarray:
    """Read one IDX file (gzipped or plain, detected from its first bytes) into a numpy array.

    Args:
        path: the file.
        magic: the magic number the file must have, e.g. `IMAGES_MAGIC`; None accepts any IDX.

    Returns:
        An array with the file's dtype (uint8 for MNIST) and the shape its header gives.

    Raises:
        FileNotFoundError: `path` does not exist.
        IsADirectoryError: `path` is a directory (`load_arrays(data_dir=...)` reads those).
        ValueError: not an IDX file, not the `magic` expected, or truncated / wrong size.

    Examples:
        >>> images = read_idx(DEBIAN_FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz",
        ...                   magic=IMAGES_MAGIC)
        >>> images.shape, images.dtype
        ((10000, 28, 28), dtype('uint8'))
    """
    path = Path(path)
    if path.is_dir():  # "not found" would be wrong: the path exists, it is the wrong kind
        raise IsADirectoryError(
            f"read_idx: `path` must be an IDX file (such as {IDX_FILES['train'][0]}.gz), got "
            f"the directory {path}. To read the IDX files in a directory, use "
            f"load_arrays(name, split, data_dir={str(path)!r})."
        )
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as error:  # truncated or corrupt gzip stream
            raise ValueError(f"{path}: corrupt or truncated gzip data ({error}).") from None
    if len(raw) < 4:
        raise ValueError(
            f"{path}: truncated: expected at least 4 bytes of IDX header, got {len(raw)} bytes."
        )
    found = int.from_bytes(raw[:4], "big")
    if magic is not None and found != magic:
        raise ValueError(
            f"{path}: wrong IDX magic number 0x{found:08X} ({found}), "
            f"expected 0x{magic:08X} ({magic})."
        )
    type_code, ndim = raw[2], raw[3]
    if raw[:2] != b"\0\0" or type_code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"{path}: not an IDX file: magic number 0x{found:08X} ({found}), "
            f"expected 0x0000TTNN with a known type TT and NN >= 1 dimensions."
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{path}: truncated: expected a {header}-byte header, got {len(raw)} bytes."
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{path}: wrong size: header says shape {shape}, so {expected} bytes "
            f"(uncompressed), but the file has {len(raw)} bytes."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def load_arrays(
    name: str, split: str, data_dir: str | os.PathLike | None = None, source: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split as numpy arrays, from local IDX files or tensorflow-datasets.

    Args:
        name: "mnist" or "fashion_mnist".
        split: "train" (60000 examples) or "test" (10000).
        data_dir: a directory holding the split's IDX files (`.gz` or plain); when given, only
            it is used.
        source: "auto" (see the module docstring for the order), "local" or "tfds".

    Returns:
        `(images, labels)`: uint8 `[N, 28, 28]` and int64 `[N]` with values in 0..9.

    Raises:
        DataUnavailableError: no source had the data (the message lists the paths searched).
        FileNotFoundError, ValueError: `data_dir` lacks a file, or a file is malformed.
        NotADirectoryError: `data_dir` is a file, not the directory that holds it.

    Examples:
        >>> images, labels = load_arrays("fashion_mnist", "test")
        >>> images.shape, labels.shape
        ((10000, 28, 28), (10000,))
    """
    owner = "load_arrays"
    validation.choice("name", name, DATASETS, owner=owner)
    validation.choice("split", split, SPLITS, owner=owner)
    validation.choice("source", source, SOURCES, owner=owner)
    if source == "tfds":  # asked for by name: say first if it is not installed
        extras.require("tensorflow_datasets", f"{owner}(source='tfds')")
    if data_dir is not None:
        if source == "tfds":
            raise ValueError(
                f"{owner}: `data_dir` is a directory of local IDX files; it cannot "
                "be combined with source='tfds' (set TFDS_DATA_DIR for tfds)."
            )
        return _load_local_dir(_checked_data_dir(data_dir, owner), split)

    searched = []
    if source != "local":
        searched.append(f"tensorflow-datasets data dir {_tfds_data_dir()}/{name}")
        if _tfds_is_prepared(name):
            return _load_tfds(name, split, download=False)
    if source != "tfds":
        for candidate in _known_local_sources(name):
            searched.append(str(candidate))
            if candidate.suffix == ".npz" and candidate.is_file():
                return _load_keras_npz(candidate, split)
            if candidate.is_dir() and _has_split_files(candidate, split):
                return _load_local_dir(candidate, split)
    reason, cause = f"source={source!r} does not download", None
    if source != "local":
        if _network_available():
            try:
                return _load_tfds(name, split, download=True)
            except Exception as error:  # any download/prepare failure ends in the same advice
                reason, cause = f"the tensorflow-datasets download failed: {error}", error
        else:
            reason = (
                f"no network: could not connect to {_TFDS_HOST[0]}:{_TFDS_HOST[1]} "
                f"({_PROBE_TIMEOUT_S:g} s timeout), so no tensorflow-datasets download "
                "was tried"
            )
    raise DataUnavailableError(
        _unavailable_message(name, split, source, searched, reason)
    ) from cause


# tf.data options of every dataset this module makes: autotuning off. With it on, on a 2-core
# machine about half of all iterators (one per epoch in `fit`) ran every step 1.3-1.6x slower, one
# core idle 40% of the time at the same CPU work; with it off none of 28 fits did
# (docs/performance.md, "Input pipelines on few cores"). A caller's `with_options` can turn it
# back on.
_NO_AUTOTUNE = tf.data.Options()
_NO_AUTOTUNE.autotune.enabled = False


def make_dataset(
    name: str,
    split: str,
    batch_size: int,
    *,
    shuffle: bool | None = None,
    seed: int | None = None,
    limit: int | None = None,
    channels: bool = False,
    data_dir: str | os.PathLike | None = None,
    source: str = "auto",
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """A batched, prefetched `tf.data.Dataset` of `(images, labels)` for training or evaluation.

    Images are float32 in [0, 1] (uint8 / 255), shape `(batch, 28, 28)`, or `(batch, 28, 28, 1)`
    with `channels=True` (for convolutions); labels are int64 class indices 0..9. tf.data's
    autotuning is off in it: on a 2-core machine it slowed about half of all epochs by 1.3-1.6x
    (`docs/performance.md`, "Input pipelines on few cores"); `ds.with_options(...)` turns it
    back on.

    Args:
        name: "mnist" or "fashion_mnist".
        split: "train" or "test".
        batch_size: examples per batch, >= 1.
        shuffle: reshuffle every epoch; None (default) shuffles "train" only.
        seed: shuffle seed, for a reproducible order; None for a fresh order each run.
        limit: keep only the first `limit` examples (before shuffling), for tests and demos.
        channels: add a trailing channel axis of size 1.
        data_dir: a directory of IDX files to read from, as in `load_arrays`.
        source: where to look for the data, as in `load_arrays`.
        drop_remainder: drop the last batch if it is smaller than `batch_size`.

    Examples:
        >>> ds = make_dataset("fashion_mnist", "train", batch_size=32, seed=0, limit=256,
        ...                   channels=True)
        >>> images, labels = next(iter(ds))
        >>> images.shape, images.dtype, labels.dtype
        (TensorShape([32, 28, 28, 1]), tf.float32, tf.int64)
    """
    owner = "make_dataset"
    validation.choice("name", name, DATASETS, owner=owner)
    validation.choice("split", split, SPLITS, owner=owner)
    validation.choice("source", source, SOURCES, owner=owner)
    validation.integer("batch_size", batch_size, minimum=1, owner=owner)
    if limit is not None:
        validation.integer("limit", limit, minimum=1, owner=owner)
    if shuffle is not None:
        validation.boolean("shuffle", shuffle, owner=owner)
    if seed is not None:
        validation.integer("seed", seed, owner=owner)
    validation.boolean("channels", channels, owner=owner)
    validation.boolean("drop_remainder", drop_remainder, owner=owner)
    if data_dir is not None:
        _checked_data_dir(data_dir, owner)
    images, labels = load_arrays(name, split, data_dir=data_dir, source=source)
    if limit is not None:  # slice the arrays, not the dataset: nothing beyond `limit` is copied
        images, labels = images[:limit], labels[:limit]
    if channels:
        images = images[..., np.newaxis]
    if shuffle is None:
        shuffle = split == "train"
    return _batched(
        images,
        labels,
        batch_size,
        shuffle=shuffle,
        seed=seed,
        prepare=_scale_to_unit,
        drop_remainder=drop_remainder,
    )


def _batched(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int | None,
    prepare,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """In-memory arrays as a shuffled (or not), batched, prepared, prefetched dataset.

    `prepare(images, shuffle)` runs after batching: one vectorized op per batch instead of one
    per example; it gets `shuffle` as its "training" flag (augmentation only when training).
    tf.data's autotuning is off (`_NO_AUTOTUNE`): `AUTOTUNE` then takes tf.data's defaults.
    """
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        # The whole split fits in memory, so a full buffer gives a uniform shuffle.
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(lambda x, y: (prepare(x, shuffle), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(_NO_AUTOTUNE)


def _scale_to_unit(images: tf.Tensor, train: bool) -> tf.Tensor:
    return tf.cast(images, tf.float32) / 255.0


# --- local files -----------------------------------------------------------------------------


def _known_local_sources(name: str) -> list[Path]:
    """Directories (of IDX files) or `.npz` files that commonly hold a copy of `name`."""
    # Keras caches under ~/.keras, or /tmp/.keras when the home directory is not writable.
    keras_dirs = [Path.home() / ".keras" / "datasets", Path("/tmp/.keras/datasets")]
    if name == "fashion_mnist":
        return [DEBIAN_FASHION_MNIST_DIR] + [d / "fashion-mnist" for d in keras_dirs]
    # No Debian package ships the MNIST IDX files; Keras's `mnist.load_data()` caches an npz.
    return [d / "mnist.npz" for d in keras_dirs]


def _checked_data_dir(data_dir: str | os.PathLike, owner: str) -> Path:
    """`data_dir` as a Path, after checking that it is an existing directory.

    Without this check a file passed as `data_dir` would be reported as a missing file below
    it (".../train-images-idx3-ubyte.gz/train-images-idx3-ubyte not found").
    """
    path = Path(data_dir)
    expected = (
        f"a directory holding the IDX files ({IDX_FILES['train'][0]}[.gz], "
        f"{IDX_FILES['train'][1]}[.gz], ...)"
    )
    if path.is_dir():
        return path
    if path.exists():
        raise NotADirectoryError(
            f"{owner}: `data_dir` must be {expected}, got the file {path}. "
            f"Pass the directory it is in: data_dir={str(path.parent)!r}."
        )
    raise FileNotFoundError(f"{owner}: `data_dir` must be {expected}, but {path} does not exist.")


def _split_file(directory: Path, stem: str) -> Path:
    """The `.gz` file if present, else the plain one (which may not exist either)."""
    gz = directory / f"{stem}.gz"
    return gz if gz.is_file() else directory / stem


def _has_split_files(directory: Path, split: str) -> bool:
    return all(_split_file(directory, stem).is_file() for stem in IDX_FILES[split])


def _load_local_dir(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read and cross-check a split's image and label IDX files from `directory`."""
    image_path, label_path = (_split_file(directory, stem) for stem in IDX_FILES[split])
    for path in (image_path, label_path):
        if not path.is_file():
            raise FileNotFoundError(
                f"IDX file not found: {path} (nor {path.name}.gz) in data_dir {directory}."
            )
    images = read_idx(image_path, magic=IMAGES_MAGIC)
    labels = read_idx(label_path, magic=LABELS_MAGIC)
    if images.shape[1:] != _IMAGE_SHAPE:
        raise ValueError(
            f"{image_path}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28."
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{image_path} has {len(images)} images but {label_path} has "
            f"{len(labels)} labels; they must match."
        )
    return images, _checked_labels(labels, label_path)


def _load_keras_npz(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read the `mnist.npz` that `keras.datasets.mnist.load_data()` caches."""
    suffix = "train" if split == "train" else "test"
    with np.load(path, allow_pickle=False) as archive:
        images, labels = archive[f"x_{suffix}"], archive[f"y_{suffix}"]
    if images.shape[1:] != _IMAGE_SHAPE or len(images) != len(labels):
        raise ValueError(
            f"{path}: expected x_{suffix} of shape [N, 28, 28] and y_{suffix} of "
            f"shape [N], got {images.shape} and {labels.shape}."
        )
    return images.astype(np.uint8, copy=False), _checked_labels(labels, path)


def _checked_labels(labels: np.ndarray, path: Path) -> np.ndarray:
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= _NUM_CLASSES):
        raise ValueError(
            f"{path}: labels must be in 0..{_NUM_CLASSES - 1}, found values in "
            f"{labels.min()}..{labels.max()}."
        )
    return labels


# --- tensorflow-datasets ---------------------------------------------------------------------


def _tfds_data_dir() -> str:
    # tfds's own default (tfds.core.constants.DATA_DIR), read without importing tfds.
    return os.environ.get("TFDS_DATA_DIR") or str(Path.home() / "tensorflow_datasets")


def _tfds_is_prepared(name: str) -> bool:
    """Whether tfds has `name` prepared locally; reads local files only, never the network."""
    data_dir = _tfds_data_dir()
    # Cheap pre-check so that the common offline case does not pay for importing tfds.
    if "://" not in data_dir and not (Path(data_dir) / name).is_dir():
        return False
    tfds = extras.require("tensorflow_datasets", f"loading {name!r} through tensorflow-datasets")

    return tfds.builder(name).is_prepared()


def _load_tfds(name: str, split: str, *, download: bool) -> tuple[np.ndarray, np.ndarray]:
    tfds = extras.require("tensorflow_datasets", f"loading {name!r} through tensorflow-datasets")

    builder = tfds.builder(name)
    if download:
        builder.download_and_prepare()
    # Large batches, concatenated: batch_size=-1 would need the split size from the metadata.
    ds = builder.as_dataset(split=split, batch_size=10_000, as_supervised=True)
    batches = list(tfds.as_numpy(ds))
    images = np.concatenate([b[0] for b in batches]).astype(np.uint8, copy=False)
    labels = np.concatenate([b[1] for b in batches])
    images = images.reshape((-1,) + _IMAGE_SHAPE)  # tfds stores [N, 28, 28, 1]
    return images, _checked_labels(labels, Path(builder.data_dir))


def _network_available(
    address: tuple[str, int] = _TFDS_HOST, timeout: float = _PROBE_TIMEOUT_S
) -> bool:
    """Whether a TCP connection to `address` opens within `timeout` seconds.

    With a proxy configured the host may be unreachable directly yet downloadable, so we
    leave the decision to tfds.
    """
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    result = []

    def probe():
        try:  # name resolution ignores socket timeouts, hence the thread with a deadline
            with socket.create_connection(address, timeout=timeout):
                result.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result)


def _unavailable_message(
    name: str, split: str, source: str, searched: list[str], reason: str
) -> str:
    lines = [f"Could not load {name!r} split {split!r}: {reason}.", "Searched:"]
    lines += [f"  - {place}" for place in searched] or ["  - (nothing)"]
    fixes = [
        "pass data_dir= a directory holding "
        + " and ".join(f"{stem}[.gz]" for stem in IDX_FILES[split])
    ]
    if name == "fashion_mnist":
        fixes.insert(
            0,
            "install Debian's copy: apt-get install dataset-fashion-mnist "
            f"(files in {DEBIAN_FASHION_MNIST_DIR})",
        )
    fixes.append(
        "or, online, use source='auto' so tensorflow-datasets can download it"
        if source == "local"
        else "or connect to the internet so tensorflow-datasets can download it"
    )
    lines.append("Fix: " + "; ".join(fixes) + ".")
    return "\n".join(lines)
