"""Accuracy of the Fashion-MNIST demo MLP for several AdaSTE `max_scale` caps.

    python benchmarks/max_scale.py --values 0.5 0.75 1 1.5 2 10 --epochs 10 --seeds 0 1 \
        --out docs/results/max_scale.json

The `fast` recipe's optimizer with AdaSTE `--variant` (default "paper", the rule the cap was
chosen for) and the official per-epoch schedule (beta x 1.05 per epoch from 0.01, so at most
0.016 in 10 epochs). Writes JSON (one record per cap and seed: test accuracy, validation
accuracy per epoch) and a PNG of final test accuracy against the cap.
"""

import argparse
import dataclasses
import json
from pathlib import Path

import adaste_tf  # noqa: F401  (selects legacy Keras first)
from adaste_tf import quantizers, schedules
from adaste_tf.zoo import plots, train

import numpy as np


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--values", type=float, nargs="+", default=[0.5, 1, 2, 5, 10])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variant", choices=quantizers.VARIANTS, default="paper")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--hidden", type=int, nargs="+", default=[512])
    parser.add_argument("--out", default="docs/results/max_scale.json")
    args = parser.parse_args()

    recipe = dataclasses.replace(train.RECIPES["fast"], variant=args.variant)
    records = []
    for value in args.values:
        for seed in args.seeds:
            result = train.train(
                "mlp",
                "fashion_mnist",
                "adaste",
                recipe=recipe,
                epochs=args.epochs,
                seed=seed,
                max_scale=value,
                lr=args.lr,
                limit=args.limit,
                hidden=tuple(args.hidden),
                verbose=0,
                schedule=schedules.Geometric(),
            )
            records.append(
                {
                    "max_scale": value,
                    "seed": seed,
                    "test_accuracy": result["test_accuracy"],
                    "val_accuracy": result["history"]["val_accuracy"],
                }
            )
            print(
                f"max_scale={value:g} seed={seed}: test accuracy {result['test_accuracy']:.4f}",
                flush=True,
            )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "records": records}, indent=2))
    _plot(records, out.with_suffix(".png"))


def _plot(records, path):
    values = sorted({r["max_scale"] for r in records})
    means = [np.mean([r["test_accuracy"] for r in records if r["max_scale"] == v]) for v in values]
    fig, ax = plots.figure("AdaSTE cap, Fashion-MNIST MLP", size=(5, 3.5))
    ax.semilogx(values, means, "o-")
    ax.set(xlabel="max_scale", ylabel="test accuracy")
    plots.save(fig, path)


if __name__ == "__main__":
    main()
