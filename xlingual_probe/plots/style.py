"""The one style of every figure: colour-blind-safe colours, paper column sizes, bands, legends, files.

Context:
    Figures go into papers: they must read in print and in grey scale, be told apart by readers with
    colour-vision deficiency, fit a one-column (3.3 in) or two-column (6.9 in) layout of the ACL / NeurIPS
    templates, and come as vector files. Every figure module of :mod:`xlingual_probe.plots` draws through
    these helpers so the figures look alike.

Choices:
    - Colours: the Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"), eight colours that stay
      distinct under the common colour-vision deficiencies; ordered so the first ones also differ in
      lightness. Series with a natural order (layers, languages ranked by score) use ``cividis``, a
      sequential map designed to be read by colour-blind viewers (Nuñez et al. 2018).
    - Sizes: :data:`ONE_COLUMN` and :data:`TWO_COLUMN` inches wide; fonts of 8 pt (7 pt ticks) so a
      figure printed at its size needs no scaling.
    - Spread over seeds: the mean as a line, ± one sample standard deviation (ddof = 1) as a band.
    - Legends sit outside the axes (right or below), so they never cover data.
    - Files: PNG (300 dpi, for screens and the HTML report), PDF and SVG (vector, fonts kept as text); the
      same figure gives the same bytes (no dates in the metadata, a fixed salt for SVG ids).

Matplotlib is used through its object API (:class:`~matplotlib.figure.Figure` on an Agg canvas: no
``pyplot``, no display); the style is applied with :func:`matplotlib.rc_context`, which restores the
caller's settings afterwards.

>>> OKABE_ITO[0], len(series_colors(3)), len(series_colors(12))
('#000000', 3, 12)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["FORMATS", "OKABE_ITO", "ONE_COLUMN", "RC", "TWO_COLUMN", "band", "legend_below", "legend_right",
           "new_figure", "ordered_colors", "save_figure", "series_colors", "styled"]

ONE_COLUMN = 3.3  # inches: one column of the ACL / NeurIPS templates
TWO_COLUMN = 6.9  # inches: the full text width
FORMATS = ("png", "pdf", "svg")
PNG_DPI = 300

# Okabe & Ito (2008): black, orange, sky blue, bluish green, vermillion, blue, reddish purple, yellow.
# Yellow last: it is hard to see on white as a thin line.
OKABE_ITO = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":")

RC: dict[str, Any] = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7, "xtick.labelsize": 7,
    "ytick.labelsize": 7, "figure.titlesize": 9, "lines.linewidth": 1.2, "lines.markersize": 3.5,
    "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.5, "axes.spines.top": False,
    "axes.spines.right": False, "legend.frameon": False, "savefig.bbox": "tight", "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none", "svg.hashsalt": "xlingual-probe",
    "axes.prop_cycle": matplotlib.cycler(color=list(OKABE_ITO)),
}

F = TypeVar("F", bound=Callable[..., Any])


def styled(function: F) -> F:
    """Run a figure-building function inside :data:`RC` (the caller's rcParams are restored afterwards)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(RC):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def series_colors(n: int) -> list[str]:
    """``n`` colours for unordered series: Okabe–Ito while it lasts, then cividis steps."""
    if n <= len(OKABE_ITO):
        return list(OKABE_ITO[:n])
    return ordered_colors(n)


def ordered_colors(n: int) -> list[str]:
    """``n`` colours along cividis for ordered series (first = dark), as hex strings."""
    cmap = colormaps["cividis"]
    return [matplotlib.colors.to_hex(cmap(x)) for x in np.linspace(0.0, 0.9, max(n, 1))][:n]


def new_figure(width: str | float = "two", height: float = 2.4, nrows: int = 1, ncols: int = 1,
               **subplots: Any) -> tuple[Figure, np.ndarray]:
    """A figure ``width`` wide (``"one"`` = 3.3 in, ``"two"`` = 6.9 in, or inches) with a 2-D array of axes.

    Args:
        width: ``"one"``, ``"two"`` or a width in inches.
        height: the height in inches.
        nrows, ncols: the grid of axes.
        **subplots: passed to :meth:`~matplotlib.figure.Figure.subplots` (``sharex``, ``sharey``, ...).

    Returns:
        ``(figure, axes)`` with ``axes.shape == (nrows, ncols)``.
    """
    inches = {"one": ONE_COLUMN, "two": TWO_COLUMN}.get(width, width) if isinstance(width, str) else width
    if not isinstance(inches, (int, float)):
        raise TypeError(f"width must be 'one', 'two' or inches, not {width!r}")
    fig = Figure(figsize=(float(inches), height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplots)
    return fig, axes


def band(ax: Axes, x: Sequence[float] | pd.Series, mean: Sequence[float] | pd.Series,
         std: Sequence[float] | pd.Series | None, color: str, label: str | None = None, **line: Any) -> None:
    """The mean as a line and mean ± std as a translucent band (gid ``band:<label>``; none where std is undefined)."""
    x, mean = np.asarray(x, dtype=float), np.asarray(mean, dtype=float)
    ax.plot(x, mean, color=color, label=label, **line)
    if std is not None:
        std = np.asarray(std, dtype=float)
        if np.isfinite(std).any():
            ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, linewidth=0, gid=f"band:{label}")


def legend_right(ax: Axes, handles: Iterable[Any] | None = None, labels: Iterable[str] | None = None,
                 **kwargs: Any) -> Any:
    """A legend outside the axes, to their right (never over the data)."""
    args = () if handles is None else (list(handles), list(labels or []))
    return ax.legend(*args, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


def legend_below(fig: Figure, handles: Sequence[Any], labels: Sequence[str], ncols: int | None = None) -> Any:
    """One legend for the whole figure, below the axes (constrained layout makes room for it); at most two
    columns in a one-column figure and four in a two-column one, so it never widens the figure."""
    widest = 4 if fig.get_figwidth() > ONE_COLUMN else 2
    return fig.legend(handles, labels, loc="outside lower center", ncols=min(ncols or widest, widest, len(labels)))


def save_figure(fig: Figure, stem: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``stem.png`` (300 dpi), ``stem.pdf`` and ``stem.svg``; returns the paths written.

    Raises:
        ValueError: an unknown format.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    with matplotlib.rc_context(RC):
        for fmt in formats:
            if fmt not in FORMATS:
                raise ValueError(f"unknown figure format {fmt!r}; choose from {', '.join(FORMATS)}")
            path = stem.with_name(f"{stem.name}.{fmt}")
            # metadata without dates: the same runs give the same vector files
            metadata = {"CreationDate": None} if fmt == "pdf" else {"Date": None} if fmt == "svg" else {}
            fig.savefig(path, format=fmt, dpi=PNG_DPI if fmt == "png" else "figure", metadata=metadata)
            written.append(path)
    return written
