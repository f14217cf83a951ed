"""The rollout state machine: phases, allowed transitions, and the state persisted before every action."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from coursectl.rollout import steps as st
from coursectl.rollout.steps import Step

PROGRESSING = "progressing"
PAUSED = "paused"
ABORTING = "aborting"
SUCCEEDED = "succeeded"
ABORTED = "aborted"
FAILED = "failed"

ACTIVE = (PROGRESSING, PAUSED, ABORTING)
FINAL = (SUCCEEDED, ABORTED, FAILED)

# phase -> phases it may move to (table-tested in tests/specs/transitions.yaml)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    PROGRESSING: (PROGRESSING, PAUSED, ABORTING, SUCCEEDED, FAILED),
    PAUSED: (PAUSED, PROGRESSING, ABORTING, FAILED),
    ABORTING: (ABORTING, ABORTED, FAILED),
    SUCCEEDED: (),
    ABORTED: (),
    FAILED: (ABORTING,),
}


class TransitionError(ValueError):
    """A phase change the state machine does not allow."""


def can_move(src: str, dst: str) -> bool:
    return dst in TRANSITIONS.get(src, ())


@dataclass
class RolloutState:
    """Everything needed to resume or abort a rollout from another process: written before each action."""

    environment: str
    service: str
    strategy: str
    version: str
    new_slot: str
    stable_slot: str | None
    steps: list[Step]
    kind: str = "deploy"  # deploy | rollback
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    image: str | None = None
    digest: str | None = None
    git_commit: str | None = None
    hotfix: bool = False
    set_env: dict[str, str] = field(default_factory=dict)
    stable_version: str | None = None
    stable_digest: str | None = None
    stable_image: str | None = None
    port: int = 0
    stable_port: int = 0
    phase: str = PROGRESSING
    step_index: int = 0
    weight: int = 0
    promoted: bool = False
    stable_replaced: bool = False
    analysis: dict[str, int] = field(default_factory=dict)
    measurements: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    actor: str = ""
    reason: str = ""
    started_at: str = ""
    updated_at: str = ""
    finished_at: str | None = None
    aborted_by: str | None = None
    from_version: str | None = None
    traffic_since: str | None = None  # when the new slot first got a weight above 0 (analysis warm-up)
    unchanged: bool = False  # a deploy of what already runs (same version, image, environment): nothing done

    def move(self, phase: str, message: str | None = None) -> None:
        """Change phase, refusing transitions the machine does not allow."""
        if not can_move(self.phase, phase):
            raise TransitionError(f"a rollout cannot go from {self.phase} to {phase}")
        self.phase = phase
        if message is not None:
            self.message = message

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE

    @property
    def current_step(self) -> Step | None:
        return self.steps[self.step_index] if 0 <= self.step_index < len(self.steps) else None

    def weights(self) -> dict[str, int]:
        from coursectl.rollout.weights import split

        return split(self.new_slot, self.stable_slot, self.weight)

    def to_dict(self) -> dict[str, Any]:
        """The state as the ledger stores it (JSON-ready; each step as ``{"kind": ..., <fields>}``)."""
        data = asdict(self)
        data["steps"] = [st.to_dict(step) for step in self.steps]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RolloutState:
        """A state from its stored form; StepError when a step is one this coursectl cannot read."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["steps"] = [st.from_dict(step) for step in known.get("steps") or []]
        return cls(**known)
