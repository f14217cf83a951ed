"""LogSource over the kubernetes target: the pods coursectl labelled for an environment and service.

The pods are listed by the labels every slot's Deployment gives them (``app.kubernetes.io/name``, the
environment, ``managed-by: coursectl``, and ``coursectl.io/slot`` for one slot); each container's log is read with
the runtime's time stamps (``timestamps=true``, ``sinceSeconds``), at most its last 16 MiB. A container that has
restarted also gives the log of its instance before the restart (``previous=true``): what a crash-looping service
wrote before it died, the lines on-call needs. A slot of several pods is one slot: its lines are merged by time.
A container with no log to read (waiting to start, its pod just replaced, its node unreachable) is left out with
a warning; when not one log could be read, that is an error.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from coursectl.adapters.docker_logs import split_stamp
from coursectl.domain import LogLine
from coursectl.errors import ExternalError

log = logging.getLogger(__name__)


class KubernetesLogs:
    """The log lines of one environment's slot pods in its namespace."""

    def __init__(self, api: Any, *, environment: str, now: Any = None):
        self.api = api
        self.environment = environment
        self._now = now or (lambda: datetime.now(UTC))

    def _container_log(
        self, pod: str, container: str, restarted: bool, since_seconds: int | None, unavailable: list[str]
    ) -> str | None:
        """The container's log, its previous instance's first when it has restarted; None (the reason added to
        ``unavailable``) when there is none to read."""
        from coursectl.adapters.kubernetes_api import LogUnavailable

        earlier = ""
        if restarted:
            try:
                earlier = self.api.pod_log(pod, container, since_seconds=since_seconds, previous=True)
            except LogUnavailable as exc:  # the instance before is gone (its node cleaned it up)
                log.debug("%s", exc.message)
        try:
            return earlier + str(self.api.pod_log(pod, container, since_seconds=since_seconds))
        except LogUnavailable as exc:
            if earlier:  # a crash-looping container: waiting now, its last instance's lines remain
                return earlier
            unavailable.append(exc.message)
            return None

    def read(self, service: str, *, since: datetime | None = None, slot: str | None = None) -> list[LogLine]:
        from coursectl.parsers.kubernetes import items
        from coursectl.render.kubernetes import LABEL_SLOT, environment_selector

        selector = environment_selector(self.environment, service, slot)
        pods = items(self.api.list("Pod", label_selector=selector))
        since_seconds = None
        if since is not None:
            since_seconds = int((self._now() - since).total_seconds()) + 1
            if since_seconds <= 0:  # the future: nothing was written after it yet
                return []
        by_slot: dict[str, list[tuple[float, int, LogLine]]] = {}
        unavailable: list[str] = []
        read = 0
        for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name", ""))):
            meta = pod.get("metadata") or {}
            name = str(meta.get("name", ""))
            slot_name = str((meta.get("labels") or {}).get(LABEL_SLOT) or name)
            restarted = {
                str(cs.get("name")): int(cs.get("restartCount") or 0)
                for cs in (pod.get("status") or {}).get("containerStatuses") or []
            }
            for container in (pod.get("spec") or {}).get("containers") or []:
                cname = str(container.get("name", ""))
                text = self._container_log(name, cname, bool(restarted.get(cname)), since_seconds, unavailable)
                if text is None:
                    continue
                read += 1
                lines = by_slot.setdefault(slot_name, [])
                for raw in text.splitlines():
                    when, body = split_stamp(raw)
                    if since is not None and when is not None and when < since:
                        continue
                    lines.append(
                        (
                            when.timestamp() if when else float("inf"),
                            len(lines),
                            LogLine(service, slot_name, when, body),
                        )
                    )
        if unavailable and not read:
            more = f" (and {len(unavailable) - 1} more like it)" if len(unavailable) > 1 else ""
            raise ExternalError(
                f"kubernetes: no log of {service} could be read: {unavailable[0]}{more}",
                hint=f"kubectl get pods -n {self.api.namespace} -l app.kubernetes.io/name={service}"
                " shows the pods and their state",
                details={"unavailable": unavailable},
            )
        for problem in unavailable:  # the lines of the other containers are shown; say which are missing
            log.warning("%s", problem)
        out: list[LogLine] = []
        for name in sorted(by_slot):
            out += [line for _, _, line in sorted(by_slot[name], key=lambda item: (item[0], item[1]))]
        return out
