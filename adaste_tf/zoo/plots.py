"""One matplotlib set-up for the training CLI's curves and the benchmarks' figures, and the
curves themselves (`plot_curves`).

matplotlib is imported here only, when a figure is made, with the file-only "Agg" backend (no
display on the machines that train).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adaste_tf import extras

__all__ = ["figure", "plot_curves", "save"]


def figure(
    title: str = "", ncols: int = 1, size: tuple[float, float] | None = None
) -> tuple[Any, Any]:
    """A figure with `ncols` axes side by side (one axes object when `ncols` is 1) and a title.

    Examples:
        >>> fig, ax = figure("test accuracy against beta")
        >>> fig.get_suptitle()
        'test accuracy against beta'
    """
    matplotlib = extras.require("matplotlib", "adaste_tf.zoo.plots (figures)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=size or (7 * ncols if ncols < 3 else 5 * ncols, 4.5))
    if title:
        fig.suptitle(title, fontsize=9)
    for ax in axes if ncols > 1 else [axes]:
        ax.grid(alpha=0.3)
    return fig, axes


def save(fig: Any, path: str | Path) -> None:
    """Lay out, write to `path` (PNG at 100 dpi) and close the figure.

    Examples:
        >>> import os, tempfile
        >>> fig, ax = figure()
        >>> path = os.path.join(tempfile.mkdtemp(), "f.png")
        >>> save(fig, path)
        >>> os.path.getsize(path) > 0
        True
    """
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_curves(results: dict[str, dict[str, Any]], path: str | Path) -> Any:
    """Accuracy, loss and beta per epoch, one line per run, to a PNG; returns the figure.

    Every point has a marker (a one-epoch run is one point, which a bare line would not show),
    the epoch axis has integer ticks only, beta gets its own panel when a run logged it
    (AdaSTE's `RelaxationScheduler` does), and the title names the runs' model, estimator(s)
    and dataset (the keys of `adaste_tf.zoo.train.train`'s record).

    Examples:
        >>> import os, tempfile
        >>> run = {"model": "mlp", "estimator": "adaste", "dataset": "fashion_mnist",
        ...        "history": {"loss": [0.52], "accuracy": [0.81], "val_loss": [0.44],
        ...                    "val_accuracy": [0.84], "beta": [0.0105]}}
        >>> path = os.path.join(tempfile.mkdtemp(), "curves.png")
        >>> figure = plot_curves({"adaste": run}, path)
        >>> figure.get_suptitle(), os.path.getsize(path) > 0
        ('mlp, adaste, fashion_mnist', True)
    """
    ticker = extras.require("matplotlib.ticker", "adaste_tf.zoo.plots (figures)")

    with_beta = any("beta" in result["history"] for result in results.values())
    fig, axes = figure(
        _run_title(results), ncols=3 if with_beta else 2, size=(15 if with_beta else 10, 4)
    )
    acc_ax, loss_ax = axes[0], axes[1]
    for label, result in results.items():
        h = result["history"]
        epochs = range(1, len(h["loss"]) + 1)
        acc_ax.plot(epochs, h["accuracy"], "o-", label=f"{label} train")
        loss_ax.plot(epochs, h["loss"], "o-", label=f"{label} train")
        if "val_accuracy" in h:
            acc_ax.plot(epochs, h["val_accuracy"], "s--", label=f"{label} validation")
            loss_ax.plot(epochs, h["val_loss"], "s--", label=f"{label} validation")
        if "beta" in h:
            axes[2].plot(epochs, h["beta"], "o-", label=label)
    for ax, name in zip(axes, ("accuracy", "loss", "beta")):
        ax.set(xlabel="epoch", ylabel=name)
        # Integer epochs only; without the locator one epoch gets ticks at 0.96 ... 1.04.
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlim(0.5, max(len(r["history"]["loss"]) for r in results.values()) + 0.5)
    acc_ax.legend()
    if with_beta:
        axes[2].set_yscale("log")  # beta grows geometrically
    save(fig, path)
    return fig


def _run_title(results: dict[str, dict[str, Any]]) -> str:
    """The title: the runs' model, estimator(s) and dataset, each distinct value once."""
    parts = []
    for key in ("model", "estimator", "dataset"):
        values = dict.fromkeys(str(r[key]) for r in results.values() if key in r)
        if values:
            parts.append(" / ".join(values))
    return ", ".join(parts) or ", ".join(results)
