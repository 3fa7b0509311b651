"""One matplotlib set-up for the training CLI's curves and the benchmarks' figures.

matplotlib is imported here only, when a figure is made, with the file-only "Agg" backend (no
display on the machines that train).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["figure", "save"]


def figure(title: str = "", ncols: int = 1, size: tuple[float, float] | None = None
           ) -> tuple[Any, Any]:
    """A figure with `ncols` axes side by side (one axes object when `ncols` is 1) and a title.

    Example:
        >>> fig, ax = figure("test accuracy against beta")
        >>> fig.get_suptitle()
        'test accuracy against beta'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=size or (7 * ncols if ncols < 3 else 5 * ncols,
                                                         4.5))
    if title:
        fig.suptitle(title, fontsize=9)
    for ax in (axes if ncols > 1 else [axes]):
        ax.grid(alpha=0.3)
    return fig, axes


def save(fig: Any, path: str | Path) -> None:
    """Lay out, write to `path` (PNG at 100 dpi) and close the figure.

    Example:
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
