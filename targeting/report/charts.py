"""The report's charts: matplotlib figures (no pyplot) as inline SVG, and a Sankey's geometry."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, ParamSpec

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, MultipleLocator, PercentFormatter

from core.config import RiskTiers

INK, MUTED, GRID = "#1f2933", "#616e7c", "#e4e7eb"
BLUE, ORANGE, GREY = "#2f6fab", "#e8833a", "#9aa5b1"
TIER_COLORS = {"high": "#c8423b", "medium": "#e8a33a", "low": "#3f9a63"}
STAGE_COLORS = {
    "awareness": "#9aa5b1",
    "consideration": "#6c8ebf",
    "purchase": "#3b82c4",
    "retention": "#2f8a5e",
    "advocacy": "#7b5ea7",
    "churned": "#c8423b",
}
_RC: dict[Any, Any] = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, drawn in the page's font
    "svg.hashsalt": "journey",  # stable element ids, so the same data gives the same file
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.edgecolor": GRID,
    "axes.labelcolor": MUTED,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "axes.titlesize": 11,
}
_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
P = ParamSpec("P")


def styled(chart: Callable[P, Figure]) -> Callable[P, Figure]:
    """Build the figure under the report's style (rcParams apply when artists are created)."""

    @wraps(chart)
    def inner(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with matplotlib.rc_context(_RC):
            return chart(*args, **kwargs)

    return inner


def to_svg(fig: Figure, prefix: str) -> str:
    """The figure as an <svg> element for inline use: no XML header, ids made unique per chart."""
    with matplotlib.rc_context(_RC):
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata=_METADATA, bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'(\bid="|url\(#|href="#)', rf"\g<1>{prefix}-", text)
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 role="img"', text, count=1)


def _axes(width: float = 6.4, height: float = 3.4) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.subplots()
    ax.grid(axis="y", color=GRID, lw=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


BIN_WIDTHS = (0.0025, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25)  # "nice" widths, finest first
MAX_BINS = 40
MAX_GAPS = 2  # runs of empty bins inside the data's range a histogram may show before it reads as a barcode


def _grid(p: np.ndarray, width: float) -> np.ndarray:
    """Edges `width` apart on multiples of `width`, from just below the smallest p to above the largest."""
    lo = np.floor(p.min() / width + 1e-9) * width
    hi = max(np.ceil(p.max() / width - 1e-9) * width, lo + width)
    return np.linspace(lo, hi, round((hi - lo) / width) + 1).clip(0, 1)


def _gaps(counts: np.ndarray) -> int:
    """Runs of empty bins between the first and the last non-empty one."""
    empty = counts == 0
    return int(np.sum(empty[1:] & ~empty[:-1]))


def histogram_edges(p: np.ndarray) -> np.ndarray:
    """Bin edges chosen from the data: the finest nice width that covers the probabilities' range in
    at most MAX_BINS bins (fewer for few customers: 2 n^(1/3), the Rice rule) without leaving more
    than MAX_GAPS holes. Calibrated probabilities often take a few dozen distinct values, clustered:
    fixed 2.5% bins over 0-100% then draw a barcode of empty bins, or squeeze the shape into a
    corner."""
    p = p[np.isfinite(p)]
    if p.size == 0:
        return np.linspace(0, 1, 11)
    most = min(MAX_BINS, max(5, int(np.ceil(2 * p.size ** (1 / 3)))))
    edges = _grid(p, BIN_WIDTHS[-1])
    for width in BIN_WIDTHS:
        candidate = _grid(p, width)
        if len(candidate) - 1 <= most and _gaps(np.histogram(p, candidate)[0]) <= MAX_GAPS:
            return candidate
    return edges


def tier_of(p: np.ndarray, tiers: RiskTiers) -> np.ndarray:
    return np.where(p >= tiers.high, "high", np.where(p >= tiers.medium, "medium", "low"))


@styled
def risk_histogram(p: np.ndarray, tiers: RiskTiers) -> Figure:
    """How many active customers sit at each churn probability, coloured by risk tier.

    Bars are stacked by tier, so a bin across a tier threshold shows both colours truly; the x axis
    spans the data's range (histogram_edges), with the tier thresholds that fall inside it marked.
    """
    fig, ax = _axes()
    edges = histogram_edges(p)
    bottom = np.zeros(len(edges) - 1)
    for tier in ("low", "medium", "high"):
        counts, _ = np.histogram(p[tier_of(p, tiers) == tier], bins=edges)
        color = TIER_COLORS[tier]
        ax.bar(
            edges[:-1], counts, np.diff(edges), bottom, align="edge", color=color, edgecolor="white", lw=0.5
        )
        bottom += counts
    _thresholds(ax, tiers, edges)
    _percent_ticks(ax, edges)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="churn probability (next 90 days)", ylabel="active customers", xlim=(edges[0], edges[-1]))
    return fig


def _percent_ticks(ax: Axes, edges: np.ndarray) -> None:
    """At most 10 ticks a round step apart, with as many decimals as the step needs (20%, 2.5%, 0.25%)."""
    span = float(edges[-1] - edges[0])
    step = next(w for w in BIN_WIDTHS if span / w <= 10 + 1e-9)
    decimals = next(d for d in range(3) if round(step * 100, d) == round(step * 100, 6))
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))


def _thresholds(ax: Axes, tiers: RiskTiers, edges: np.ndarray) -> None:
    """A dashed, labelled line at each tier threshold inside the drawn range."""
    for name, threshold in (("medium", tiers.medium), ("high", tiers.high)):
        if edges[0] < threshold < edges[-1]:
            ax.axvline(threshold, color=INK, ls="--", lw=0.8)
            ax.annotate(name, (threshold, 1), (3, -2), ("data", "axes fraction"), "offset points", va="top")


@styled
def predicted_vs_actual(bands: pd.DataFrame) -> Figure:
    """Mean predicted vs observed churn rate per probability band, out of time."""
    fig, ax = _axes()
    x = np.arange(len(bands))
    ax.bar(x - 0.2, bands["predicted"], width=0.4, color=BLUE, label="predicted")
    ax.bar(x + 0.2, bands["actual"], width=0.4, color=ORANGE, label="actually churned")
    ax.set_xticks(x, bands["band"], rotation=30, ha="right")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set(xlabel="predicted churn probability band", ylabel="churn rate", ylim=(0, 1))
    ax.legend(frameon=False, loc="upper left")
    return fig


@styled
def gains_chart(curves: dict[str, pd.DataFrame]) -> Figure:
    """Cumulative gains: share of churners reached by contacting the riskiest x% first."""
    fig, ax = _axes(5.2, 3.8)
    for (name, curve), color in zip(curves.items(), (BLUE, GREY), strict=False):
        ax.plot(curve["contacted"], curve["captured"], color=color, lw=2, label=name)
    ax.plot([0, 1], [0, 1], color=MUTED, ls=":", lw=1, label="random order")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set(xlabel="customers contacted", ylabel="churners reached", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(frameon=False, loc="lower right")
    return fig


@styled
def lift_chart(table: pd.DataFrame) -> Figure:
    """Churn rate of each tenth of customers ranked by risk, relative to the average (lift)."""
    fig, ax = _axes(5.2, 3.8)
    ax.bar(table["decile"], table["lift"], color=BLUE)
    ax.axhline(1.0, color=MUTED, ls=":", lw=1)
    ax.set_xticks(table["decile"])
    ax.set(xlabel="tenth of customers, riskiest first", ylabel="lift (x average churn rate)")
    return fig


@styled
def importance_chart(importance: pd.Series, labels: dict[str, str], top: int = 12) -> Figure:
    """The features that move churn risk the most across customers (mean |SHAP|)."""
    head = importance.head(top)[::-1]
    fig, ax = _axes(7.0, 0.32 * len(head) + 0.9)
    ax.grid(axis="x", color=GRID, lw=0.8)
    ax.grid(axis="y", visible=False)
    ax.barh([labels.get(name, name) for name in head.index], head.to_numpy(), color=BLUE)
    ax.set(xlabel="average influence on churn risk (mean |SHAP|, log-odds)")
    return fig


def _stack(totals: pd.Series, height: float, gap: float) -> dict[str, tuple[float, float]]:
    """Top y and height of each node when the nodes are stacked with gaps into `height`."""
    scale = (height - gap * (len(totals) - 1)) / max(1, float(totals.sum()))
    out, y = {}, 0.0
    for name, total in totals.items():
        out[str(name)] = (y, float(total) * scale)
        y += float(total) * scale + gap
    return out


def _band(x0: float, x1: float, top0: float, top1: float, thick0: float, thick1: float) -> str:
    """The SVG path of one flow: a band from the left node to the right one, its edges Bezier curves."""
    mid = (x0 + x1) / 2
    return (
        f"M{x0:.1f},{top0:.1f} C{mid:.1f},{top0:.1f} {mid:.1f},{top1:.1f} {x1:.1f},{top1:.1f} "
        f"L{x1:.1f},{top1 + thick1:.1f} C{mid:.1f},{top1 + thick1:.1f} {mid:.1f},{top0 + thick0:.1f} "
        f"{x0:.1f},{top0 + thick0:.1f} Z"
    )


@dataclass(frozen=True)
class SankeyBand:
    path: str
    color: str
    source: str
    target: str
    customers: str


@dataclass(frozen=True)
class SankeyNode:
    x: str
    y: str
    height: str
    color: str
    label_x: str
    label_y: str
    anchor: str  # the label's text-anchor: left nodes are labelled on their left
    stage: str
    customers: str


@dataclass(frozen=True)
class Sankey:
    """The geometry of a stage-flow diagram; the page template draws it as inline SVG."""

    view_box: str
    ink: str
    muted: str
    bands: tuple[SankeyBand, ...]
    nodes: tuple[SankeyNode, ...]


def _nodes(
    stack: dict[str, tuple[float, float]], totals: pd.Series, x: float, left: bool
) -> list[SankeyNode]:
    out = []
    for name, (y, h) in stack.items():
        tx, anchor = (x - 6, "end") if left else (x + 18, "start")
        node = SankeyNode(
            x=f"{x:.1f}",
            y=f"{y:.1f}",
            height=f"{max(h, 1):.1f}",
            color=STAGE_COLORS.get(name, GREY),
            label_x=f"{tx:.1f}",
            label_y=f"{y + h / 2 + 4:.1f}",
            anchor=anchor,
            stage=name,
            customers=f"{int(totals[name]):,}",
        )
        out.append(node)
    return out


def sankey(flows: pd.DataFrame, width: int = 760, height: int = 380) -> Sankey:
    """Stage flow: current stage (left) to next stage (right), band width = customers."""
    x0, x1, gap = 170.0, width - 182.0, 10.0
    left_tot, right_tot = flows.sum(axis=1), flows.sum(axis=0)
    left, right = _stack(left_tot, height, gap), _stack(right_tot, height, gap)
    used_left = {k: v[0] for k, v in left.items()}
    used_right = {k: v[0] for k, v in right.items()}
    bands = []
    for src in flows.index:
        for dst in flows.columns:
            n = int(flows.loc[src, dst])
            if n == 0:
                continue
            t0, t1 = n / left_tot[src] * left[src][1], n / right_tot[dst] * right[dst][1]
            path = _band(x0 + 12, x1, used_left[src], used_right[dst], t0, t1)
            bands.append(SankeyBand(path, STAGE_COLORS.get(src, GREY), str(src), str(dst), f"{n:,}"))
            used_left[src] += t0
            used_right[dst] += t1
    nodes = (*_nodes(left, left_tot, x0, True), *_nodes(right, right_tot, x1, False))
    return Sankey(f"0 -10 {width} {height + 20}", INK, MUTED, tuple(bands), nodes)
