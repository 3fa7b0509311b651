"""Time per training step of every AdaSTE rule against ste_sign's on Keras 3 (JAX or TensorFlow).

    KERAS_BACKEND=jax python benchmarks/keras3_step_time.py --out docs/results/keras3_step_time.json
    KERAS_BACKEND=jax python benchmarks/keras3_step_time.py --networks mlp_official --repeats 3 \\
        --steps 5 --out /tmp/quick.json
    KERAS_BACKEND=tensorflow python benchmarks/keras3_step_time.py --larq --networks mlp_official

Needs only keras 3, its pure-Python dependencies, a backend (JAX, or TensorFlow) and this
repository: no TensorFlow and no larq on JAX, so the repository can be carried as it is to a
GPU machine that has JAX alone (run it from the repository root, or with the repository on
PYTHONPATH). Every layer's kernel is binary, with the quantizer under test.

Networks (`--networks`), as `adaste_tf.zoo.models` builds them (the official code's), at full
width unless `--width`:
- `mlp_official`: the official MLP 784-2048-2048-2048-10 (`--hidden`), batch `--mlp-batch`
  (128);
- `vgg16`: the paper's VGG-16 (13 convolutions, 2 dense layers of 512), 32x32x`--channels`
  inputs, batch `--conv-batch` (64);
- `resnet18`: the paper's ResNet-18 (basic blocks 64-128-256-512), 32x32x`--channels` inputs,
  batch `--conv-batch`.

Estimators: `ste_sign` (the baseline) and AdaSTE with each rule (`adaste:bounded`,
`adaste:paper`, `adaste:official`), each model compiled with Adam and `jit_compile=True`. With
`--larq` (TensorFlow backend on CPU, with tf-keras and larq installed) the same networks are
also built with larq's layers and adaste_tf's larq path (`larq:ste_sign`, `larq:adaste:...`),
and each ratio is also given against `larq:ste_sign`.

All models of a network are built and compiled in one process; after `--warmup` untimed steps
each (tracing, XLA compilation) the rounds alternate between them in a random order (`--seed`),
`--steps` steps of each per round, each step's loss read back before the next starts. A step
is one call of a jit-compiled function that runs the model forward and backward and applies
Adam (on JAX: the model's stateless call and the optimizer's stateless apply under `jax.jit`,
the state donated, what `fit` runs per step without its bookkeeping; on TensorFlow:
`train_on_batch`); `--policy mixed_bfloat16` times mixed-precision models (the Keras 3 path).
Writes the median step time of each configuration, its ratio to `ste_sign`'s on the same
network, the quartiles of the per-round ratios and the device (JSON; a PNG of the ratios if
matplotlib is installed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, as it is

# First: where larq is installed too, this selects legacy Keras for the larq path before
# keras 3 loads TensorFlow; where it is not, it imports nothing of TensorFlow.
import adaste_tf  # noqa: E402,F401

import numpy as np  # noqa: E402

NETWORKS = ("mlp_official", "vgg16", "resnet18")
ESTIMATORS = ("ste_sign", "adaste:bounded", "adaste:paper", "adaste:official")
BASELINE = "ste_sign"

# VGG-16's convolution widths; "M" marks those followed by a 2x2 max-pool (as zoo.models).
VGG16_CONVS = (64, "M64", 128, "M128", 256, 256, "M256", 512, 512, "M512", 512, 512, "M512")


def quantizer(estimator: str, path: str):
    """The kernel quantizer of `estimator` ("ste_sign" or "adaste:<rule>") for `path` ("keras3"
    or "larq")."""
    if estimator == "ste_sign":
        return "ste_sign"
    variant = estimator.split(":")[1]
    if path == "larq":
        from adaste_tf.quantizers import AdaSTE
    else:
        from adaste_tf.keras3 import AdaSTE
    return AdaSTE(variant=variant)


def build(network: str, estimator: str, args, path: str = "keras3"):
    """One network with `estimator` on every kernel, in Keras 3 (`path="keras3"`) or in tf.keras
    with larq's layers (`path="larq"`)."""
    if path == "larq":
        import larq as lq
        import tensorflow as tf

        k, dense_layer, conv_layer = tf.keras, lq.layers.QuantDense, lq.layers.QuantConv2D
    else:
        from adaste_tf import keras3

        import keras

        k, dense_layer, conv_layer = keras, keras3.QuantDense, keras3.QuantConv2D

    def scaled(n):
        return max(1, int(round(n * args.width)))

    def dense(units, **kwargs):
        return dense_layer(units, kernel_quantizer=quantizer(estimator, path), **kwargs)

    def conv(filters, size, **kwargs):
        kwargs.setdefault("padding", "same")
        kwargs.setdefault("use_bias", False)
        return conv_layer(filters, size, kernel_quantizer=quantizer(estimator, path), **kwargs)

    def bn(x, momentum=0.8, epsilon=1e-5):
        return k.layers.BatchNormalization(
            momentum=momentum, epsilon=epsilon, center=False, scale=False
        )(x)

    if network == "mlp_official":
        inputs = k.Input((784,))
        x = inputs
        for units in args.hidden:
            x = k.layers.Activation("relu")(bn(dense(scaled(units), use_bias=False)(x), 0.85, 1e-4))
        outputs = bn(dense(10, use_bias=False)(x), 0.85, 1e-4)
    elif network == "vgg16":
        inputs = k.Input((32, 32, args.channels))
        x = inputs
        for spec in VGG16_CONVS:
            x = conv(scaled(int(str(spec).lstrip("M"))), 3)(x)
            if isinstance(spec, str):
                x = k.layers.MaxPooling2D(2)(x)
            x = k.layers.Activation("relu")(bn(x))
        x = k.layers.Flatten()(x)
        for _ in range(2):
            x = k.layers.Activation("relu")(bn(dense(scaled(512), use_bias=False)(x), 0.9))
        outputs = bn(dense(10, use_bias=False)(x), 0.9)
    elif network == "resnet18":
        inputs = k.Input((32, 32, args.channels))

        def strided(x, filters, strides):
            if strides == 1:
                return conv(filters, 3)(x)
            x = k.layers.ZeroPadding2D(1)(x)
            return conv(filters, 3, strides=strides, padding="valid")(x)

        x = k.layers.Activation("relu")(bn(strided(inputs, scaled(64), 1)))
        for stage, channels in enumerate((64, 128, 256, 512)):
            for block in range(2):
                strides = 2 if stage and not block else 1
                shortcut = x
                y = k.layers.Activation("relu")(bn(strided(x, scaled(channels), strides)))
                y = bn(conv(scaled(channels), 3)(y))
                if strides != 1 or shortcut.shape[-1] != scaled(channels):
                    shortcut = bn(conv(scaled(channels), 1, strides=strides, padding="valid")(x))
                x = k.layers.Activation("relu")(k.layers.Add()([y, shortcut]))
        x = k.layers.GlobalAveragePooling2D()(x)
        outputs = bn(dense(10, use_bias=True)(x), 0.9)
    else:
        raise ValueError(f"`--networks`: unknown network {network!r}; one of {NETWORKS}")
    model = k.Model(inputs, outputs)
    if estimator != "ste_sign":
        # beta held at its initial value on purpose (its value does not change a step's cost):
        # a scheduler with a constant schedule says so, and no unscheduled-beta warning comes.
        from adaste_tf import schedules

        if path == "larq":
            from adaste_tf.callbacks import RelaxationScheduler
        else:
            from adaste_tf.keras3 import RelaxationScheduler
        RelaxationScheduler(schedules.Constant()).set_model(model)
    model.compile(
        k.optimizers.Adam(1e-3),
        k.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    return model


def batch(network: str, args, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random batch of the network's inputs and labels."""
    if network == "mlp_official":
        shape = (args.mlp_batch, 784)
    else:
        shape = (args.conv_batch, 32, 32, args.channels)
    return rng.normal(size=shape).astype(np.float32), rng.integers(0, 10, shape[0]).astype(np.int32)


def jax_step(model):
    """The model's training step as one jit-compiled function over its state (JAX): forward,
    backward and Adam, what `fit` runs per step; returns `step(x, y) -> loss`."""
    import jax

    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    loss_fn = model.loss

    def loss_of(trainable, non_trainable, x, y):
        logits, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        return loss_fn(y, logits), non_trainable

    grad_fn = jax.value_and_grad(loss_of, has_aux=True)

    @partial(jax.jit, donate_argnums=0)  # the state's buffers reused in place, as `fit` does
    def train(state, x, y):
        trainable, non_trainable, optimizer_state = state
        (loss, non_trainable), grads = grad_fn(trainable, non_trainable, x, y)
        trainable, optimizer_state = optimizer.stateless_apply(optimizer_state, grads, trainable)
        return loss, (trainable, non_trainable, optimizer_state)

    state = [
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer.variables],
    ]

    def step(x, y):
        nonlocal state
        loss, state = train(state, x, y)
        return float(loss)

    return step


def train_step(model, path: str):
    """`step(x, y) -> loss` for `model`: `jax_step` on JAX, else `train_on_batch`."""
    if path == "keras3":
        import keras

        if keras.backend.backend() == "jax":
            return jax_step(model)

    def step(x, y):
        return float(np.asarray(model.train_on_batch(x, y)).reshape(-1)[0])

    return step


def interleaved(steps: dict, data: dict, args) -> dict[str, list[float]]:
    """Seconds per step of each configuration, rounds alternating between them in a random
    order, after `args.warmup` untimed steps of each in every round."""
    rng = np.random.default_rng(args.seed)
    times: dict[str, list[float]] = {key: [] for key in steps}
    keys = list(steps)
    for _ in range(args.repeats):
        for index in rng.permutation(len(keys)):
            key = keys[index]
            x, y = data[key]
            for _ in range(args.warmup):
                steps[key](x, y)
            for _ in range(args.steps):
                start = time.perf_counter()
                steps[key](x, y)  # the loss read back: the step has finished
                times[key].append(time.perf_counter() - start)
    return times


def device() -> dict:
    """The backend and the device the steps ran on, in words."""
    import keras

    info = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
    }
    if info["backend"] == "jax":
        import jax

        first = jax.devices()[0]
        info.update(
            jax=jax.__version__,
            platform=first.platform,
            device=getattr(first, "device_kind", str(first)),
            device_count=jax.device_count(),
        )
    elif info["backend"] == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        info.update(tensorflow=tf.__version__, device=str(gpus[0]) if gpus else "CPU")
    return info


def run_network(network: str, args) -> list[dict]:
    """Build every configuration of `network`, time them interleaved; one record each."""
    rng = np.random.default_rng(args.seed)
    configurations = {estimator: (estimator, "keras3") for estimator in args.estimators}
    if args.larq:
        configurations.update({f"larq:{e}": (e, "larq") for e in args.estimators})
    steps, data = {}, {}
    for key, (estimator, path) in configurations.items():
        model = build(network, estimator, args, path)
        steps[key] = train_step(model, path)
        data[key] = batch(network, args, rng)
        steps[key](*data[key])  # traces and compiles
    times = interleaved(steps, data, args)
    records = []
    for key, mine in times.items():
        record = {"network": network, "configuration": key, **timing(mine, times[BASELINE], args)}
        if args.larq:
            record.update(
                {f"vs_larq_{k}": v for k, v in timing(mine, times["larq:ste_sign"], args).items()
                 if k != "median_step_ms"}
            )  # fmt: skip
        records.append(record)
        print(
            f"{network:<13} {key:<22} {record['median_step_ms']:9.3f} ms  x{record['ratio']:.3f}"
            f" (rounds {record['round_ratio_quartiles'][0]:.3f}-"
            f"{record['round_ratio_quartiles'][2]:.3f})",
            flush=True,
        )
    return records


def timing(times: list[float], baseline: list[float], args) -> dict:
    """The median step in ms, its ratio to the baseline's, and the quartiles of the ratio of
    each round's median to the baseline's median in that round."""
    per_round = np.median(np.reshape(times, (args.repeats, -1)), axis=1) / np.median(
        np.reshape(baseline, (args.repeats, -1)), axis=1
    )
    return {
        "median_step_ms": 1e3 * float(np.median(times)),
        "ratio": float(np.median(times) / np.median(baseline)),
        "round_ratio_quartiles": [float(q) for q in np.percentile(per_round, [25, 50, 75])],
    }


def plot(report: dict, path: Path) -> bool:
    """A bar chart of the ratios to ste_sign, per network; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = report["results"]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(rows)), 4))
    labels = [f"{r['network']}\n{r['configuration']}" for r in rows]
    quartiles = np.array([r["round_ratio_quartiles"] for r in rows])
    ratios = [r["ratio"] for r in rows]
    errors = [np.maximum(quartiles[:, 1] - quartiles[:, 0], 0),
              np.maximum(quartiles[:, 2] - quartiles[:, 1], 0)]  # fmt: skip
    ax.bar(range(len(rows)), ratios, yerr=errors)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(rows)), labels, rotation=90, fontsize=7)
    ax.set_ylabel("step time / ste_sign's")
    ax.set_title(f"Keras 3 ({report['device']['backend']}) on {report['device'].get('device')}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(NETWORKS))
    p.add_argument("--estimators", nargs="+", choices=ESTIMATORS, default=list(ESTIMATORS))
    p.add_argument("--width", type=float, default=1.0, help="width multiplier (1: full width)")
    p.add_argument("--hidden", type=int, nargs="+", default=[2048, 2048, 2048])
    p.add_argument("--channels", type=int, default=3, help="input channels of the conv nets")
    p.add_argument("--mlp-batch", type=int, default=128)
    p.add_argument("--conv-batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=20, help="rounds")
    p.add_argument("--steps", type=int, default=10, help="timed steps per round")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--policy", default="float32", help="Keras dtype policy, e.g. mixed_bfloat16 on a GPU"
    )
    p.add_argument("--larq", action="store_true", help="also the larq path (TensorFlow backend)")
    p.add_argument("--out", default="docs/results/keras3_step_time.json")
    return p


def main(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    if BASELINE not in args.estimators:
        args.estimators = [BASELINE, *args.estimators]
    import keras

    if args.larq and keras.backend.backend() != "tensorflow":
        raise SystemExit("--larq compares with the larq path, which needs KERAS_BACKEND=tensorflow")
    if args.larq and args.policy != "float32":
        raise SystemExit("--larq times float32 models only: leave --policy at float32")
    keras.mixed_precision.set_global_policy(args.policy)
    start = time.perf_counter()
    report = {"args": vars(args), "device": device(), "results": []}
    print(f"device: {report['device']}", flush=True)
    for network in args.networks:
        report["results"].extend(run_network(network, args))
    report["wall_seconds"] = time.perf_counter() - start
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    png = out.with_suffix(".png")
    print(f"wrote {out}" + (f" and {png}" if plot(report, png) else " (no matplotlib: no PNG)"))
    return report


if __name__ == "__main__":
    main()
