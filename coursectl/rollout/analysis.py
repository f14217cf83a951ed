"""Pure analysis: PromQL for the built-in metrics, judging values against thresholds and stable, limits.

A measurement is Successful, Failed, Inconclusive or Error (Argo Rollouts' vocabulary). A provider that is
down is an Error, counted as a failure; no data is a failure unless the metric says ``on_no_data:
inconclusive``; nothing here ever turns missing data into a pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SUCCESSFUL = "successful"
FAILED = "failed"
INCONCLUSIVE = "inconclusive"
ERROR = "error"
_SEVERITY = {SUCCESSFUL: 0, INCONCLUSIVE: 1, FAILED: 2, ERROR: 3}

# The built-in metrics, from the services' own /metrics (http_requests_total, http_request_duration_seconds)
# scraped with the slot labels coursectl writes to Prometheus' file_sd targets.
BUILTIN_QUERIES = {
    "error-rate": (
        '(sum(rate(http_requests_total{{slot="{slot}",status=~"5..",{selector}}}[{window}])) or vector(0))'
        ' / sum(rate(http_requests_total{{slot="{slot}",{selector}}}[{window}]))'
    ),
    "latency-p95": (
        "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket"
        '{{slot="{slot}",{selector}}}[{window}])))'
    ),
}
UNITS = {"error-rate": "", "latency-p95": "s"}


@dataclass(frozen=True)
class MetricRule:
    """One metric to judge: its PromQL template and thresholds (from config's MetricCheck)."""

    name: str
    query: str | None = None
    max: float | None = None
    min: float | None = None
    on_no_data: str = "fail"


@dataclass(frozen=True)
class AnalysisRules:
    """How measurements are judged and when the analysis as a whole fails or gives up."""

    metrics: tuple[MetricRule, ...]
    interval: float = 10.0
    failure_limit: int = 2
    inconclusive_limit: int = 2
    compare_with_stable: bool = True
    max_ratio_to_stable: float = 2.0

    @classmethod
    def from_config(cls, cfg: Any) -> AnalysisRules:
        """From a config AnalysisConfig."""
        return cls(
            metrics=tuple(MetricRule(m.name, m.query, m.max, m.min, m.on_no_data) for m in cfg.metrics),
            interval=cfg.interval,
            failure_limit=cfg.failure_limit,
            inconclusive_limit=cfg.inconclusive_limit,
            compare_with_stable=cfg.compare_with_stable,
            max_ratio_to_stable=cfg.max_ratio_to_stable,
        )


def window_for(interval: float, scrape_interval: float = 5.0) -> str:
    """A rate() window: at least four scrapes and at least the analysis interval, in whole seconds."""
    return f"{int(max(interval, 4 * scrape_interval, 20))}s"


def render_query(rule: MetricRule, *, service: str, slot: str, window: str, version: str | None = None) -> str:
    """The PromQL for one metric on one slot of a service, limited to the version running in that slot.

    The version matters: a slot is reused from one rollout to the next, and a rate() window still holds the
    previous version's samples for a while; a new canary must not be judged on its predecessor's traffic.
    """
    template = rule.query or BUILTIN_QUERIES[rule.name]
    selector = f'service="{service}"' + (f',version="{version}"' if version else "")
    return template.format(service=service, slot=slot, window=window, interval=window, selector=selector)


@dataclass(frozen=True)
class Measurement:
    """One judged metric value, stored as data: the query, the value, the threshold, the verdict, when."""

    metric: str
    slot: str
    query: str
    value: float | None
    verdict: str
    reason: str
    at: str
    max: float | None = None
    min: float | None = None
    stable_value: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})


def fmt(metric: str, value: float | None) -> str:
    """A value for people: error rates as percent, latencies in s or ms."""
    if value is None:
        return "no data"
    if metric == "error-rate":
        return f"{value * 100:.3g}%"
    if metric.startswith("latency"):
        return f"{value:.3g} s" if value >= 1 else f"{value * 1000:.3g} ms"
    return f"{value:.4g}"


def _finite(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return None
    return value


def judge(
    rule: MetricRule,
    *,
    value: float | None,
    error: str | None,
    stable_value: float | None = None,
    compare_with_stable: bool = False,
    max_ratio: float = 2.0,
) -> tuple[str, str]:
    """The verdict on one metric value and why.

    Order: provider error → Error; no data → Failed (or Inconclusive with on_no_data: inconclusive);
    beyond max/min → Failed; canary worse than ``max_ratio`` × stable (and above half the threshold, a noise
    floor) → Failed; else Successful.
    """
    if error is not None:
        return ERROR, f"{rule.name}: metrics provider error: {error}"
    value = _finite(value)
    if value is None:
        verdict = INCONCLUSIVE if rule.on_no_data == "inconclusive" else FAILED
        return verdict, f"{rule.name}: no data"
    if rule.max is not None and value > rule.max:
        return FAILED, f"{rule.name} {fmt(rule.name, value)} > {fmt(rule.name, rule.max)}"
    if rule.min is not None and value < rule.min:
        return FAILED, f"{rule.name} {fmt(rule.name, value)} < {fmt(rule.name, rule.min)}"
    stable_value = _finite(stable_value)
    if compare_with_stable and rule.max is not None and stable_value is not None and stable_value > 0:
        if value > max_ratio * stable_value and value > rule.max / 2:
            return FAILED, (
                f"{rule.name} {fmt(rule.name, value)} > {max_ratio:g} × stable {fmt(rule.name, stable_value)}"
            )
    bound = f" ≤ {fmt(rule.name, rule.max)}" if rule.max is not None else f" ≥ {fmt(rule.name, rule.min)}"
    return SUCCESSFUL, f"{rule.name} {fmt(rule.name, value)}{bound}"


def worst(verdicts: Sequence[str]) -> str:
    """The verdict of a round: the worst of its measurements (Error > Failed > Inconclusive > Successful)."""
    return max(verdicts, key=_SEVERITY.__getitem__) if verdicts else INCONCLUSIVE


@dataclass
class Tally:
    """Counts over one analysis run, and the decision they lead to."""

    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    rounds: int = 0
    history: list[str] = field(default_factory=list)

    def add(self, verdict: str) -> None:
        self.rounds += 1
        self.history.append(verdict)
        if verdict == SUCCESSFUL:
            self.successful += 1
        elif verdict == FAILED:
            self.failed += 1
        elif verdict == ERROR:
            self.errors += 1
        else:
            self.inconclusive += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "successful": self.successful,
            "failed": self.failed,
            "inconclusive": self.inconclusive,
            "errors": self.errors,
            "rounds": self.rounds,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tally:
        return cls(
            **{k: int(data.get(k, 0)) for k in ("successful", "failed", "inconclusive", "errors", "rounds")}
        )


def decide(tally: Tally, *, failure_limit: int, inconclusive_limit: int) -> str:
    """What the analysis says now: ``fail`` (failed + errors beyond failure_limit), ``pause`` (inconclusive
    beyond inconclusive_limit, a human decides), or ``continue``."""
    if tally.failed + tally.errors > failure_limit:
        return "fail"
    if tally.inconclusive > inconclusive_limit:
        return "pause"
    return "continue"


def explain_failure(measurements: Sequence[Measurement], tally: Tally) -> str:
    """'latency-p95 1.52 s > 500 ms on canary, 3 of 3 failed' — the message a human reads."""
    bad = [m for m in measurements if m.verdict in (FAILED, ERROR)]
    lead = bad[-1] if bad else (measurements[-1] if measurements else None)
    counts = f"{tally.failed + tally.errors} of {tally.rounds} failed"
    if lead is None:
        return counts
    return f"{lead.reason} on {lead.slot}, {counts}"
