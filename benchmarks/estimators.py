"""AdaSTE against larq's estimators on the same networks, over AdaSTE's whole beta path.

    python benchmarks/estimators.py --network mlp --epochs 30 --seeds 0 1 2 \
        --out docs/results/path_mlp.json
    python benchmarks/estimators.py --network mlp --epochs 30 --binary-activations \
        --estimators adaste adaste:paper ste_sign --out docs/results/path_mlp_binact.json
    python benchmarks/estimators.py --network vgg --width 0.125 --limit 6000 --epochs 20 \
        --estimators adaste ste_sign --out docs/results/path_vgg.json
    python benchmarks/estimators.py ... --lrs 3e-3 --extend   # one more lr into the same file

Networks: (a) the MLP 784-512-512-10 (`--hidden`) on Fashion-MNIST; (b) VGG-16 (`vgg`) or
ResNet-18 (`resnet`) narrowed by `--width`, on Fashion-MNIST zero-padded to 32x32. Every
estimator trains the same network with the `--recipe` (default `fast`: Adam, cosine decay;
larq's estimators with `weight_clip`; AdaSTE's beta annealed from 0.01 to 1/alpha over the
first 38% of the epochs, as the official 500-epoch schedule does, then held in the binary
regime). `adaste:<variant>` trains AdaSTE with another rule (`adaste:paper`,
`adaste:official`); `official/adaste` with the official recipe over the same compressed path.
With `--binary-activations` the hidden activations are binarized by the same estimator too.
For each estimator the learning rate is chosen on the validation split (mean over seeds of
the best validation accuracy); the table reports the test accuracy at that learning rate, mean
and spread over seeds. Writes JSON and a PNG of validation accuracy per epoch (mean, min-max
band) with beta on a second axis.
"""

import argparse
import dataclasses
import json
import time
from pathlib import Path

import adaste_tf  # noqa: F401  (selects legacy Keras first)
from adaste_tf import quantizers
from adaste_tf.zoo import models, plots, train

import numpy as np

NETWORKS = {"mlp": "mlp", "vgg": "vgg16", "resnet": "resnet18"}


def estimator_and_recipe(spec: str, recipe: str) -> tuple[str, train.Recipe]:
    """An `--estimators` entry -> (estimator, recipe).

    `"adaste:paper"`: AdaSTE with the rule "paper" under `recipe`; `"official/adaste"`: the
    `official_compressed` recipe (OfficialMomentum, latent weights at +-10, the official rule,
    beta's whole path compressed into the run as every other entry has it); any other name:
    that estimator under `recipe`.
    """
    base = train.RECIPES[recipe]
    if spec.startswith("official/"):
        base = train.RECIPES["official_compressed"]
        spec = spec.partition("/")[2]
    estimator, _, variant = spec.partition(":")
    if variant:
        if estimator != "adaste" or variant not in quantizers.VARIANTS:
            raise SystemExit(
                f"--estimators: {spec!r} is not adaste:<one of {', '.join(quantizers.VARIANTS)}>"
            )
        base = dataclasses.replace(base, variant=variant)
    return estimator, base


def run(args) -> list[dict]:
    records = []
    for spec in args.estimators:
        estimator, recipe = estimator_and_recipe(spec, args.recipe)
        for lr in args.lrs:
            for seed in args.seeds:
                start = time.perf_counter()
                result = train.train(
                    NETWORKS[args.network],
                    "fashion_mnist",
                    estimator,
                    recipe=recipe,
                    epochs=args.epochs,
                    lr=lr,
                    seed=seed,
                    limit=args.limit,
                    width=args.width,
                    hidden=tuple(args.hidden),
                    verbose=0,
                    binary_activations=args.binary_activations,
                    jit=args.jit,
                )
                records.append(
                    {
                        "estimator": spec,
                        "lr": lr,
                        "seed": seed,
                        "val_accuracy": result["history"]["val_accuracy"],
                        "beta": result["history"].get("beta"),
                        "test_accuracy": result["test_accuracy"],
                        "seconds": time.perf_counter() - start,
                    }
                )
                print(
                    f"{spec:<22} lr={lr:g} seed={seed}: test "
                    f"{result['test_accuracy']:.4f} (best val "
                    f"{max(result['history']['val_accuracy']):.4f})",
                    flush=True,
                )
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
        table[estimator] = {
            "lr": best_lr,
            "test_mean": float(np.mean(tests)),
            "test_std": float(np.std(tests)),
            "test_min": float(np.min(tests)),
            "test_max": float(np.max(tests)),
            "seeds": len(tests),
        }
    return table


def plot(records, table, path, title):
    fig, ax = plots.figure(title)
    betas = None
    for estimator, row in table.items():
        mine = [r for r in records if r["estimator"] == estimator and r["lr"] == row["lr"]]
        curves = np.array([r["val_accuracy"] for r in mine])
        epochs = np.arange(1, curves.shape[1] + 1)
        ax.plot(epochs, curves.mean(0), label=f"{estimator} (lr {row['lr']:g})")
        ax.fill_between(epochs, curves.min(0), curves.max(0), alpha=0.2)
        betas = betas or mine[0].get("beta")
    ax.set(xlabel="epoch", ylabel="validation accuracy")
    ax.legend(fontsize=8, loc="lower right")
    if betas:
        beta_ax = ax.twinx()
        beta_ax.plot(np.arange(1, len(betas) + 1), betas, "k:", label="beta (AdaSTE)")
        beta_ax.set(yscale="log", ylabel="beta (dotted)")
    plots.save(fig, path)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--network", choices=tuple(NETWORKS), default="mlp")
    parser.add_argument(
        "--estimators",
        nargs="+",
        default=list(models.ESTIMATORS),
        help="larq estimator names, adaste, adaste:<variant>, or "
        "official/adaste (the official recipe over the compressed path)",
    )
    parser.add_argument("--recipe", choices=tuple(train.RECIPES), default="fast")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3])
    parser.add_argument("--hidden", type=int, nargs="+", default=[512, 512])
    parser.add_argument("--binary-activations", action="store_true")
    parser.add_argument(
        "--jit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="XLA-compile the train step (on this CPU conv nets train about 2x faster without it)",
    )
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", default="docs/results/estimators.json")
    parser.add_argument(
        "--extend",
        action="store_true",
        help="add these runs to the records already in --out (e.g. one more lr); "
        "an estimator run again replaces its earlier records",
    )
    parser.add_argument(
        "--plot-only",
        action="store_true",
        help="train nothing: redraw the PNG of the records in --out (same flags as the run)",
    )
    args = parser.parse_args()
    out = Path(args.out)
    if args.plot_only:
        saved = json.loads(out.read_text())
        plot(saved["records"], saved["table"], out.with_suffix(".png"), _title(args))
        return
    previous = json.loads(out.read_text()) if args.extend else {"records": [], "wall_seconds": 0.0}
    start = time.perf_counter()
    records = [r for r in previous["records"] if r["estimator"] not in args.estimators]
    records += run(args)
    table = summarize(records)
    wall = previous["wall_seconds"] + time.perf_counter() - start
    print(f"\n{'estimator':<22} {'lr':>7} {'test accuracy (mean +- std, min-max)':>40}")
    for estimator, row in table.items():
        print(
            f"{estimator:<22} {row['lr']:>7g}   {row['test_mean']:.4f} +- {row['test_std']:.4f}"
            f"  ({row['test_min']:.4f}-{row['test_max']:.4f})"
        )
    print(f"wall time {wall / 60:.1f} min")
    out.parent.mkdir(parents=True, exist_ok=True)
    arguments = previous.get("args", []) if args.extend else []
    arguments = (arguments if isinstance(arguments, list) else [arguments]) + [vars(args)]
    out.write_text(
        json.dumps(
            {"args": arguments, "wall_seconds": wall, "table": table, "records": records}, indent=2
        )
    )
    plot(records, table, out.with_suffix(".png"), _title(args))


def _title(args) -> str:
    network = {
        "mlp": f"MLP 784-{'-'.join(map(str, args.hidden))}-10",
        "vgg": f"VGG-16 x{args.width:g}",
        "resnet": f"ResNet-18 x{args.width:g}",
    }[args.network]
    activations = ", binary activations" if args.binary_activations else ""
    examples = f" ({args.limit} examples)" if args.limit else ""
    return (
        f"{network}{activations}, Fashion-MNIST{examples}"
        f"\n{args.recipe} recipe, {args.epochs} epochs, seeds {args.seeds}"
    )


if __name__ == "__main__":
    main()
