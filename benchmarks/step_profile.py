"""Where a jit-compiled training step spends its time: XLA's operations, per estimator.

    python benchmarks/step_profile.py --out docs/results/step_profile.json
    python benchmarks/step_profile.py --network mlp_binact --estimators ste_sign+weight_clip \
        adaste:bounded --out /tmp/profile.json

Builds the models of `step_time.py` (same networks and estimators, Adam, `jit_compile=True`),
`--instances` of each in its order (`build_in_order`), warms each up, then records `--steps` calls
of its Keras train function with the TensorFlow profiler, in rounds that alternate between the
estimators in a random order (`--seed`). XLA's CPU runtime reports every operation of the
compiled program (a fusion, a matrix product) as an event; their durations are summed per
operation over all threads and divided by the steps.
Matrix products and the other operations are totalled apart: an estimator's backward changes
only the second total. A change in machine load between two profiles shows in every operation,
matrix products included: compare the non-matrix-product totals of the median instances. The
profile is read with the protocol buffer TensorFlow ships for it (`tensorflow.tsl.profiler`),
since the TensorBoard profile plugin that would convert it is not a dependency.

Writes JSON (per estimator: the totals and every operation's microseconds per step) and a PNG
of the totals.
"""

import argparse
import collections
import glob
import tempfile
import time
from pathlib import Path

import adaste_tf  # noqa: F401  (selects legacy Keras first)
from adaste_tf.zoo import plots

import numpy as np
import tensorflow as tf
from step_time import (
    BASELINE,
    ESTIMATORS,
    NETWORKS,
    batch_size,
    batches,
    build,
    build_in_order,
    environment,
    train_function,
    write_report,
)
from tensorflow.tsl.profiler.protobuf import xplane_pb2

# Events of the runtime around the compiled program, not operations of it.
_RUNTIME = (
    "Executor",
    "Thunk",
    "train_function",
    "TFE_",
    "Eager",
    "KernelAndDevice",
    "CpuExecutable",
    "BlockUntil",
    "Iterator",
    "Function",
    "Slinky",
    "Prefetch",
)


def operation_times(logdir: str, steps: int) -> dict[str, float]:
    """Microseconds per step of each operation in the profile under `logdir`."""
    (path,) = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(path).read_bytes())
    total: collections.Counter = collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                total[names.get(event.metadata_id, "")] += event.duration_ps
    return {
        name: ps / 1e6 / steps
        for name, ps in total.items()
        if name and not any(part in name for part in _RUNTIME)
    }


def compiled_step(model, data, warmup: int):
    """The model's jit-compiled Keras train function, warmed up, and its data iterator."""
    step = train_function(model, data, jit=True)
    iterator = iter(data)
    for _ in range(warmup):
        float(step(iterator)["loss"])
    return step, iterator


def profile(step, iterator, steps: int) -> dict:
    """Step time, the two totals and every operation's time of one model, in us per step."""
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        begin = time.perf_counter()
        for _ in range(steps):
            float(step(iterator)["loss"])
        wall = (time.perf_counter() - begin) / steps
        tf.profiler.experimental.stop()
        times = operation_times(logdir, steps)
    matmul = sum(t for name, t in times.items() if name.startswith(("MatMul", "Conv")))
    return {
        "step_us": 1e6 * wall,
        "matrix_products_us": matmul,
        "other_operations_us": sum(times.values()) - matmul,
        "operations_us": dict(sorted(times.items(), key=lambda item: -item[1])),
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--network", choices=NETWORKS, default="mlp")
    parser.add_argument("--estimators", nargs="+", choices=ESTIMATORS, default=list(ESTIMATORS))
    parser.add_argument("--width", type=float, default=0.25, help="vgg16/resnet18 width")
    parser.add_argument("--steps", type=int, default=50, help="profiled steps per model")
    parser.add_argument("--warmup", type=int, default=20, help="steps before profiling")
    parser.add_argument(
        "--instances",
        type=int,
        default=5,
        help="models profiled per estimator (an instance's placement in memory can double the "
        "time of its elementwise operations); the instance with the median total is reported",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="of the estimators' order in each round"
    )
    parser.add_argument("--out", default="docs/results/step_profile.json")
    args = parser.parse_args()

    start = time.perf_counter()
    data = batches(args.network, batch_size(args.network))
    report = {"args": vars(args), **environment()}
    steps = build_in_order(
        args.estimators,
        args.instances,
        np.random.default_rng(args.seed),
        lambda estimator: compiled_step(
            build(args.network, estimator, args.width), data, args.warmup
        ),
    )
    # Profiled in rounds that alternate between the estimators, so drifts in machine load hit
    # all of them alike, each round in a random order: a model profiled right after another
    # model's steps runs slower at first (`step_time.py`), and in a fixed order the same
    # estimator would always follow the same one.
    profiles = {estimator: [] for estimator in args.estimators}
    rng = np.random.default_rng(args.seed)
    for i in range(args.instances):
        for index in rng.permutation(len(args.estimators)):
            estimator = args.estimators[index]
            profiles[estimator].append(profile(*steps[estimator][i], args.steps))
    report["estimators"] = {}
    for estimator, instances in profiles.items():
        instances.sort(key=lambda row: row["other_operations_us"])
        row = dict(instances[len(instances) // 2])  # the median instance
        row["instances_other_operations_us"] = [r["other_operations_us"] for r in instances]
        report["estimators"][estimator] = row
    report["wall_seconds"] = time.perf_counter() - start
    for estimator, row in report["estimators"].items():
        print(
            f"{estimator:<21} step {row['step_us']:8.1f} us  matrix products "
            f"{row['matrix_products_us']:8.1f} us  other operations "
            f"{row['other_operations_us']:8.1f} us  (instances: "
            + " ".join(f"{t:.0f}" for t in row["instances_other_operations_us"])
            + ")"
        )
    write_report(report, args.out, plot)


def plot(report: dict, path: Path) -> None:
    """Matrix products and other operations per estimator, stacked, in microseconds per step."""
    fig, ax = plots.figure(f"{report['args']['network']}, jit on: XLA operations per step")
    rows = report["estimators"]
    names = list(rows)
    matmul = [rows[n]["matrix_products_us"] for n in names]
    other = [rows[n]["other_operations_us"] for n in names]
    ax.bar(names, matmul, label="matrix products")
    ax.bar(names, other, bottom=matmul, label="other operations")
    if BASELINE in rows:
        ax.axhline(matmul[names.index(BASELINE)], color="k", linewidth=0.5)
    ax.set_ylabel("us per step (summed over threads)")
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7)
    plots.save(fig, path)


if __name__ == "__main__":
    main()
