"""What the bounded rule's sum of squares costs in a jit-compiled step, form by form.

    python benchmarks/sum_of_squares.py --out docs/results/sum_of_squares.json
    python benchmarks/sum_of_squares.py --network mlp_binact --repeats 10 --out /tmp/sos.json

The bounded rule needs the RMS of each kernel's gradient before its pass can start
(`ops._sum_of_squares`, docs/performance.md, "The sum of squares"). This builds the models of
`step_time.py` (`--network`, Adam, `jit_compile=True`) with the bounded rule computing that sum
in each of several forms, beside `ste_sign` + `weight_clip` (the baseline) and the `paper` rule
(no sum at all), builds them in `step_time.py`'s order (`build_in_order`) and times them
interleaved in one process as it does:

- `rows`: the package's form with TensorFlow 2.21, the squares of an `[8, size / 8]` view
  summed over its major axis, then the vector summed;
- `neighbours`: its form with earlier TensorFlow versions (and in earlier releases), two levels
  of sums of 8 neighbours (the minor axis), then the rest summed;
- `neighbours_deep`: sums of 8 neighbours down to a few values (6 levels), in one step;
- `rows_twice`: two levels of rows (64 inputs per output), then the rest;
- `plain`: `reduce_sum(square(dy))`;
- `none`: no sum: the RMS replaced by a constant (a wrong rule, a floor for the cost).

Every form but `none` returns the same sum to float rounding. Each form's rule is traced anew
(the quantizer's compiled gradient is a `tf.function` that would otherwise keep its first
trace). Writes JSON (per configuration the median step time, its ratio to the baseline and the
quartiles of the per-round ratios) and a PNG of the ratios.
"""

import argparse
import time
from functools import partial
from pathlib import Path

import adaste_tf  # noqa: F401  (selects legacy Keras first)
from adaste_tf import ops, quantizers
from adaste_tf.zoo import plots, train

import numpy as np
import tensorflow as tf
from step_time import (
    BASELINE,
    NETWORKS,
    batch_size,
    batches,
    build,
    build_in_order,
    environment,
    timing,
    train_function,
    write_report,
)


def plain(g: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.square(g))


def none(g: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.size(g), g.dtype)  # RMS 1, whatever dy is: for timing only


FORMS = {
    "rows": partial(ops._tree_sum_of_squares, levels=1, axis=0),
    "neighbours": partial(ops._tree_sum_of_squares, levels=2, axis=1),
    "neighbours_deep": partial(ops._tree_sum_of_squares, levels=6, axis=1),
    "rows_twice": partial(ops._tree_sum_of_squares, levels=2, axis=0),
    "plain": plain,
    "none": none,
}


def build_with_form(network: str, estimator: str, form: str | None):
    """The `step_time` model's train function and an iterator over its batches, its bounded rule
    tracing `FORMS[form]` as its sum of squares."""
    package_form, package_gradient = ops._sum_of_squares, quantizers._COMPILED_GRADIENT
    if form is not None:
        ops._sum_of_squares = FORMS[form]
    # A compiled gradient of its own, so that this model's rule is traced with this form (its
    # train function keeps the trace; the package's own is put back after).
    quantizers._COMPILED_GRADIENT = tf.function(
        quantizers._scaled_gradient, jit_compile=True, reduce_retracing=True
    )
    try:
        model = build(network, estimator, width=0.25)
        data = batches(network, batch_size(network))
        return train_function(model, data, jit=True), iter(data)
    finally:
        ops._sum_of_squares, quantizers._COMPILED_GRADIENT = package_form, package_gradient


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--network", choices=NETWORKS, default="mlp")
    parser.add_argument("--forms", nargs="+", choices=list(FORMS), default=list(FORMS))
    parser.add_argument("--instances", type=int, default=3, help="models per configuration")
    parser.add_argument("--repeats", type=int, default=30, help="rounds")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    parser.add_argument("--seed", type=int, default=1, help="of the models' order in each round")
    parser.add_argument("--out", default="docs/results/sum_of_squares.json")
    args = parser.parse_args()

    start = time.perf_counter()
    configurations = {BASELINE: (BASELINE, None), "paper": ("adaste:paper", None)}
    configurations.update({f"bounded:{f}": ("adaste:bounded", f) for f in args.forms})
    runs = build_in_order(
        list(configurations),
        args.instances,
        np.random.default_rng(args.seed),
        lambda key: build_with_form(args.network, *configurations[key]),
    )
    times = train.interleaved_step_times(runs, args.repeats, args.steps, args.warmup, args.seed)

    report = {"args": vars(args), **environment(), "results": []}
    for key, mine in times.items():
        row = {
            "configuration": key,
            **timing(mine, times[BASELINE], args.repeats, args.instances),
        }
        report["results"].append(row)
        low, mid, high = row["round_ratio_quartiles"]
        print(
            f"{key:<24} {row['median_step_ms']:7.3f} ms  x{row['ratio']:.3f}"
            f"  rounds x{mid:.3f} ({low:.3f}-{high:.3f})"
        )
    report["wall_seconds"] = time.perf_counter() - start
    write_report(report, args.out, plot)


def plot(report: dict, path: Path) -> None:
    """One bar per configuration: its ratio, with the per-round quartiles as error bars."""
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


if __name__ == "__main__":
    main()
