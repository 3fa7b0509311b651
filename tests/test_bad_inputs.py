"""The bad-input catalogue: each wrong use gets a clear error where the user made the mistake.

`CATALOGUE` is one table, `id -> input -> callable -> exception type -> regex`; each message
must name the parameter (or the file, or the layer) and what is accepted. The
troubleshooting table (docs/troubleshooting.md) is generated from it, with the real messages:

    python tests/test_bad_inputs.py    # prints the markdown table

and `test_docs_table_matches_the_catalogue` checks that the docs list every case.

Nothing here touches the network: the tfds cases replace the network probe and the download.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import re
import struct
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import adaste_tf  # noqa: F401  (first: selects legacy Keras before TensorFlow)
from adaste_tf import data, export, ops, optimizers, quantizers, schedules
from adaste_tf.callbacks import RelaxationScheduler
from adaste_tf.quantizers import AdaSTE
from adaste_tf.resume import StartStep, epoch_ordered_dataset

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from conftest import PyFunctionLayer, SubclassedNet
from conftest import tiny_model as _model

DOCS = Path(__file__).resolve().parents[1] / "docs" / "troubleshooting.md"


@dataclasses.dataclass(frozen=True)
class Context:
    """What a case may use: a scratch directory and pytest's monkeypatch."""

    tmp: Path
    monkeypatch: pytest.MonkeyPatch


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    input: str  # what the user wrote, for the docs table
    call: Callable[[Context], object]
    error: type[BaseException]
    match: str  # regex the message must contain
    fix: str = ""  # for an error raised outside adaste_tf: what to do, shown in the docs table


# --- helpers the cases use -------------------------------------------------------------------


def _fit_with(schedule) -> None:
    """Three epochs with a RelaxationScheduler driven by `schedule`."""
    model = _model()
    model.compile("sgd", "mse")
    model.fit(
        np.ones((8, 4)),
        np.ones((8, 2)),
        epochs=3,
        verbose=0,
        callbacks=[RelaxationScheduler(schedule)],
    )


def _apply_default_by_hand():
    _apply_by_hand(0, RelaxationScheduler())


def _apply_by_hand(index, scheduler=None):
    scheduler = scheduler or RelaxationScheduler(epochs=5)
    model = tf.keras.Sequential([lq.layers.QuantDense(2, kernel_quantizer="adaste")])
    model.build((None, 3))
    scheduler.set_model(model)
    scheduler.apply(index)


def _fit_with_two_schedulers():
    model = tf.keras.Sequential([lq.layers.QuantDense(2, kernel_quantizer="adaste")])
    model.compile("adam", "mse")
    model.fit(
        np.ones((8, 4)),
        np.ones((8, 2)),
        verbose=0,
        callbacks=[RelaxationScheduler(), RelaxationScheduler()],
    )


def _fit_from_zero_beta():
    model = tf.keras.Sequential(
        [lq.layers.QuantDense(2, kernel_quantizer=adaste_tf.quantizers.AdaSTE(beta=0.0))]
    )
    model.compile("adam", "mse")
    model.fit(np.ones((8, 4)), np.ones((8, 2)), verbose=0, callbacks=[RelaxationScheduler()])


def _fit_without_adaste(_: Context) -> None:
    model = _model(quantizer="ste_sign")
    model.compile("sgd", "mse")
    model.fit(np.ones((8, 4)), np.ones((8, 2)), verbose=0, callbacks=[RelaxationScheduler()])


def _fit_under_bop(_: Context) -> None:
    model = _model()
    model.compile(
        lq.optimizers.CaseOptimizer(
            (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop()),
            default_optimizer=tf.keras.optimizers.legacy.Adam(),
        ),
        "mse",
    )
    model.fit(np.ones((8, 4)), np.ones((8, 2)), verbose=0, callbacks=[RelaxationScheduler()])


def _idx(
    tmp: Path, name: str, magic: int = data.IMAGES_MAGIC, shape=(3, 28, 28), cut: int = 0
) -> Path:
    """An IDX file (gzipped), optionally with a wrong magic or `cut` bytes missing at the end."""
    raw = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in shape)
    raw += bytes(int(np.prod(shape)))
    path = tmp / name
    path.write_bytes(gzip.compress(raw[: len(raw) - cut]))
    return path


def _offline(ctx: Context, download_error: Exception | None = None) -> None:
    """No tfds data, no local copies; the network probe says offline unless a download error is
    given, in which case the 'download' raises it. Nothing touches the network either way."""
    ctx.monkeypatch.setenv("TFDS_DATA_DIR", str(ctx.tmp / "tfds"))
    ctx.monkeypatch.setattr(data, "_known_local_sources", lambda name: [ctx.tmp / "none"])
    ctx.monkeypatch.setattr(data, "_network_available", lambda *a, **k: download_error is not None)

    def download(*args, **kwargs):
        raise download_error

    ctx.monkeypatch.setattr(data, "_load_tfds", download)


def _convert_python_side_layer(_: Context) -> None:
    model = tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer((4,)),
            lq.layers.QuantDense(4, kernel_quantizer="adaste"),
            PyFunctionLayer(name="python_side"),
        ]
    )
    export.convert(model, engine="tflite")


def _convert_built_subclassed_model(_: Context) -> None:
    model = SubclassedNet()
    model.build((None, 4))
    export.convert(model)


def _newer_keras_file(ctx: Context) -> Path:
    """A .keras file whose AdaSTE config says it was written by a future adaste_tf."""
    path = ctx.tmp / "model.keras"
    _model().save(path)
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    config = files["config.json"].decode()
    key = f'"_config_version": {quantizers.CONFIG_VERSION}'
    assert key in config
    files["config.json"] = config.replace(key, '"_config_version": 99').encode()
    newer = ctx.tmp / "newer.keras"
    with zipfile.ZipFile(newer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return newer


def _load_without_adaste_tf(ctx: Context) -> None:
    """Load an AdaSTE model as a process that never imported adaste_tf would: the names that
    the import registers with Keras ("adaste_tf>AdaSTE", "adaste", "AdaSTE") are unknown."""
    path = ctx.tmp / "model.keras"
    _model().save(path)
    registered = tf.keras.utils.get_custom_objects()
    for name in ("adaste_tf>AdaSTE", "adaste", "AdaSTE"):
        ctx.monkeypatch.delitem(registered, name)
    tf.keras.models.load_model(path)


def _load_h5_without_adaste_tf(ctx: Context) -> None:
    """As `_load_without_adaste_tf`, for an h5 file."""
    path = ctx.tmp / "model.h5"
    _model().save(path)
    registered = tf.keras.utils.get_custom_objects()
    for name in ("adaste_tf>AdaSTE", "adaste", "AdaSTE"):
        ctx.monkeypatch.delitem(registered, name)
    tf.keras.models.load_model(path)


def _resave_loaded_model_as_h5(ctx: Context) -> None:
    """Two trained larq layers saved as .keras, loaded, and saved again as h5 with the
    optimizer."""
    model = tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer((4,)),
            lq.layers.QuantDense(3, kernel_quantizer="adaste"),
            lq.layers.QuantDense(2, kernel_quantizer="adaste"),
        ]
    )
    model.compile(tf.keras.optimizers.Adam(), "mse")
    model.fit(np.ones((4, 4)), np.ones((4, 2)), verbose=0)
    model.save(ctx.tmp / "model.keras")
    tf.keras.models.load_model(ctx.tmp / "model.keras").save(ctx.tmp / "model.h5")


# Shown beside the two load-without-import messages, which larq and Keras raise before any
# adaste_tf code runs and which therefore cannot name it (adaste_tf/registration.py says why).
_IMPORT_FIX = (
    "not part of the message: larq raises it before any adaste_tf code runs, because "
    "larq looks the saved quantizer's name up only among its own quantizers and the "
    "names registered with Keras, and Keras then ignores the module the file records "
    "for it. `import adaste_tf` registers the name: import it before `load_model` (no "
    "custom_object_scope is needed)."
)


def _keras3_model():
    """A model of Keras 3, installed beside tf-keras: `import keras` is Keras 3."""
    import keras

    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])


def _newer_config(_: Context):
    return AdaSTE.from_config({**AdaSTE().get_config(), "_config_version": 99})


NUMBER = r"must be a finite real number"
KERAS3 = (
    r"`model` must be a tf-keras \(legacy Keras\) model, as the larq path .* got a Keras 3 "
    r"object \(keras\.src\.models\.sequential\.Sequential\)\. Fix: .* for a Keras 3 model "
    r"use adaste_tf\.keras3 .*docs/keras3\.md"
)

CATALOGUE = [
    # --- AdaSTE ---
    Case(
        "alpha-zero",
        "AdaSTE(alpha=0)",
        lambda c: AdaSTE(alpha=0),
        ValueError,
        rf"AdaSTE: `alpha` {NUMBER} > 0, got 0",
    ),
    Case(
        "alpha-negative",
        "AdaSTE(alpha=-0.01)",
        lambda c: AdaSTE(alpha=-0.01),
        ValueError,
        rf"`alpha` {NUMBER} > 0, got -0.01",
    ),
    Case(
        "alpha-string",
        'AdaSTE(alpha="0.01")',
        lambda c: AdaSTE(alpha="0.01"),
        TypeError,
        rf"`alpha` {NUMBER} > 0, got '0.01' of type str",
    ),
    Case(
        "beta-nan",
        'AdaSTE(beta=float("nan"))',
        lambda c: AdaSTE(beta=math.nan),
        ValueError,
        rf"`beta` {NUMBER} >= 0, got nan",
    ),
    Case(
        "beta-negative",
        "AdaSTE(beta=-1)",
        lambda c: AdaSTE(beta=-1),
        ValueError,
        rf"`beta` {NUMBER} >= 0, got -1",
    ),
    Case(
        "max-scale-inf",
        'AdaSTE(max_scale=float("inf"))',
        lambda c: AdaSTE(max_scale=math.inf),
        ValueError,
        rf"`max_scale` {NUMBER} > 0, got inf",
    ),
    Case(
        "metrics-string",
        'AdaSTE(metrics="flip_ratio")',
        lambda c: AdaSTE(metrics="flip_ratio"),
        ValueError,
        r"AdaSTE: `metrics` must be None or a list of names from 'flip_ratio', 'diagnostics', "
        r"got 'flip_ratio'",
    ),
    Case(
        "metrics-unknown",
        'AdaSTE(metrics=["flip_rate"])',
        lambda c: AdaSTE(metrics=["flip_rate"]),
        ValueError,
        r"`metrics` must be None or a list of names from .* got \['flip_rate'\]",
    ),
    Case(
        "flip-reach-negative",
        "AdaSTE(flip_reach=-1e-3)",
        lambda c: AdaSTE(flip_reach=-1e-3),
        ValueError,
        r"AdaSTE: `flip_reach` must be a finite real number >= 0, got -0.001",
    ),
    Case(
        "variant-unknown",
        'AdaSTE(variant="Official")',
        lambda c: AdaSTE(variant="Official"),
        ValueError,
        r"`variant` must be one of 'bounded', 'paper', 'official', got 'Official'",
    ),
    Case(
        "scaled-gradient-variant",
        'ops.scaled_gradient(theta, dy, "paperr", ...)',
        lambda c: ops.scaled_gradient(tf.ones(2), tf.ones(2), "paperr", 0.01, 0.0, 1.0),
        ValueError,
        r"scaled_gradient: `variant` must be one of 'bounded', 'paper', "
        r"'official', got 'paperr'",
    ),
    Case(
        "sync-replicas-int",
        "AdaSTE(sync_replicas=1)",
        lambda c: AdaSTE(sync_replicas=1),
        TypeError,
        r"`sync_replicas` must be True or False, got 1",
    ),
    Case(
        "quantizer-class",
        'QuantDense(64, kernel_quantizer=adaste_tf.quantizers.AdaSTE, name="fc1")',
        lambda c: tf.keras.Sequential(
            [
                tf.keras.layers.InputLayer((4,)),
                lq.layers.QuantDense(64, kernel_quantizer=AdaSTE, name="fc1"),
            ]
        ),
        TypeError,
        r"AdaSTE: QuantDense 'fc1' got `kernel_quantizer=AdaSTE`, the class; a quantizer "
        r"argument must be a quantizer instance or name\. Write `kernel_quantizer=AdaSTE\(\)`",
    ),
    Case(
        "config-newer",
        "AdaSTE.from_config(config with _config_version=99)",
        _newer_config,
        ValueError,
        r"`_config_version`=99, written by a newer adaste_tf.*Upgrade adaste_tf",
    ),
    Case(
        "load-newer-keras-file",
        "load_model('newer.keras') saved by a newer adaste_tf",
        lambda c: tf.keras.models.load_model(_newer_keras_file(c)),
        (TypeError, ValueError),
        r"`_config_version`=99, written by a newer adaste_tf.*Upgrade adaste_tf",
    ),
    Case(
        "load-without-import",
        "tf.keras.models.load_model('m.keras') in a process that did not import adaste_tf",
        _load_without_adaste_tf,
        ValueError,
        r"`quantizer` must be `callable` or `None`, but got `<class 'str'>`",
        fix=_IMPORT_FIX,
    ),
    Case(
        "load-h5-without-import",
        "tf.keras.models.load_model('m.h5') in a process that did not import adaste_tf",
        _load_h5_without_adaste_tf,
        TypeError,
        r"Unknown quantization function: 'AdaSTE'",
        fix=_IMPORT_FIX,
    ),
    Case(
        "resave-loaded-keras-as-h5",
        "load_model('m.keras').save('m.h5'), two larq layers, a compiled optimizer",
        _resave_loaded_model_as_h5,
        ValueError,
        r"Unable to synchronously create dataset \(name already exists\)",
        fix=(
            "not part of the message: h5py raises it, for larq's own quantizers too. The "
            ".keras loader builds larq's layers outside their name scopes, so every layer's "
            "kernel is named `kernel:0`, and the h5 writer stores the optimizer's slots by "
            "those names. Nothing saved is lost: save the loaded model as .keras again, or as "
            "h5 with `include_optimizer=False` (both predict as the original)."
        ),
    ),
    # --- schedules ---
    Case(
        "geometric-rate-below-one",
        "schedules.Geometric(rate=0.9)",
        lambda c: schedules.Geometric(rate=0.9),
        ValueError,
        rf"Geometric: `rate` {NUMBER} >= 1, got 0.9",
    ),
    Case(
        "geometric-rate-nan",
        'schedules.Geometric(rate=float("nan"))',
        lambda c: schedules.Geometric(rate=math.nan),
        ValueError,
        r"`rate` .* got nan",
    ),
    Case(
        "geometric-initial-string",
        'schedules.Geometric(initial="0.01")',
        lambda c: schedules.Geometric(initial="0.01"),
        TypeError,
        rf"`initial` {NUMBER} >= 0, got '0.01' of type str",
    ),
    Case(
        "constant-negative",
        "schedules.Constant(-0.5)",
        lambda c: schedules.Constant(-0.5),
        ValueError,
        rf"Constant: `value` {NUMBER} >= 0, got -0.5",
    ),
    Case(
        "linear-steps-zero",
        "schedules.Linear(steps=0)",
        lambda c: schedules.Linear(steps=0),
        ValueError,
        r"Linear: `steps` must be an integer >= 1, got 0",
    ),
    Case(
        "cosine-steps-float",
        "schedules.Cosine(steps=2.5)",
        lambda c: schedules.Cosine(steps=2.5),
        TypeError,
        r"Cosine: `steps` must be an integer >= 1, got 2.5 of type float",
    ),
    Case(
        "schedule-unknown-name",
        'schedules.get("exp")',
        lambda c: schedules.get("exp"),
        ValueError,
        r"`schedule` must be one of 'official', 'geometric', 'constant', 'linear', 'cosine', "
        r"'exponential'",
    ),
    Case(
        "schedule-negative-index",
        "schedules.Geometric()(-1)",
        lambda c: schedules.Geometric()(-1),
        ValueError,
        r"`index` must be a finite real number >= 0, got -1",
    ),
    # --- RelaxationScheduler ---
    Case(
        "scheduler-keras3-model",
        "RelaxationScheduler().set_model(keras.Sequential([...]))  # Keras 3",
        lambda c: RelaxationScheduler().set_model(_keras3_model()),
        TypeError,
        rf"RelaxationScheduler.set_model: {KERAS3}",
    ),
    Case(
        "scheduler-update-freq",
        'RelaxationScheduler(update_freq="step")',
        lambda c: RelaxationScheduler(update_freq="step"),
        ValueError,
        r"`update_freq` must be one of 'epoch', 'batch', got 'step'",
    ),
    Case(
        "scheduler-schedule-number",
        "RelaxationScheduler(schedule=0.5)",
        lambda c: RelaxationScheduler(schedule=0.5),
        TypeError,
        r"`schedule` must be a BetaSchedule, a name, a config dict, a callable",
    ),
    Case(
        "scheduler-verbose-negative",
        "RelaxationScheduler(verbose=-1)",
        lambda c: RelaxationScheduler(verbose=-1),
        ValueError,
        r"`verbose` must be an integer >= 0, got -1",
    ),
    Case(
        "scheduler-epochs-with-schedule",
        'RelaxationScheduler("official", epochs=10)',
        lambda c: RelaxationScheduler("official", epochs=10),
        ValueError,
        r"`epochs` sets the length of the default schedule and is not used with a `schedule`",
    ),
    Case(
        "scheduler-default-without-epochs",
        "RelaxationScheduler().apply(0) in a custom loop",
        lambda c: _apply_default_by_hand(),
        ValueError,
        r"the default schedule runs the relaxation path within the run's epochs, and this "
        r"run's are not known. Fix: in a custom training loop pass them, "
        r"RelaxationScheduler\(epochs=N\)",
    ),
    Case(
        "scheduler-apply-string",
        'scheduler.apply("1")',
        lambda c: _apply_by_hand("1"),
        TypeError,
        r"RelaxationScheduler.apply: `index` must be a finite real number >= 0, got '1'",
    ),
    Case(
        "scheduler-two-in-one-fit",
        "fit(callbacks=[RelaxationScheduler(), RelaxationScheduler()])",
        lambda c: _fit_with_two_schedulers(),
        ValueError,
        r"this fit has two RelaxationScheduler callbacks.* Fix: pass one",
    ),
    Case(
        "scheduler-lr-style-function",
        "RelaxationScheduler(lambda epoch, beta: beta * 1.1)",
        lambda c: RelaxationScheduler(lambda epoch, beta: beta * 1.1),
        TypeError,
        r"takes 2 required arguments; a beta schedule must be a callable of one argument",
    ),
    Case(
        "schedule-geometric-from-zero",
        "fit with AdaSTE(beta=0) and RelaxationScheduler()",
        lambda c: _fit_from_zero_beta(),
        ValueError,
        r"a geometric path from beta=0 stays at 0.* Fix: give the quantizer a beta > 0",
    ),
    Case(
        "scheduler-without-adaste",
        "fit(callbacks=[RelaxationScheduler()]) on a model without AdaSTE",
        _fit_without_adaste,
        ValueError,
        r"RelaxationScheduler: the model '.*' has no AdaSTE quantizer",
    ),
    Case(
        "schedule-returns-nan",
        "a schedule that returns NaN at epoch 2",
        lambda c: _fit_with(lambda e: math.nan if e == 2 else 0.01),
        ValueError,
        r"returned beta=nan at epoch 2 .* must return a finite number >= 0",
    ),
    Case(
        "schedule-returns-negative",
        "a schedule that returns -0.5 at epoch 1",
        lambda c: _fit_with(lambda e: -0.5 if e == 1 else 0.01),
        ValueError,
        r"returned beta=-0.5 at epoch 1 .* must return a finite number >= 0",
    ),
    Case(
        "schedule-returns-overflow",
        "a schedule that returns 1e40 at epoch 1",
        lambda c: _fit_with(lambda e: 1e40 if e == 1 else 0.01),
        ValueError,
        r"returned beta=1e\+40 at epoch 1 .* which is inf as the float32 .* must return a "
        r"finite number >= 0",
    ),
    Case(
        "adaste-under-bop",
        "fit with lq.optimizers.CaseOptimizer((Bop.is_binary_variable, "
        "Bop()), ...) on AdaSTE kernels",
        _fit_under_bop,
        ValueError,
        r"larq's Bop optimizer would train weights that AdaSTE quantizes: layer "
        r"'quant_dense\w*' \(`kernel_quantizer`\)\. .*Fix: every weight Bop would train is "
        r"AdaSTE's, so drop Bop",
    ),
    Case(
        "adaste-momentum-without-train-size",
        "optimizers.AdaSTEMomentum() (no train_size or gradient_scale)",
        lambda c: optimizers.AdaSTEMomentum(),
        ValueError,
        r"AdaSTEMomentum: `train_size` or `gradient_scale` must be given\. Fix: pass "
        r"`train_size=` \(the number of training examples, e\.g\. train_size=len\(x_train\)",
    ),
    Case(
        "official-momentum-train-size-zero",
        "optimizers.OfficialMomentum(train_size=0)",
        lambda c: optimizers.OfficialMomentum(train_size=0),
        ValueError,
        r"OfficialMomentum: `train_size` must be an integer >= 1, got 0",
    ),
    Case(
        "adaste-momentum-scale-and-size",
        "optimizers.AdaSTEMomentum(train_size=60000, gradient_scale=1.0)",
        lambda c: optimizers.AdaSTEMomentum(train_size=60000, gradient_scale=1.0),
        ValueError,
        r"`train_size` and `gradient_scale` must not both be given",
    ),
    Case(
        "scheduler-apply-without-model",
        "RelaxationScheduler().apply(0) before set_model",
        lambda c: RelaxationScheduler().apply(0),
        ValueError,
        r"RelaxationScheduler.apply: a model must be set first",
    ),
    Case(
        "exponential-from-zero",
        "schedules.Exponential()(1, initial_beta=0.0)",
        lambda c: schedules.Exponential()(1, initial_beta=0.0),
        ValueError,
        r"a geometric ramp needs start > 0 and end > 0, got start=0.0",
    ),
    Case(
        "schedule-returns-none",
        "a schedule that returns None at epoch 1",
        lambda c: _fit_with(lambda e: None if e == 1 else 0.01),
        TypeError,
        r"failed at epoch 1 for quantizer .*NoneType.* must return a finite number >= 0",
    ),
    # --- adaste_tf.data ---
    Case(
        "idx-missing",
        "data.read_idx('missing.gz')",
        lambda c: data.read_idx(c.tmp / "missing.gz"),
        FileNotFoundError,
        r"IDX file not found: .*missing\.gz",
    ),
    Case(
        "idx-directory",
        "data.read_idx(<dir>)",
        lambda c: data.read_idx(c.tmp),
        IsADirectoryError,
        r"read_idx: `path` must be an IDX file .* got the directory .*"
        r"use load_arrays\(name, split, data_dir=",
    ),
    Case(
        "idx-truncated",
        "data.read_idx(a file cut short)",
        lambda c: data.read_idx(_idx(c.tmp, "cut.gz", cut=100)),
        ValueError,
        r"cut\.gz: wrong size: header says shape \(3, 28, 28\), so 2368 bytes",
    ),
    Case(
        "idx-wrong-magic",
        "data.read_idx(labels file, magic=IMAGES_MAGIC)",
        lambda c: data.read_idx(
            _idx(c.tmp, "labels.gz", data.LABELS_MAGIC, (3,)), magic=data.IMAGES_MAGIC
        ),
        ValueError,
        r"labels\.gz: wrong IDX magic number 0x00000801 \(2049\), expected 0x00000803",
    ),
    Case(
        "data-dir-empty",
        "data.load_arrays('fashion_mnist', 'train', data_dir=empty_dir)",
        lambda c: data.load_arrays("fashion_mnist", "train", data_dir=c.tmp),
        FileNotFoundError,
        r"IDX file not found: .*train-images-idx3-ubyte .*in data_dir",
    ),
    Case(
        "data-dir-is-a-file",
        "data.make_dataset('fashion_mnist', 'train', 32, data_dir='<dir>/x.gz')",
        lambda c: data.make_dataset("fashion_mnist", "train", 32, data_dir=_idx(c.tmp, "x.gz")),
        NotADirectoryError,
        r"make_dataset: `data_dir` must be a directory holding the IDX files .*got the file "
        r".*x\.gz\. Pass the directory it is in",
    ),
    Case(
        "offline-no-local-files",
        "data.load_arrays('mnist', 'train') offline, no local copy",
        lambda c: (_offline(c), data.load_arrays("mnist", "train")),
        data.DataUnavailableError,
        r"(?s)Could not load 'mnist' split 'train': no network.*Searched:.*Fix: pass data_dir=",
    ),
    Case(
        "tfds-download-fails",
        "data.load_arrays('fashion_mnist', 'test'), tfds unreachable",
        lambda c: (
            _offline(c, ConnectionError("storage.googleapis.com unreachable")),
            data.load_arrays("fashion_mnist", "test"),
        ),
        data.DataUnavailableError,
        r"(?s)the tensorflow-datasets download failed: storage.googleapis.com unreachable.*"
        r"apt-get install dataset-fashion-mnist",
    ),
    Case(
        "dataset-name",
        "data.make_dataset('cifar', 'train', 32)",
        lambda c: data.make_dataset("cifar", "train", 32),
        ValueError,
        r"`name` must be one of 'mnist', 'fashion_mnist', got 'cifar'",
    ),
    Case(
        "dataset-split",
        "data.make_dataset('mnist', 'validation', 32)",
        lambda c: data.make_dataset("mnist", "validation", 32),
        ValueError,
        r"`split` must be one of 'train', 'test', got 'validation'",
    ),
    Case(
        "dataset-batch-size",
        "data.make_dataset('mnist', 'train', batch_size=0)",
        lambda c: data.make_dataset("mnist", "train", 0),
        ValueError,
        r"make_dataset: `batch_size` must be an integer >= 1, got 0",
    ),
    # --- adaste_tf.export ---
    Case(
        "export-engine",
        'export.convert(model, engine="onnx")',
        lambda c: export.convert(_model(), engine="onnx"),
        ValueError,
        r"convert: `engine` must be one of 'lce', 'tflite', got 'onnx'",
    ),
    Case(
        "export-keras3-model",
        "export.convert(keras.Sequential([...]))  # Keras 3",
        lambda c: export.convert(_keras3_model()),
        TypeError,
        rf"convert: {KERAS3}",
    ),
    Case(
        "export-not-a-model",
        'export.convert("model.keras")',
        lambda c: export.convert("model.keras"),
        TypeError,
        r"convert: `model` must be a tf.keras.Model",
    ),
    Case(
        "export-unsupported-layer",
        'export.convert(model with a tf.py_function layer, engine="tflite")',
        _convert_python_side_layer,
        export.ConversionError,
        r"cannot be converted: layer\(s\) 'python_side' \(unsupported op\(s\): EagerPyFunc\)",
    ),
    Case(
        "export-built-subclassed-model",
        "export.convert(subclassed model after model.build((None, 4)))",
        _convert_built_subclassed_model,
        export.ConversionError,
        r"model 'subclassed' \(SubclassedNet\) was built with build\(\) but never called on "
        r"data.*Fix: call it once on a batch "
        r"first, e\.g\. `model\(tf\.zeros\(\(1, 4\)\)\)`",
    ),
    # --- adaste_tf.resume ---
    Case(
        "resume-batch-larger-than-data",
        "epoch_ordered_dataset(x[:10], y[:10], 32, seed=0, start_step=start)",
        lambda c: epoch_ordered_dataset(np.zeros((10, 2)), np.zeros(10), 32, 0, StartStep()),
        ValueError,
        r"epoch_ordered_dataset: `batch_size` must be at most len\(x\) = 10 .*got "
        r"32",
    ),
    Case(
        "resume-lengths-differ",
        "epoch_ordered_dataset(x, y[:-1], 4, seed=0, start_step=start)",
        lambda c: epoch_ordered_dataset(np.zeros((8, 2)), np.zeros(7), 4, 0, StartStep()),
        ValueError,
        r"`x` and `y` must have the same length, got 8 and 7",
    ),
    Case(
        "resume-start-step-int",
        "epoch_ordered_dataset(x, y, 4, seed=0, start_step=0)",
        lambda c: epoch_ordered_dataset(np.zeros((8, 2)), np.zeros(8), 4, 0, 0),
        TypeError,
        r"`start_step` must be the StartStep callback given to fit \(or its `step` "
        r"variable\), got int",
    ),
]


@pytest.mark.parametrize("case", CATALOGUE, ids=[case.id for case in CATALOGUE])
def test_bad_input_gets_a_clear_error(case, tmp_path, monkeypatch):
    with pytest.raises(case.error, match=case.match) as caught:
        case.call(Context(tmp_path, monkeypatch))
    message = str(caught.value)
    # A message a user can act on: it says what is accepted (or what to do), not only "bad".
    # An error raised outside adaste_tf (larq's, Keras's) has its `fix` beside it instead.
    assert case.fix or re.search(
        r"must|expected|header says|Fix:|Upgrade|Replace|not found|no AdaSTE", message
    ), message


def test_catalogue_is_large_and_ids_are_unique():
    ids = [case.id for case in CATALOGUE]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 25


def test_docs_table_matches_the_catalogue():
    """docs/troubleshooting.md's table has one row per case, in catalogue order."""
    rows = [line for line in DOCS.read_text().splitlines() if line.startswith("| `")]
    assert [row.split("|")[1].strip() for row in rows] == [f"`{c.input}`" for c in CATALOGUE]


def _unwrapped(error: BaseException) -> str:
    """The message of `error`, and of an error raised inside a Keras layer's call the layer
    (Keras's first line) and the inner message, without the traceback Keras adds in graph mode
    ("in user code:", with this machine's paths) and the call's arguments it adds after."""
    text = str(error)
    if not text.startswith("Exception encountered when calling layer"):
        return text
    header, _, rest = text.partition("\n")
    rest = rest.split("Call arguments received")[0]
    inner = re.search(rf"^\s*{type(error).__name__}: (.*)", rest, re.M | re.S)
    return f"{header} {inner.group(1) if inner else rest}"


def markdown_table(tmp: Path) -> str:
    """Run every case and return the docs table: input -> exception and message."""
    lines = ["| Input | Error |", "|---|---|"]
    with pytest.MonkeyPatch.context() as monkeypatch:
        for case in CATALOGUE:
            directory = tmp / case.id
            directory.mkdir()
            try:
                case.call(Context(directory, monkeypatch))
            except Exception as error:  # what the user sees
                message = " ".join(_unwrapped(error).replace(str(directory), "<dir>").split())
                # Keras wraps a layer's from_config error after the whole config: keep the end.
                _, wrapped, cause = message.partition("Exception encountered: ")
                if wrapped:
                    message = f"Error when deserializing class ... Exception encountered: {cause}"
                if len(message) > 300:
                    message = message[:297] + "..."
                if case.fix:
                    message += f" **Fix:** {case.fix}"
                message = message.replace("|", "\\|")
                lines.append(f"| `{case.input}` | `{type(error).__name__}`: {message} |")
            else:
                raise AssertionError(f"{case.id}: no error")
            monkeypatch.undo()
    return "\n".join(lines)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        print(markdown_table(Path(scratch)))
    sys.exit(0)
