"""How every introbench figure is drawn and written: the report's plots and `introbench analyze`'s."""

from __future__ import annotations

from pathlib import Path

DPI = 110


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend: plots are written to files, and CI has no display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Lay a finished figure out, write it to `path` and close it. The tight bounding box grows the image to hold
    what overruns the figure (a long variant label, a legend beside the axes) instead of cutting it off."""
    plt = pyplot()
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path
