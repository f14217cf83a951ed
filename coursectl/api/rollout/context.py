"""The context every rollout use case receives: configuration, ledger, actor, the adapters it asks for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from coursectl.domain import LockInfo, SlotState, current_actor
from coursectl.errors import PreconditionError, UsageError
from coursectl.ports import Clock, MetricsProvider, RolloutLedger, Target, TrafficRouter
from coursectl.rollout.state import RolloutState
from coursectl.rollout.store import Rollouts

if TYPE_CHECKING:
    from coursectl.config.loader import LoadedConfig
    from coursectl.config.models import Config, EnvironmentConfig, ServiceConfig

OBSERVE = "observe"  # the target and the edge, read-only (status, dry runs): no registry login, no metrics
ROLLOUT = "rollout"  # everything a rollout needs: a target that can pull, the edge, the metrics provider, a clock


class Rig(Protocol):
    """The adapters of one environment for one need (``coursectl.wiring.Rig``). What differs between targets
    (in-place strategies, the slots' service URLs, fingerprints, one read of every slot) is asked of the
    ``target`` and ``router`` ports; ``probe_slots`` False: status reads readiness instead of probing slots."""

    @property
    def target(self) -> Target: ...

    @property
    def router(self) -> TrafficRouter: ...

    @property
    def metrics(self) -> MetricsProvider | None: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def edge_url(self) -> str: ...

    @property
    def probe_slots(self) -> bool: ...


class RigFactory(Protocol):
    """Builds the rig of ``need`` for a configuration (tests pass their fakes this way)."""

    def __call__(self, loaded: LoadedConfig, state_dir: Path, *, need: str) -> Rig: ...


class Adapters(Protocol):
    """What the composition root (``coursectl.wiring.RolloutAdapters``) builds for the use cases on demand."""

    def rig(self, need: str) -> Rig: ...

    def head_commit(self) -> str | None: ...

    def available_versions(self, service: str) -> str: ...

    def image_service(self) -> Any: ...

    def sbom_service(self) -> Any: ...

    def scanners(self) -> Any: ...

    def browser_journey(self) -> Any: ...


@dataclass
class RolloutContext:
    """The loaded configuration, the ledger, the state directory, the actor, and the adapters, built once per need.

    ``rig(need)`` builds the adapters a use case needs (``OBSERVE`` or ``ROLLOUT``), once per need: ``release``
    asks for the status first and deploys after, and the deploy gets its metrics provider and registry login.
    ``adapters`` (``coursectl.wiring.rollout_context`` gives them) builds rigs and the release's services;
    ``rig_factory(loaded, state_dir, need=...)`` replaces its rigs (tests).
    """

    loaded: LoadedConfig
    ledger: RolloutLedger
    state_dir: Path
    actor: str = field(default_factory=current_actor)
    rig_factory: RigFactory | Callable[..., Rig] | None = None
    adapters: Adapters | None = None
    on_change: Callable[[RolloutState], None] | None = None
    taken_over: LockInfo | None = None  # someone else's deploy lock this process took over (rollback)
    _rigs: dict[str, Rig] = field(default_factory=dict)

    @property
    def config(self) -> Config:
        return self.loaded.config  # type: ignore[no-any-return]  # LoadedConfig keeps it lazily typed

    @property
    def env(self) -> EnvironmentConfig:
        return self.loaded.environment  # type: ignore[no-any-return]  # ConfigError when none is selected

    @property
    def env_name(self) -> str:
        _ = self.loaded.environment
        return str(self.loaded.env_name)

    def rig(self, need: str = ROLLOUT) -> Rig:
        """The adapters for ``need``, built the first time this need asks for them."""
        if need not in self._rigs:
            if self.rig_factory is not None:
                self._rigs[need] = self.rig_factory(self.loaded, self.state_dir, need=need)
            else:
                self._rigs[need] = self._adapters().rig(need)
        return self._rigs[need]

    def any_rig(self) -> Rig:
        """A rig already built (the rollout one first), else the observing one: for what every rig of an
        environment says alike (its target's in-place strategies, the slots' service URLs)."""
        return self._rigs.get(ROLLOUT) or self.rig(OBSERVE)

    @property
    def store(self) -> Rollouts:
        return Rollouts(self.ledger)

    def head_commit(self) -> str | None:
        """The commit of the work tree the configuration lives in; None when it is not a git checkout."""
        return self.adapters.head_commit() if self.adapters is not None else None

    def available_versions(self, service: str) -> str:
        """A sentence naming the versions of ``service`` the registry has (or the ledger's pushes)."""
        if self.adapters is None:
            return "no registry is wired to list its versions"
        return self.adapters.available_versions(service)

    def image_service(self) -> Any:
        """The build/push service of the release (coursectl.images)."""
        return self._adapters().image_service()

    def sbom_service(self) -> Any:
        """The SBOM service of the release (coursectl.api.sbom)."""
        return self._adapters().sbom_service()

    def scanners(self) -> Any:
        """The image scanners of the release's scan stage (Trivy, Snyk)."""
        return self._adapters().scanners()

    def browser_journey(self) -> Any:
        """The browser that runs the storefront's journey (Chromium), when the release runs one."""
        return self._adapters().browser_journey()

    def _adapters(self) -> Adapters:
        if self.adapters is None:
            raise PreconditionError(
                "this rollout context was built without adapters",
                hint="build it with coursectl.wiring.rollout_context (or give rig_factory)",
            )
        return self.adapters

    def service(self, name: str) -> ServiceConfig:
        if name not in self.config.services:
            raise UsageError(
                f"unknown service {name!r}", hint=f"services: {', '.join(sorted(self.config.services))}"
            )
        return self.config.services[name]


Live = tuple[dict[str, int], dict[str, SlotState]]
"""The live weights (slot → percent) and running slots (slot → state) of a service."""
