"""Fixed-beta sweep: does AdaSTE learn at every beta of its relaxation path?

    python benchmarks/beta_sweep.py --seeds 0 1 2 --out docs/results/beta_sweep.json
    python benchmarks/beta_sweep.py --optimizer sgd --lr 0.1 --betas 0.01 1 100 --seeds 0 \
        --out docs/results/beta_sweep_sgd.json
    python benchmarks/beta_sweep.py --recipe official --lr 3e-4 --betas 0.01 1 100 \
        --out docs/results/beta_sweep_official.json
    python benchmarks/beta_sweep.py --variants bounded --flip-reach 0 1e-4 1e-3 3e-3 \
        --out docs/results/flip_reach.json

The binary-weight MLP 784-512-512-10 (`adaste_tf.zoo.models.mlp`) on Fashion-MNIST, trained for
`--epochs` epochs with beta held at each value of `--betas` (`schedules.Constant`), for each
AdaSTE variant in `--variants` (and each `--flip-reach` of the bounded one) and once for larq's
`ste_sign` with `weight_clip` (which has no beta). The optimizer is the `--recipe`'s with its
cosine decay from `--lr`: `fast` is Adam (`--optimizer sgd`: SGD with momentum 0.9), `official`
is the official code's `OfficialMomentum` with latent weights at +-10. AdaSTE runs log
the quantizer diagnostics, so the JSON shows why a run does or does not learn: the fraction of
latent weights near zero and the mean inward and outward scale in the last epoch. Writes JSON
and a PNG (test accuracy against beta).
"""

import argparse
import dataclasses
import json
import time
from pathlib import Path

import adaste_tf  # noqa: F401  (selects legacy Keras first)
from adaste_tf import quantizers, schedules
from adaste_tf.zoo import plots, train

import numpy as np

DIAGNOSTICS_KEPT = (
    "near_zero",
    "inward_scale",
    "outward_scale",
    "linear_inward",
    "saturated_inward",
    "flip_ratio",
)


def last_epoch_diagnostics(history: dict) -> dict[str, float]:
    """Each kept diagnostic in the last epoch, averaged over the model's quantizers."""
    kept = {}
    for name in DIAGNOSTICS_KEPT:
        values = [v[-1] for k, v in history.items() if k.startswith(f"{name}/")]
        if values:
            kept[name] = float(np.mean(values))
    return kept


def run_one(
    args,
    estimator: str,
    variant: str | None,
    beta: float | None,
    seed: int,
    flip_reach: float | None = None,
) -> dict:
    recipe = train.RECIPES[args.recipe]
    recipe = dataclasses.replace(
        recipe, variant=variant or "bounded", optimizer=args.optimizer or recipe.optimizer
    )
    start = time.perf_counter()
    result = train.train(
        "mlp",
        "fashion_mnist",
        estimator,
        epochs=args.epochs,
        recipe=recipe,
        lr=args.lr,
        seed=seed,
        limit=args.limit,
        verbose=0,
        diagnostics=estimator == "adaste",
        schedule=None if beta is None else schedules.Constant(beta),
        flip_reach=flip_reach,
    )
    if flip_reach is not None:
        variant = f"{variant} (flip_reach {flip_reach:g})"
    record = {
        "estimator": estimator,
        "variant": variant,
        "beta": beta,
        "seed": seed,
        "test_accuracy": result["test_accuracy"],
        "val_accuracy": result["history"]["val_accuracy"],
        "diagnostics": last_epoch_diagnostics(result["history"]),
        "seconds": time.perf_counter() - start,
    }
    print(
        f"{estimator:<9} {variant or '-':<9} beta={beta if beta is not None else '-':<6} "
        f"seed={seed}: test {record['test_accuracy']:.4f} {record['diagnostics']}",
        flush=True,
    )
    return record


def plot(records: list[dict], path: Path, title: str) -> None:
    """Test accuracy (ste_sign's +-1 point shaded) and the near-zero fraction against beta."""
    fig, (ax, near_ax) = plots.figure(title, ncols=2, size=(12, 4.5))
    ste = [r["test_accuracy"] for r in records if r["estimator"] == "ste_sign"]
    if ste:
        ax.axhline(np.mean(ste), color="k", ls="--", label="ste_sign + weight_clip")
        ax.axhspan(np.mean(ste) - 0.01, np.mean(ste) + 0.01, color="k", alpha=0.08)
    for variant in dict.fromkeys(r["variant"] for r in records if r["variant"]):
        mine = [r for r in records if r["variant"] == variant]
        betas = sorted({r["beta"] for r in mine})

        def mean(key, beta, mine=mine):
            return np.mean([key(r) for r in mine if r["beta"] == beta])

        ax.plot(
            betas,
            [mean(lambda r: r["test_accuracy"], b) for b in betas],
            "o-",
            label=f"AdaSTE {variant}",
        )
        near_ax.plot(
            betas,
            [mean(lambda r: r["diagnostics"].get("near_zero", np.nan), b) for b in betas],
            "o-",
            label=f"AdaSTE {variant}",
        )
    ax.set(xscale="log", xlabel="beta (held fixed)", ylabel="test accuracy")
    near_ax.set(
        xscale="log",
        xlabel="beta (held fixed)",
        ylabel="latent weights with |theta| < 1e-3, last epoch",
    )
    ax.legend(fontsize=8)
    plots.save(fig, path)


def title(args) -> str:
    return (
        f"MLP 784-512-512-10, Fashion-MNIST{f' ({args.limit} examples)' if args.limit else ''}"
        f", {getattr(args, 'recipe', 'fast')} recipe"
        f"{f' with {args.optimizer}' if args.optimizer else ''}, lr "
        f"{args.lr:g}, {args.epochs} epochs, beta fixed, seeds {args.seeds}"
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--betas", type=float, nargs="+", default=[0.01, 0.1, 0.3, 1, 3, 10, 30, 100]
    )
    parser.add_argument(
        "--variants", nargs="+", default=list(quantizers.VARIANTS), choices=quantizers.VARIANTS
    )
    parser.add_argument("--recipe", choices=tuple(train.RECIPES), default="fast")
    parser.add_argument(
        "--optimizer", choices=("adam", "sgd"), default=None, help="replace the recipe's optimizer"
    )
    parser.add_argument(
        "--flip-reach",
        type=float,
        nargs="+",
        default=None,
        help="runs of the bounded variant at each of these flip_reach values",
    )
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--no-ste", action="store_true", help="skip the ste_sign reference")
    parser.add_argument("--out", default="docs/results/beta_sweep.json")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="keep the records in --out, replacing those of the estimators and "
        "variants run now (a rerun after a change of one rule)",
    )
    parser.add_argument(
        "--replot", action="store_true", help="only redraw the PNG from the JSON in --out"
    )
    args = parser.parse_args()
    if args.replot:
        saved = json.loads(Path(args.out).read_text())
        plot(
            saved["records"],
            Path(args.out).with_suffix(".png"),
            title(argparse.Namespace(**saved["args"])),
        )
        return
    start = time.perf_counter()
    records = []
    for seed in args.seeds:
        if not args.no_ste:
            records.append(run_one(args, "ste_sign", None, None, seed))
        for variant in args.variants:
            reaches = args.flip_reach if variant == "bounded" and args.flip_reach else [None]
            for flip_reach in reaches:
                for beta in args.betas:
                    records.append(run_one(args, "adaste", variant, beta, seed, flip_reach))
    wall = time.perf_counter() - start
    if args.replace and Path(args.out).exists():
        rerun = {(r["estimator"], r["variant"]) for r in records}
        kept = [
            r
            for r in json.loads(Path(args.out).read_text())["records"]
            if (r["estimator"], r["variant"]) not in rerun
        ]
        records = kept + records
    table = {}
    for variant in dict.fromkeys(r["variant"] for r in records if r["variant"]):
        betas = dict.fromkeys(r["beta"] for r in records if r["variant"] == variant)
        table[variant] = {
            str(b): float(
                np.mean(
                    [
                        r["test_accuracy"]
                        for r in records
                        if r["variant"] == variant and r["beta"] == b
                    ]
                )
            )
            for b in betas
        }
    ste = [r["test_accuracy"] for r in records if r["estimator"] == "ste_sign"]
    if ste:
        table["ste_sign"] = float(np.mean(ste))
    print(json.dumps(table, indent=1))
    print(f"wall time {wall / 60:.1f} min")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"args": vars(args), "wall_seconds": wall, "table": table, "records": records}, indent=2
        )
    )
    plot(records, out.with_suffix(".png"), title(args))


if __name__ == "__main__":
    main()
