"""The DORA metrics of a window, computed from classified deployments, rollbacks and deployed commits.

Definitions (docs/metrics.md repeats them; the reports print them in a footnote):

* A window is ``[from, to)``; a deployment or rollback belongs to it by its ``finished_at``.
* Effective status: a deployment's own status (succeeded, failed, rolled_back), except that a succeeded
  deployment becomes ``hotfixed`` when a later deployment of the same service and environment is marked
  ``hotfix`` (it marks the latest live succeeded deployment before it), and ``rolled_back`` when a succeeded
  rollback record of the same service and environment takes its version away (the live deployment whose
  version is the rollback's ``from_version``, or the latest live one when no version is given).
* Deployment frequency counts deployments whose own status is ``succeeded``.
* Lead time is per commit and service: from ``committed_at`` to the ``finished_at`` of the first
  deployment that brought it and stayed (effective status succeeded or hotfixed); counted in the window of
  that deployment.
* Change failure rate = (failed + rolled_back + hotfixed) / all deployments; rollback records are not
  deployments.
* Deployment rework rate = (hotfix deployments + rollback records) / all deployments.
* Recovery time is per failed, rolled-back or hotfixed deployment: from its ``finished_at`` to the
  ``finished_at`` of the next succeeded deployment or succeeded rollback of the same service and environment;
  a failure with no such event yet is counted as unrecovered.
* Medians are the usual median; p90 is the linear-interpolation percentile (``stats.percentile``).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coursectl.dora.model import Deployment, Rollback, Window, iso_utc, week_start
from coursectl.dora.stats import median, percentile
from coursectl.dora.tiers import REPORTS, tier_for

FAILED_EFFECTIVE = ("failed", "rolled_back", "hotfixed")
STAYING = ("succeeded", "hotfixed")
LEAD_TIME_BUCKETS = (
    (3600.0, "< 1 h"),
    (4 * 3600.0, "1-4 h"),
    (86400.0, "4-24 h"),
    (7 * 86400.0, "1-7 d"),
    (30 * 86400.0, "7-30 d"),
    (float("inf"), ">= 30 d"),
)

CommitRow = tuple[int, str, float]  # (deployment event id, sha, committed_at)


def classify(deployments: Sequence[Deployment], rollbacks: Sequence[Rollback]) -> dict[int, str]:
    """The effective status of every deployment (see the module docstring), by deployment id."""
    effective = {d.id: d.status for d in deployments}
    groups: dict[tuple[str, str], list[tuple[float, int, int, Deployment | Rollback]]] = defaultdict(list)
    for d in deployments:
        groups[(d.service, d.environment)].append((d.finished_at, 0, d.id, d))
    for r in rollbacks:
        groups[(r.service, r.environment)].append((r.finished_at, 1, r.id, r))
    for items in groups.values():
        items.sort(key=lambda item: item[:3])
        live: list[Deployment] = []  # succeeded deployments not taken away, oldest first
        for _, _, _, item in items:
            if isinstance(item, Deployment):
                if item.hotfix:
                    for previous in reversed(live):
                        if effective[previous.id] == "succeeded":
                            effective[previous.id] = "hotfixed"
                            break
                if item.status == "succeeded":
                    live.append(item)
            elif item.status == "succeeded" and live:
                target = None
                if item.from_version is not None:
                    target = next((d for d in reversed(live) if d.version == item.from_version), None)
                else:
                    target = live[-1]
                if target is not None:
                    effective[target.id] = "rolled_back"
                    live.remove(target)
    return effective


def previous_staying(deployments: Sequence[Deployment], effective: Mapping[int, str]) -> dict[int, Deployment | None]:
    """For every staying deployment, the previous staying deployment of the same service and environment."""
    result: dict[int, Deployment | None] = {}
    last: dict[tuple[str, str], Deployment] = {}
    for d in sorted(deployments, key=lambda d: (d.finished_at, d.id)):
        if effective.get(d.id) in STAYING:
            key = (d.service, d.environment)
            result[d.id] = last.get(key)
            last[key] = d
    return result


@dataclass
class DoraInputs:
    """Everything the computation needs: all deployments and rollbacks known (not only the window's), their
    effective statuses, and the commits each staying deployment brought (``commit_rows``)."""

    deployments: Sequence[Deployment]
    rollbacks: Sequence[Rollback]
    effective: Mapping[int, str]
    commit_rows: Sequence[CommitRow] = ()
    deployments_without_commits: frozenset[int] = field(default_factory=frozenset)


@dataclass
class _Prepared:
    lead: list[tuple[float, float]]  # (deployment finished_at, lead seconds), sorted by finished_at
    recoveries: list[tuple[float, float | None, Deployment]]  # (failure finished_at, seconds or None, dep)


def _prepare(inputs: DoraInputs) -> _Prepared:
    by_id = {d.id: d for d in inputs.deployments}
    first: dict[tuple[str, str], tuple[float, float]] = {}
    for event_id, sha, committed_at in inputs.commit_rows:
        d = by_id.get(event_id)
        if d is None or inputs.effective.get(event_id) not in STAYING:
            continue
        key = (d.service, sha)
        seen = first.get(key)
        if seen is None or d.finished_at < seen[0]:
            first[key] = (d.finished_at, d.finished_at - committed_at)
    lead = sorted(first.values())

    restores: dict[tuple[str, str], list[float]] = defaultdict(list)
    for d in inputs.deployments:
        if d.status == "succeeded":
            restores[(d.service, d.environment)].append(d.finished_at)
    for r in inputs.rollbacks:
        if r.status == "succeeded":
            restores[(r.service, r.environment)].append(r.finished_at)
    for times in restores.values():
        times.sort()
    recoveries: list[tuple[float, float | None, Deployment]] = []
    for d in inputs.deployments:
        if inputs.effective.get(d.id) in FAILED_EFFECTIVE:
            times = restores.get((d.service, d.environment), [])
            i = bisect.bisect_right(times, d.finished_at)
            recoveries.append((d.finished_at, times[i] - d.finished_at if i < len(times) else None, d))
    recoveries.sort(key=lambda item: (item[0], item[2].id))
    return _Prepared(lead, recoveries)


def _core(window: Window, inputs: DoraInputs, prepared: _Prepared) -> dict[str, Any]:
    """The raw figures of one window (no tiers, no trend)."""
    start, end = window.start_ts, window.end_ts
    deps = [d for d in inputs.deployments if start <= d.finished_at < end]
    rollbacks = [r for r in inputs.rollbacks if start <= r.finished_at < end]
    succeeded = [d for d in deps if d.status == "succeeded"]
    days = window.days
    deploy_days = len({datetime.fromtimestamp(d.finished_at, window.tz).date() for d in succeeded})
    eff = [inputs.effective.get(d.id, d.status) for d in deps]
    failed, rolled_back, hotfixed = eff.count("failed"), eff.count("rolled_back"), eff.count("hotfixed")
    failures = failed + rolled_back + hotfixed
    lo = bisect.bisect_left(prepared.lead, (start, float("-inf")))
    hi = bisect.bisect_left(prepared.lead, (end, float("-inf")))
    lead_values = sorted(v for _, v in prepared.lead[lo:hi])
    rec = [item for item in prepared.recoveries if start <= item[0] < end]
    rec_values = sorted(s for _, s, _ in rec if s is not None)
    hotfix_deps = sum(1 for d in deps if d.hotfix)
    return {
        "deployments": deps,
        "succeeded": succeeded,
        "days": days,
        "deploy_days": deploy_days,
        "failed": failed,
        "rolled_back": rolled_back,
        "hotfixed": hotfixed,
        "failures": failures,
        "cfr": failures / len(deps) if deps else None,
        "rework": (hotfix_deps + len(rollbacks)) / len(deps) if deps else None,
        "hotfix_deployments": hotfix_deps,
        "rollbacks": len(rollbacks),
        "lead_values": lead_values,
        "recoveries": rec,
        "recovery_values": rec_values,
        "without_commits": sum(1 for d in deps if d.id in inputs.deployments_without_commits),
    }


def _trend(current: float | None, previous: float | None, higher_is_better: bool) -> dict[str, Any]:
    if current is None or previous is None:
        return {"previous": previous, "change": None, "direction": None}
    change = current - previous
    if abs(change) < 1e-12:
        direction = "same"
    else:
        direction = "better" if (change > 0) == higher_is_better else "worse"
    return {"previous": previous, "change": change, "direction": direction}


def _tier(metric: str, value: float | None, year: int, enough: bool, note: str) -> tuple[str | None, str | None]:
    if not enough:
        return "n/a", note
    if value is None:
        return "n/a", "no value in this window"
    return tier_for(metric, value, year), None


def _histogram(values: Sequence[float]) -> list[dict[str, Any]]:
    counts = [0] * len(LEAD_TIME_BUCKETS)
    bounds = [b for b, _ in LEAD_TIME_BUCKETS]
    for v in values:
        counts[min(bisect.bisect_right(bounds, v), len(bounds) - 1)] += 1
    return [{"label": label, "upper_seconds": (None if b == float("inf") else b), "count": c}
            for (b, label), c in zip(LEAD_TIME_BUCKETS, counts, strict=True)]


def _weekly(window: Window, core: dict[str, Any], prepared: _Prepared, inputs: DoraInputs) -> list[dict[str, Any]]:
    tz = window.tz
    weeks: dict[datetime, dict[str, Any]] = {}

    def bucket(ts: float) -> dict[str, Any]:
        key = week_start(ts, tz)
        if key not in weeks:
            weeks[key] = {"deployments": 0, "succeeded": 0, "failures": 0, "lead": [], "recovery": [],
                          "days": set()}
        return weeks[key]

    for d in core["deployments"]:
        b = bucket(d.finished_at)
        b["deployments"] += 1
        if d.status == "succeeded":
            b["succeeded"] += 1
            b["days"].add(datetime.fromtimestamp(d.finished_at, tz).date())
        if inputs.effective.get(d.id, d.status) in FAILED_EFFECTIVE:
            b["failures"] += 1
    start, end = window.start_ts, window.end_ts
    lo = bisect.bisect_left(prepared.lead, (start, float("-inf")))
    hi = bisect.bisect_left(prepared.lead, (end, float("-inf")))
    for finished, seconds in prepared.lead[lo:hi]:
        bucket(finished)["lead"].append(seconds)
    for finished, seconds, _ in core["recoveries"]:
        if seconds is not None:
            bucket(finished)["recovery"].append(seconds)
    out = []
    for key in sorted(weeks):
        b = weeks[key]
        out.append({
            "week_start": key.date().isoformat(),
            "deployments": b["deployments"],
            "succeeded": b["succeeded"],
            "deploy_days": len(b["days"]),
            "failures": b["failures"],
            "change_failure_rate": b["failures"] / b["deployments"] if b["deployments"] else None,
            "lead_time_median_seconds": median(b["lead"]),
            "recovery_median_seconds": median(b["recovery"]),
        })
    return out


def compute_dora(
    inputs: DoraInputs,
    window: Window,
    *,
    tiers_year: int = 2023,
    min_deployments: int = 5,
    by_service: bool = False,
    environment: str | None = None,
    service: str | None = None,
) -> dict[str, Any]:
    """The DORA report of ``window`` as a JSON-ready dictionary (keys documented in docs/metrics.md)."""
    prepared = _prepare(inputs)
    cur = _core(window, inputs, prepared)
    prev = _core(window.previous(), inputs, prepared)
    n = len(cur["deployments"])
    enough = n >= min_deployments
    note = f"fewer than {min_deployments} deployments in the window ({n})"

    per_day = len(cur["succeeded"]) / cur["days"]
    prev_per_day = len(prev["succeeded"]) / prev["days"]
    weeks_in_window = cur["days"] / 7.0
    df_tier, df_note = _tier("deployment_frequency", per_day, tiers_year, enough, note)

    lead_values = cur["lead_values"]
    lt_median = median(lead_values, presorted=True)
    lt_tier, lt_note = _tier("lead_time", lt_median, tiers_year, enough, note)

    cfr_tier, cfr_note = _tier("change_failure_rate", cur["cfr"], tiers_year, enough, note)

    rec_values = cur["recovery_values"]
    rec_median = median(rec_values, presorted=True)
    rec_tier, rec_note = _tier("recovery_time", rec_median, tiers_year, enough,
                               note) if rec_values or not enough else ("n/a", "no recovered failure in the window")

    def with_note(d: dict[str, Any], tier_note: str | None) -> dict[str, Any]:
        if tier_note:
            d["tier_note"] = tier_note
        return d

    report: dict[str, Any] = {
        "environment": environment,
        "service": service,
        "window": window.to_dict(),
        "previous_window": window.previous().to_dict(),
        "tiers_report": {"year": tiers_year, "name": REPORTS[tiers_year]},
        "min_deployments": min_deployments,
        "deployment_frequency": with_note({
            "count": len(cur["succeeded"]),
            "per_day": per_day,
            "per_week": per_day * 7.0,
            "deploy_days": cur["deploy_days"],
            "deploy_days_per_week": cur["deploy_days"] / weeks_in_window,
            "tier": df_tier,
            "trend": _trend(per_day, prev_per_day, True),
        }, df_note),
        "lead_time": with_note({
            "commits": len(lead_values),
            "median_seconds": lt_median,
            "p90_seconds": percentile(lead_values, 90, presorted=True),
            "deployments_without_commits": cur["without_commits"],
            "tier": lt_tier,
            "trend": _trend(lt_median, median(prev["lead_values"], presorted=True), False),
        }, lt_note),
        "change_failure_rate": with_note({
            "deployments": n,
            "failed": cur["failed"],
            "rolled_back": cur["rolled_back"],
            "hotfixed": cur["hotfixed"],
            "failures": cur["failures"],
            "rate": cur["cfr"],
            "tier": cfr_tier,
            "trend": _trend(cur["cfr"], prev["cfr"], False),
        }, cfr_note),
        "rework_rate": {
            "deployments": n,
            "hotfix_deployments": cur["hotfix_deployments"],
            "rollbacks": cur["rollbacks"],
            "rate": cur["rework"],
            "tier": "n/a",
            "tier_note": "the State of DevOps reports publish no tier thresholds for rework rate",
            "trend": _trend(cur["rework"], prev["rework"], False),
        },
        "recovery_time": with_note({
            "failures": len(cur["recoveries"]),
            "recovered": len(rec_values),
            "unrecovered": len(cur["recoveries"]) - len(rec_values),
            "median_seconds": rec_median,
            "p90_seconds": percentile(rec_values, 90, presorted=True),
            "tier": rec_tier,
            "trend": _trend(rec_median, median(prev["recovery_values"], presorted=True), False),
        }, rec_note),
        "weekly": _weekly(window, cur, prepared, inputs),
        "lead_time_histogram": _histogram(lead_values),
        "recoveries": [
            {"deployment_id": d.id, "service": d.service, "version": d.version,
             "failed_at": iso_utc(ts), "seconds": s}
            for ts, s, d in cur["recoveries"][:500]
        ],
    }
    if by_service:
        services = sorted({d.service for d in inputs.deployments})
        report["by_service"] = {}
        for name in services:
            sub = _subset(inputs, name)
            report["by_service"][name] = _summary(
                compute_dora(sub, window, tiers_year=tiers_year, min_deployments=min_deployments,
                             environment=environment, service=name))
    return report


def _subset(inputs: DoraInputs, service: str) -> DoraInputs:
    deployments = [d for d in inputs.deployments if d.service == service]
    ids = {d.id for d in deployments}
    return DoraInputs(
        deployments=deployments,
        rollbacks=[r for r in inputs.rollbacks if r.service == service],
        effective=inputs.effective,
        commit_rows=[row for row in inputs.commit_rows if row[0] in ids],
        deployments_without_commits=inputs.deployments_without_commits & ids,
    )


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a report, for per-service breakdowns."""
    keys = ("deployment_frequency", "lead_time", "change_failure_rate", "rework_rate", "recovery_time")
    return {k: {kk: vv for kk, vv in report[k].items() if kk != "trend"} for k in keys}
