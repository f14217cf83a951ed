"""Pure builder of Prometheus file_sd target files: one group per slot, labelled service/slot/version."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from coursectl.render.templates import render


def target_groups(environment: str, slots: Iterable[Any]) -> list[dict[str, Any]]:
    """file_sd groups for SlotState-like objects (service, slot, version, digest, fingerprint, host, port)."""
    groups = []
    for s in sorted(slots, key=lambda s: (s.service, s.slot)):
        groups.append(
            {
                "targets": [f"{getattr(s, 'host', '127.0.0.1')}:{s.port}"],
                "labels": {
                    "service": s.service,
                    "slot": s.slot,
                    "version": s.version,
                    "environment": environment,
                    **({"digest": s.digest} if getattr(s, "digest", None) else {}),
                    # what the slot runs (image + environment): analysis of a new slot reads only its own series,
                    # never those a previous occupant (same version, another environment) left in the window
                    **({"spec": s.fingerprint} if getattr(s, "fingerprint", None) else {}),
                },
            }
        )
    return groups


def render_file_sd(environment: str, slots: Iterable[Any]) -> str:
    return render("prometheus/file_sd.json.j2", groups=target_groups(environment, slots))
