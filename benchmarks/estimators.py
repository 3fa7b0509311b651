"""AdaSTE against larq's estimators on the same networks, with a per-estimator learning rate.

    python benchmarks/estimators.py --network mlp --epochs 10 --seeds 0 1 2 \
        --lrs 3e-4 1e-3 3e-3 --out benchmarks/results/estimators_mlp.json
    python benchmarks/estimators.py --network vgg --width 0.25 --limit 10000 --epochs 5 \
        --seeds 0 1 2 --lrs 1e-3 3e-3 --out benchmarks/results/estimators_vgg.json
    python benchmarks/estimators.py ... --lrs 1e-2 --extend   # one more lr into the same file

Networks: (a) the demo MLP (784-512-10) on Fashion-MNIST; (b) VGG-16 narrowed by `--width`, on
Fashion-MNIST zero-padded to 32x32. Every estimator trains the same network with the `fast`
recipe (Adam, cosine decay; larq's estimators with `weight_clip`). For each estimator the
learning rate is chosen on the validation split (mean over seeds of the best validation
accuracy); the table reports the test accuracy at that learning rate, mean and spread over
seeds. Writes JSON and a PNG of validation accuracy per epoch (mean, min-max band).
"""

import argparse
import json
import time
from pathlib import Path

import adaste_tf  # noqa: F401  (selects legacy Keras first)
import numpy as np
from adaste_tf import models, train


def run(args) -> list[dict]:
    records = []
    for estimator in args.estimators:
        for lr in args.lrs:
            for seed in args.seeds:
                start = time.perf_counter()
                result = train.train(
                    "mlp" if args.network == "mlp" else "vgg16", "fashion_mnist", estimator,
                    epochs=args.epochs, lr=lr, seed=seed, limit=args.limit, width=args.width,
                    hidden=(512,), verbose=0)
                records.append({
                    "estimator": estimator, "lr": lr, "seed": seed,
                    "val_accuracy": result["history"]["val_accuracy"],
                    "test_accuracy": result["test_accuracy"],
                    "seconds": time.perf_counter() - start,
                })
                print(f"{estimator:<22} lr={lr:g} seed={seed}: test "
                      f"{result['test_accuracy']:.4f} (best val "
                      f"{max(result['history']['val_accuracy']):.4f})", flush=True)
    return records


def summarize(records: list[dict]) -> dict[str, dict]:
    """Per estimator: the lr with the best mean best-validation accuracy, and its test stats."""
    table = {}
    for estimator in dict.fromkeys(r["estimator"] for r in records):
        mine = [r for r in records if r["estimator"] == estimator]
        by_lr = {}
        for r in mine:
            by_lr.setdefault(r["lr"], []).append(r)
        best_lr = max(by_lr, key=lambda lr: np.mean([max(r["val_accuracy"]) for r in by_lr[lr]]))
        tests = [r["test_accuracy"] for r in by_lr[best_lr]]
        table[estimator] = {"lr": best_lr, "test_mean": float(np.mean(tests)),
                            "test_std": float(np.std(tests)), "test_min": float(np.min(tests)),
                            "test_max": float(np.max(tests)), "seeds": len(tests)}
    return table


def plot(records, table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for estimator, row in table.items():
        curves = np.array([r["val_accuracy"] for r in records
                           if r["estimator"] == estimator and r["lr"] == row["lr"]])
        epochs = np.arange(1, curves.shape[1] + 1)
        ax.plot(epochs, curves.mean(0), label=f"{estimator} (lr {row['lr']:g})")
        ax.fill_between(epochs, curves.min(0), curves.max(0), alpha=0.2)
    ax.set(xlabel="epoch", ylabel="validation accuracy")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network", choices=("mlp", "vgg"), default="mlp")
    parser.add_argument("--estimators", nargs="+", default=list(models.ESTIMATORS))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lrs", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", default="benchmarks/results/estimators.json")
    parser.add_argument("--extend", action="store_true",
                        help="add these runs to the records already in --out (e.g. one more lr)")
    args = parser.parse_args()
    out = Path(args.out)
    previous = json.loads(out.read_text()) if args.extend else {"records": [],
                                                                  "wall_seconds": 0.0}
    start = time.perf_counter()
    records = previous["records"] + run(args)
    table = summarize(records)
    wall = previous["wall_seconds"] + time.perf_counter() - start
    print(f"\n{'estimator':<22} {'lr':>7} {'test accuracy (mean +- std, min-max)':>40}")
    for estimator, row in table.items():
        print(f"{estimator:<22} {row['lr']:>7g}   {row['test_mean']:.4f} +- {row['test_std']:.4f}"
              f"  ({row['test_min']:.4f}-{row['test_max']:.4f})")
    print(f"wall time {wall / 60:.1f} min")
    out.parent.mkdir(parents=True, exist_ok=True)
    arguments = previous.get("args", []) if args.extend else []
    arguments = (arguments if isinstance(arguments, list) else [arguments]) + [vars(args)]
    out.write_text(json.dumps({"args": arguments, "wall_seconds": wall, "table": table,
                               "records": records}, indent=2))
    plot(records, table, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
