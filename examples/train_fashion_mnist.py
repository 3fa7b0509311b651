"""The main demo: a binary-weight MLP on Fashion-MNIST, AdaSTE against larq's ste_sign.

    python examples/train_fashion_mnist.py                 # 10 epochs each, XLA on
    python examples/train_fashion_mnist.py --limit 512 --epochs 1   # a quick smoke run

Fashion-MNIST comes from local files when the network is off (Debian's dataset-fashion-mnist,
installed by `make demo`) and from tensorflow-datasets otherwise. Both networks are the same
(`adaste_tf.zoo.models.mlp`: 784 -> 512 -> 10, binary weights in every layer, real activations);
only the estimator differs. Prints test accuracy and time per training step for each (timed after
training, alternating between the trained models), and saves the AdaSTE model to
`--out`/adaste/final.keras (convert it with examples/convert.py).

The accuracies repeat exactly at every run on one machine (seeded weights and data order, op
determinism); another CPU can print other ones (docs/development.md).
"""

import argparse
import json
from pathlib import Path

import adaste_tf  # noqa: F401  (selects legacy Keras before TensorFlow loads)
from adaste_tf.zoo import data, machine, train

import larq as lq
import numpy as np
import tensorflow as tf


def make_deterministic() -> str:
    """Turn on TensorFlow's op determinism; return the machine the results still depend on.

    `train.train` seeds the initial weights and the data order. Op determinism makes every op
    pick a deterministic kernel, so a run repeats bit for bit on the same machine. What it cannot
    fix is the machine: oneDNN and XLA choose instruction sets (AVX2, AVX-512) and thread splits
    by CPU, which changes float rounding, and training amplifies it. The CPU's name does not
    say which: the description names its instruction sets.
    """
    tf.config.experimental.enable_op_determinism()
    return machine.describe()


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument(
        "--limit", type=int, default=None, help="train on the first N training examples only"
    )
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--estimators", nargs="+", default=["adaste", "ste_sign"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/demo")
    args = parser.parse_args(argv)
    cpu = make_deterministic()

    results, models = {}, {}
    for estimator in args.estimators:
        print(f"\n=== {estimator} ===")
        trained = tf.keras.callbacks.Callback()  # Keras hands every fit callback the model
        results[estimator] = train.train(
            "mlp",
            "fashion_mnist",
            estimator,
            epochs=args.epochs,
            hidden=(512,),
            batch_size=args.batch_size,
            seed=args.seed,
            jit=args.jit,
            limit=args.limit,
            out=Path(args.out) / estimator,
            callbacks=[trained],
        )
        models[estimator] = trained.model
        if estimator == "adaste":
            lq.models.summary(trained.model)

    # After the runs were evaluated and saved: these steps train the models further.
    batch_size = next(iter(results.values()))["batch_size"]
    batches = data.load_splits("fashion_mnist", batch_size, seed=args.seed, limit=args.limit).train
    rounds, steps = 15, 10
    runs = {name: [(m.make_train_function(), iter(batches.repeat()))] for name, m in models.items()}
    # Two untimed steps first in each block: a model's first steps after the other's run slow.
    times = train.interleaved_step_times(runs, rounds, steps, warmup=2)
    for estimator, seconds in times.items():
        results[estimator]["interleaved_step_time_s"] = float(np.median(seconds))

    print("\nestimator        test accuracy   step time (ms)")
    for estimator, result in results.items():
        print(
            f"{estimator:<16} {result['test_accuracy']:>13.4f}   "
            f"{1e3 * result['interleaved_step_time_s']:>14.3f}"
        )
    if {"adaste", "ste_sign"} <= results.keys():
        ratio = (
            results["adaste"]["interleaved_step_time_s"]
            / results["ste_sign"]["interleaved_step_time_s"]
        )
        print(
            f"step time AdaSTE / ste_sign: {ratio:.3f} "
            f"(interleaved, median of {rounds * steps} steps each)"
        )
    keys = ("test_accuracy", "step_time_s", "interleaved_step_time_s")
    summary = {e: {k: r[k] for k in keys} for e, r in results.items()}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2))
    print(
        f"seed {args.seed}, op determinism on: these accuracies repeat at every run on this "
        f"machine; another CPU, or the same model with other instruction sets, can differ in "
        f"the third decimal (docs/development.md)"
    )
    print(f"CPU: {cpu}")
    print(f"models, histories and curves in {args.out}/")
    return results


if __name__ == "__main__":
    main()
