"""Use cases for metrics: the DORA report of a window and the success-metrics report against targets."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from coursectl.dora.compute import DoraInputs, compute_dora, effective_statuses, previous_staying_rows
from coursectl.dora.model import (
    DEPLOYMENT_STATUSES,
    HOTFIXED,
    ROLLBACK_STATUSES,
    SUCCEEDED,
    History,
    Rollback,
    Window,
    local,
)
from coursectl.errors import CoursectlError, UsageError
from coursectl.render.formats import duration, pct

if TYPE_CHECKING:
    from coursectl.config.models import MetricsConfig
    from coursectl.ports import BuildHistory, Ledger, MetricsProvider, QualityGate

log = logging.getLogger(__name__)

DEFINITIONS = (
    "Window [from, to) in {tz}; deployments and rollbacks belong to it by finished_at. "
    "Deployment frequency counts succeeded deployments. Lead time is per commit, from committed_at to the "
    "finished_at of the first succeeded deployment that brought it and stayed (not rolled back). "
    "Change failure rate = (failed + rolled_back + succeeded-then-hotfixed) / all deployments; rollback records "
    "are not deployments. Rework rate = (hotfix deployments + rollbacks) / all deployments. Recovery time is "
    "per failed, rolled-back or hotfixed deployment, from its finished_at to the next succeeded deployment or "
    "succeeded rollback of the same service and environment. Median: the usual median; p90: linear "
    "interpolation between closest ranks (type 7). Tiers: {report}; n/a below {min} deployments."
)


# windows -----------------------------------------------------------------------------------------------


def parse_when(text: str, tz: ZoneInfo) -> datetime:
    """A window bound: ``2026-10-01`` (local midnight in ``tz``) or an ISO 8601 time (local if no offset)."""
    try:
        value = datetime.fromisoformat(text.strip())
        if value.tzinfo is not None:
            value.astimezone(ZoneInfo("UTC"))  # an offset that pushes it past year 1 or 9999
    except (ValueError, OverflowError) as exc:
        hint = "use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM]"
        raise UsageError(f"not a date or time: {text!r}", hint=hint) from exc
    if value.tzinfo is None:
        return local(value, tz)
    return value


MAX_WINDOW = timedelta(days=100 * 366)
"""The longest window a report covers (a hundred years)."""
EARLIEST = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))
LATEST = datetime(2200, 1, 1, tzinfo=ZoneInfo("UTC"))


def parse_span(text: str) -> timedelta:
    """``30d``, ``2w``, ``12h`` or ``90m`` as a timedelta (at most a hundred years)."""
    units = {"m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
    text = text.strip().lower()
    number = text[:-1]
    if len(text) >= 2 and text[-1] in units and number.isascii() and number.replace(".", "", 1).isdigit():
        seconds = float(number) * units[text[-1]]
        if seconds > MAX_WINDOW.total_seconds():
            raise UsageError(f"time span {text[:40]!r} is longer than a hundred years", hint="use e.g. 30d or 52w")
        if seconds > 0:
            return timedelta(seconds=seconds)
    raise UsageError(f"not a time span: {text[:40]!r}", hint="use e.g. 30d, 2w, 12h or 90m")


def make_window(
    tz: ZoneInfo,
    *,
    since: str | None = None,
    start: str | None = None,
    end: str | None = None,
    default_days: float = 30.0,
    now: datetime | None = None,
) -> Window:
    """The window asked for: ``--from/--to`` (``--to`` defaults to now) or ``--since`` back from now.

    ``--since`` is counted on the wall clock of ``tz``: 30d before 12:00 is 12:00 thirty calendar days earlier,
    whatever DST did meanwhile.
    """
    if since and (start or end):
        raise UsageError("give either --since or --from/--to, not both")
    current = (now or datetime.now(tz)).astimezone(tz).replace(microsecond=0)
    if start or end:
        if not start:
            raise UsageError("--to needs --from")
        begin = parse_when(start, tz)
        finish = parse_when(end, tz) if end else current
    else:
        span = parse_span(since) if since else timedelta(days=default_days)
        finish = current
        begin = local(current.replace(tzinfo=None) - span, tz)
    if finish <= begin:
        raise UsageError("the window's end must be after its start")
    if begin < EARLIEST or finish > LATEST:
        raise UsageError(
            f"the window {begin.date().isoformat()} → {finish.date().isoformat()} is out of range",
            hint="windows lie between 1970-01-01 and 2200-01-01",
        )
    if finish - begin > MAX_WINDOW:
        raise UsageError("the window is longer than a hundred years", hint="choose a shorter window")
    return Window(begin, finish, tz)


# DORA ----------------------------------------------------------------------------------------------------


@dataclass
class GitSource:
    """Where commits come from for deployments that do not list theirs."""

    repository: Path
    service_paths: Mapping[str, str] = field(default_factory=dict)
    shared_paths: Sequence[str] = ()
    commits: Callable[[str, str, Sequence[str]], list[tuple[str, float]]] | None = None
    """(sha, base, paths) → the commits ``sha`` brings over ``base`` within ``paths`` (sha, committed at):
    git in ``repository`` (``wiring.git_source``); ExternalError when it cannot tell."""

    def paths_for(self, service: str) -> list[str]:
        """The service's folder plus the shared paths; [] (no limit) for a service not configured."""
        own = self.service_paths.get(service)
        return [own, *self.shared_paths] if own else []


def load_history(
    ledger: Ledger, environment: str | None, service: str | None
) -> tuple[History, list[bytes | None], Any]:
    """The ledger's finished deployments and rollbacks as a History, and per row: the packed commit times it
    listed (None: not listed), and whether another deployment lists some of the same commits."""
    rows = ledger.deployment_rows(environment, service, DEPLOYMENT_STATUSES)
    rollbacks = [
        Rollback(r[0], r[1], r[2], r[3], r[4], r[6], r[5])
        for r in ledger.rollback_rows(environment, service)
        if r[5] in ROLLBACK_STATUSES
    ]
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * 10
    return History.from_columns(cols, rollbacks), list(cols[8]), np.asarray(cols[9], dtype=bool)


def _listed_commits(
    ledger: Ledger,
    h: History,
    eff: Any,
    blobs: list[bytes | None],
    repeated: Any,
    start: float,
    end: float,
) -> tuple[list[Any], list[Any]]:
    """Commit owners and times of staying deployments finished in [start, end) that listed their commits.

    Deployments whose commits no other deployment lists come straight from the packed column; the few that
    share commits with another are de-duplicated here: a commit counts for its service once, at the first
    staying deployment that brought it.
    """
    staying = (eff == SUCCEEDED) | (eff == HOTFIXED)
    lo, hi = (int(x) for x in np.searchsorted(h.finished, [start, end]))
    listed = np.asarray([b is not None for b in blobs[lo:hi]], dtype=bool)
    plain = np.flatnonzero(listed & staying[lo:hi] & ~repeated[lo:hi]) + lo
    owners: list[Any] = []
    times: list[Any] = []
    if len(plain):
        chosen = [blobs[i] for i in plain.tolist()]
        counts = np.asarray([len(b) // 8 for b in chosen], dtype=np.int64)  # type: ignore[arg-type]
        owners.append(np.repeat(h.ids[plain], counts))
        times.append(np.frombuffer(b"".join(chosen), dtype="<f8").astype(np.float64))  # type: ignore[arg-type]
    shared_rows = np.flatnonzero(staying & repeated & (h.finished < end))
    if len(shared_rows):
        shared = {int(h.ids[i]): (float(h.finished[i]), h.service[i]) for i in shared_rows}
        first: dict[tuple[str, str], tuple[float, int, float]] = {}
        for event_id, sha, committed_at in ledger.commit_rows(list(shared)):
            fin, svc = shared[event_id]
            key = (svc, sha)
            if key not in first or (fin, event_id) < first[key][:2]:
                first[key] = (fin, event_id, committed_at)
        kept = sorted((fin, i, at) for fin, i, at in first.values() if start <= fin < end)
        owners.append(np.asarray([i for _, i, _ in kept], dtype=np.int64))
        times.append(np.asarray([at for _, _, at in kept], dtype=np.float64))
    return owners, times


def dora_report(
    ledger: Ledger,
    window: Window,
    *,
    environment: str | None,
    service: str | None = None,
    tiers_year: int = 2023,
    min_deployments: int = 5,
    by_service: bool = False,
    git: GitSource | None = None,
) -> dict[str, Any]:
    """The DORA report of ``window`` (see coursectl.dora.compute for the definitions)."""
    h, blobs, repeated = load_history(ledger, environment, service)
    eff = effective_statuses(h)
    end = window.end_ts
    needed_from = window.previous().start_ts
    owners, times = _listed_commits(ledger, h, eff, blobs, repeated, needed_from, end)
    listed = np.asarray([b is not None for b in blobs], dtype=bool)
    warnings: list[str] = []
    without: set[int] = set()
    from_git = 0
    staying = (eff == SUCCEEDED) | (eff == HOTFIXED)
    in_range = (h.finished >= needed_from) & (h.finished < end)
    todo = np.flatnonzero(staying & in_range & ~listed)
    previous = previous_staying_rows(h, eff) if len(todo) else None
    for i in todo.tolist():
        d = h.deployment(i)
        base = int(previous[i]) if previous is not None else -1
        base_commit = h.commit[base] if base >= 0 else None
        if git is None or git.commits is None or not d.commit or not base_commit:
            without.add(d.id)
            continue
        try:
            found = git.commits(d.commit, base_commit, git.paths_for(d.service))
        except CoursectlError as exc:
            what = f"deployment {d.id} ({d.service} {d.version})"
            warnings.append(f"{what}: commits not read from git: {exc.message}")
            without.add(d.id)
            continue
        from_git += len(found)
        owners.append(np.full(len(found), d.id, dtype=np.int64))
        times.append(np.fromiter((ts for _, ts in found), dtype=np.float64, count=len(found)))
    inputs = DoraInputs(
        h,
        eff,
        commit_owner=np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64),
        commit_time=np.concatenate(times) if times else np.zeros(0, dtype=np.float64),
        deployments_without_commits=frozenset(without),
    )
    report = compute_dora(
        inputs,
        window,
        tiers_year=tiers_year,
        min_deployments=min_deployments,
        by_service=by_service,
        environment=environment,
        service=service,
    )
    report["lead_time"]["commits_from_git"] = from_git
    report["definitions"] = DEFINITIONS.format(
        tz=window.tz.key, report=report["tiers_report"]["name"], min=min_deployments
    )
    report["warnings"] = warnings
    return report


# success metrics -------------------------------------------------------------------------------------------


def _line(
    key: str,
    label: str,
    value: float | None,
    unit: str,
    target: str,
    met: bool | None,
    source: str,
    reason: str | None = None,
) -> dict[str, Any]:
    from coursectl.config.redact import redact_text

    status = "unknown" if value is None else ("met" if met else "missed")
    # sources and reasons name servers by URL: credentials in them never reach any output
    return {
        "key": key,
        "label": label,
        "value": value,
        "unit": unit,
        "target": target,
        "status": status,
        "source": redact_text(source),
        "reason": None if reason is None else redact_text(reason),
    }


@dataclass(frozen=True)
class SuccessSources:
    """Where the success metrics beyond the ledger come from (``wiring.success_sources``): each a factory of
    its port, called when the metric is read, so that a secret that cannot be resolved or a server that does
    not answer makes that one metric unknown; None when the configuration names no such source."""

    prometheus: Callable[[], MetricsProvider] | None = None
    builds: Callable[[], BuildHistory] | None = None
    quality: Callable[[], QualityGate] | None = None


def success_report(
    ledger: Ledger,
    window: Window,
    metrics: MetricsConfig,
    *,
    environment: str,
    service: str | None = None,
    sources: SuccessSources | None = None,
    dora: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The seed's key success metrics against their targets, each saying where it came from."""
    sources = sources or SuccessSources()
    t = metrics.targets
    dora = dora or dora_report(
        ledger,
        window,
        environment=environment,
        service=service,
        tiers_year=metrics.tiers,
        min_deployments=metrics.min_deployments,
    )
    ledger_src = f"ledger ({environment}, {dora['change_failure_rate']['deployments']} deployments)"
    lines = []
    df = dora["deployment_frequency"]
    lines.append(
        _line(
            "deployment_frequency",
            "Deployment frequency",
            df["per_day"],
            "per day",
            f">= {t.deployments_per_day:g} per day",
            df["per_day"] >= t.deployments_per_day,
            ledger_src,
        )
    )
    lt = dora["lead_time"]["median_seconds"]
    lines.append(
        _line(
            "lead_time",
            "Lead time for changes (median)",
            lt,
            "seconds",
            f"< {duration(t.lead_time)}",
            None if lt is None else lt < t.lead_time,
            ledger_src + " + git",
            None if lt is not None else "no commits reached production in the window",
        )
    )
    rec = dora["recovery_time"]["median_seconds"]
    lines.append(
        _line(
            "recovery_time",
            "Recovery time (median)",
            rec,
            "seconds",
            f"< {duration(t.recovery_time)}",
            None if rec is None else rec < t.recovery_time,
            ledger_src,
            None if rec is not None else "no recovered failure in the window",
        )
    )
    cfr = dora["change_failure_rate"]["rate"]
    lines.append(
        _line(
            "change_failure_rate",
            "Change failure rate",
            cfr,
            "ratio",
            f"< {pct(t.change_failure_rate, 1)}",
            None if cfr is None else cfr < t.change_failure_rate,
            ledger_src,
            None if cfr is not None else "no deployments in the window",
        )
    )
    lines.append(_uptime(window, metrics, sources.prometheus))
    lines.append(_builds(window, metrics, sources.builds))
    lines.append(_coverage(metrics, sources.quality))
    lines.append(_scans(ledger, window, t.scan_pass_rate, service))
    return {"window": window.to_dict(), "environment": environment, "service": service, "metrics": lines}


def availability_query(template: str, window_seconds: float) -> str:
    """The PromQL of ``template`` with ``{window}`` set to the window as whole seconds (``2592000s``)."""
    return template.replace("{window}", f"{max(1, int(round(window_seconds)))}s")


def _uptime(
    window: Window, metrics: MetricsConfig, prometheus: Callable[[], MetricsProvider] | None
) -> dict[str, Any]:
    target = f">= {pct(metrics.targets.uptime, 1)}"
    cfg = metrics.prometheus
    if cfg is None or prometheus is None:
        return _line(
            "uptime", "Uptime", None, "ratio", target, None, "Prometheus", "not configured (metrics.prometheus)"
        )
    query = availability_query(cfg.query, window.end_ts - window.start_ts)
    probes = "blackbox probes of the edge's public routes, " if "probe_success" in query else ""
    source = f"{probes}Prometheus {cfg.url}: {query}"
    try:
        result = prometheus().query(query, at=window.end_ts)
    except CoursectlError as exc:
        return _line("uptime", "Uptime", None, "ratio", target, None, source, f"unreachable: {exc.message}")
    if result.error is not None:
        return _line("uptime", "Uptime", None, "ratio", target, None, source, f"unreachable: {result.error}")
    value = result.value
    if value is None:
        return _line("uptime", "Uptime", None, "ratio", target, None, source, "the query returned no data")
    return _line("uptime", "Uptime", value, "ratio", target, value >= metrics.targets.uptime, source)


def _builds(window: Window, metrics: MetricsConfig, history: Callable[[], BuildHistory] | None) -> dict[str, Any]:
    target = f"> {pct(metrics.targets.build_success_rate, 1)}"
    cfg = metrics.jenkins
    if cfg is None or history is None:
        return _line(
            "build_success_rate",
            "Build success rate",
            None,
            "ratio",
            target,
            None,
            "Jenkins",
            "not configured (metrics.jenkins)",
        )
    source = f"Jenkins {cfg.url} job {cfg.job}"
    try:
        builds = history().builds()
    except CoursectlError as exc:
        return _line(
            "build_success_rate",
            "Build success rate",
            None,
            "ratio",
            target,
            None,
            source,
            f"unreachable: {exc.message}",
        )
    counted = [
        b
        for b in builds
        if not b.building and b.result in ("SUCCESS", "UNSTABLE", "FAILURE") and window.contains(b.finished_at)
    ]
    if not counted:
        return _line(
            "build_success_rate",
            "Build success rate",
            None,
            "ratio",
            target,
            None,
            source,
            f"no completed builds in the window (of {len(builds)} most recent)",
        )
    rate = sum(1 for b in counted if b.result == "SUCCESS") / len(counted)
    return _line(
        "build_success_rate",
        "Build success rate",
        rate,
        "ratio",
        target,
        rate > metrics.targets.build_success_rate,
        f"{source} ({len(counted)} builds)",
    )


def _coverage(metrics: MetricsConfig, quality: Callable[[], QualityGate] | None) -> dict[str, Any]:
    target = f"> {metrics.targets.coverage:g} %"
    cfg = metrics.sonarqube
    if cfg is None or quality is None:
        return _line(
            "coverage",
            "Test coverage",
            None,
            "percent",
            target,
            None,
            "SonarQube",
            "not configured (metrics.sonarqube)",
        )
    source = f"SonarQube {cfg.url} project {cfg.project}"
    try:
        gate = quality()
        try:
            value, how = gate.coverage(cfg.project)
        finally:
            gate.close()
    except CoursectlError as exc:
        return _line("coverage", "Test coverage", None, "percent", target, None, source, exc.message)
    return _line(
        "coverage", "Test coverage", value, "percent", target, value > metrics.targets.coverage, f"{source}: {how}"
    )


def _scans(ledger: Ledger, window: Window, target_rate: float, service: str | None) -> dict[str, Any]:
    target = f">= {pct(target_rate, 1)}"
    events = ledger.events(kinds=["scan"], service=service, since=window.start, until=window.end)
    if not events:
        return _line(
            "scan_pass_rate",
            "Security-scan pass rate",
            None,
            "ratio",
            target,
            None,
            "ledger (scan events)",
            "no scan recorded in the window",
        )
    passed = sum(1 for e in events if e.outcome == "passed")
    rate = passed / len(events)
    counts: dict[str, int] = {}
    for e in events:
        counts[e.outcome or "none"] = counts.get(e.outcome or "none", 0) + 1
    detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return _line(
        "scan_pass_rate",
        "Security-scan pass rate",
        rate,
        "ratio",
        target,
        rate >= target_rate,
        f"ledger ({len(events)} scan events: {detail}; skipped is not a pass)",
    )


def success_history(
    ledger: Ledger,
    window: Window,
    metrics: MetricsConfig,
    *,
    environment: str,
    service: str | None = None,
    sources: SuccessSources | None = None,
    windows: int = 6,
    git: GitSource | None = None,
) -> list[dict[str, Any]]:
    """The success report of ``window`` and of the ``windows - 1`` windows of the same length before it,
    oldest first (the trend of every metric; coverage has no history in SonarQube's API, so its past is
    unknown)."""
    length = window.end - window.start
    out = []
    for i in reversed(range(windows)):
        w = Window(window.start - i * length, window.end - i * length, window.tz)
        dora = dora_report(
            ledger,
            w,
            environment=environment,
            service=service,
            tiers_year=metrics.tiers,
            min_deployments=metrics.min_deployments,
            git=git,
        )
        report = (
            success_report(
                ledger, w, metrics, environment=environment, service=service, sources=sources, dora=dora
            )
            if i == 0
            else _past_report(
                ledger, w, metrics, environment=environment, service=service, sources=sources, dora=dora
            )
        )
        out.append(report)
    return out


def _past_report(
    ledger: Ledger,
    window: Window,
    metrics: MetricsConfig,
    *,
    environment: str,
    service: str | None,
    sources: SuccessSources | None,
    dora: dict[str, Any],
) -> dict[str, Any]:
    report = success_report(
        ledger, window, metrics, environment=environment, service=service, sources=sources, dora=dora
    )
    for line in report["metrics"]:
        if line["key"] == "coverage":  # SonarQube gives the current figure only: not a past window's
            line.update(value=None, status="unknown", reason="SonarQube keeps no history of this figure here")
    return report
