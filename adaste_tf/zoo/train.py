"""Training recipes and the training command line (`python -m adaste_tf.zoo.train`).

```
python -m adaste_tf.zoo.train --model mlp --dataset fashion_mnist --estimator adaste --epochs 10 \
    --recipe fast --out runs/mlp_adaste
```

Writes to `--out`: `history.json` (loss, accuracy, validation metrics and beta per epoch, test
accuracy, step time), `best.keras` (best validation accuracy), `final.keras`, and
`curves.png`. Every estimator trains the same network (`adaste_tf.zoo.models`).

Recipes:
- `fast`: what trained best in a short budget here: Adam with cosine decay from `--lr`
  (1e-3), Glorot-initialized latent weights, first and last layers binary, AdaSTE's default
  (bounded) rule, and beta annealed over `--epochs` as the official schedule anneals over 500
  epochs (`schedules.Geometric.compressed`): from 0.01 to 1/alpha at 38% of the run, then held
  there, in the binary regime. larq's estimators get `kernel_constraint="weight_clip"`, as
  larq recommends for them.
- `official`: the official code's hyperparameters as far as Keras allows: batch 128,
  `OfficialMomentum` (momentum 0.9 with bias correction, gradient x N^2 with N = 10 x the
  training-set size, decay 1 x theta), learning rate 3e-4 cosine to 0, latent weights +-10 with
  random sign, every layer binary, AdaSTE `variant="official"` and beta x 1.05 per epoch. It
  differs from the official code in three ways that Keras fixes: the gradient is taken at
  sign(theta), not at the relaxed weights (docs/method.md, section 6, difference 5); the
  ResNet's final bias stays real; the default epoch count is the command's `--epochs`, not 500-700.
- `official_compressed`: the `official` recipe with beta's whole official path compressed into
  `--epochs` (as `fast` has it) instead of 1.05 per epoch, at learning rate 1e-3: on the narrow
  VGG-16 the configuration measured ahead of `ste_sign` (docs/evidence.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from adaste_tf import callbacks as adaste_callbacks
from adaste_tf import extras, initializers, optimizers, schedules, validation
from adaste_tf.quantizers import AdaSTE
from adaste_tf.zoo import data, larq_nets, models, plots

import larq as lq
import numpy as np
import tensorflow as tf

__all__ = [
    "Recipe",
    "RECIPES",
    "make_quantizer",
    "build_model",
    "train",
    "StepTimer",
    "interleaved_step_times",
    "fresh_run_dir",
    "main",
    "cli",
]

# The paper's networks (adaste_tf.zoo.models), then larq-style ones (adaste_tf.zoo.larq_nets).
MODELS = ("mlp", "vgg16", "resnet18", *larq_nets.NETWORKS)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Hyperparameters that belong together. `lr`/`batch_size` may be overridden per run.

    Examples:
        >>> RECIPES["fast"].batch_size
        128
    """

    name: str
    batch_size: int
    lr: float
    # "adam", "sgd" (momentum 0.9), "official" (OfficialMomentum for every weight) or "case"
    # (AdaSTEMomentum for AdaSTE's weights, Adam for the rest, through larq's CaseOptimizer)
    optimizer: str
    latent_magnitude: float | None  # None: Keras's Glorot; else RandomSign(magnitude)
    binarize_first_last: bool
    variant: str
    # None: beta x 1.05 per epoch, as officially; N: the official N-epoch path compressed into
    # the run's epochs (schedules.Geometric.compressed).
    beta_path_epochs: int | None

    def beta_schedule(self, epochs: int) -> schedules.Geometric:
        """The beta schedule of a run of `epochs` epochs.

        Examples:
            >>> RECIPES["fast"].beta_schedule(50).time_scale
            10.0
        """
        if self.beta_path_epochs is None:
            return schedules.Geometric(rate=schedules.OFFICIAL_RATE)
        return schedules.Geometric.compressed(epochs, reference_epochs=self.beta_path_epochs)


RECIPES = {
    "fast": Recipe("fast", 128, 1e-3, "adam", None, True, "bounded", schedules.OFFICIAL_EPOCHS),
    "official": Recipe("official", 128, 3e-4, "official", 10.0, True, "official", None),
    "official_compressed": Recipe(
        "official_compressed",
        128,
        1e-3,
        "official",
        10.0,
        True,
        "official",
        schedules.OFFICIAL_EPOCHS,
    ),
    # For larq-style networks (real stem and head, BatchNorm with scale): the official rule and
    # optimizer on the binary kernels only, Adam on the rest (docs/usage.md).
    "larq": Recipe("larq", 128, 1e-3, "case", 10.0, False, "official", schedules.OFFICIAL_EPOCHS),
}


def make_quantizer(
    estimator: str,
    *,
    alpha: float = 0.01,
    beta: float = 0.01,
    max_scale: float | None = None,
    variant: str = "bounded",
    metrics: list[str] | None = None,
    flip_reach: float | None = None,
):
    """The kernel quantizer for an estimator name (an `AdaSTE` for "adaste", else larq's).

    Examples:
        >>> make_quantizer("ste_sign")
        'ste_sign'
    """
    validation.choice("estimator", estimator, models.ESTIMATORS)
    if estimator == "adaste":
        extra: dict[str, Any] = {} if flip_reach is None else {"flip_reach": flip_reach}
        return AdaSTE(
            alpha=alpha, beta=beta, max_scale=max_scale, variant=variant, metrics=metrics, **extra
        )
    return estimator


def build_model(
    model: str,
    estimator: str,
    input_shape,
    num_classes: int,
    recipe: Recipe,
    *,
    seed: int = 0,
    max_scale: float | None = None,
    width: float = 1.0,
    hidden=(512, 512),
    binary_activations: bool = False,
    diagnostics: bool = False,
    flip_reach: float | None = None,
) -> tf.keras.Model:
    """The `model` network with `estimator` kernels, set up as `recipe` says (not compiled).

    With `binary_activations`, the inputs of the binary layers are binarized by the same
    estimator (and the hidden activation is the sign itself, not a ReLU before it). With
    `diagnostics`, AdaSTE quantizers log their diagnostics and flip ratio; `flip_reach` (None:
    the quantizer's default) is the bounded rule's perturbation bound.

    Examples:
        >>> net = build_model("mlp", "adaste", (28, 28), 10, RECIPES["fast"], hidden=(64,))
    """
    validation.choice("model", model, MODELS)

    def quantizer():
        return make_quantizer(
            estimator,
            max_scale=max_scale,
            variant=recipe.variant,
            metrics=["flip_ratio", "diagnostics"] if diagnostics else None,
            flip_reach=flip_reach,
        )

    kwargs: dict[str, Any] = {
        "kernel_quantizer": quantizer(),
        "binarize_first_last": recipe.binarize_first_last,
        # larq recommends clipping latent weights for its estimators; AdaSTE needs none
        "kernel_constraint": None if estimator == "adaste" else "weight_clip",
    }
    if validation.boolean("binary_activations", binary_activations, owner="build_model"):
        # a sign after a ReLU would only ever see +1: the sign is the activation
        kwargs.update(input_quantizer=quantizer(), activation=None)
    if recipe.latent_magnitude is not None:
        kwargs["kernel_initializer"] = initializers.RandomSign(recipe.latent_magnitude, seed=seed)
    if model in larq_nets.NETWORKS:  # their activations are ReLUs beside the binary convs
        kwargs.pop("activation", None)
        kwargs.setdefault("input_quantizer", None)
        larq_style = larq_nets.quicknet if model == "quicknet" else larq_nets.birealnet
        return larq_style(input_shape, num_classes, width=width, **kwargs)
    if model == "mlp":
        return models.mlp(input_shape, num_classes, hidden=hidden, **kwargs)
    builder = models.vgg16 if model == "vgg16" else models.resnet18
    return builder(input_shape, num_classes, width=width, **kwargs)


def _optimizer(recipe: Recipe, lr: float, total_steps: int, train_size: int, estimator: str = ""):
    schedule = tf.keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(total_steps, 1))
    if recipe.optimizer == "case":
        adam = tf.keras.optimizers.legacy.Adam(schedule)
        if estimator != "adaste":  # no AdaSTE weights for AdaSTEMomentum to claim
            return adam
        return lq.optimizers.CaseOptimizer(
            (
                optimizers.is_adaste_variable,
                optimizers.AdaSTEMomentum(schedule, momentum=0.9, train_size=train_size),
            ),
            default_optimizer=adam,
        )
    if recipe.optimizer == "adam":
        return tf.keras.optimizers.Adam(schedule)
    if recipe.optimizer == "sgd":
        return tf.keras.optimizers.SGD(schedule, momentum=0.9)
    return optimizers.OfficialMomentum(schedule, momentum=0.9, train_size=train_size, decay=1.0)


class StepTimer(tf.keras.callbacks.Callback):
    """Wall time per training step of each epoch, validation excluded (the first epoch includes
    compilation).

    Examples:
        >>> model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(4,))])
        >>> model.compile("sgd", "mse")
        >>> timer = StepTimer()
        >>> _ = model.fit(np.ones((64, 4)), np.ones(64), batch_size=16, epochs=3, verbose=0,
        ...               callbacks=[timer])
        >>> len(timer.step_times), timer.steady_step_time() > 0
        (3, True)
    """

    def __init__(self):
        super().__init__()
        self.step_times: list[float] = []
        self._start = 0.0
        self._steps = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._steps = 0
        self._start = self._last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        # Up to the last training step: Keras runs validation before on_epoch_end.
        self.step_times.append((self._last - self._start) / max(self._steps, 1))

    def steady_step_time(self) -> float:
        """Median step time over the epochs after the first (all epochs if only one)."""
        times = self.step_times[1:] or self.step_times
        return float(np.median(times))


def interleaved_step_times(
    runs: Mapping[Hashable, Sequence[tuple[Callable, Iterator]]],
    rounds: int,
    steps: int,
    warmup: int = 0,
    seed: int | None = None,
) -> dict[Hashable, list[float]]:
    """Seconds of each training step of each run, timed in `rounds` that alternate between the
    runs: a round makes `steps` calls of each `(train_function, iterator)` of each key (a Keras
    model's `make_train_function()` and an iterator over its batches), each read back before
    the next starts.

    Alternating lets drifts in machine load hit every run alike: on a shared machine the speed
    of two sequential `fit`s differs by minute and by model instance by more than AdaSTE and
    `ste_sign` do (docs/performance.md). But a model's first steps after other models' are
    slower (on a 2-core CPU a 2.4 ms step took 2.9 ms, settling over 3-6 steps, after a larger
    model's), and in a fixed order the same run always pays for it: `warmup` untimed calls
    precede each run's timed steps in every round, and with a `seed` each round visits the keys
    in a random order drawn from it. The lists keep the order of rounds, then instances.

    Examples:
        >>> model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(4,))])
        >>> model.compile("sgd", "mse")
        >>> batches = tf.data.Dataset.from_tensors((tf.ones((8, 4)), tf.ones(8))).repeat()
        >>> times = interleaved_step_times(
        ...     {"dense": [(model.make_train_function(), iter(batches))]}, rounds=2, steps=3,
        ...     warmup=1, seed=0)
        >>> len(times["dense"]), min(times["dense"]) > 0
        (6, True)
    """
    owner = "interleaved_step_times"
    rounds = validation.integer("rounds", rounds, minimum=1, owner=owner)
    steps = validation.integer("steps", steps, minimum=1, owner=owner)
    warmup = validation.integer("warmup", warmup, minimum=0, owner=owner)
    if seed is not None:
        seed = validation.integer("seed", seed, minimum=0, owner=owner)
    keys = list(runs)
    rng = None if seed is None else np.random.default_rng(seed)
    times: dict[Hashable, list[float]] = {key: [] for key in keys}
    for _ in range(rounds):
        for index in range(len(keys)) if rng is None else rng.permutation(len(keys)):
            key = keys[index]
            for step, iterator in runs[key]:
                for _ in range(warmup):
                    float(step(iterator)["loss"])
                for _ in range(steps):
                    begin = time.perf_counter()
                    float(step(iterator)["loss"])
                    times[key].append(time.perf_counter() - begin)
    return times


def train(
    model_name: str,
    dataset: str,
    estimator: str,
    *,
    epochs: int,
    recipe: str | Recipe = "fast",
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    jit: bool = True,
    out: str | Path | None = None,
    limit: int | None = None,
    max_scale: float | None = None,
    width: float = 1.0,
    hidden=(512, 512),
    verbose: int = 1,
    data_dir: str | None = None,
    eager: bool = False,
    binary_activations: bool = False,
    diagnostics: bool = False,
    schedule: schedules.BetaSchedule | None = None,
    flip_reach: float | None = None,
    callbacks: list[tf.keras.callbacks.Callback] | None = None,
) -> dict[str, Any]:
    """Train one network with one estimator; return (and with `out`, write) its record.

    The record is plain JSON data (what `history.json` holds): the run's settings, its Keras
    history, test loss and accuracy, step time and parameter count. The model itself is saved
    under `out` (`final.keras`, `best.keras`); `callbacks` are passed to `model.fit` after the
    harness's own, and Keras gives each of them the model (`callback.model`), which is how a
    caller reaches the live model. `schedule` replaces the recipe's beta schedule (as for a
    fixed-beta run); see `build_model` for `binary_activations`, `diagnostics` and `flip_reach`.

    Examples:
        >>> import json
        >>> keep = tf.keras.callbacks.Callback()  # fit sets keep.model
        >>> record = train("mlp", "fashion_mnist", "adaste", epochs=2, limit=256, hidden=(32,),
        ...                jit=False, verbose=0, callbacks=[keep])
        >>> len(record["history"]["beta"]), record == json.loads(json.dumps(record))
        (2, True)
        >>> [layer.name for layer in keep.model.layers[1:]]  # after the input layer
        ['flatten', 'fc1', 'bn1', 'act1', 'fc2', 'bn2']
    """
    owner = "train"
    validation.choice("dataset", dataset, data.DATASETS, owner=owner)
    if not isinstance(recipe, Recipe):
        recipe = RECIPES[validation.choice("recipe", recipe, RECIPES, owner=owner)]
    validation.integer("epochs", epochs, minimum=1, owner=owner)
    _check_extras(out, dataset)
    callbacks = list(callbacks or ())
    if not all(isinstance(c, tf.keras.callbacks.Callback) for c in callbacks):
        raise TypeError(
            f"{owner}: `callbacks` must be a list of tf.keras.callbacks.Callback "
            f"(legacy Keras), got {[type(c).__name__ for c in callbacks]}."
        )
    if any(isinstance(c, adaste_callbacks.RelaxationScheduler) for c in callbacks):
        # A second scheduler would overwrite beta after the recipe's, epoch by epoch.
        raise ValueError(
            f"{owner}: `callbacks` must not hold a RelaxationScheduler: train "
            f"schedules beta itself. Pass the schedule as schedule=... instead."
        )
    batch_size = (
        recipe.batch_size
        if batch_size is None
        else validation.integer("batch_size", batch_size, minimum=1, owner=owner)
    )
    lr = (
        recipe.lr
        if lr is None
        else validation.real("lr", lr, minimum=0.0, strict=True, owner=owner)
    )
    tf.keras.utils.set_random_seed(seed)

    splits = data.load_splits(
        dataset, batch_size, seed=seed, limit=limit, data_dir=data_dir, conv=model_name != "mlp"
    )
    model = build_model(
        model_name,
        estimator,
        splits.input_shape,
        splits.num_classes,
        recipe,
        seed=seed,
        max_scale=max_scale,
        width=width,
        hidden=hidden,
        binary_activations=binary_activations,
        diagnostics=diagnostics,
        flip_reach=flip_reach,
    )
    total_steps = epochs * math.ceil(splits.train_size / batch_size)
    model.compile(
        _optimizer(recipe, lr, total_steps, splits.train_size, estimator),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=jit and not eager,
        run_eagerly=eager,
    )

    timer = StepTimer()
    fit_callbacks: list[tf.keras.callbacks.Callback] = [timer]
    if estimator == "adaste":
        fit_callbacks.insert(
            0,
            adaste_callbacks.RelaxationScheduler(
                recipe.beta_schedule(epochs) if schedule is None else schedule,
                # Set once per epoch, a 1-epoch run would keep the path's first beta.
                update_freq="batch" if epochs == 1 else "epoch",
            ),
        )
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        fit_callbacks.append(
            tf.keras.callbacks.ModelCheckpoint(
                str(out_dir / "best.keras"), monitor="val_accuracy", save_best_only=True
            )
        )
    history = model.fit(
        splits.train,
        validation_data=splits.validation,
        epochs=epochs,
        callbacks=fit_callbacks + callbacks,
        verbose=verbose,
    )
    evaluation = model.evaluate(splits.test, verbose=0, return_dict=True)
    test_loss, test_accuracy = evaluation["loss"], evaluation["accuracy"]
    result = {
        "model": model_name,
        "dataset": dataset,
        "estimator": estimator,
        "recipe": dataclasses.asdict(recipe),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "jit": jit,
        "limit": limit,
        "max_scale": max_scale,
        "eager": eager,
        "binary_activations": binary_activations,
        "schedule": None if schedule is None else schedules.serialize(schedule),
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "step_time_s": timer.steady_step_time(),
        "epoch_step_times_s": timer.step_times,
        "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
    }
    if out_dir is not None:
        model.save(out_dir / "final.keras")
        (out_dir / "history.json").write_text(json.dumps(result, indent=2))
        plots.plot_curves({estimator: result}, out_dir / "curves.png")
    return result


def _check_extras(out: str | Path | None, dataset: str) -> None:
    """Import what a run will need, before it loads data or trains: with an output directory,
    matplotlib for `curves.png` (drawn after training), and tensorflow-datasets for CIFAR (the
    `zoo` extra has both). MNIST and Fashion-MNIST need tensorflow-datasets only without their
    local files, which loading them (before training) finds out.

    Examples:
        >>> _check_extras(None, "mnist")  # no outputs written, local data: nothing to check
    """
    if out is not None:
        extras.require("matplotlib", "the training run's curves.png (train with `out`, the CLI)")
    if dataset in data.CIFAR_NORMALIZATION:
        extras.require("tensorflow_datasets", f"training on {dataset!r}")


_DESCRIPTION = """\
Train one of the paper's networks (mlp, vgg16, resnet18) or a larq-style one (quicknet,
birealnet: real stem and head, BatchNorm with scale, shortcuts) with one estimator and write
what the run measured.

Every run writes, to --out (default: a new directory under runs/), history.json (loss,
accuracy, validation metrics and beta per epoch, test accuracy, step time), best.keras (the
best validation accuracy), final.keras and curves.png.

Recipes:
  fast                 Adam with cosine decay from --lr, Glorot latent weights, AdaSTE's
                       default (bounded) rule, beta's whole path compressed into --epochs;
                       larq's estimators with weight_clip.
  official             the official code's hyperparameters: OfficialMomentum, latent weights
                       at +-10, the official rule, lr 3e-4, beta x 1.05 per epoch.
  official_compressed  official, with beta's whole path compressed into --epochs, lr 1e-3.
  larq                 for quicknet and birealnet: the official rule, latent weights at +-10
                       and AdaSTEMomentum on the binary kernels only (larq's CaseOptimizer),
                       Adam on the real layers, cosine decay from --lr (1e-3), beta's whole
                       path compressed into --epochs; larq's estimators with Adam.

examples:
  python -m adaste_tf.zoo.train --model mlp --hidden 2048 2048 2048 --epochs 10
  python -m adaste_tf.zoo.train --model quicknet --width 0.5 --recipe larq --binary-activations
"""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after each flag's help, and the description's own line breaks kept."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        # A flag whose help already says what its default means ("the recipe's") keeps that.
        if action.help and "(default:" in action.help:
            return action.help
        return super()._get_help_string(action)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m adaste_tf.zoo.train",
        description=_DESCRIPTION,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--model", choices=MODELS, default="mlp", help="the network")
    parser.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=[512, 512],
        metavar="WIDTH",
        help="the MLP's hidden widths (the official MLP: 2048 2048 2048)",
    )
    parser.add_argument(
        "--dataset",
        choices=data.DATASETS,
        default="fashion_mnist",
        help="the data set (cifar10/cifar100 through tensorflow-datasets)",
    )
    parser.add_argument(
        "--estimator",
        choices=models.ESTIMATORS,
        default="adaste",
        help="the kernel quantizer of the binary layers",
    )
    parser.add_argument(
        "--recipe", choices=tuple(RECIPES), default="fast", help="the hyperparameters (see above)"
    )
    parser.add_argument("--epochs", type=int, default=10, help="epochs to train")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="examples per step (default: the recipe's, 128)",
    )
    parser.add_argument(
        "--lr", type=float, default=None, help="peak learning rate (default: the recipe's)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the initial weights and the data order"
    )
    parser.add_argument(
        "--jit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="XLA-compile the train step (conv nets train faster on a CPU without it)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="directory for history.json, best.keras, final.keras, "
        "curves.png (default: a new directory under runs/)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="train on the first N training examples only, the last 10%% of them held out for "
        "validation; the test set is always whole (default: all)",
    )
    parser.add_argument(
        "--width", type=float, default=1.0, help="channel multiplier of the conv nets"
    )
    parser.add_argument(
        "--max-scale",
        type=float,
        default=None,
        help="AdaSTE's cap on the inward scale (default: the rule's)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="directory of local IDX files (default: searched, see adaste_tf.data)",
    )
    parser.add_argument(
        "--binary-activations",
        action="store_true",
        help="binarize the binary layers' inputs with the same estimator",
    )
    parser.add_argument(
        "--diagnostics",
        action="store_true",
        help="log AdaSTE's diagnostics and flip ratio per quantizer",
    )
    parser.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="Keras's fit verbosity (2: one line per epoch, for logs)",
    )
    parser.add_argument(
        "--eager",
        action="store_true",
        help="run the train step eagerly (debugging; overrides --jit)",
    )
    return parser


def fresh_run_dir(model: str, estimator: str, root: str | Path = "runs") -> Path:
    """A directory under `root` that does not exist yet, named after the run and the time.

    Examples:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> first = fresh_run_dir("mlp", "adaste", root)
        >>> second = fresh_run_dir("mlp", "adaste", root)
        >>> first != second, first.name.startswith("mlp-adaste-"), first.is_dir()
        (True, True, True)
    """
    stem = f"{model}-{estimator}-{time.strftime('%Y%m%d-%H%M%S')}"
    for n in range(1000):
        candidate = Path(root) / (stem if n == 0 else f"{stem}-{n}")
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"fresh_run_dir: no free name for {stem} in {root}.")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Entry point of `python -m adaste_tf.zoo.train` and the `adaste-train` script."""
    args = _parser().parse_args(argv)
    _check_extras(args.out or "runs", args.dataset)  # before a run directory is made
    out = args.out if args.out is not None else fresh_run_dir(args.model, args.estimator)
    result = train(
        args.model,
        args.dataset,
        args.estimator,
        epochs=args.epochs,
        recipe=args.recipe,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        jit=args.jit,
        out=out,
        limit=args.limit,
        max_scale=args.max_scale,
        width=args.width,
        hidden=tuple(args.hidden),
        data_dir=args.data_dir,
        eager=args.eager,
        binary_activations=args.binary_activations,
        diagnostics=args.diagnostics,
        verbose=args.verbose,
    )
    print(
        f"test accuracy {result['test_accuracy']:.4f}, "
        f"step time {1e3 * result['step_time_s']:.2f} ms"
    )
    print(f"outputs in {out}/")
    return result


def cli() -> None:
    """The `adaste-train` console script (returns nothing, so the exit status is 0)."""
    main()


if __name__ == "__main__":
    cli()
