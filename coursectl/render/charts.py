"""Pure SVG bar charts for the self-contained HTML report (no scripts, no external resources)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 else f"{value:.2f}"


def bar_chart(
    items: Sequence[tuple[str, float | None]],
    *,
    title: str,
    unit: str = "",
    width: int = 640,
    height: int = 240,
    color: str = "#3b6ea5",
    chart_id: str = "chart",
) -> str:
    """An SVG bar chart of (label, value) pairs; None values are drawn as gaps marked "n/a"."""
    left, right, top, bottom = 48, 12, 28, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, v in items if v is not None]
    peak = max(values) if values else 0.0
    peak = peak if peak > 0 else 1.0
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="18" font-size="13" font-weight="bold" fill="#222">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#888"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#888"/>',
        f'<text x="{left - 6}" y="{top + 4}" font-size="10" text-anchor="end" fill="#555">{_fmt(peak)}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" font-size="10" text-anchor="end" fill="#555">0</text>',
    ]
    if not items:
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" font-size="12" text-anchor="middle" '
            f'fill="#777">no data in this window</text>'
        )
    n = max(len(items), 1)
    slot = plot_w / n
    bar_w = max(2.0, slot * 0.7)
    for i, (label, value) in enumerate(items):
        x = left + i * slot + (slot - bar_w) / 2
        cx = x + bar_w / 2
        if value is None:
            parts.append(
                f'<text x="{cx:.1f}" y="{top + plot_h - 4}" font-size="9" text-anchor="middle" '
                f'fill="#999">n/a</text>'
            )
        else:
            h = plot_h * (value / peak)
            y = top + plot_h - h
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{escape(label)}: {_fmt(value)}{escape(unit)}</title></rect>'
            )
            if n <= 26:
                parts.append(
                    f'<text x="{cx:.1f}" y="{y - 3:.1f}" font-size="9" text-anchor="middle" '
                    f'fill="#333">{_fmt(value)}</text>'
                )
        if n <= 26 or i % max(1, n // 13) == 0:
            parts.append(
                f'<text x="{cx:.1f}" y="{top + plot_h + 14}" font-size="9" text-anchor="end" '
                f'transform="rotate(-35 {cx:.1f} {top + plot_h + 14})" fill="#444">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def dora_charts(report: dict) -> dict[str, str]:  # type: ignore[type-arg]
    """The four charts of the HTML report, as inline SVG strings keyed by name."""
    weekly = report.get("weekly", [])
    weeks = [(w["week_start"], float(w["succeeded"])) for w in weekly]
    cfr = [
        (w["week_start"], None if w["change_failure_rate"] is None else 100.0 * w["change_failure_rate"])
        for w in weekly
    ]
    lead = [(b["label"], float(b["count"])) for b in report.get("lead_time_histogram", [])]
    recov = [
        (f"#{r['deployment_id']} {r['service']}", None if r["seconds"] is None else r["seconds"] / 60.0)
        for r in report.get("recoveries", [])[:40]
    ]
    return {
        "weekly_deployments": bar_chart(
            weeks, title="Succeeded deployments per week", chart_id="weekly-deployments"
        ),
        "lead_time": bar_chart(
            lead, title="Lead time for changes (commits)", chart_id="lead-time", color="#5a9a55"
        ),
        "failure_rate": bar_chart(
            cfr, title="Change failure rate per week (%)", unit=" %", chart_id="failure-rate", color="#c0504d"
        ),
        "recovery": bar_chart(
            recov, title="Recovery time per failure (minutes)", unit=" min", chart_id="recovery", color="#d98c1f"
        ),
    }


def _polyline(points: Sequence[str]) -> str:
    return f'<polyline fill="none" stroke="#3b6ea5" stroke-width="1.5" points="{" ".join(points)}"/>'


def sparkline(
    points: Sequence[tuple[str, float | None]],
    *,
    title: str,
    target: float | None = None,
    width: int = 220,
    height: int = 48,
    chart_id: str = "spark",
) -> str:
    """A small SVG line of (window label, value), oldest first, with the target as a dashed line; unknown
    values are gaps. No scripts, no external resources."""
    pad = 4
    known = [v for _, v in points if v is not None]
    span = known + ([target] if target is not None else [])
    lo, hi = (min(span), max(span)) if span else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 if lo else 0.0, hi + 0.5 if hi else 1.0
    n = max(len(points), 1)

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return pad + (height - 2 * pad) * (1 - (v - lo) / (hi - lo))

    parts = [
        f'<svg id="{escape(chart_id)}" class="spark" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    if target is not None:
        ty = f"{y(target):.1f}"
        parts.append(
            f'<line class="target" x1="{pad}" y1="{ty}" x2="{width - pad}" y2="{ty}" '
            f'stroke="#999" stroke-dasharray="3 3"/>'
        )
    segment: list[str] = []
    for i, (label, v) in enumerate(points):
        if v is None:
            if len(segment) > 1:
                parts.append(_polyline(segment))
            segment = []
            continue
        segment.append(f"{x(i):.1f},{y(v):.1f}")
        parts.append(
            f'<circle class="point" cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.2" fill="#3b6ea5">'
            f"<title>{escape(label)}: {_fmt(v)}</title></circle>"
        )
    if len(segment) > 1:
        parts.append(_polyline(segment))
    if not known:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2 + 4}" font-size="10" text-anchor="middle" '
            f'fill="#888">no data</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
