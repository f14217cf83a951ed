"""Pure analysis: PromQL for the built-in metrics, judging values against thresholds and stable, limits.

A measurement is Successful, Failed, Inconclusive or Error (Argo Rollouts' vocabulary). A provider that is
down is an Error, counted as a failure; no data is a failure unless the metric says ``on_no_data:
inconclusive``; nothing here ever turns missing data into a pass.

Analysis judges user traffic only: the queries leave out the health, metrics and version routes (by the
``route`` label), and every measurement carries the number of user requests it was computed from. Below the
metric's ``min_requests`` a measurement is Inconclusive ("no traffic: 3 requests in 20 s, need 20") — never
Successful — unless its error rate fails even if every missing request had succeeded.
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

# Routes that are not user traffic: readiness and liveness checks (the edge's, the orchestrator's), Prometheus'
# own scrapes and version probes. Matched against the ``route`` label (the route template) as one regex.
DEFAULT_EXCLUDED_ROUTES = ("/health/.*", "/metrics", "/version")
DEFAULT_MIN_REQUESTS = 20

# The built-in metrics, from the services' own /metrics (http_requests_total, http_request_duration_seconds)
# scraped with the slot labels coursectl writes to Prometheus' file_sd targets. ``{selector}`` selects the
# service, the slot's version and user routes only.
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
# How many user requests a measurement is based on (extrapolated by increase(), so not always a whole number).
REQUESTS_QUERY = 'sum(increase(http_requests_total{{slot="{slot}",{selector}}}[{window}]))'
# How often Prometheus has scraped a slot's version in the window: from 2 on, rate() and increase() see its
# traffic (a new file_sd target is picked up within a few seconds, then scraped every scrape interval).
SCRAPES_QUERY = 'count_over_time(up{{slot="{slot}",{selector}}}[{window}])'


@dataclass(frozen=True)
class MetricRule:
    """One metric to judge: its PromQL template and thresholds (from config's MetricCheck)."""

    name: str
    query: str | None = None
    max: float | None = None
    min: float | None = None
    on_no_data: str = "fail"
    min_requests: int = DEFAULT_MIN_REQUESTS
    requests_query: str | None = None


@dataclass(frozen=True)
class AnalysisRules:
    """How measurements are judged and when the analysis as a whole fails or gives up."""

    metrics: tuple[MetricRule, ...]
    interval: float = 10.0
    failure_limit: int = 2
    inconclusive_limit: int = 2
    compare_with_stable: bool = True
    max_ratio_to_stable: float = 2.0
    on_no_traffic: str = "pause"
    exclude_routes: tuple[str, ...] = DEFAULT_EXCLUDED_ROUTES

    @classmethod
    def from_config(cls, cfg: Any, env: Any = None) -> AnalysisRules:
        """From a config AnalysisConfig, with an EnvironmentConfig's ``min_requests`` / ``on_no_traffic``.

        ``min_requests``: the metric's own, else the environment's, else the analysis default.
        """
        env_min = getattr(env, "min_requests", None)
        default_min = env_min if env_min is not None else cfg.min_requests
        env_traffic = getattr(env, "on_no_traffic", None)
        return cls(
            metrics=tuple(
                MetricRule(
                    m.name,
                    m.query,
                    m.max,
                    m.min,
                    m.on_no_data,
                    min_requests=m.min_requests if m.min_requests is not None else default_min,
                    requests_query=m.requests_query or cfg.requests_query,
                )
                for m in cfg.metrics
            ),
            interval=cfg.interval,
            failure_limit=cfg.failure_limit,
            inconclusive_limit=cfg.inconclusive_limit,
            compare_with_stable=cfg.compare_with_stable,
            max_ratio_to_stable=cfg.max_ratio_to_stable,
            on_no_traffic=env_traffic or cfg.on_no_traffic,
            exclude_routes=tuple(cfg.exclude_routes),
        )


def window_for(interval: float, scrape_interval: float = 5.0) -> str:
    """A rate() window: at least four scrapes and at least the analysis interval, in whole seconds."""
    return f"{int(max(interval, 4 * scrape_interval, 20))}s"


def window_seconds(window: str) -> int:
    """``"20s"`` → 20."""
    return int(window.rstrip("s"))


def _promql_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def selector(
    *,
    service: str,
    version: str | None = None,
    exclude_routes: Sequence[str] = DEFAULT_EXCLUDED_ROUTES,
    spec: str | None = None,
) -> str:
    """The label matchers of a service's user traffic: service, the slot's version (and ``spec``, the fingerprint
    of what the slot runs, where the target labels its series so), not the excluded routes.

    A series without a ``route`` label is kept (``!~`` matches an absent label), so custom metrics that have
    no route are not affected.
    """
    parts = [f'service="{_promql_string(service)}"']
    if version:
        parts.append(f'version="{_promql_string(version)}"')
    if spec:
        parts.append(f'spec="{_promql_string(spec)}"')
    if exclude_routes:
        parts.append(f'route!~"{_promql_string("|".join(exclude_routes))}"')
    return ",".join(parts)


def _render(
    template: str,
    *,
    service: str,
    slot: str,
    window: str,
    version: str | None,
    exclude_routes: Sequence[str],
    spec: str | None = None,
) -> str:
    sel = selector(service=service, version=version, exclude_routes=exclude_routes, spec=spec)
    return template.format(service=service, slot=slot, window=window, interval=window, selector=sel)


def render_query(
    rule: MetricRule,
    *,
    service: str,
    slot: str,
    window: str,
    version: str | None = None,
    exclude_routes: Sequence[str] = DEFAULT_EXCLUDED_ROUTES,
    spec: str | None = None,
) -> str:
    """The PromQL for one metric on one slot of a service, limited to the version running in that slot.

    The version matters: a slot is reused from one rollout to the next, and a rate() window still holds the
    previous version's samples for a while; a new canary must not be judged on its predecessor's traffic.
    """
    template = rule.query or BUILTIN_QUERIES[rule.name]
    return _render(
        template,
        service=service,
        slot=slot,
        window=window,
        version=version,
        exclude_routes=exclude_routes,
        spec=spec,
    )


def render_scrapes_query(
    *, service: str, slot: str, window: str, version: str | None = None, spec: str | None = None
) -> str:
    """The PromQL counting the scrapes of a slot's version in the window (``up`` carries the target's labels)."""
    return _render(
        SCRAPES_QUERY, service=service, slot=slot, window=window, version=version, exclude_routes=(), spec=spec
    )


def render_requests_query(
    rule: MetricRule,
    *,
    service: str,
    slot: str,
    window: str,
    version: str | None = None,
    exclude_routes: Sequence[str] = DEFAULT_EXCLUDED_ROUTES,
    spec: str | None = None,
) -> str:
    """The PromQL counting the user requests a measurement of ``rule`` is computed from."""
    return _render(
        rule.requests_query or REQUESTS_QUERY,
        service=service,
        slot=slot,
        window=window,
        version=version,
        exclude_routes=exclude_routes,
        spec=spec,
    )


@dataclass(frozen=True)
class Measurement:
    """One judged metric value, stored as data: the query, the value, the threshold, the verdict, the number of
    user requests it was computed from, when."""

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
    requests: float | None = None
    min_requests: int | None = None
    window: str | None = None
    round: int | None = None
    weight: int | None = None
    no_traffic: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**{"metric": "", "slot": "", "query": "", "value": None, "verdict": "", "reason": "", "at": "",
                      **known})  # fmt: skip


def fmt(metric: str, value: float | None) -> str:
    """A value for people: error rates as percent, latencies in s or ms."""
    if value is None:
        return "no data"
    if metric == "error-rate":
        return f"{value * 100:.3g}%"
    if metric.startswith("latency"):
        return f"{value:.3g} s" if value >= 1 else f"{value * 1000:.3g} ms"
    return f"{value:.4g}"


def requests_text(requests: float | None) -> str:
    """A request count for people: increase() extrapolates, so it is rounded to a whole number."""
    return "no" if requests is None else f"{round(requests):d}"


def no_traffic_reason(requests: float | None, window: str, need: int) -> str:
    """'no traffic: 3 requests in 20 s, need 20'."""
    return f"no traffic: {requests_text(requests)} requests in {window_seconds(window)} s, need {need}"


def too_little_traffic(rule: MetricRule, requests: float | None) -> bool:
    """Whether ``requests`` user requests are fewer than the metric needs to be judged."""
    requests = _finite(requests)
    return rule.min_requests > 0 and (requests is None or requests < rule.min_requests)


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
    requests: float | None = None,
    window: str = "20s",
) -> tuple[str, str]:
    """The verdict on one metric value and why.

    Order: provider error → Error; fewer user ``requests`` in the ``window`` than ``rule.min_requests`` →
    Inconclusive ("no traffic: …"), except an error rate so high that it fails even if every missing request
    had succeeded → Failed; no data → Failed (or Inconclusive with on_no_data: inconclusive); beyond max/min →
    Failed; canary worse than ``max_ratio`` × stable (and above half the threshold, a noise floor) → Failed;
    else Successful.
    """
    if error is not None:
        return ERROR, f"{rule.name}: metrics provider error: {error}"
    value = _finite(value)
    requests = _finite(requests)
    if too_little_traffic(rule, requests):
        if rule.name == "error-rate" and rule.max is not None and value is not None and requests:
            errors = value * requests
            if errors / rule.min_requests > rule.max:
                return FAILED, (
                    f"{rule.name} {fmt(rule.name, value)} > {fmt(rule.name, rule.max)} "
                    f"({requests_text(errors)} errors in {requests_text(requests)} requests: over "
                    f"{fmt(rule.name, rule.max)} of {rule.min_requests} whatever the rest answer)"
                )
        return INCONCLUSIVE, no_traffic_reason(requests, window, rule.min_requests)
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


def round_verdict(measurements: Sequence[Measurement]) -> tuple[str, bool]:
    """The verdict of a round and whether it was inconclusive for lack of traffic."""
    verdict = worst([m.verdict for m in measurements])
    no_traffic = verdict == INCONCLUSIVE and any(m.no_traffic for m in measurements)
    return verdict, no_traffic


_COUNTS = ("successful", "failed", "inconclusive", "errors", "rounds", "no_traffic")


@dataclass
class Tally:
    """Counts over one analysis run, and the decision they lead to. ``no_traffic`` counts the inconclusive
    rounds that had too few user requests (a subset of ``inconclusive``)."""

    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    rounds: int = 0
    no_traffic: int = 0
    history: list[str] = field(default_factory=list)

    def add(self, verdict: str, *, no_traffic: bool = False) -> None:
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
            if no_traffic:
                self.no_traffic += 1

    def forgive_inconclusive(self) -> None:
        """A human resumed a rollout paused for inconclusive analysis: count inconclusive rounds afresh."""
        self.inconclusive = 0
        self.no_traffic = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _COUNTS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tally:
        c = {k: int(data.get(k, 0)) for k in _COUNTS}
        return cls(c["successful"], c["failed"], c["inconclusive"], c["errors"], c["rounds"], c["no_traffic"])


FAIL = "fail"
PAUSE = "pause"
NO_TRAFFIC = "no-traffic"
CONTINUE = "continue"


def decide(tally: Tally, *, failure_limit: int, inconclusive_limit: int) -> str:
    """What the analysis says now: ``fail`` (failed + errors beyond failure_limit); ``no-traffic`` (rounds
    without enough user traffic beyond inconclusive_limit: the environment's ``on_no_traffic`` applies);
    ``pause`` (inconclusive rounds beyond inconclusive_limit, a human decides); or ``continue``."""
    if tally.failed + tally.errors > failure_limit:
        return FAIL
    if tally.no_traffic > inconclusive_limit:
        return NO_TRAFFIC
    if tally.inconclusive > inconclusive_limit:
        return PAUSE
    return CONTINUE


def _requests_suffix(m: Measurement) -> str:
    if m.verdict != FAILED or m.requests is None or m.no_traffic or m.window is None or "requests" in m.reason:
        return ""
    return f" ({requests_text(m.requests)} requests in {window_seconds(m.window)} s)"


def explain_failure(measurements: Sequence[Measurement], tally: Tally) -> str:
    """'error-rate 28% > 1% on canary (245 requests in 20 s), 2 of 2 failed' — the message a human reads."""
    bad = [m for m in measurements if m.verdict in (FAILED, ERROR)]
    lead = bad[-1] if bad else (measurements[-1] if measurements else None)
    counts = f"{tally.failed + tally.errors} of {tally.rounds} failed"
    if lead is None:
        return counts
    return f"{lead.reason} on {lead.slot}{_requests_suffix(lead)}, {counts}"


def explain_no_traffic(measurements: Sequence[Measurement], tally: Tally) -> str:
    """'no traffic: 3 requests in 20 s, need 20 (3 rounds)' — why a rollout stopped without a verdict."""
    lead = next((m for m in measurements if m.no_traffic), None)
    why = lead.reason if lead else "no traffic"
    return f"{why} on {lead.slot if lead else 'the new slot'} ({tally.no_traffic} rounds without enough traffic)"


def last_round(measurements: Sequence[Measurement]) -> list[Measurement]:
    """The measurements of the newest round (those taken at the same time as the last one)."""
    if not measurements:
        return []
    at = measurements[-1].at
    return [m for m in measurements if m.at == at]


def round_line(measurements: Sequence[Measurement]) -> str:
    """Every metric of one round: 'error-rate 0.2% ≤ 1% ok, latency-p95 45 ms ≤ 500 ms ok (240 requests in 20 s)'.

    Each metric with its value, threshold and verdict; the request count once when all metrics share it.
    """
    counts = {(m.requests, m.window) for m in measurements}
    shared = len(counts) == 1
    parts = []
    for m in measurements:
        if m.no_traffic:
            text = f"{m.metric}: {m.reason}"
        elif m.verdict == ERROR:
            text = m.reason
        else:  # the reason says value, relation and threshold: "error-rate 30% > 1%", "latency-p95 45 ms ≤ 500 ms"
            text = f"{m.reason} {VERDICT_WORDS.get(m.verdict, m.verdict)}"
            if not shared and m.requests is not None and m.window:
                text += f" ({requests_text(m.requests)} requests)"
        parts.append(text)
    line = ", ".join(parts)
    first = measurements[0] if measurements else None
    if shared and first is not None and first.window and not any(m.no_traffic for m in measurements):
        line += f" ({requests_text(first.requests)} requests in {window_seconds(first.window)} s)"
    return line


VERDICT_WORDS = {SUCCESSFUL: "ok", FAILED: "FAILED", INCONCLUSIVE: "inconclusive", ERROR: "error"}
