"""Pure readings of Kubernetes API answers: Deployment readiness (kubectl's rules), why pods are not ready,
``Status`` error bodies (who was refused what, which field was invalid) and watch-stream lines."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

READY = "ready"
WAITING = "waiting"
FAILED = "failed"

TIMED_OUT_REASON = "ProgressDeadlineExceeded"


@dataclass(frozen=True)
class Readiness:
    """Where a Deployment's rollout stands: ``ready``, ``waiting`` (with kubectl's message) or ``failed``."""

    state: str
    message: str
    reason: str | None = None

    @property
    def done(self) -> bool:
        return self.state == READY

    @property
    def failed(self) -> bool:
        return self.state == FAILED


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def deployment_readiness(obj: Mapping[str, Any]) -> Readiness:
    """kubectl rollout status's reading of a Deployment (kubectl/pkg/polymorphichelpers/rollout_status.go).

    Ready when the controller has observed the latest spec (observedGeneration ≥ generation) and updated =
    desired, no old replicas remain and available = updated. ``Progressing=False`` with reason
    ProgressDeadlineExceeded is a failure at once.
    """
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    name = meta.get("name", "?")
    if int(meta.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return Readiness(WAITING, "Waiting for deployment spec update to be observed...")
    progressing = condition(obj, "Progressing")
    if progressing is not None and progressing.get("reason") == TIMED_OUT_REASON:
        return Readiness(FAILED, f'deployment "{name}" exceeded its progress deadline', TIMED_OUT_REASON)
    desired = spec.get("replicas")
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    prefix = f'Waiting for deployment "{name}" rollout to finish: '
    if desired is not None and updated < int(desired):
        return Readiness(WAITING, f"{prefix}{updated} out of {desired} new replicas have been updated...")
    if total > updated:
        return Readiness(WAITING, f"{prefix}{total - updated} old replicas are pending termination...")
    if available < updated:
        return Readiness(WAITING, f"{prefix}{available} of {updated} updated replicas are available...")
    return Readiness(READY, f'deployment "{name}" successfully rolled out')


# pods ----------------------------------------------------------------------------------------------------


def _ready(pod: Mapping[str, Any]) -> bool:
    cond = condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _container_problem(cs: Mapping[str, Any], probe_events: Mapping[str, str], pod_name: str) -> str | None:
    name = cs.get("name", "?")
    state = cs.get("state") or {}
    restarts = int(cs.get("restartCount") or 0)
    if "waiting" in state:
        waiting = state["waiting"] or {}
        reason = waiting.get("reason") or "Waiting"
        text = f"{reason}: container {name}"
        if waiting.get("message"):
            text += f": {_short(waiting['message'])}"
        last = (cs.get("lastState") or {}).get("terminated")
        if last:
            text += f" (last exit code {last.get('exitCode')}, {last.get('reason') or 'terminated'})"
        if restarts:
            text += f", restarted {restarts} times"
        return text
    if "terminated" in state:
        term = state["terminated"] or {}
        return (
            f"{term.get('reason') or 'Terminated'}: container {name} exited with code {term.get('exitCode')}"
            + (f": {_short(term['message'])}" if term.get("message") else "")
        )
    if "running" in state and not cs.get("ready"):
        detail = probe_events.get(pod_name)
        return f"readiness probe failing: container {name} runs but is not ready" + (
            f" ({_short(detail)})" if detail else ""
        )
    return None


def _pending_problem(pod: Mapping[str, Any]) -> str | None:
    scheduled = condition(pod, "PodScheduled")
    if scheduled is not None and scheduled.get("status") == "False":
        return (
            f"{scheduled.get('reason') or 'Unschedulable'}: {_short(scheduled.get('message') or 'not scheduled')}"
        )
    return None


def probe_failures(events: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """pod name → the newest readiness-probe failure message among Warning events (reason Unhealthy)."""
    out: dict[str, tuple[str, str]] = {}
    for ev in events:
        involved = ev.get("involvedObject") or {}
        if ev.get("reason") != "Unhealthy" or involved.get("kind") != "Pod":
            continue
        when = str(ev.get("lastTimestamp") or ev.get("eventTime") or "")
        name = str(involved.get("name"))
        if name not in out or when >= out[name][0]:
            out[name] = (when, str(ev.get("message") or ""))
    return {name: message for name, (_, message) in out.items()}


def pod_problems(pods: Iterable[Mapping[str, Any]], events: Iterable[Mapping[str, Any]] = ()) -> list[str]:
    """Why the pods that are not Ready are not, one line per distinct reason with the pods it concerns:
    ImagePullBackOff, CrashLoopBackOff (with the last exit code), a failing readiness probe, unschedulable…"""
    probes = probe_failures(events)
    found: dict[str, list[str]] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp") or _ready(pod):
            continue
        name = str(meta.get("name", "?"))
        status = pod.get("status") or {}
        lines = []
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            problem = _container_problem(cs, probes, name)
            if problem:
                lines.append(problem)
        if not lines:
            lines.append(_pending_problem(pod) or f"pod is {status.get('phase') or 'not ready'}")
        for line in lines:
            found.setdefault(line, []).append(name)
    return [
        f"{line} ({len(names)} pod{'s' if len(names) > 1 else ''}: {', '.join(sorted(names))})"
        for line, names in found.items()
    ]


# Status bodies -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiStatus:
    """A ``Status`` answer of the API server (what every refused request carries)."""

    code: int
    reason: str = ""
    message: str = ""
    kind: str | None = None
    name: str | None = None
    group: str | None = None
    causes: tuple[Mapping[str, str], ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, code: int, body: bytes | str | Mapping[str, Any] | None) -> ApiStatus:
        """From the HTTP status and body; a body that is not a Status keeps its text as the message."""
        data: Any = body
        if isinstance(body, bytes | str):
            try:
                data = json.loads(body)
            except ValueError:
                text = body.decode(errors="replace") if isinstance(body, bytes) else body
                return cls(code=code, message=_short(text, 400))
        if not isinstance(data, Mapping) or data.get("kind") != "Status":
            return cls(code=code, message="" if data is None else _short(json.dumps(data), 400))
        details = data.get("details") or {}
        return cls(
            code=int(data.get("code") or code),
            reason=str(data.get("reason") or ""),
            message=str(data.get("message") or ""),
            kind=details.get("kind"),
            name=details.get("name"),
            group=details.get("group"),
            causes=tuple(dict(c) for c in details.get("causes") or []),
        )


_FORBIDDEN = re.compile(
    r'cannot (?P<verb>[a-z]+) resource "(?P<resource>[^"]+)"'
    r'(?: in API group "(?P<group>[^"]*)")?(?: in the namespace "(?P<namespace>[^"]+)")?'
)
_USER = re.compile(r'User "(?P<user>[^"]+)"')


@dataclass(frozen=True)
class Forbidden:
    """What a 403 says was refused: the verb, the resource, its API group, the namespace, to whom."""

    verb: str
    resource: str
    group: str
    namespace: str | None
    user: str | None


def forbidden(status: ApiStatus) -> Forbidden | None:
    match = _FORBIDDEN.search(status.message)
    if not match:
        return None
    user = _USER.search(status.message)
    return Forbidden(
        verb=match["verb"],
        resource=match["resource"],
        group=match["group"] or "",
        namespace=match["namespace"],
        user=user["user"] if user else None,
    )


def invalid_fields(status: ApiStatus) -> list[tuple[str, str]]:
    """(field, message) of every cause of a 422 (or an apply conflict), in the API's order."""
    return [(str(c.get("field") or ""), str(c.get("message") or c.get("reason") or "")) for c in status.causes]


# watch ---------------------------------------------------------------------------------------------------


def watch_events(lines: Iterable[bytes | str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(type, object) per line of a watch stream; blank lines are skipped. An ERROR event carries a Status."""
    for raw in lines:
        text = raw.decode() if isinstance(raw, bytes) else raw
        text = text.strip()
        if not text:
            continue
        event = json.loads(text)
        yield str(event.get("type")), dict(event.get("object") or {})


def items(listing: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    """The items of a List answer (never None)."""
    return list(listing.get("items") or [])
