"""Tiny inline-SVG charts for self-contained HTML reports (no plotting dependency, no scripts)."""

from __future__ import annotations

import math
from html import escape

# The plot area ends at BOTTOM; below it, one row each for tick labels, the axis title and the
# legend, so that a long legend never runs into the axis title.
W, H, PAD, BOTTOM = 420, 276, 40, 220
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def _frame(title: str, x_label: str, y_label: str, body: str, legend: list[str]) -> str:
    keys = "".join(f'<tspan fill="{COLOURS[i % len(COLOURS)]}" dx="8">■ {escape(name)}</tspan>' for i, name in enumerate(legend))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">'
            f'<text x="{W / 2}" y="14" text-anchor="middle" font-weight="bold">{escape(title)}</text>'
            f'<line x1="{PAD}" y1="{BOTTOM}" x2="{W - 10}" y2="{BOTTOM}" stroke="#333"/>'
            f'<line x1="{PAD}" y1="24" x2="{PAD}" y2="{BOTTOM}" stroke="#333"/>'
            f'<text x="{(PAD + W - 10) / 2}" y="{BOTTOM + 28}" text-anchor="middle">{escape(x_label)}</text>'
            f'<text x="10" y="{(BOTTOM + 24) / 2}" transform="rotate(-90 10 {(BOTTOM + 24) / 2})" text-anchor="middle">{escape(y_label)}</text>'
            f'{body}<text x="{PAD - 8}" y="{H - 6}">{keys}</text></svg>')


def _scale(lo: float, hi: float, a: float, b: float):  # type: ignore[no-untyped-def]
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def lines(title: str, x_label: str, y_label: str, series: dict[str, list[tuple[float, float]]],
          x_range: tuple[float, float] | None = None, y_range: tuple[float, float] | None = None,
          diagonal: bool = False) -> str:
    points = [p for s in series.values() for p in s] or [(0.0, 0.0)]
    xr = x_range or (min(p[0] for p in points), max(p[0] for p in points))
    yr = y_range or (min(0.0, min(p[1] for p in points)), max(p[1] for p in points))
    sx, sy = _scale(*xr, PAD, W - 10), _scale(*yr, BOTTOM, 24)
    body = [f'<text x="{PAD - 4}" y="{sy(yr[1]) + 4}" text-anchor="end">{yr[1]:g}</text>',
            f'<text x="{PAD - 4}" y="{sy(yr[0])}" text-anchor="end">{yr[0]:g}</text>',
            f'<text x="{sx(xr[0])}" y="{BOTTOM + 12}">{xr[0]:g}</text>',
            f'<text x="{sx(xr[1])}" y="{BOTTOM + 12}" text-anchor="end">{xr[1]:g}</text>']
    if diagonal:
        body.append(f'<line x1="{sx(xr[0])}" y1="{sy(yr[0])}" x2="{sx(xr[1])}" y2="{sy(yr[1])}" stroke="#aaa" stroke-dasharray="4"/>')
    for i, pts in enumerate(series.values()):
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        body.append(f'<polyline fill="none" stroke="{COLOURS[i % len(COLOURS)]}" stroke-width="2" points="{path}"/>')
    return _frame(title, x_label, y_label, "".join(body), list(series))


def bars(title: str, x_label: str, y_label: str, categories: list[str], series: dict[str, list[float]]) -> str:
    top = max([v for s in series.values() for v in s] or [1.0]) or 1.0
    sy = _scale(0.0, top, BOTTOM, 24)
    n, k = max(len(categories), 1), max(len(series), 1)
    slot = (W - 10 - PAD) / n
    width = slot * 0.8 / k
    body = [f'<text x="{PAD - 4}" y="28" text-anchor="end">{top:g}</text>']
    for j, values in enumerate(series.values()):
        for i, v in enumerate(values):
            x = PAD + i * slot + slot * 0.1 + j * width
            body.append(f'<rect x="{x:.1f}" y="{sy(v):.1f}" width="{width:.1f}" height="{BOTTOM - sy(v):.1f}" '
                        f'fill="{COLOURS[j % len(COLOURS)]}"><title>{escape(categories[i])}: {v:g}</title></rect>')
    # Every step-th label, so that no two labels overlap (about 6.5 px per character at this size).
    widest = max((len(c) for c in categories), default=1) * 6.5 + 8
    step = max(1, math.ceil(widest / slot))
    for i in range(0, len(categories), step):
        body.append(f'<text x="{PAD + i * slot + slot / 2:.1f}" y="{BOTTOM + 12}" text-anchor="middle">{escape(categories[i])}</text>')
    return _frame(title, x_label, y_label, "".join(body), list(series))


def empty(title: str, reason: str) -> str:
    """A chart's frame that says why there is nothing to draw, instead of a misleading flat line."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">'
            f'<text x="{W / 2}" y="14" text-anchor="middle" font-weight="bold">{escape(title)}</text>'
            f'<rect x="{PAD}" y="24" width="{W - 10 - PAD}" height="{BOTTOM - 24}" fill="none" stroke="#ccc"/>'
            f'<text x="{(PAD + W - 10) / 2}" y="{(BOTTOM + 24) / 2}" text-anchor="middle" fill="#666">{escape(reason)}</text></svg>')
