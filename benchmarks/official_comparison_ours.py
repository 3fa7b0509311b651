"""adaste_tf's side of `docs/official_comparison.md`: the official MLP on Fashion-MNIST.

    # accuracy: validation accuracy per epoch and final test accuracy
    python benchmarks/official_comparison_ours.py train --recipe official --epochs 4 \
        --out /tmp/ours_official.json
    # training throughput: `--steps` timed steps after `--warmup` untimed ones (tracing, XLA)
    python benchmarks/official_comparison_ours.py throughput --recipe official \
        --steps 120 --chunks 2 --warmup 10

The network is `adaste_tf.zoo.models.mlp` with three hidden layers of 2048 units, the shape of the
official `MLPBinaryConnect` (bias-free layers, BatchNorm without scale or shift, eps 1e-4,
PyTorch momentum 0.15, a BatchNorm on the logits), trained by `adaste_tf.zoo.train.train` on the
split of `adaste_tf.zoo.data.load_splits` (last 10% of the training set for validation). The
throughput run builds and compiles the model exactly as `train` does and times `model.fit`
over batches of the same training pipeline, without validation: `--chunks` fits of
`--steps / --chunks` steps each; samples/s = batch x steps / their total wall time, and the
median per-step time of the fits is printed too (less sensitive to bursts of other load), and
each fit's (with tf.data's autotuning on, about half of all fits ran 1.5x slower on 2 cores;
docs/performance.md, "Input pipelines on few cores").
This file contains no code of the official implementation.
"""

import argparse
import json
import math
import time
from pathlib import Path

import adaste_tf  # noqa: F401  (selects legacy Keras first)
from adaste_tf import callbacks
from adaste_tf.zoo import data as zoo_data
from adaste_tf.zoo import train as adaste_train

import numpy as np
import tensorflow as tf

HIDDEN = (2048, 2048, 2048)  # official MLPBinaryConnect(num_units=2048)


def accuracy_run(args):
    result = adaste_train.train(
        "mlp",
        "fashion_mnist",
        "adaste",
        epochs=args.epochs,
        recipe=args.recipe,
        seed=args.seed,
        hidden=HIDDEN,
        verbose=2,
    )
    summary = {
        "recipe": args.recipe,
        "epochs": args.epochs,
        "seed": args.seed,
        "hidden": HIDDEN,
        "val_accuracy": result["history"]["val_accuracy"],
        "train_accuracy": result["history"]["accuracy"],
        "test_accuracy": result["test_accuracy"],
        "trainable_params": result["trainable_params"],
    }
    print(json.dumps(summary))
    if args.out:
        Path(args.out).write_text(json.dumps({**summary, "full": result}, indent=2))


def throughput_run(args):
    recipe = adaste_train.RECIPES[args.recipe]
    tf.keras.utils.set_random_seed(args.seed)
    splits = zoo_data.load_splits("fashion_mnist", recipe.batch_size, seed=args.seed)
    model = adaste_train.build_model(
        "mlp",
        "adaste",
        splits.input_shape,
        splits.num_classes,
        recipe,
        seed=args.seed,
        hidden=HIDDEN,
    )
    total_steps = 10 * math.ceil(splits.train_size / recipe.batch_size)
    model.compile(
        adaste_train._optimizer(recipe, recipe.lr, total_steps, splits.train_size),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=True,
    )
    relax = [callbacks.RelaxationScheduler(recipe.beta_schedule(10))]  # the 10 epochs above
    train = splits.train.repeat()
    model.fit(train, epochs=1, steps_per_epoch=args.warmup, verbose=0, callbacks=relax)
    chunk = args.steps // args.chunks
    walls = []
    cpu_start = time.process_time()
    for _ in range(args.chunks):  # `chunks` timed fits of `steps / chunks` steps each
        start = time.perf_counter()
        model.fit(train, epochs=1, steps_per_epoch=chunk, verbose=0, callbacks=relax)
        walls.append(time.perf_counter() - start)
    cpu = time.process_time() - cpu_start  # CPU seconds of all this process's threads
    steps = chunk * args.chunks
    print(
        json.dumps(
            {
                "recipe": args.recipe,
                "steps": steps,
                "batch_size": recipe.batch_size,
                "mean_step_s": sum(walls) / steps,
                "median_chunk_step_s": float(np.median(walls)) / chunk,
                "chunk_step_s": [wall / chunk for wall in walls],
                "samples_per_s": recipe.batch_size * steps / sum(walls),
                "cpu_s_per_step": cpu / steps,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=("train", "throughput"))
    parser.add_argument("--recipe", choices=tuple(adaste_train.RECIPES), default="official")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=120, help="timed steps (throughput)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps (throughput)")
    parser.add_argument("--chunks", type=int, default=2, help="timed fits (throughput)")
    parser.add_argument("--out", default=None, help="JSON file for the accuracy run")
    args = parser.parse_args()
    accuracy_run(args) if args.mode == "train" else throughput_run(args)


if __name__ == "__main__":
    main()
