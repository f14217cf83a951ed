"""Use cases of progressive delivery, one module per use case; the public names are re-exported here.

``context`` (what every use case receives), ``slots`` (what runs now), ``locking`` (the deploy lock around a
running engine), ``deploy``, ``requests`` (promote, pause, resume, abort), ``rollback``, ``retire`` (a
release's warm old colours), ``status``.
"""

from __future__ import annotations

from coursectl.api.rollout.context import OBSERVE, ROLLOUT, Adapters, Rig, RigFactory, RolloutContext
from coursectl.api.rollout.deploy import (
    current_artifact,
    default_canary_steps,
    deploy,
    image_for,
    in_place,
    is_live,
    plan_deploy,
    resolve_artifact,
)
from coursectl.api.rollout.locking import (
    HEARTBEAT_EVERY,
    LOCK_TTL,
    Heartbeat,
    acquire,
    engine_for,
    holder_alive,
    lock_reason,
    run_locked,
)
from coursectl.api.rollout.requests import request
from coursectl.api.rollout.retire import retire_warm
from coursectl.api.rollout.rollback import rollback
from coursectl.api.rollout.slots import already_live, live_state, secret_names, slot_env, wanted_fingerprint
from coursectl.api.rollout.status import rollout_status, status

__all__ = [
    "HEARTBEAT_EVERY",
    "LOCK_TTL",
    "OBSERVE",
    "ROLLOUT",
    "Adapters",
    "Heartbeat",
    "Rig",
    "RigFactory",
    "RolloutContext",
    "acquire",
    "already_live",
    "current_artifact",
    "default_canary_steps",
    "deploy",
    "engine_for",
    "holder_alive",
    "image_for",
    "in_place",
    "is_live",
    "live_state",
    "lock_reason",
    "plan_deploy",
    "request",
    "resolve_artifact",
    "retire_warm",
    "rollback",
    "rollout_status",
    "run_locked",
    "secret_names",
    "slot_env",
    "status",
    "wanted_fingerprint",
]
