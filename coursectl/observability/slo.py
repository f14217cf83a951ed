"""Pure SLO arithmetic: the multiwindow, multi-burn-rate alert windows and the SLI error-ratio PromQL.

The windows and budget shares are the Google SRE workbook's ("Alerting on SLOs", table 5-8): for a 30-day SLO,
page when 2 % of the budget burns in 1 h (burn rate 14.4, checked over 1 h and 5 min) or 5 % in 6 h (6, over
6 h and 30 min); open a ticket when 10 % burns in 1 d (3, over 1 d and 2 h) or in 3 d (1, over 3 d and 6 h).
For another SLO window the budget shares stay and the burn rates scale with it (share × window / long window).
"""

from __future__ import annotations

from dataclasses import dataclass

DAY = 86400.0


@dataclass(frozen=True)
class BurnWindow:
    """One burn-rate alert: fire when the error ratio exceeds ``factor × budget`` over both windows."""

    name: str
    severity: str
    """coursectl's severity (critical pages, warning opens a ticket)."""
    long_window: float
    short_window: float
    budget_share: float
    """The share of the whole error budget this alert says is burning within ``long_window``."""

    def factor(self, slo_window: float) -> float:
        """The burn rate: how many times faster than "exactly on budget" the errors come."""
        return round(self.budget_share * slo_window / self.long_window, 6)

    @property
    def kind(self) -> str:
        """``page`` or ``ticket`` (the workbook's words)."""
        return "page" if self.severity == "critical" else "ticket"


BURN_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow("page-1h", "critical", 3600.0, 300.0, 0.02),
    BurnWindow("page-6h", "critical", 6 * 3600.0, 1800.0, 0.05),
    BurnWindow("ticket-1d", "warning", DAY, 7200.0, 0.10),
    BurnWindow("ticket-3d", "warning", 3 * DAY, 6 * 3600.0, 0.10),
)

RATE_WINDOWS: tuple[float, ...] = tuple(sorted({w for b in BURN_WINDOWS for w in (b.long_window, b.short_window)}))
"""Every window an error ratio is recorded over: 5m, 30m, 1h, 2h, 6h, 1d, 3d."""


def promql_duration(seconds: float) -> str:
    """``300`` → ``5m``, ``86400`` → ``1d``, ``90`` → ``90s``: the largest whole unit."""
    s = int(round(seconds))
    if s <= 0:
        raise ValueError(f"a PromQL duration must be positive, got {seconds!r}")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def number(value: float) -> str:
    """A float as PromQL and YAML print it, without float noise (``0.001``, ``14.4``, ``1e-05``)."""
    text = f"{value:.10g}"
    return text


def le_label(bound: float) -> str:
    """The ``le`` label value prometheus_client writes for a bucket bound (``0.5``, ``1.0``, ``10.0``)."""
    return repr(float(bound))


@dataclass(frozen=True)
class SLO:
    """An objective as the rules need it (built from the configuration's ``slos``)."""

    name: str
    service: str
    sli: str
    objective: float
    window: float
    threshold: float | None = None
    description: str = ""

    @property
    def budget(self) -> float:
        """The error budget as a ratio (``0.001`` for 99.9 %)."""
        return round(1.0 - self.objective, 12)

    def labels(self) -> dict[str, str]:
        return {"slo": self.name, "service": self.service, "sli": self.sli}

    def error_ratio(self, window: str) -> str:
        """PromQL: the share of bad requests over ``window`` (``5m``), per environment."""
        by = "sum by (environment)"
        if self.sli == "availability":
            if self.service == "edge":
                sel = 'job="coursectl", service="edge", proxy="fe_edge"'
                bad = f'{by} (rate(haproxy_frontend_http_responses_total{{{sel}, code="5xx"}}[{window}]))'
                total = f"{by} (rate(haproxy_frontend_http_responses_total{{{sel}}}[{window}]))"
            else:
                sel = f'job="coursectl", service="{self.service}"'
                bad = f'{by} (rate(http_requests_total{{{sel}, status=~"5.."}}[{window}]))'
                total = f"{by} (rate(http_requests_total{{{sel}}}[{window}]))"
            return f"{bad}\n/\n{total}"
        assert self.threshold is not None
        sel = 'job="coursectl"' if self.service == "edge" else f'job="coursectl", service="{self.service}"'
        le = le_label(self.threshold)
        good = f'{by} (rate(http_request_duration_seconds_bucket{{{sel}, le="{le}"}}[{window}]))'
        total = f"{by} (rate(http_request_duration_seconds_count{{{sel}}}[{window}]))"
        return f"1 - (\n{good}\n/\n{total}\n)"

    def source_series(self) -> tuple[str, str]:
        """The (bad or good, total) series names a test must feed (for promtool unit tests)."""
        if self.sli == "availability":
            name = "haproxy_frontend_http_responses_total" if self.service == "edge" else "http_requests_total"
            return name, name
        return "http_request_duration_seconds_bucket", "http_request_duration_seconds_count"


def record_name(window: float) -> str:
    """The recording rule of the error ratio over ``window``: ``slo:sli_error:ratio_rate5m``."""
    return f"slo:sli_error:ratio_rate{promql_duration(window)}"
