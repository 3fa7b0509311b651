"""AdaSTE settings tried on the demo MLP, to see whether any beats larq's estimators there.

    python benchmarks/adaste_variants.py --epochs 10 --seeds 0 1 2 \
        --out benchmarks/results/adaste_variants.json

Each setting changes one thing of the `fast` recipe (Adam 1e-3 cosine, beta0 = 0.01 growing
1.05x per epoch, paper variant, max_scale 1): the beta growth rate, the starting beta, the
official variant. Writes JSON with the test accuracy of every run and the mean per setting.
"""

import argparse
import dataclasses
import json
from pathlib import Path

import adaste_tf  # noqa: F401  (selects legacy Keras first)
import numpy as np
from adaste_tf import train

SETTINGS = {
    "fast (reference)": {},
    "beta x1.5 per epoch": {"beta_rate": 1.5},
    "beta x3 per epoch": {"beta_rate": 3.0},
    "official variant, Adam": {"variant": "official"},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="benchmarks/results/adaste_variants.json")
    args = parser.parse_args()
    results = {}
    for name, change in SETTINGS.items():
        recipe = dataclasses.replace(train.RECIPES["fast"], name=name, **change)
        tests = [train.train("mlp", "fashion_mnist", "adaste", epochs=args.epochs, recipe=recipe,
                             seed=seed, hidden=(512,), verbose=0)["test_accuracy"]
                 for seed in args.seeds]
        results[name] = {"test_accuracy": tests, "mean": float(np.mean(tests)),
                         "std": float(np.std(tests))}
        print(f"{name:<28} {np.mean(tests):.4f} +- {np.std(tests):.4f}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
