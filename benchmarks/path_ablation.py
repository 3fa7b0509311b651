"""Why AdaSTE trails ste_sign over the whole path: the default rule changed one part at a time.

    python benchmarks/path_ablation.py --modes tau0_unnormalized tau0 \
        --out docs/results/path_ablation.json
    python benchmarks/path_ablation.py --modes tau0 --binary-activations \
        --out docs/results/path_ablation_binact.json
    python benchmarks/path_ablation.py --network vgg --modes unnormalized default \
        --out docs/results/path_ablation_vgg.json
    python benchmarks/path_ablation.py --network vgg --modes unnormalized --adam-epsilon 1e-12 \
        --extend --out docs/results/path_ablation_vgg.json
    python benchmarks/path_ablation.py --network vgg --limit 22300 --no-jit --seeds 0 1 2 \
        --modes tau0 --diagnostics --out docs/results/path_ablation_vgg_seeds.json

The set-up of `benchmarks/estimators.py` (the `fast` recipe, beta over the compressed official
path), AdaSTE only. Modes:
- `default`: the default bounded rule;
- `tau0`: `flip_reach=0`, no adaptive flip case;
- `unnormalized`: the default rule's scale divided by `1 + beta`, i.e. in latent units, where a
  non-flipping step has the relaxation's slope `1/(1+beta)` (the rule before it was normalized);
- `tau0_unnormalized`: both.
`--adam-epsilon` replaces Adam's epsilon (1e-7). With `--diagnostics` each record keeps AdaSTE's
per-epoch diagnostics (the fraction of latent weights near zero, the mean inward scale, ...).

`unnormalized` is not an option of the quantizer; this experiment replaces the quantizer's
compiled backward for the "bounded" variant in this process only.
"""

import argparse
import json
import time
from pathlib import Path

import adaste_tf  # noqa: F401  (selects legacy Keras first)
from adaste_tf import ops, quantizers
from adaste_tf.zoo import train

import tensorflow as tf

MODES = ("default", "tau0", "unnormalized", "tau0_unnormalized")
_OPTIMIZER = train._optimizer


def use_mode(mode: str, adam_epsilon: float | None) -> None:
    """Set this process's AdaSTE "bounded" backward (and Adam's epsilon) for `mode`."""

    def gradient(theta, dy, scale_from, variant, alpha, beta, max_scale, flip_reach):
        if variant != "bounded":
            return ops.scaled_gradient(
                theta, dy, variant, alpha, beta, max_scale, flip_reach, scale_from=scale_from
            )
        reach = 0.0 if mode.startswith("tau0") else flip_reach
        s = ops.bounded_scale(theta, scale_from, alpha, beta, max_scale, reach)
        if mode.endswith("unnormalized"):
            s = s / tf.cast(1.0 + beta, s.dtype)
        return dy * s

    def optimizer(recipe, lr, total_steps, train_size):
        adam = _OPTIMIZER(recipe, lr, total_steps, train_size)
        if adam_epsilon is None:
            return adam
        return tf.keras.optimizers.Adam(adam.learning_rate, epsilon=adam_epsilon)

    quantizers._COMPILED_GRADIENT = tf.function(gradient, jit_compile=True, reduce_retracing=True)
    train._optimizer = optimizer


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--network", choices=("mlp", "vgg"), default="mlp")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--epochs", type=int, default=None, help="default: 30 (mlp), 20 (vgg)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed")
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="training images (default: 6000 for vgg, all for mlp)",
    )
    parser.add_argument(
        "--jit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="XLA-compile the train step",
    )
    parser.add_argument(
        "--diagnostics",
        action="store_true",
        help="keep AdaSTE's diagnostics per epoch in each record",
    )
    parser.add_argument("--binary-activations", action="store_true")
    parser.add_argument("--adam-epsilon", type=float, default=None)
    parser.add_argument("--extend", action="store_true", help="add to the records in --out")
    parser.add_argument("--out", default="docs/results/path_ablation.json")
    args = parser.parse_args()
    vgg = args.network == "vgg"
    epochs = args.epochs or (20 if vgg else 30)
    out = Path(args.out)
    records = json.loads(out.read_text())["records"] if args.extend else []
    start = time.perf_counter()
    limit = args.limit if args.limit is not None else (6000 if vgg else None)
    for mode, seed in [(m, s) for m in args.modes for s in args.seeds]:
        use_mode(mode, args.adam_epsilon)
        result = train.train(
            "vgg16" if vgg else "mlp",
            "fashion_mnist",
            "adaste",
            epochs=epochs,
            seed=seed,
            jit=args.jit,
            diagnostics=args.diagnostics,
            verbose=0,
            hidden=(512, 512),
            width=0.125,
            limit=limit,
            binary_activations=args.binary_activations,
        )
        records.append(
            {
                "mode": mode,
                "seed": seed,
                "adam_epsilon": args.adam_epsilon,
                "test_accuracy": result["test_accuracy"],
                "val_accuracy": result["history"]["val_accuracy"],
                # The diagnostics (and larq's flip ratio) are the history's "<name>/<place>" keys.
                "diagnostics": (
                    {k: v for k, v in result["history"].items() if "/" in k}
                    if args.diagnostics
                    else {}
                ),
            }
        )
        print(
            f"{mode:<18} seed {seed} adam epsilon {args.adam_epsilon}: "
            f"test {result['test_accuracy']:.4f}",
            flush=True,
        )
    out.write_text(
        json.dumps(
            {"args": vars(args), "wall_seconds": time.perf_counter() - start, "records": records},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
