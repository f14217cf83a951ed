"""Pure: the ledger's facts that alerts and dashboards need, as Prometheus text exposition.

Backups (kind ``backup``, the action in ``details.action``; also ``backup.<action>`` / ``backup.succeeded`` /
``backup.failed`` kinds) and deploy locks are not visible to Prometheus otherwise: ``coursectl observability
receive`` serves this on ``/metrics``, and ``coursectl observability textfile`` writes it for node exporter's
textfile collector.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coursectl.domain import LedgerEvent, LockInfo

BACKUP_KINDS = ("backup", "backup.create", "backup.created", "backup.succeeded", "backup.failed", "backup.verify")
"""Ledger kinds read as backups: issue 16's ``backup`` events, and dotted kinds, to be tolerant."""

_OK = {"succeeded", "success", "ok", "passed", "verified"}


@dataclass(frozen=True)
class Sample:
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass(frozen=True)
class Family:
    name: str
    help: str
    type: str
    samples: tuple[Sample, ...]


def _ts(when: datetime) -> float:
    return round(when.timestamp(), 3)


def backup_action(event: LedgerEvent) -> str:
    """``create``, ``verify``, ``restore`` or ``prune`` (from details or the dotted kind; default create)."""
    action = event.details.get("action") if isinstance(event.details, dict) or event.details else None
    if isinstance(action, str) and action:
        return action
    tail = event.kind.split(".", 1)[1] if "." in event.kind else ""
    return {"verify": "verify", "restore": "restore", "prune": "prune"}.get(tail, "create")


def backup_ok(event: LedgerEvent) -> bool:
    if event.kind == "backup.failed":
        return False
    if event.kind == "backup.succeeded":
        return True
    return (event.outcome or "").lower() in _OK


def backup_source(event: LedgerEvent) -> str:
    source = event.service or event.details.get("source")
    return str(source) if source else "unknown"


def backup_families(events: Iterable[LedgerEvent]) -> list[Family]:
    """Per source: the newest good backup's time, the newest attempt's time and whether it succeeded, and the
    newest verification's result."""
    last_ok: dict[str, float] = {}
    last_try: dict[str, tuple[float, bool]] = {}
    last_verify: dict[str, tuple[float, bool]] = {}
    for e in events:
        action, src, ok, t = backup_action(e), backup_source(e), backup_ok(e), _ts(e.time)
        if action == "create":
            if ok and t > last_ok.get(src, float("-inf")):
                last_ok[src] = t
            if t >= last_try.get(src, (float("-inf"), False))[0]:
                last_try[src] = (t, ok)
        elif action == "verify" and t >= last_verify.get(src, (float("-inf"), False))[0]:
            last_verify[src] = (t, ok)
    return [
        Family(
            "coursectl_backup_last_success_timestamp_seconds",
            "Unix time of the newest succeeded backup of a source (ledger).",
            "gauge",
            tuple(Sample((("source", s),), v) for s, v in sorted(last_ok.items())),
        ),
        Family(
            "coursectl_backup_last_attempt_timestamp_seconds",
            "Unix time of the newest backup attempt of a source (ledger).",
            "gauge",
            tuple(Sample((("source", s),), v[0]) for s, v in sorted(last_try.items())),
        ),
        Family(
            "coursectl_backup_last_attempt_succeeded",
            "1 when the newest backup attempt of a source succeeded, 0 when it failed (ledger).",
            "gauge",
            tuple(Sample((("source", s),), 1.0 if v[1] else 0.0) for s, v in sorted(last_try.items())),
        ),
        Family(
            "coursectl_backup_last_verify_succeeded",
            "1 when the newest verification (restore and compare) of a source succeeded (ledger).",
            "gauge",
            tuple(Sample((("source", s),), 1.0 if v[1] else 0.0) for s, v in sorted(last_verify.items())),
        ),
    ]


def lock_families(locks: Sequence[LockInfo]) -> list[Family]:
    """Every deploy lock held now: when it was taken and when it expires."""

    def labels(lk: LockInfo) -> tuple[tuple[str, str], ...]:
        return (("environment", lk.environment), ("service", lk.service), ("holder", lk.holder))

    ordered = sorted(locks, key=lambda lk: (lk.environment, lk.service))
    return [
        Family(
            "coursectl_deploy_lock_acquired_timestamp_seconds",
            "Unix time a held deploy lock was taken.",
            "gauge",
            tuple(Sample(labels(lk), _ts(lk.acquired_at)) for lk in ordered),
        ),
        Family(
            "coursectl_deploy_lock_expiry_timestamp_seconds",
            "Unix time a held deploy lock expires (a rollout refreshes it while it runs).",
            "gauge",
            tuple(Sample(labels(lk), _ts(lk.expires_at)) for lk in ordered),
        ),
    ]


def deployment_families(rows: Iterable[Sequence[Any]]) -> list[Family]:
    """From the ledger's deployment rows (id, service, environment, version, commit, status, finished_at, ...):
    counts by status, and the newest deployment of each service (deploy annotations on dashboards)."""
    counts: dict[tuple[str, str, str], int] = {}
    newest: dict[tuple[str, str], tuple[float, str]] = {}
    for row in rows:
        service, environment, version, status, finished = row[1], row[2], row[3], row[5], float(row[6])
        key = (environment, service, status)
        counts[key] = counts.get(key, 0) + 1
        if status == "succeeded" and finished >= newest.get((environment, service), (float("-inf"), ""))[0]:
            newest[(environment, service)] = (finished, version or "")
    return [
        Family(
            "coursectl_deployments_total",
            "Deployments recorded in the ledger, by final status.",
            "counter",
            tuple(
                Sample((("environment", e), ("service", s), ("status", st)), float(n))
                for (e, s, st), n in sorted(counts.items())
            ),
        ),
        Family(
            "coursectl_last_deployment_timestamp_seconds",
            "Unix time the newest succeeded deployment of a service finished (ledger).",
            "gauge",
            tuple(
                Sample((("environment", e), ("service", s), ("version", v)), round(t, 3))
                for (e, s), (t, v) in sorted(newest.items())
            ),
        ),
    ]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


def exposition(families: Sequence[Family]) -> str:
    """The Prometheus text format (version 0.0.4) of ``families``; empty families keep their HELP and TYPE."""
    lines: list[str] = []
    for f in families:
        lines.append(f"# HELP {f.name} {f.help}")
        lines.append(f"# TYPE {f.name} {f.type}")
        for s in f.samples:
            inner = ",".join(f'{k}="{_escape(v)}"' for k, v in s.labels)
            lines.append(f"{f.name}{{{inner}}} {_number(s.value)}" if inner else f"{f.name} {_number(s.value)}")
    return "\n".join(lines) + "\n"


def ledger_exposition(ledger: Any, *, now: datetime) -> str:
    """Read the ledger and render every family (backups of the last 400 days, locks, deployments)."""
    from datetime import timedelta

    events = ledger.events(kinds=list(BACKUP_KINDS), since=now - timedelta(days=400), newest_first=False)
    families = (
        backup_families(events)
        + lock_families(ledger.locks())
        + deployment_families(ledger.deployment_rows(None, None, None))
    )
    families.append(
        Family(
            "coursectl_ledger_exporter_time_seconds",
            "Unix time this exposition was made.",
            "gauge",
            (Sample((), _ts(now)),),
        )
    )
    return exposition(families)
