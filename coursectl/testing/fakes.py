"""In-memory implementations of the ports (rollout, SBOM) that record every call and never sleep."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from coursectl.domain import QueryResult, SlotSpec, SlotState
from coursectl.errors import ExternalError, ExternalTimeout, ToolMissing


class FrozenClock:
    """A clock that moves only when slept on (or advanced by hand)."""

    def __init__(self, start: datetime | None = None):
        self._start = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        self.elapsed = 0.0
        self.on_sleep: list[Callable[[float], None]] = []

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.elapsed += max(0.0, seconds)
        for hook in list(self.on_sleep):
            hook(self.elapsed)

    def advance(self, seconds: float) -> None:
        self.sleep(seconds)


class FakeTarget:
    """Slots as dictionaries. ``fail_ready`` / ``fail_smoke`` / ``fail_start`` name slots or versions that fail."""

    def __init__(self, base_ports: Mapping[str, int] | None = None):
        self.base_ports = dict(base_ports or {})
        self.running: dict[tuple[str, str], SlotState] = {}
        self.calls: list[tuple[str, ...]] = []
        self.fail_ready: set[str] = set()
        self.fail_smoke: set[str] = set()
        self.fail_start: set[str] = set()
        self.before: dict[str, Callable[[tuple[str, ...]], None]] = {}

    def _call(self, *call: str) -> None:
        self.calls.append(call)
        hook = self.before.get(call[0])
        if hook:
            hook(call)

    def address(self, service: str, slot: str) -> tuple[str, int]:
        base = self.base_ports.get(service, 8000)
        offset = 100 if slot in ("blue", "stable") else 200
        return "127.0.0.1", base + offset

    def start(self, spec: SlotSpec) -> SlotState:
        self._call("start", spec.service, spec.slot, spec.version)
        if spec.version in self.fail_start:
            raise ExternalError(f"cannot start {spec.version}")
        key = (spec.service, spec.slot)
        current = self.running.get(key)
        if (
            current
            and current.version == spec.version
            and current.digest == spec.digest
            and current.fingerprint == spec.fingerprint
        ):
            return current
        state = SlotState(
            spec.service,
            spec.slot,
            spec.version,
            spec.port,
            running=True,
            ready=False,
            digest=spec.digest,
            rollout_id=spec.rollout_id,
            fingerprint=spec.fingerprint,
        )
        self.running[key] = state
        self.env = dict(spec.env)
        return state

    def wait_ready(self, service: str, slot: str, *, timeout: float) -> SlotState:
        self._call("ready", service, slot)
        state = self.running.get((service, slot))
        if state is None or state.version in self.fail_ready:
            raise ExternalTimeout(f"{service}-{slot} was not ready within {timeout:g} s")
        ready = SlotState(**{**state.__dict__, "ready": True})
        self.running[(service, slot)] = ready
        return ready

    def smoke(self, service: str, slot: str, paths: Sequence[str]) -> list[str]:
        self._call("smoke", service, slot)
        state = self.running.get((service, slot))
        if state is None:
            return [f"{slot} is not running"]
        return [f"GET {p}: 500" for p in paths] if state.version in self.fail_smoke else []

    def slots(self, service: str) -> list[SlotState]:
        return [s for (svc, _), s in sorted(self.running.items()) if svc == service]

    def retire(self, service: str, slot: str) -> None:
        self._call("retire", service, slot)
        self.running.pop((service, slot), None)

    def version_in(self, service: str, slot: str) -> str | None:
        state = self.running.get((service, slot))
        return state.version if state else None

    in_place: tuple[str, ...] = ()
    records_fingerprints = True

    def healthy(self, state: SlotState, path: str) -> bool:
        return state.running and state.ready

    def service_urls(self) -> dict[str, str]:
        return {}


class FakeRouter:
    """Weights per service; records every change (``history``: the whole table after each one); can be told to
    refuse verification.

    With ``services``, weights for another service are refused (PreconditionError), as a real edge without that
    backend does. With ``target``, ``serve`` models the data plane's health checks: user requests go only to
    slots with a weight that the target reports ready.
    """

    def __init__(self, *, services: Sequence[str] | None = None, target: FakeTarget | None = None) -> None:
        self.table: dict[str, dict[str, int]] = {}
        self.history: list[tuple[str, dict[str, int]]] = []
        self.addresses: dict[tuple[str, str], tuple[str, int]] = {}
        self.verifies = True
        self.services = set(services) if services is not None else None
        self.target = target

    def set_weights(
        self, service: str, weights: Mapping[str, int], addresses: Mapping[str, tuple[str, int]]
    ) -> None:
        if self.services is not None and service not in self.services:
            from coursectl.errors import PreconditionError

            raise PreconditionError(f"the router has no backend for {service}")
        for slot, address in addresses.items():
            self.addresses[(service, slot)] = address
        current = self.table.setdefault(service, {})
        current.update(weights)
        self.history.append((service, dict(current)))

    def weights(self, service: str) -> dict[str, int]:
        return dict(self.table.get(service, {}))

    def verify(self, service: str, weights: Mapping[str, int]) -> bool | None:
        if not self.verifies:
            return False
        live = self.table.get(service, {})
        return all(live.get(slot) == w for slot, w in weights.items())

    def remove(self, service: str, slot: str) -> None:
        self.table.get(service, {}).pop(slot, None)
        self.addresses.pop((service, slot), None)
        self.history.append((service, dict(self.table.get(service, {}))))

    def serving(self, service: str) -> list[str]:
        """Slots with a weight above 0: where traffic goes now."""
        return [slot for slot, w in self.table.get(service, {}).items() if w > 0]

    def serve(self, service: str, requests: int) -> dict[str, int]:
        """Where ``requests`` user requests go (slot → count), by smooth weighted round robin over the slots
        with a weight that are ready (all of them without a ``target``): what a health-checking edge does."""
        ready = None
        if self.target is not None:
            ready = {s.slot for s in self.target.slots(service) if s.running and s.ready}
        weights = {s: w for s, w in self.table.get(service, {}).items() if w > 0 and (ready is None or s in ready)}
        counts = dict.fromkeys(weights, 0)
        current = dict.fromkeys(weights, 0)
        for _ in range(requests if weights else 0):
            for slot, w in weights.items():
                current[slot] += w
            chosen = max(current, key=lambda s: current[s])
            current[chosen] -= sum(weights.values())
            counts[chosen] += 1
        return counts

    def ensure_running(self) -> None:
        return None

    def running(self) -> bool:
        return True

    def planned_weights(self, service: str) -> dict[str, int]:
        return self.weights(service)

    def port_problems(self) -> list[str]:
        return []

    def explain(self, weight: int) -> str | None:
        return None

    def snapshot(self, services: Sequence[str]) -> dict[str, tuple[list[SlotState], dict[str, int]]] | None:
        return None


class ScriptedMetrics:
    """Answers queries from a script: a function of (metric name, slot, query) or fixed values per metric.

    ``values`` maps ``(metric, slot)`` or ``metric`` to a float, None (no data), or an Exception instance /
    "error" (provider down). The metric ``requests`` is the user-request count of a measurement window; it
    comes from ``values`` only (never the script): ``("requests", slot)`` or ``"requests"`` — a number, None,
    or a function of the slot — else ``requests`` (plenty of traffic unless a test says otherwise). ``scrapes``
    (how often the slot was scraped, for the "observed" step) works the same way, default 4.
    ``down = True`` makes every query an error.
    """

    def __init__(
        self,
        values: Mapping[Any, Any] | None = None,
        script: Callable[[str, str, str], Any] | None = None,
        *,
        requests: float | None = 1000.0,
    ):
        self.values = dict(values or {})
        self.defaults: dict[str, Any] = {"requests": requests, "scrapes": 4.0}  # scraped already, by default
        self.script = script
        self.down = False
        self.queries: list[str] = []

    @staticmethod
    def _parse(query: str) -> tuple[str, str]:
        metric = (
            "latency-p95"
            if "histogram_quantile" in query
            else "scrapes"
            if "count_over_time(up" in query
            else "requests"
            if "increase(http_requests_total" in query
            else "error-rate"
            if "http_requests_total" in query
            else "custom"
        )
        slot = query.split('slot="', 1)[1].split('"', 1)[0] if 'slot="' in query else ""
        return metric, slot

    def query(self, promql: str, *, at: float | None = None) -> QueryResult:
        self.queries.append(promql)
        if self.down:
            return QueryResult(promql, error="connection refused")
        metric, slot = self._parse(promql)
        if metric in ("requests", "scrapes"):
            value = self.values.get((metric, slot), self.values.get(metric, self.defaults[metric]))
            if callable(value):
                value = value(slot)
        elif self.script is not None:
            value = self.script(metric, slot, promql)
        else:
            value = self.values.get((metric, slot), self.values.get(metric))
        if isinstance(value, Exception) or value == "error":
            return QueryResult(promql, error=str(value))
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            value = None  # as Prometheus' NaN (0/0: no requests) reads: no data
        return QueryResult(promql, value=value)


class FakeCommands:
    """Records the commands it is asked to run; ``fail`` maps a program to the exit code it fails with."""

    def __init__(
        self, fail: Mapping[str, int] | None = None, output: Sequence[str] = (), missing: Sequence[str] = ()
    ):
        self.calls: list[tuple[tuple[str, ...], str, float]] = []
        self.fail = dict(fail or {})
        self.output = list(output)
        self.missing = set(missing)

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Any,
        timeout: float,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        if argv[0] in self.missing:
            raise ToolMissing(f"{argv[0]} is not installed (not found on PATH)")
        self.calls.append((tuple(argv), str(cwd), timeout))
        for line in self.output:
            if on_line is not None:
                on_line(line)
        code = self.fail.get(argv[0])
        if code:
            raise ExternalError(
                f"{' '.join(argv)} failed in {cwd} with exit code {code}",
                details={"argv": list(argv), "returncode": code, "log_tail": [*self.output, f"exit {code}"]},
            )


class FakeSbomGenerator:
    """The SbomGenerator port without syft: writes documents it was given (e.g. recorded from a real syft run)
    for known image refs; an unknown ref is "not found", as syft says for a missing image."""

    name = "syft"
    display_name = "Syft"
    install_hint = "this is the test stand-in"

    def __init__(self, documents: Mapping[str, Mapping[str, bytes]] | None = None, *, installed: bool = True):
        self.documents: dict[str, Mapping[str, bytes]] = dict(documents or {})
        self.installed = installed
        self.calls: list[tuple[str, str]] = []

    def available(self) -> bool:
        return self.installed

    def version(self) -> str:
        return "fake"

    def generate(self, source: str, target: str, outputs: Mapping[str, Path]) -> None:
        from coursectl.errors import PreconditionError, ToolMissing

        self.calls.append((source, target))
        if not self.installed:
            raise ToolMissing("syft is not installed (fake)")
        docs = self.documents.get(target)
        if docs is None:
            raise PreconditionError(f"image {target} not found")
        for fmt, path in outputs.items():
            if fmt not in docs:
                raise ValueError(f"no {fmt} document recorded for {target}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(docs[fmt])
