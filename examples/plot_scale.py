"""Plot AdaSTE's backward scale against theta, inward and outward, for several beta, both variants.

python examples/plot_scale.py --out docs/scale.png
"""

import argparse

import adaste_tf  # noqa: F401  (selects legacy Keras first)
from adaste_tf import ops

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.01, 1.0, 20.0, 100.0])
    parser.add_argument(
        "--max-scale",
        type=float,
        default=None,
        help="cap for the paper variant (default: the quantizer's default)",
    )
    parser.add_argument("--out", default="docs/scale.png")
    args = parser.parse_args()
    max_scale = args.max_scale or adaste_tf.quantizers.DEFAULT_MAX_SCALE
    theta = np.linspace(-2.5, 2.5, 2001).astype(np.float32)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for row, variant in enumerate(("paper", "official")):
        fn = ops.paper_scale if variant == "paper" else ops.official_scale
        cap = max_scale if variant == "paper" else ops.OFFICIAL_MAX_SCALE
        for col, direction in enumerate(("inward", "outward")):
            # inward: dy has theta's sign; outward: the opposite sign (|dy| = 0.01 > the gates)
            dy = 0.01 * np.where(theta >= 0, 1.0, -1.0) * (1 if direction == "inward" else -1)
            ax = axes[row, col]
            for beta in args.betas:
                scale = fn(theta, dy.astype(np.float32), args.alpha, beta, cap).numpy()
                ax.plot(theta, scale, label=f"beta={beta:g}")
            ax.set(title=f"{variant}, {direction} (cap {cap:g})", ylabel="scale")
            ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("theta")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"AdaSTE backward scale, alpha={args.alpha:g}")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
