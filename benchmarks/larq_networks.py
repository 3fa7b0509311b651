"""AdaSTE with its optimizer against ste_sign and Bop on larq-style networks (QuickNet-like,
Bi-Real-like; `adaste_tf.zoo.larq_nets`), on Fashion-MNIST, seed-paired.

    python benchmarks/larq_networks.py --networks quicknet birealnet --activations binary real \
        --methods adaste ste_sign bop --seeds 0 1 2 --out docs/results/larq_networks.json
    python benchmarks/larq_networks.py --networks quicknet --activations binary --seeds 0 1 \
        --methods adaste adaste:init=glorot adaste:decay=0 adaste:variant=bounded \
        --out docs/results/larq_recipe_parts.json

Every configuration trains on the first `--train-size` training images for `--epochs` epochs
(batch `--batch-size`, cosine learning rates, `jit_compile=True`) and is tested on the 10000
test images. A method is a name with optional parts changed (`adaste_tf.zoo.larq_training`).
With `--lce` each trained model is converted by LCE and checked against Keras.
Results are written to the JSON after every run (an interrupted sweep keeps what it finished;
`--extend` skips what the file already has), with each run's wall time and the machine; a PNG
shows each configuration's test accuracy per seed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import adaste_tf  # noqa: F401  (selects legacy Keras first)
from adaste_tf import data, export, tflite_file
from adaste_tf.zoo import larq_nets, larq_training, machine, plots

import numpy as np


def load(train_size: int):
    x, y = data.load_arrays("fashion_mnist", "train")
    x_test, y_test = data.load_arrays("fashion_mnist", "test")

    def images(a):
        return (a.astype(np.float32) / 255.0)[..., None]

    return (images(x[:train_size]), y[:train_size]), (images(x_test), y_test)


def lce_parity(model, images) -> dict:
    """The model converted by LCE: its binary convolutions, and how closely LCE's interpreter
    predicts what Keras does on `images`."""
    flatbuffer = export.convert(model, engine="lce")
    report = export.verify(model, flatbuffer, images)
    return {
        "LceBconv2d": tflite_file.inspect(flatbuffer).op_counts.get("LceBconv2d", 0),
        "argmax_agreement": report.argmax_agreement,
        "max_abs_diff": report.max_abs_diff,
    }


def summary(runs: list[dict]) -> dict[str, dict]:
    """Test accuracy per (network, activations, method): mean, spread and per seed."""
    table: dict[str, dict] = {}
    for r in runs:
        entry = table.setdefault(f"{r['network']}/{r['activations']}/{r['method']}", {"seeds": {}})
        entry["seeds"][str(r["seed"])] = r["test_accuracy"]
    for entry in table.values():
        values = list(entry["seeds"].values())
        entry["mean"] = float(np.mean(values))
        entry["min"], entry["max"] = float(np.min(values)), float(np.max(values))
    return table


def plot(runs: list[dict], path: Path) -> None:
    table = summary(runs)
    fig, ax = plots.figure(size=(9, 0.35 * len(table) + 1.5))
    names = sorted(table)
    for i, name in enumerate(names):
        values = list(table[name]["seeds"].values())
        ax.scatter(values, [i] * len(values), s=18, color="C0")
        ax.plot([table[name]["mean"]] * 2, [i - 0.3, i + 0.3], color="C3")
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("test accuracy (dots: seeds, bar: mean)")
    ax.set_title(
        f"larq-style networks, Fashion-MNIST ({runs[0]['train_size']} images, "
        f"{runs[0]['epochs']} epochs)",
        fontsize=9,
    )
    plots.save(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--networks", nargs="+", default=list(larq_nets.NETWORKS), choices=larq_nets.NETWORKS
    )
    parser.add_argument(
        "--activations",
        nargs="+",
        default=list(larq_training.ACTIVATIONS),
        choices=larq_training.ACTIVATIONS,
    )
    parser.add_argument("--methods", nargs="+", default=["adaste", "ste_sign", "bop"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path("runs/larq_networks.json"))
    parser.add_argument(
        "--lce",
        action="store_true",
        help="convert each trained model with LCE and record its binary convolutions and its "
        "parity with Keras on the first 1000 test images",
    )
    parser.add_argument(
        "--extend", action="store_true", help="keep the runs already in --out and skip them"
    )
    args = parser.parse_args()
    methods = [larq_training.parse_method(m) for m in args.methods]
    runs: list[dict] = []
    if args.extend and args.out.exists():
        runs = json.loads(args.out.read_text())["runs"]
    done = {(r["network"], r["activations"], r["method"], r["seed"]) for r in runs}
    dataset = load(args.train_size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:  # seed-major: an interrupted sweep has every method at some seeds
        for network in args.networks:
            for activations in args.activations:
                for method in methods:
                    key = (network, activations, method.label, seed)
                    if key in done:
                        continue
                    record, model = larq_training.run(
                        network,
                        method,
                        activations,
                        dataset,
                        seed=seed,
                        epochs=args.epochs,
                        batch_size=args.batch_size,
                        width=args.width,
                    )
                    if args.lce:
                        record["lce"] = lce_parity(model, dataset[1][0][:1000])
                    runs.append(record)
                    print(
                        f"{network}/{activations}/{method.label} seed {seed}: "
                        f"{record['test_accuracy']:.4f} ({record['wall_s']} s)",
                        flush=True,
                    )
                    args.out.write_text(
                        json.dumps(
                            {
                                "machine": machine.cpu(),
                                "command": vars(args) | {"out": str(args.out)},
                                "summary": summary(runs),
                                "runs": runs,
                            },
                            indent=1,
                        )
                    )
    plot(runs, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
