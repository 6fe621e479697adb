"""The weekly report's chart as PNG bytes, drawn headless with matplotlib's Agg canvas.

    png = render(report.chart)      # bytes starting with b"\\x89PNG"

matplotlib is imported inside `render`, not at import time, and only `matplotlib.figure.Figure`
with its own Agg canvas is used: no pyplot, no global figure registry, no rcParams change, so
nothing leaks between calls or threads. Colours are the Okabe-Ito palette (distinguishable
with every common colour-vision deficiency), and every bar carries its number and its words,
so no information depends on colour alone. Text is never read as mathtext (a team called
"$1 $2" prints as written).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from netflow.domain.metrics import ChartData

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["COLOURS", "render"]

# Okabe & Ito (2008), "Color Universal Design"; greys for the patients without a window.
COLOURS = {
    "not_due": "#009E73",
    "due_soon": "#56B4E9",
    "due_now": "#0072B2",
    "overdue": "#E69F00",
    "escalated": "#D55E00",
    "needs_review": "#999999",
    "not_indicated": "#BBBBBB",
    "on_time": "#009E73",
    "late": "#D55E00",
}
INK = "#101828"
MUTED = "#566170"
WIDTH_IN, HEIGHT_IN, DPI = 6.4, 4.2, 150  # 960 x 630 px, shown 600 px wide: sharp on high-DPI screens


def _worklist(ax: Axes, chart: ChartData) -> None:
    from matplotlib.ticker import MaxNLocator

    labels = [bar.label for bar in chart.bars]
    counts = [bar.count for bar in chart.bars]
    positions = range(len(chart.bars))
    ax.barh(positions, counts, color=[COLOURS.get(bar.key, "#777777") for bar in chart.bars], height=0.7)
    ax.set_yticks(list(positions), labels, fontsize=9, color=INK, parse_math=False)
    ax.invert_yaxis()
    top = max(counts, default=0)
    ax.set_xlim(0, max(top * 1.15, 1))
    for y, count in zip(positions, counts, strict=True):
        ax.text(count + max(top, 1) * 0.01, y, str(count), va="center", ha="left", fontsize=9, color=INK)
    ax.set_xlabel("Patients", fontsize=9, color=MUTED)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(axis="x", labelsize=8, colors=MUTED)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _closures(ax: Axes, chart: ChartData) -> None:
    ax.set_xlim(0, 100)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="x", labelsize=8, colors=MUTED)
    ax.set_xlabel("% of windows closed", fontsize=9, color=MUTED)
    ax.set_ylim(-0.5, 0.5)
    if not chart.closed:
        ax.set_title(chart.closure_label, fontsize=10, color=INK, loc="left", parse_math=False)
        ax.text(50, 0, "No windows closed in this period", ha="center", va="center", fontsize=9, color=MUTED)
        return
    on_time = 100 * chart.on_time / chart.closed
    late = chart.closed - chart.on_time
    ax.set_title(f"{chart.closure_label}: {chart.on_time} of {chart.closed} ({round(on_time)}%)"
                 + (f", {late} late" if late else ""), fontsize=10, color=INK, loc="left", parse_math=False)
    ax.barh([0], [on_time], color=COLOURS["on_time"], height=0.6)
    ax.barh([0], [100 - on_time], left=[on_time], color=COLOURS["late"], height=0.6, hatch="//",
            edgecolor="white")
    if on_time >= 12:
        ax.text(on_time / 2, 0, "on time", ha="center", va="center", fontsize=9, color=INK)
    if 100 - on_time >= 12:
        ax.text((100 + on_time) / 2, 0, "late", ha="center", va="center", fontsize=9, color=INK,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5})


def render(chart: ChartData) -> bytes:
    """The chart as a PNG: the worklist by status (bars) above the on-time share of closed windows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    # Fixed margins (the labels are ours and bounded): a constrained layout costs a third of the time.
    worklist, closures = figure.subplots(2, 1, height_ratios=[4, 1], gridspec_kw={
        "left": 0.27, "right": 0.95, "top": 0.9, "bottom": 0.1, "hspace": 0.75})
    figure.suptitle(chart.title, fontsize=11, color=INK, x=0.02, y=0.975, ha="left", parse_math=False)
    _worklist(worklist, chart)
    _closures(closures, chart)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
