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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coursectl.dora.model import (
    EFFECTIVE_NAMES,
    FAILED,
    HOTFIXED,
    ROLLED_BACK,
    SUCCEEDED,
    Deployment,
    History,
    Rollback,
    Window,
    iso_utc,
    local_midnights,
    week_starts,
)
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


def _by_group(h: History, rows: np.ndarray) -> dict[int, np.ndarray]:
    """``rows`` (ascending row indexes) split by group, each part still ascending."""
    if len(rows) == 0:
        return {}
    g = h.group[rows]
    order = np.argsort(g, kind="stable")
    rows, g = rows[order], g[order]
    cuts = np.flatnonzero(np.diff(g)) + 1
    return {int(part_g[0]): part for part, part_g in zip(np.split(rows, cuts), np.split(g, cuts), strict=True)}


def effective_statuses(h: History) -> np.ndarray:
    """The effective status code of every row (see the module docstring).

    Only hotfix deployments and succeeded rollbacks change anything, and they are rare, so they are walked
    one by one in time order against each group's succeeded deployments; the rest is vectorised.
    """
    eff: np.ndarray = np.array(h.status, copy=True)
    hot_rows = np.flatnonzero(h.hotfix)
    rollbacks = [r for r in h.rollbacks if r.status == "succeeded"]
    if len(hot_rows) == 0 and not rollbacks:
        return eff
    succ_by_group = _by_group(h, np.flatnonzero(h.status == SUCCEEDED))
    group_of = {key: g for g, key in enumerate(h.groups)}
    wanted = {
        (group_of[(r.service, r.environment)], r.from_version)
        for r in rollbacks
        if r.from_version is not None and (r.service, r.environment) in group_of
    }
    by_version: dict[tuple[int, str | None], list[int]] = {}
    if wanted:
        for g, rows in succ_by_group.items():
            for i in rows.tolist():
                key = (g, h.version[i])
                if key in wanted:
                    by_version.setdefault(key, []).append(i)
    events: list[tuple[float, int, int, Any]] = [
        (float(h.finished[i]), 0, int(h.ids[i]), int(i)) for i in hot_rows
    ]
    events += [(r.finished_at, 1, r.id, r) for r in rollbacks]
    events.sort(key=lambda e: e[:3])
    empty = np.zeros(0, dtype=np.int64)
    for _, kind, _, item in events:
        if kind == 0:  # a hotfix marks the latest live deployment still counted as succeeded
            i = item
            rows = succ_by_group.get(int(h.group[i]), empty)
            p = int(np.searchsorted(rows, i)) - 1
            while p >= 0 and eff[rows[p]] != SUCCEEDED:
                p -= 1
            if p >= 0:
                eff[rows[p]] = HOTFIXED
            continue
        r: Rollback = item
        found = group_of.get((r.service, r.environment))
        if found is None:
            continue
        g = found
        bound = int(np.searchsorted(h.finished, r.finished_at, side="right"))  # deployments up to the rollback
        candidates: Sequence[int] | np.ndarray
        if r.from_version is not None:
            candidates = by_version.get((g, r.from_version), [])
            p = bisect.bisect_left(candidates, bound) - 1
        else:
            candidates = succ_by_group.get(g, empty)
            p = int(np.searchsorted(candidates, bound)) - 1
        while p >= 0 and eff[candidates[p]] == ROLLED_BACK:
            p -= 1
        if p >= 0:
            eff[candidates[p]] = ROLLED_BACK
    return eff


def classify(deployments: Sequence[Deployment], rollbacks: Sequence[Rollback]) -> dict[int, str]:
    """The effective status of every deployment by id (an object-level convenience over effective_statuses)."""
    h = History.from_deployments(deployments, rollbacks)
    eff = effective_statuses(h)
    return {int(i): EFFECTIVE_NAMES[int(e)] for i, e in zip(h.ids, eff, strict=True)}


def previous_staying_rows(h: History, eff: np.ndarray) -> np.ndarray:
    """For every row, the row of the previous staying deployment of its group (-1: none, or not staying)."""
    out = np.full(len(h), -1, dtype=np.int64)
    for rows in _by_group(h, np.flatnonzero((eff == SUCCEEDED) | (eff == HOTFIXED))).values():
        out[rows[1:]] = rows[:-1]
    return out


@dataclass
class DoraInputs:
    """Everything the computation needs: the whole known history (not only the window's), the effective
    statuses, and the commits staying deployments brought as two aligned arrays: the deployment id owning each
    commit and its commit time. A commit must appear once per service, at the first staying deployment that
    brought it (``coursectl.api.metrics`` de-duplicates)."""

    history: History
    effective: np.ndarray
    commit_owner: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    commit_time: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    deployments_without_commits: frozenset[int] = field(default_factory=frozenset)


@dataclass
class _Columns:
    h: History
    code: np.ndarray
    succeeded: np.ndarray
    without: np.ndarray
    rb_fin: np.ndarray
    lead_fin: np.ndarray  # per commit: finished_at of its deployment, sorted
    lead: np.ndarray  # per commit: lead time, aligned with lead_fin
    rec_rows: np.ndarray  # failed rows, ascending (so their finished_at is sorted)
    rec_fin: np.ndarray
    rec_sec: np.ndarray  # NaN when not recovered (yet)


def _columns(inputs: DoraInputs) -> _Columns:
    h, code = inputs.history, inputs.effective
    n = len(h)
    without = np.isin(h.ids, np.fromiter(inputs.deployments_without_commits, dtype=np.int64))
    rb_fin = np.asarray([r.finished_at for r in h.rollbacks], dtype=np.float64)

    order = np.argsort(h.ids, kind="stable")
    sorted_ids = h.ids[order]
    owner = np.asarray(inputs.commit_owner, dtype=np.int64)
    at = np.asarray(inputs.commit_time, dtype=np.float64)
    if n and len(owner):
        pos = np.minimum(np.searchsorted(sorted_ids, owner), n - 1)
        known = sorted_ids[pos] == owner
        rows = order[pos[known]]
        at = at[known]
        staying = (code[rows] == SUCCEEDED) | (code[rows] == HOTFIXED)
        lead_fin = h.finished[rows][staying]
        lead = lead_fin - at[staying]
        if len(lead_fin) > 1 and np.any(np.diff(lead_fin) < 0):
            lead_order = np.argsort(lead_fin, kind="stable")
            lead_fin, lead = lead_fin[lead_order], lead[lead_order]
    else:
        lead_fin = lead = np.zeros(0, dtype=np.float64)

    rec_rows = np.flatnonzero(code != SUCCEEDED)
    rec_fin = h.finished[rec_rows]
    rec_sec = np.full(len(rec_rows), np.nan)
    if len(rec_rows):
        group_of = {key: g for g, key in enumerate(h.groups)}
        restore_rows = np.flatnonzero(h.status == SUCCEEDED)
        restore_g = [h.group[restore_rows]]
        restore_t = [h.finished[restore_rows]]
        ok = [r for r in h.rollbacks if r.status == "succeeded" and (r.service, r.environment) in group_of]
        restore_g.append(np.asarray([group_of[(r.service, r.environment)] for r in ok], dtype=np.int64))
        restore_t.append(np.asarray([r.finished_at for r in ok], dtype=np.float64))
        rg, rt = np.concatenate(restore_g), np.concatenate(restore_t)
        o = np.lexsort((rt, rg))
        rg, rt = rg[o], rt[o]
        fg = h.group[rec_rows]
        for g in np.unique(fg):
            lo, hi = np.searchsorted(rg, [g, g + 1])
            times = rt[lo:hi]
            sel = np.flatnonzero(fg == g)
            nxt = np.searchsorted(times, rec_fin[sel], side="right")
            found = nxt < len(times)
            rec_sec[sel[found]] = times[nxt[found]] - rec_fin[sel[found]]
    return _Columns(h, code, h.status == SUCCEEDED, without, rb_fin, lead_fin, lead, rec_rows, rec_fin, rec_sec)


class _OrderStatistics:
    """Read-only "sorted view" of an array that answers only the ranks the median and p90 need.

    np.partition places exactly those ranks in O(n), instead of sorting a million lead times.
    """

    def __init__(self, values: np.ndarray):
        n = len(values)
        self.n = n
        ranks: set[int] = set()
        if n:
            ranks.update({(n - 1) // 2, n // 2})
            h = (n - 1) * 9 // 10
            ranks.update({h, min(h + 1, n - 1)})
        self.ranks = sorted(ranks)
        self.part = np.partition(values, self.ranks) if n else values

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> float:
        if i not in self.ranks:
            raise IndexError(f"rank {i} was not selected")
        return float(self.part[i])


def _span(values: np.ndarray, start: float, end: float) -> slice:
    lo, hi = np.searchsorted(values, [start, end], side="left")
    return slice(int(lo), int(hi))


def _core(window: Window, c: _Columns) -> dict[str, Any]:
    """The raw figures of one window (no tiers, no trend)."""
    start, end = window.start_ts, window.end_ts
    w = _span(c.h.finished, start, end)
    n = w.stop - w.start
    counts = np.bincount(c.code[w], minlength=4) if n else np.zeros(4, dtype=np.int64)
    succ_fin = c.h.finished[w][c.succeeded[w]]
    days = np.asarray(local_midnights(window), dtype=np.float64)
    deploy_days = int(len(np.unique(np.searchsorted(days, succ_fin, side="right")))) if len(succ_fin) else 0
    rb = _span(c.rb_fin, start, end)
    rollbacks = rb.stop - rb.start
    hotfix_deps = int(c.h.hotfix[w].sum())
    failures = int(counts[FAILED] + counts[ROLLED_BACK] + counts[HOTFIXED])
    lw = _span(c.lead_fin, start, end)
    rw = _span(c.rec_fin, start, end)
    rec_all = c.rec_sec[rw]
    return {
        "window": window,
        "slice": w,
        "n": n,
        "succeeded": int(c.succeeded[w].sum()),
        "days": window.days,
        "deploy_days": deploy_days,
        "failed": int(counts[FAILED]),
        "rolled_back": int(counts[ROLLED_BACK]),
        "hotfixed": int(counts[HOTFIXED]),
        "failures": failures,
        "cfr": failures / n if n else None,
        "rework": (hotfix_deps + rollbacks) / n if n else None,
        "hotfix_deployments": hotfix_deps,
        "rollbacks": rollbacks,
        "lead_slice": lw,
        "lead_values": c.lead[lw],
        "lead_stats": _OrderStatistics(c.lead[lw]),
        "rec_slice": rw,
        "recoveries_total": len(rec_all),
        "recovery_values": np.sort(rec_all[~np.isnan(rec_all)]),
        "without_commits": int(c.without[w].sum()),
    }


def _recorded_before(inputs: DoraInputs, ts: float) -> bool:
    """Whether any deployment or rollback finished before ``ts`` (the history reaches back that far)."""
    h = inputs.history
    return bool((len(h) and float(np.min(h.finished)) < ts) or any(r.finished_at < ts for r in h.rollbacks))


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


def _histogram(values: np.ndarray) -> list[dict[str, Any]]:
    bounds = np.asarray([b for b, _ in LEAD_TIME_BUCKETS[:-1]], dtype=np.float64)
    counts = np.bincount(np.searchsorted(bounds, values, side="right"), minlength=len(LEAD_TIME_BUCKETS))
    return [
        {"label": label, "upper_seconds": (None if b == float("inf") else b), "count": int(n)}
        for (b, label), n in zip(LEAD_TIME_BUCKETS, counts, strict=True)
    ]


def _weekly(core: dict[str, Any], c: _Columns) -> list[dict[str, Any]]:
    window: Window = core["window"]
    starts = week_starts(window)
    bounds = np.asarray([s.timestamp() for s in starts], dtype=np.float64)
    k = len(starts)

    def week_of(times: np.ndarray) -> np.ndarray:
        return np.searchsorted(bounds, times, side="right") - 1

    w = core["slice"]
    dep_week = week_of(c.h.finished[w])
    deployments = np.bincount(dep_week, minlength=k)
    succ = c.succeeded[w]
    succeeded = np.bincount(dep_week[succ], minlength=k)
    failures = np.bincount(dep_week[c.code[w] > 0], minlength=k)
    days = np.asarray(local_midnights(window), dtype=np.float64)
    succ_fin = c.h.finished[w][succ]
    day_index = np.searchsorted(days, succ_fin, side="right")
    lw = core["lead_slice"]
    lead_week = week_of(c.lead_fin[lw])
    lead_vals = c.lead[lw]
    rw = core["rec_slice"]
    rec_week = week_of(c.rec_fin[rw])
    rec_vals = c.rec_sec[rw]
    out = []
    for i, s in enumerate(starts):
        if deployments[i] == 0:
            continue
        wk_days = np.unique(day_index[week_of(succ_fin) == i])
        rv = rec_vals[rec_week == i]
        out.append(
            {
                "week_start": s.date().isoformat(),
                "deployments": int(deployments[i]),
                "succeeded": int(succeeded[i]),
                "deploy_days": int(len(wk_days)),
                "failures": int(failures[i]),
                "change_failure_rate": int(failures[i]) / int(deployments[i]),
                "lead_time_median_seconds": median(_OrderStatistics(lead_vals[lead_week == i]), presorted=True),
                "recovery_median_seconds": median(np.sort(rv[~np.isnan(rv)]), presorted=True),
            }
        )
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
    c = _columns(inputs)
    cur = _core(window, c)
    prev = _core(window.previous(), c)
    # a previous window before anything was recorded has no data (not zero deployments): no trend at all
    prev_known = _recorded_before(inputs, window.start_ts)
    n = cur["n"]
    enough = n >= min_deployments
    note = f"fewer than {min_deployments} deployments in the window ({n})"

    per_day = cur["succeeded"] / cur["days"]
    prev_per_day = prev["succeeded"] / prev["days"] if prev_known else None
    df_tier, df_note = _tier("deployment_frequency", per_day, tiers_year, enough, note)

    lead_values = cur["lead_values"]
    lt_median = median(cur["lead_stats"], presorted=True)
    lt_tier, lt_note = _tier("lead_time", lt_median, tiers_year, enough, note)
    cfr_tier, cfr_note = _tier("change_failure_rate", cur["cfr"], tiers_year, enough, note)
    rec_values = cur["recovery_values"]
    rec_median = median(rec_values, presorted=True)
    rec_tier: str | None
    rec_note: str | None
    if enough and len(rec_values) == 0:
        rec_tier, rec_note = "n/a", "no recovered failure in the window"
    else:
        rec_tier, rec_note = _tier("recovery_time", rec_median, tiers_year, enough, note)

    def with_note(d: dict[str, Any], tier_note: str | None) -> dict[str, Any]:
        if tier_note:
            d["tier_note"] = tier_note
        return d

    rw = cur["rec_slice"]
    h = c.h
    recoveries = [
        {
            "deployment_id": int(h.ids[i]),
            "service": h.service[i],
            "version": h.version[i],
            "failed_at": iso_utc(float(h.finished[i])),
            "seconds": None if np.isnan(s) else float(s),
        }
        for i, s in zip(c.rec_rows[rw][-500:].tolist(), c.rec_sec[rw][-500:].tolist(), strict=True)
    ]
    report: dict[str, Any] = {
        "environment": environment,
        "service": service,
        "window": window.to_dict(),
        "previous_window": {**window.previous().to_dict(), "has_data": prev_known},
        "tiers_report": {"year": tiers_year, "name": REPORTS[tiers_year]},
        "min_deployments": min_deployments,
        "deployment_frequency": with_note(
            {
                "count": cur["succeeded"],
                "per_day": per_day,
                "per_week": per_day * 7.0,
                "deploy_days": cur["deploy_days"],
                "deploy_days_per_week": cur["deploy_days"] / (cur["days"] / 7.0),
                "tier": df_tier,
                "trend": _trend(per_day, prev_per_day, True),
            },
            df_note,
        ),
        "lead_time": with_note(
            {
                "commits": int(len(lead_values)),
                "median_seconds": lt_median,
                "p90_seconds": percentile(cur["lead_stats"], 90, presorted=True),
                "deployments_without_commits": cur["without_commits"],
                "tier": lt_tier,
                "trend": _trend(lt_median, median(prev["lead_stats"], presorted=True), False),
            },
            lt_note,
        ),
        "change_failure_rate": with_note(
            {
                "deployments": n,
                "failed": cur["failed"],
                "rolled_back": cur["rolled_back"],
                "hotfixed": cur["hotfixed"],
                "failures": cur["failures"],
                "rate": cur["cfr"],
                "tier": cfr_tier,
                "trend": _trend(cur["cfr"], prev["cfr"], False),
            },
            cfr_note,
        ),
        "rework_rate": {
            "deployments": n,
            "hotfix_deployments": cur["hotfix_deployments"],
            "rollbacks": cur["rollbacks"],
            "rate": cur["rework"],
            "tier": "n/a",
            "tier_note": "the State of DevOps reports publish no tier thresholds for rework rate",
            "trend": _trend(cur["rework"], prev["rework"], False),
        },
        "recovery_time": with_note(
            {
                "failures": cur["recoveries_total"],
                "recovered": int(len(rec_values)),
                "unrecovered": cur["recoveries_total"] - int(len(rec_values)),
                "median_seconds": rec_median,
                "p90_seconds": percentile(rec_values, 90, presorted=True),
                "tier": rec_tier,
                "trend": _trend(rec_median, median(prev["recovery_values"], presorted=True), False),
            },
            rec_note,
        ),
        "weekly": _weekly(cur, c),
        "lead_time_histogram": _histogram(lead_values),
        "recoveries": recoveries,
    }
    if by_service:
        report["by_service"] = {}
        for name in sorted(set(inputs.history.service)):
            report["by_service"][name] = _summary(
                compute_dora(
                    _subset(inputs, name),
                    window,
                    tiers_year=tiers_year,
                    min_deployments=min_deployments,
                    environment=environment,
                    service=name,
                )
            )
    return report


def _subset(inputs: DoraInputs, service: str) -> DoraInputs:
    h = inputs.history.only_service(service)
    keep = np.isin(inputs.commit_owner, h.ids)
    ids = set(h.ids.tolist())
    return DoraInputs(
        history=h,
        effective=effective_statuses(h),
        commit_owner=inputs.commit_owner[keep],
        commit_time=inputs.commit_time[keep],
        deployments_without_commits=frozenset(i for i in inputs.deployments_without_commits if i in ids),
    )


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a report, for per-service breakdowns."""
    keys = ("deployment_frequency", "lead_time", "change_failure_rate", "rework_rate", "recovery_time")
    return {k: {kk: vv for kk, vv in report[k].items() if kk != "trend"} for k in keys}
