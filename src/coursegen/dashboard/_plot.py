"""Inline SVG plots of each rate budget's use and 429s over time: no JavaScript, no CDN."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._source import FleetSample

__all__ = ["BudgetSeries", "budget_series", "svg_plot"]

_WIDTH, _HEIGHT, _PAD = 640, 140, 32


@attrs.frozen
class BudgetSeries:
    """One budget (provider, scope, operation) over time: its share used and its 429s."""

    provider: str
    scope: str
    name: str
    limit: int
    window: float
    points: tuple[tuple[datetime, float, int], ...]  # (when, share of the limit used, 429s so far)

    @property
    def title(self) -> str:
        return f"{self.provider} {self.scope} {self.name}: {self.limit} per {self.window:g} s"

    @property
    def rate_limited(self) -> int:
        return self.points[-1][2] if self.points else 0

    @property
    def peak(self) -> float:
        return max((share for _, share, _ in self.points), default=0.0)


def budget_series(samples: Sequence[FleetSample]) -> list[BudgetSeries]:
    """Every budget seen in the samples, each with its points in time order.

    Several batches on one key report the same budget; each sample is one point.
    """
    grouped: dict[tuple[str, str, str], list[tuple[datetime, float, int, int, float]]]
    grouped = defaultdict(list)
    for sample in samples:
        for use in sample.budgets:
            share = use.in_window / use.limit if use.limit else 0.0
            grouped[use.provider, use.scope, use.name].append(
                (sample.at, share, use.rate_limited, use.limit, use.window)
            )
    series = []
    for (provider, scope, name), points in sorted(grouped.items()):
        points.sort(key=lambda point: point[0])
        _, _, _, limit, window = points[-1]
        series.append(
            BudgetSeries(
                provider=provider,
                scope=scope,
                name=name,
                limit=limit,
                window=window,
                points=tuple((at, share, limited) for at, share, limited, _, _ in points),
            )
        )
    return series


def svg_plot(series: BudgetSeries) -> str:
    """The budget's use (line, share of its limit) and its 429s (red marks) as SVG."""
    inner_w, inner_h = _WIDTH - 2 * _PAD, _HEIGHT - 2 * _PAD
    times = [at.timestamp() for at, _, _ in series.points]
    start, end = (min(times), max(times)) if times else (0.0, 1.0)
    span = max(end - start, 1e-9)

    def x(at: float) -> float:
        return _PAD + inner_w * (at - start) / span if len(times) > 1 else _PAD + inner_w / 2

    def y(share: float) -> float:
        return _PAD + inner_h * (1 - min(max(share, 0.0), 1.0))

    line = " ".join(
        f"{x(at):.1f},{y(share):.1f}"
        for at, (_, share, _) in zip(times, series.points, strict=True)
    )
    marks = []
    previous = 0
    for at, (_, _, limited) in zip(times, series.points, strict=True):
        if limited > previous:
            marks.append(
                f'<circle class="r429" cx="{x(at):.1f}" cy="{y(1.0):.1f}" r="4">'
                f"<title>{limited - previous} x 429</title></circle>"
            )
        previous = limited
    seconds = f"{end - start:.0f} s" if times else ""
    title = escape(series.title)
    return (
        f'<svg class="plot" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-label="{title}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{title}</title>"
        f'<rect class="frame" x="{_PAD}" y="{_PAD}" width="{inner_w}" height="{inner_h}"/>'
        f'<text x="{_PAD}" y="{_PAD - 8}">{title}</text>'
        f'<text x="4" y="{y(1.0) + 4:.1f}">100%</text>'
        f'<text x="4" y="{y(0.0) + 4:.1f}">0%</text>'
        f'<text x="{_WIDTH - _PAD}" y="{_HEIGHT - 10}" text-anchor="end">{seconds}</text>'
        f'<text class="r429" x="{_WIDTH - _PAD}" y="{_PAD - 8}" text-anchor="end">'
        f"429s: {series.rate_limited}</text>"
        f'<polyline class="use" points="{line}"/>' + "".join(marks) + "</svg>"
    )
