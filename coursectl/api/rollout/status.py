"""What runs where: the live state of every service, the latest rollout of one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from coursectl.api.rollout.context import OBSERVE, Rig, RolloutContext
from coursectl.api.rollout.locking import holder_alive
from coursectl.errors import CoursectlError
from coursectl.rollout import steps as st
from coursectl.rollout.analysis import Measurement, last_round, round_line
from coursectl.rollout.plan import live_slot
from coursectl.rollout.state import RolloutState


def _probe(host: str, port: int, path: str, timeout: float = 0.5) -> bool:
    import http.client

    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request("GET", path)
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except (OSError, http.client.HTTPException):
        return False


def rollout_status(ctx: RolloutContext, service: str) -> dict[str, Any]:
    """The latest rollout of ``service`` as data (phase, step, weights, last measurements, lock)."""
    state = ctx.store.latest(ctx.env_name, service)
    lock = ctx.ledger.lock_info(ctx.env_name, service)
    if state is None:
        return {
            "service": service,
            "environment": ctx.env_name,
            "rollout": None,
            "lock": lock.to_dict() if lock else None,
        }
    step = state.current_step
    return {
        "service": service,
        "environment": ctx.env_name,
        "rollout": {
            "id": state.id,
            "kind": state.kind,
            "strategy": state.strategy,
            "version": state.version,
            "from_version": state.from_version or state.stable_version,
            "phase": state.phase,
            "message": state.message,
            "step": state.step_index,
            "steps": len(state.steps),
            "current_step": st.describe(step) if step else None,
            "weights": state.weights(),
            "new_slot": state.new_slot,
            "stable_slot": state.stable_slot,
            "analysis": state.analysis,
            "last_round": _last_round(state),
            "measurements": state.measurements[-6:],
            "started_at": state.started_at,
            "updated_at": state.updated_at,
            "finished_at": state.finished_at,
            "actor": state.actor,
            "plan": [st.describe(s) for s in state.steps],
        },
        "lock": dict(lock.to_dict(), alive=holder_alive(lock)) if lock else None,
    }


def _last_round(state: RolloutState) -> dict[str, Any] | None:
    """The newest analysis round: its number, weight, verdict and one line with every metric."""
    found = last_round([Measurement.from_dict(m) for m in state.measurements])
    if not found:
        return None
    first = found[0]
    return {
        "round": first.round,
        "at": first.at,
        "weight": first.weight,
        "verdicts": {m.metric: m.verdict for m in found},
        "requests": first.requests,
        "no_traffic": any(m.no_traffic for m in found),
        "line": round_line(found),
    }


def _read_all(
    rig: Rig, names: Sequence[str], edge_up: bool
) -> tuple[dict[str, dict[str, int]] | None, dict[str, list[Any]] | None]:
    """Every service's weights (one edge command) and slots (one engine listing) when the adapters offer it;
    None for what is to be read service by service."""
    weights = slots = None
    all_weights = getattr(rig.router, "all_weights", None)
    if edge_up and all_weights is not None:
        try:
            weights = all_weights()
        except CoursectlError:  # read (and reported) service by service below
            weights = None
    all_slots = getattr(rig.target, "all_slots", None)
    if all_slots is not None:
        try:
            slots = all_slots(names)
        except CoursectlError:
            slots = None
    return weights, slots


def _probe_all(checks: Sequence[tuple[Any, str]]) -> dict[tuple[str, int, str], bool]:
    """GET each slot's health path at once (a thread each): (host, port, path) → answered 200."""
    wanted = list(dict.fromkeys((slot.host, slot.port, path) for slot, path in checks))
    if len(wanted) <= 1:
        return {key: _probe(*key) for key in wanted}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(16, len(wanted))) as pool:
        return dict(zip(wanted, pool.map(lambda key: _probe(*key), wanted), strict=True))


def status(ctx: RolloutContext, services: Sequence[str] | None = None) -> dict[str, Any]:
    """Per service: live version, digest, slots, weights, health, lock — without Prometheus or the registry.
    One round trip to the edge and one to the engine for every service, when the adapters can."""
    from coursectl.api.finisher import describe_leftovers

    rig = ctx.rig(OBSERVE)
    names = list(services or sorted(ctx.config.services))
    for name in names:
        ctx.service(name)
    snap = rig.router.snapshot(names)  # one read per kind (kubernetes); None: read service by service
    probe = rig.probe_slots
    problems: list[str] = []
    edge_up = True
    try:
        edge_up = rig.router.running()
    except CoursectlError:  # a router that cannot even tell (its API down): as good as not running
        edge_up = False
    if not edge_up and snap is None:
        problems.append("the edge is not running")
    problems.extend(rig.router.port_problems())
    every_weight, every_slot = _read_all(rig, names, edge_up and snap is None)
    rows: list[tuple[str, Any, list[Any], dict[str, int]]] = []
    for name in names:
        svc = ctx.service(name)
        weights: dict[str, int] = {}
        if snap is not None:
            slots, weights = snap[name]
        else:
            try:
                if every_weight is not None:
                    weights = every_weight.get(name, {})
                else:
                    weights = rig.router.weights(name) if edge_up else {}
            except CoursectlError as exc:
                problems.append(f"{name}: edge: {exc}")
            try:
                slots = every_slot[name] if every_slot is not None else rig.target.slots(name)
            except CoursectlError as exc:
                slots = []
                problems.append(f"{name}: target: {exc.message}")
        rows.append((name, svc, list(slots), weights))
    checks = [(s, svc.health) for _, svc, slots, _ in rows for s in slots if s.running] if probe else []
    health_of = _probe_all(checks)
    out = []
    for name, svc, slots, weights in rows:
        live = live_slot(weights, sorted(s.slot for s in slots if s.running))
        by_slot = {s.slot: s for s in slots}
        if live and live not in by_slot:
            problems.append(f"{name}: the edge sends traffic to {live}, which the target does not run")
            live = None
        slot_rows = []
        for s in slots:
            healthy = s.running and (health_of.get((s.host, s.port, svc.health), False) if probe else s.ready)
            slot_rows.append(dict(s.to_dict(), healthy=healthy, weight=weights.get(s.slot, 0)))
        health = (
            "down"
            if not slots
            else ("healthy" if all(r["healthy"] for r in slot_rows if r["weight"] > 0) and live else "degraded")
        )
        lock = ctx.ledger.lock_info(ctx.env_name, name)
        active = ctx.store.active(ctx.env_name, name)
        rollout = None
        if active:
            rollout = {
                "id": active.id,
                "phase": active.phase,
                "version": active.version,
                "finishing": describe_leftovers(active),
            }
        out.append(
            {
                "name": name,
                "version": by_slot[live].version if live else None,
                "digest": by_slot[live].digest if live else None,
                "slots": slot_rows,
                "weights": weights,
                "health": health,
                "lock": dict(lock.to_dict(), alive=holder_alive(lock)) if lock else None,
                "rollout": rollout,
            }
        )
    return {"environment": ctx.env_name, "edge_url": rig.edge_url, "services": out, "problems": problems}
