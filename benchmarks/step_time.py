"""Time per training step of every AdaSTE rule against larq's ste_sign, jit on and off.

    python benchmarks/step_time.py --out docs/results/step_time.json
    python benchmarks/step_time.py --networks mlp_official --repeats 5 --out /tmp/quick.json

Networks (`--networks`):
- `mlp_official`: the official MLP 784-2048-2048-2048-10, batch 128;
- `mlp`: the MLP 784-512-512-10, batch 128;
- `vgg16`, `resnet18`: narrowed by `--width` (default 1/4), 32x32x1 inputs, batch 64;
- `mlp_binact`: the MLP 784-512-512-10 with binary activations (the estimator is the binary
  layers' `input_quantizer` too), batch 128;
- `quicknet`: the larq-style QuickNet-like network at width 1/2 (`adaste_tf.zoo.larq_nets`),
  28x28x1 inputs, binary activations (`ste_sign`), batch 128.

AdaSTE's optimizer against Adam on the same weights (not in the default set):

    python benchmarks/step_time.py --networks mlp_official quicknet --jit on off \
        --estimators ste_sign+weight_clip adaste:official/momentum adaste:official/adam \
        --out docs/results/step_time_optimizer.json

Estimators: `ste_sign` + `weight_clip` (the baseline, what a larq user runs), `ste_sign` without
a constraint, and AdaSTE with each rule (`bounded`, `paper`, `official`); for `mlp_binact` the
same estimator quantizes the activations. All models are built and compiled in one process, each
with Adam, `--instances` models of each configuration (one instance's placement in memory moves
its step time by a few percent), built instance after instance, each instance's configurations in
a random order (`build_in_order`, `--seed`); after a warm-up (tracing, XLA compilation) the rounds
alternate between the models, so drifts in machine load hit all of them alike. A round times
`--steps` calls of each model's own Keras train function (what `fit` calls each step), each read
back before the next starts, after `--warmup` untimed calls: a model's first steps after other
models' are slower (a 2.4 ms step of the MLP took 2.9 ms after the official MLP's, settling over
3-6 steps), and each round visits the models in a random order (`--seed`), so that no
configuration always comes first after another network's (in the fixed order of earlier
versions the baseline did, which made every other cell of the small MLPs look 3-7% faster).
`fit` itself is not timed: it makes a new iterator every epoch, and with tf.data's autotuning
on about half of them ran every step 1.3-1.6x slower on a 2-core machine (docs/performance.md,
"Input pipelines on few cores"), which would swamp a difference of a few percent.

Prints and writes (JSON, and a PNG of the ratios) the median step time of each configuration
(over its instances and rounds) and its ratio to `ste_sign` + `weight_clip` on the same network
and jit setting, with the CPU's model and instruction sets. Beside each ratio, the quartiles of
the per-round ratios (`round_ratio_quartiles`: each round's median over the baseline's median in
that round), the error bars of the PNG (around their median): how far the ratio moves from
round to round, which says whether two ratios a few percent apart differ at all; and each
instance's median over the baseline's (`instance_ratios`): how far placement moves it.
"""

import argparse
import json
import os
import time
from functools import partial
from pathlib import Path

import adaste_tf  # noqa: F401  (selects legacy Keras first)
from adaste_tf import ops, optimizers, quantizers
from adaste_tf.quantizers import AdaSTE
from adaste_tf.zoo import larq_nets, machine, models, plots, train

import larq as lq
import numpy as np
import tensorflow as tf

NETWORKS = ("mlp_official", "mlp", "vgg16", "resnet18", "mlp_binact", "quicknet")
ESTIMATORS = (
    "ste_sign+weight_clip",
    "ste_sign",
    "adaste:bounded",
    "adaste:paper",
    "adaste:official",
    # AdaSTE's kernels under larq's CaseOptimizer, by AdaSTEMomentum or by Adam (legacy Keras),
    # the other weights by Adam: what AdaSTE's optimizer costs against Adam on the same weights.
    "adaste:official/momentum",
    "adaste:official/adam",
)
DEFAULT_ESTIMATORS = ESTIMATORS[:5]
BASELINE = ESTIMATORS[0]


def quantizer(estimator: str):
    if estimator.startswith("adaste:"):
        return AdaSTE(variant=estimator.partition(":")[2].partition("/")[0])
    return "ste_sign"


def optimizer(estimator: str):
    """Adam for every weight, or a larq CaseOptimizer that gives AdaSTE's kernels AdaSTEMomentum
    (`/momentum`) or Adam (`/adam`) and the rest Adam."""
    kernels = estimator.partition("/")[2]
    if not kernels:
        return tf.keras.optimizers.Adam(1e-3)
    rest = tf.keras.optimizers.legacy.Adam(1e-3)
    if kernels == "momentum":
        mine = optimizers.AdaSTEMomentum(1e-3, train_size=60_000)
    else:
        mine = tf.keras.optimizers.legacy.Adam(1e-3)
    return lq.optimizers.CaseOptimizer(
        (optimizers.is_adaste_variable, mine), default_optimizer=rest
    )


def build(network: str, estimator: str, width: float) -> tf.keras.Model:
    kwargs = {
        "kernel_quantizer": quantizer(estimator),
        "kernel_constraint": "weight_clip" if estimator == BASELINE else None,
    }
    if network == "mlp_official":
        return models.mlp((28, 28), 10, hidden=(2048, 2048, 2048), **kwargs)
    if network == "mlp":
        return models.mlp((28, 28), 10, hidden=(512, 512), **kwargs)
    if network == "mlp_binact":
        return models.mlp(
            (28, 28),
            10,
            hidden=(512, 512),
            input_quantizer=quantizer(estimator),
            activation=None,
            **kwargs,
        )
    if network == "quicknet":  # larq-style: real stem, head and transitions, binary activations
        return larq_nets.quicknet((28, 28, 1), 10, width=0.5, **kwargs)
    builder = models.vgg16 if network == "vgg16" else models.resnet18
    return builder((32, 32, 1), 10, width=width, **kwargs)


def batch_size(network: str) -> int:
    """The batch size of `network`'s steps: 64 for the conv nets, 128 for the MLPs."""
    return 64 if network in ("vgg16", "resnet18") else 128


def batches(network: str, batch_size: int) -> tf.data.Dataset:
    shape = {"vgg16": (32, 32, 1), "resnet18": (32, 32, 1), "quicknet": (28, 28, 1)}.get(
        network, (28, 28)
    )
    rng = np.random.default_rng(0)
    # Four batches held whole, so a step only picks one out (`.batch().cache()` did the same
    # and warned whenever an iterator stopped before its first pass had filled the cache).
    x = rng.random((4, batch_size, *shape), dtype=np.float32)
    y = rng.integers(0, 10, (4, batch_size))
    return tf.data.Dataset.from_tensor_slices((x, y)).repeat()


def train_function(model: tf.keras.Model, data: tf.data.Dataset, jit: bool, estimator: str = ""):
    """The model's Keras train function (what `fit` calls each step), with `estimator`'s
    optimizer (Adam unless it names another), traced and compiled."""
    model.compile(
        optimizer(estimator),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    model.fit(data, epochs=1, steps_per_epoch=2, verbose=0)  # traces, compiles
    return model.make_train_function()


def compiled_run(network, data, iterator, jit: bool, width: float, estimator: str) -> tuple:
    """A new model's `train_function` and the iterator it steps over: one run of
    `train.interleaved_step_times`."""
    return train_function(build(network, estimator, width), data, jit, estimator), iterator


def build_with_ops(network: str, estimator: str, **swaps) -> tuple:
    """A `compiled_run` with jit on (the conv nets at width 1/4) over an iterator of its own, its
    AdaSTE rule traced with the attributes of `adaste_tf.ops` named in `swaps` replaced (another
    form of a part of the rule, for timing); the package's own are put back after.

    The quantizer's compiled gradient is a `tf.function` that keeps its first trace for every
    later model with the same rule and kernel dtype, whatever `ops` holds by then: without a
    compiled gradient of its own per model, every model of a process would run the form traced
    first."""
    package = {name: getattr(ops, name) for name in swaps}
    package_gradient = quantizers._COMPILED_GRADIENT
    for name, form in swaps.items():
        setattr(ops, name, form)
    quantizers._COMPILED_GRADIENT = tf.function(
        quantizers._scaled_gradient, jit_compile=True, reduce_retracing=True
    )
    try:
        data = batches(network, batch_size(network))
        return compiled_run(network, data, iter(data), True, 0.25, estimator)
    finally:
        for name, form in package.items():
            setattr(ops, name, form)
        quantizers._COMPILED_GRADIENT = package_gradient


def forms_parser(
    doc: str, forms: dict, network: str, repeats: int, steps: int, out: str
) -> argparse.ArgumentParser:
    """The command line of a benchmark built on `time_forms`: the network, which of `forms` to
    time, how (models, rounds, steps, order) and where to write."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--network", choices=NETWORKS, default=network)
    parser.add_argument("--forms", nargs="+", choices=list(forms), default=list(forms))
    parser.add_argument("--instances", type=int, default=3, help="models per configuration")
    parser.add_argument("--repeats", type=int, default=repeats, help="rounds")
    parser.add_argument("--steps", type=int, default=steps, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    parser.add_argument("--seed", type=int, default=1, help="of the models' order")
    parser.add_argument("--out", default=out)
    return parser


def time_forms(configurations: dict, args: argparse.Namespace) -> None:
    """Builds and times `configurations` (key -> `(estimator, swaps)` for `build_with_ops`), the
    first the baseline, interleaved as `main` does (`args` from `forms_parser`); prints a line
    per configuration and writes the report (`write_report`, `plot_forms`)."""
    start = time.perf_counter()
    runs = build_in_order(
        list(configurations),
        args.instances,
        np.random.default_rng(args.seed),
        lambda key: build_with_ops(args.network, configurations[key][0], **configurations[key][1]),
    )
    times = train.interleaved_step_times(runs, args.repeats, args.steps, args.warmup, args.seed)
    baseline = times[next(iter(configurations))]
    report = {"args": vars(args), **environment(), "results": []}
    for key, mine in times.items():
        row = {"configuration": key, **timing(mine, baseline, args.repeats, args.instances)}
        report["results"].append(row)
        low, mid, high = row["round_ratio_quartiles"]
        print(
            f"{key:<24} {row['median_step_ms']:7.3f} ms  x{row['ratio']:.3f}"
            f"  rounds x{mid:.3f} ({low:.3f}-{high:.3f})  instances "
            f"x{row['instance_ratios'][0]:.3f}-{row['instance_ratios'][-1]:.3f}"
        )
    report["wall_seconds"] = time.perf_counter() - start
    write_report(report, args.out, plot_forms)


def plot_forms(report: dict, path: Path) -> None:
    """One bar per configuration of a `time_forms` report: its ratio, with the per-round
    quartiles as error bars."""
    fig, ax = plots.figure(
        f"{report['args']['network']}, jit on: step time / {BASELINE} (median, interleaved)"
    )
    rows = report["results"]
    x = np.arange(len(rows))
    ax.bar(x, [r["ratio"] for r in rows], 0.6)
    low, mid, high = np.array([r["round_ratio_quartiles"] for r in rows]).T
    ax.errorbar(x, mid, yerr=[mid - low, high - mid], fmt="none", ecolor="k", capsize=2)
    ax.axhline(1.03, color="k", linestyle="--", linewidth=0.8)
    ax.set_xticks(x, [r["configuration"] for r in rows], fontsize=7, rotation=20)
    ax.set_ylim(0.8, max(1.2, ax.get_ylim()[1]))
    plots.save(fig, path)


def round_ratios(times: list[float], baseline: list[float], rounds: int) -> np.ndarray:
    """Per round, the median step time over the baseline's median in the same round: ratios
    paired in time, so a drift in machine load between rounds cancels. `times` and `baseline`
    are `interleaved_step_times` lists, round after round, of equal length per round.

    Examples:
        >>> round_ratios([2.0, 2.0, 3.0, 3.0], [1.0, 1.0, 2.0, 2.0], rounds=2).tolist()
        [2.0, 1.5]
    """
    mine = np.median(np.reshape(times, (rounds, -1)), axis=1)
    return mine / np.median(np.reshape(baseline, (rounds, -1)), axis=1)


def environment() -> dict:
    """What a step time depends on besides the code: the CPU, TensorFlow's version and XLA's
    flags (its options change what a compiled step costs, docs/performance.md)."""
    return {
        "cpu": machine.cpu(),
        "tensorflow": tf.__version__,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def describe_environment(report: dict) -> str:
    """One line naming the CPU (and XLA's flags, if any) of a report built on `environment()`."""
    flags = f"; XLA_FLAGS={report['xla_flags']}" if report["xla_flags"] else ""
    return f"CPU: {machine.describe(report['cpu'])}{flags}"


def timing(times: list[float], baseline: list[float], rounds: int, instances: int) -> dict:
    """The record of one configuration's `interleaved_step_times` against the baseline's: its
    median step in ms, the ratio of the medians, the quartiles of the per-round ratios and each
    instance's median over the baseline's median (`instance_ratios`, sorted)."""
    per_round = round_ratios(times, baseline, rounds)
    per_instance = np.median(np.reshape(times, (rounds, instances, -1)), axis=(0, 2))
    return {
        "median_step_ms": 1e3 * float(np.median(times)),
        "ratio": float(np.median(times) / np.median(baseline)),
        "round_ratio_quartiles": [float(q) for q in np.percentile(per_round, [25, 50, 75])],
        "instance_ratios": sorted(float(t) for t in per_instance / np.median(baseline)),
    }


def build_in_order(keys: list, instances: int, rng: np.random.Generator, make) -> dict:
    """`instances` results of `make(key)` for each of `keys` (its models), made instance after
    instance, each instance's keys in a random order; in `keys`' order. Where a model's buffers
    land in memory depends on what was built before it: built in a fixed order, one
    configuration would always get the same places.

    Examples:
        >>> made = []
        >>> build_in_order(["a", "b", "c"], 2, np.random.default_rng(0),
        ...                lambda key: made.append(key) or key.upper())
        {'a': ['A', 'A'], 'b': ['B', 'B'], 'c': ['C', 'C']}
        >>> made
        ['c', 'a', 'b', 'c', 'b', 'a']
    """
    built: dict = {key: [] for key in keys}
    for _ in range(instances):
        for index in rng.permutation(len(keys)):
            built[keys[index]].append(make(keys[index]))
    return built


def write_report(report: dict, out: str, plot) -> None:
    """Prints the environment line and the wall time, writes `report` as JSON to `out` and
    `plot(report, path)` as the PNG beside it."""
    print(f"{describe_environment(report)}; {report['wall_seconds']:.0f} s")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    plot(report, path.with_suffix(".png"))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(NETWORKS))
    parser.add_argument(
        "--estimators", nargs="+", choices=ESTIMATORS, default=list(DEFAULT_ESTIMATORS)
    )
    parser.add_argument("--jit", nargs="+", choices=("on", "off"), default=["on", "off"])
    parser.add_argument("--width", type=float, default=0.25, help="vgg16/resnet18 width")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--repeats", type=int, default=11, help="rounds")
    parser.add_argument(
        "--warmup",
        type=int,
        default=3,
        help="untimed steps of each model before its timed steps in every round",
    )
    parser.add_argument("--seed", type=int, default=0, help="of the models' order in each round")
    parser.add_argument(
        "--instances",
        type=int,
        default=2,
        help="models built per configuration (a model's own placement in "
        "memory moves its step time by a few percent)",
    )
    parser.add_argument("--out", default="docs/results/step_time.json")
    args = parser.parse_args()
    if BASELINE not in args.estimators:
        parser.error(f"--estimators must include the baseline {BASELINE!r}")

    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    runs = {}
    for network in args.networks:
        data = batches(network, batch_size(network))
        iterator = iter(data)
        for jit in args.jit:
            make = partial(compiled_run, network, data, iterator, jit == "on", args.width)
            built = build_in_order(list(args.estimators), args.instances, rng, make)
            runs.update({(network, jit, e): made for e, made in built.items()})
    times = train.interleaved_step_times(runs, args.repeats, args.steps, args.warmup, args.seed)

    report = {"args": vars(args), **environment(), "results": []}
    for (network, jit, estimator), mine in times.items():
        baseline = times[(network, jit, BASELINE)]
        report["results"].append(
            {
                "network": network,
                "jit": jit,
                "estimator": estimator,
                **timing(mine, baseline, args.repeats, args.instances),
            }
        )
    report["wall_seconds"] = time.perf_counter() - start
    for row in report["results"]:
        low, mid, high = row["round_ratio_quartiles"]
        print(
            f"{row['network']:<13} jit {row['jit']:<3} {row['estimator']:<21} "
            f"{row['median_step_ms']:8.2f} ms  x{row['ratio']:.3f}  "
            f"rounds x{mid:.3f} ({low:.3f}-{high:.3f})  instances "
            f"x{row['instance_ratios'][0]:.3f}-{row['instance_ratios'][-1]:.3f}"
        )
    write_report(report, args.out, plot)


def plot(report: dict, path: Path) -> None:
    """Ratio to the baseline per network, one bar per estimator, jit on and off side by side."""
    jits = report["args"]["jit"]
    fig, axes = plots.figure(
        "step time / ste_sign + weight_clip (median, interleaved)", ncols=len(jits)
    )
    networks = report["args"]["networks"]
    estimators = [e for e in report["args"]["estimators"] if e != BASELINE]
    for ax, jit in zip(axes if len(jits) > 1 else [axes], jits):
        width = 0.8 / len(estimators)
        for i, estimator in enumerate(estimators):
            rows = [
                next(
                    r
                    for r in report["results"]
                    if r["network"] == n and r["jit"] == jit and r["estimator"] == estimator
                )
                for n in networks
            ]
            x = np.arange(len(networks)) + i * width
            ax.bar(x, [r["ratio"] for r in rows], width, label=estimator)
            # The per-round ratios' quartiles, around their median (older reports have none).
            if all("round_ratio_quartiles" in r for r in rows):
                low, mid, high = np.array([r["round_ratio_quartiles"] for r in rows]).T
                ax.errorbar(x, mid, yerr=[mid - low, high - mid], fmt="none", ecolor="k", capsize=2)
        ax.axhline(1.03, color="k", linestyle="--", linewidth=0.8, label="1.03")
        ax.set_xticks(np.arange(len(networks)) + 0.4 - width / 2, networks, fontsize=7)
        ax.set_ylim(0.8, max(1.2, ax.get_ylim()[1]))
        ax.set_title(f"jit {jit}", fontsize=9)
        ax.legend(fontsize=7)
    plots.save(fig, path)


if __name__ == "__main__":
    main()
