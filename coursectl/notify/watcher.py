"""Watch a rollout's state changes and turn them into notifications: started, progress, gate, the final one.

The engine calls its ``on_change`` callback on every state it saves; ``RolloutWatcher`` is such a callback. The
decision is the pure ``events_for``: a rollout first seen at its first step is "started", any later change of
phase / step / weight / promotion is "progress" (it only updates a message already posted), a pause by analysis
is "gate.blocked", and the first time a rollout is seen in a final phase gives its ONE final notification
(promoted, aborted, failed, or rollback). A watcher never raises into the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from coursectl.domain import Notification, utcnow
from coursectl.notify.messages import final_event, rollout_notification
from coursectl.rollout.state import FINAL, PAUSED, PROGRESSING, RolloutState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seen:
    """What the watcher remembers of a rollout between two changes."""

    phase: str
    step_index: int
    weight: int
    promoted: bool
    analysis_paused: bool = False

    @classmethod
    def of(cls, state: RolloutState) -> Seen:
        return cls(
            state.phase,
            state.step_index,
            state.weight,
            state.promoted,
            state.phase == PAUSED and state.message.startswith("analysis"),
        )


def events_for(previous: Seen | None, current: Seen, kind: str) -> list[str]:
    """The events a change from ``previous`` (None: first sight) to ``current`` announces."""
    if current.phase in FINAL:
        if previous is not None and previous.phase in FINAL:
            return []
        return [final_event(kind, current.phase)]
    if previous is None:
        if kind == "deploy" and current.phase == PROGRESSING and current.step_index == 0:
            return ["deploy.started"]
        return ["deploy.progress"]
    if current.analysis_paused and not previous.analysis_paused:
        return ["gate.blocked"]
    if current != previous:
        return ["deploy.progress"]
    return []


class RolloutWatcher:
    """An engine ``on_change`` callback that publishes notifications; exactly one final one per rollout.

    ``already_final(rollout_id)`` says whether another process already announced the end of a rollout (from
    the ledger), so a rollout finished elsewhere is not announced twice.
    """

    def __init__(
        self,
        publish: Callable[[Notification], None],
        *,
        links: Callable[[RolloutState], Sequence[tuple[str, str]]] = lambda _s: (),
        now: Callable[[], datetime] = utcnow,
        already_final: Callable[[str], bool] = lambda _id: False,
    ):
        self._publish = publish
        self._links = links
        self._now = now
        self._already_final = already_final
        self._seen: dict[str, Seen] = {}

    def __call__(self, state: RolloutState) -> None:
        try:
            self._observe(state)
        except Exception as exc:  # a notification must never break a rollout
            log.warning("notifications: could not announce rollout %s: %s", state.id, exc)

    def _observe(self, state: RolloutState) -> None:
        current = Seen.of(state)
        previous = self._seen.get(state.id)
        self._seen[state.id] = current
        for event in events_for(previous, current, state.kind):
            if event == "deploy.progress" and state.kind == "rollback":
                continue
            if current.phase in FINAL and self._already_final(state.id):
                continue
            self._publish(rollout_notification(state, event, now=self._now(), links=self._links(state)))
