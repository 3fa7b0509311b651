"""How the latent-weight initialization interacts with Adam (AdaSTE, Fashion-MNIST MLP).

    python benchmarks/latent_init.py --magnitudes 0 0.05 1 10 --epochs 5 \
        --out docs/results/latent_init.json

Magnitude 0 means Keras's Glorot-uniform default; others are `RandomSign(magnitude)` (the
official code uses 10). AdaSTE `--variant` (default "paper", as measured in docs/usage.md) with
the official per-epoch beta schedule. Writes JSON with validation accuracy per epoch and test
accuracy.
"""

import argparse
import dataclasses
import json
from pathlib import Path

import adaste_tf  # noqa: F401  (selects legacy Keras first)
from adaste_tf import quantizers, schedules
from adaste_tf.zoo import train


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--magnitudes", type=float, nargs="+", default=[0, 0.05, 1, 10])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", choices=quantizers.VARIANTS, default="paper")
    parser.add_argument("--out", default="docs/results/latent_init.json")
    args = parser.parse_args()
    records = []
    for magnitude in args.magnitudes:
        recipe = dataclasses.replace(
            train.RECIPES["fast"],
            name=f"fast-init-{magnitude:g}",
            latent_magnitude=magnitude or None,
            variant=args.variant,
        )
        result = train.train(
            "mlp",
            "fashion_mnist",
            "adaste",
            epochs=args.epochs,
            recipe=recipe,
            lr=args.lr,
            seed=args.seed,
            hidden=(512,),
            verbose=0,
            schedule=schedules.Geometric(),
        )
        records.append(
            {
                "magnitude": magnitude,
                "test_accuracy": result["test_accuracy"],
                "val_accuracy": result["history"]["val_accuracy"],
            }
        )
        print(
            f"magnitude={magnitude:g}: test {result['test_accuracy']:.4f}, validation per "
            f"epoch {[round(v, 3) for v in result['history']['val_accuracy']]}",
            flush=True,
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "records": records}, indent=2))


if __name__ == "__main__":
    main()
