"""The Target + TrafficRouter contract, written once and run against every pair that exists: the in-memory fakes,
the process target behind a real HAProxy edge, the kubernetes target and router on the recorded-answers API
server (tests/k8s/conftest.py's ``kube_rig``), and — in ``tests/integration/test_target_router_docker.py``,
which collects these same tests with its own ``rig`` — the docker target on the sandbox's engine behind HAProxy.

Where implementations legitimately differ, the rule is stated per capability of the rig, never per name:

* ``exact``: the router routes by exact percentage (an edge's server weights) — or only as close as its data
  plane can (kubernetes' replica ratio: 20 % of 3 pods is 1 pod, 33 %); then ``verify`` judges what it made of
  the weights, and both slots still share the traffic.
* ``send``: user requests can be sent through the router and counted per version (an edge, the fake's model
  of a health-checking edge). Without it (kubernetes), the data plane (kube-proxy endpoints) keeps a slot that
  is not ready out by the Ready state the target reports, so the suite checks that state instead.
* ``retire_keeps``: a retired slot stays listed, scaled to zero, so a rollback can scale its image up again
  (kubernetes) — instead of disappearing.
* ``cannot_run``: the ways a slot cannot run on that target — a missing image (docker), another program on the
  slot's port (targets whose slots listen on this machine's ports: refused before anything starts), pods that
  never become ready (kubernetes) — each a coursectl error of a stated class, never an SDK exception.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from coursectl.errors import CoursectlError, ExternalError, PreconditionError
from coursectl.ports import SlotSpec, Target, TrafficRouter
from tests.k8s.conftest import DIGEST1, DIGEST2, DIGEST3, kube, kube_rig, kubeconfig  # noqa: F401 - fixtures

SERVICE = "course"
DIGESTS = {"v1": DIGEST1, "v2": DIGEST2, "v3": DIGEST3}


@dataclass
class Rig:
    target: Any  # Target
    router: Any  # TrafficRouter
    spec: Callable[..., SlotSpec]  # spec(slot, version, ready=True): what the engine would start
    fresh: Callable[[], tuple[Any, Any]]  # new adapter instances over the same live state (after a restart)
    instance: Callable[[str], object]  # what identifies the running instance of a slot (pid, container id, ...)
    # ways a slot cannot run here (a missing image, its port taken, pods never ready): each yields the spec and
    # the error class its start + wait_ready must raise
    cannot_run: list[Callable[[], AbstractContextManager[tuple[SlotSpec, type[CoursectlError]]]]]
    exact: bool = True
    retire_keeps: bool = False
    send: Callable[[int], dict[str, int]] | None = None  # n user requests through the router → version: count
    ready_timeout: float = 20.0
    not_ready_timeout: float = 1.5  # how long the suite waits for a slot that never becomes ready
    cleanup: list[Callable[[], None]] = field(default_factory=list)


# --- the rigs ---


def _fake_rig() -> Rig:
    from coursectl.testing.fakes import FakeRouter, FakeTarget

    target = FakeTarget({SERVICE: 8002})
    router = FakeRouter(services=[SERVICE], target=target)

    def spec(slot: str, version: str, ready: bool = True) -> SlotSpec:
        if not ready:
            target.fail_ready.add(version)
        return SlotSpec(
            SERVICE,
            slot,
            version,
            target.address(SERVICE, slot)[1],
            image=f"course:{version}",
            digest=DIGESTS.get(version),
            rollout_id="r-contract",
        )

    def fresh() -> tuple[Any, Any]:  # the fakes' "live state" is their tables: new instances over the same ones
        t = FakeTarget({SERVICE: 8002})
        t.running = target.running
        r = FakeRouter(services=[SERVICE], target=t)
        r.table = router.table
        return t, r

    def send(n: int) -> dict[str, int]:
        by_slot = router.serve(SERVICE, n)
        return {target.running[(SERVICE, slot)].version: count for slot, count in by_slot.items() if count}

    @contextmanager
    def cannot_run() -> Iterator[tuple[SlotSpec, type[CoursectlError]]]:
        target.fail_start.add("v-broken")
        yield spec("green", "v-broken"), ExternalError

    return Rig(
        target, router, spec, fresh, lambda slot: id(target.running.get((SERVICE, slot))), [cannot_run], send=send
    )


def _free_base() -> int:
    from coursectl.testing.drill import free_base

    return free_base()


def _edge(workdir: Path) -> Any:
    from coursectl.adapters.haproxy import HAProxyEdge
    from coursectl.testing.drill import free_port

    return HAProxyEdge(
        workdir,
        services={SERVICE: "/health/ready"},
        bind=f"127.0.0.1:{free_port()}",
        stats_bind=f"127.0.0.1:{free_port()}",
        rate_limit_requests=1_000_000,
        drain_timeout=2.0,
        check_timeout=5.0,
    )


def stop_edge(edge: Any) -> None:
    """Stop an edge and wait until its process is gone (an edge without servers would take its whole soft-stop
    timeout, so a short one; then SIGTERM)."""
    import time

    pid = edge.pid()
    edge.stop(timeout=2.0)
    deadline = time.monotonic() + 10
    while pid is not None and edge.pid() == pid and time.monotonic() < deadline:
        time.sleep(0.05)


def send_through_edge(edge: Any, n: int) -> dict[str, int]:
    """``n`` GETs through the edge; the versions that answered (a failed request counts under its status)."""
    import json
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    seen: dict[str, int] = {}
    for _ in range(n):
        try:
            with opener.open(f"{edge.url}/api/{SERVICE}/contract", timeout=5) as resp:
                key = str(json.loads(resp.read())["version"])
        except urllib.error.HTTPError as exc:
            key = f"HTTP {exc.code}"
            exc.close()
        seen[key] = seen.get(key, 0) + 1
    return seen


@contextmanager
def holding(port: int) -> Iterator[None]:
    """Another program's HTTP server on ``port``, answering 200 to every GET (the worst case: it would pass any
    readiness check)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Ok(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", port), Ok)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def port_taken(
    spec: Callable[..., SlotSpec],
) -> Callable[[], AbstractContextManager[tuple[SlotSpec, type[CoursectlError]]]]:
    """For targets whose slots listen on this machine's ports: another program on the slot's port is refused
    before anything starts (exit 4) — it would answer the readiness check while the slot cannot bind."""

    @contextmanager
    def scenario() -> Iterator[tuple[SlotSpec, type[CoursectlError]]]:
        broken = spec("green", "v-broken")
        with holding(broken.port):
            yield broken, PreconditionError

    return scenario


def _process_rig(tmp_path: Path) -> Rig:
    from coursectl.adapters.haproxy import HAProxyEdge
    from coursectl.adapters.process_target import ProcessTarget

    edge = _edge(tmp_path / "edge")
    edge.ensure_running()  # first: the slots' ports are then chosen among those still free
    ports = {SERVICE: _free_base()}
    target = ProcessTarget(tmp_path / "slots", ports)
    state = {"edge": edge}

    def spec(slot: str, version: str, ready: bool = True) -> SlotSpec:
        return SlotSpec(
            SERVICE,
            slot,
            version,
            target.address(SERVICE, slot)[1],
            digest=DIGESTS.get(version),
            rollout_id="r-contract",
            env={} if ready else {"FAULT_NOT_READY": "1"},
        )

    def fresh() -> tuple[Any, Any]:  # the edge process restarted, both adapters new over the files they keep
        old = state["edge"]
        stop_edge(old)
        new = HAProxyEdge(
            old.workdir,
            services=old.services,
            bind=old.bind,
            stats_bind=old.stats_bind,
            rate_limit_requests=1_000_000,
            drain_timeout=2.0,
            check_timeout=5.0,
        )
        new.ensure_running()
        state["edge"] = new
        return ProcessTarget(tmp_path / "slots", ports), new

    def pid(slot: str) -> object:
        import json

        return json.loads((tmp_path / "slots" / "slots.json").read_text()).get(f"{SERVICE}-{slot}", {}).get("pid")

    rig = Rig(
        target, edge, spec, fresh, pid, [port_taken(spec)], send=lambda n: send_through_edge(state["edge"], n)
    )
    rig.cleanup += [lambda: stop_edge(state["edge"]), target.stop_all]
    return rig


def _kube_rig(kube_rig: Any, kube: Any, tmp_path: Path) -> Rig:  # noqa: F811 - the fixtures' values
    from coursectl.render import kubernetes as km
    from tests.k8s.conftest import k8s_config, load, rig_for

    config = load(tmp_path, k8s_config(kube.kubeconfig(tmp_path / "kubeconfig-2"), smoke=False))

    def spec(slot: str, version: str, ready: bool = True) -> SlotSpec:
        # the stand-in kubelet's rule: pods of an image with "never-ready" in its name never become ready
        image = f"registry.local/{'course' if ready else 'never-ready'}/course:{version}"
        return SlotSpec(
            SERVICE,
            slot,
            version,
            8080,
            image=image,
            digest=DIGESTS.get(version, DIGEST3),
            rollout_id="r-contract",
        )

    def fresh() -> tuple[Any, Any]:
        again = rig_for(config)
        return again.target, again.router

    def instance(slot: str) -> object:
        name = km.slot_name(SERVICE, slot)
        writes = [
            r
            for r in kube.requests
            if r.resource == "deployments" and r.name == name and r.method in ("PATCH", "PUT", "POST")
        ]
        stored = kube.get("deployments", name) or {}
        return (len(writes), ((stored.get("metadata") or {}).get("annotations") or {}).get(km.ANN_HASH))

    @contextmanager
    def cannot_run() -> Iterator[tuple[SlotSpec, type[CoursectlError]]]:
        yield spec("green", "v-broken", ready=False), ExternalError  # pods never ready: progress deadline

    return Rig(
        kube_rig.target, kube_rig.router, spec, fresh, instance, [cannot_run], exact=False, retire_keeps=True
    )


needs_haproxy = pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy is not installed")


@pytest.fixture(
    params=["fake", pytest.param("process+haproxy", marks=[pytest.mark.integration, needs_haproxy]), "kubernetes"]
)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    if request.param == "fake":
        made = _fake_rig()
    elif request.param == "kubernetes":
        made = _kube_rig(request.getfixturevalue("kube_rig"), request.getfixturevalue("kube"), tmp_path)
    else:
        made = _process_rig(tmp_path)
    try:
        yield made
    finally:
        for undo in made.cleanup:
            undo()


# --- helpers ---


def traffic(weights: dict[str, int]) -> dict[str, int]:
    """The slots that get traffic (a router may or may not list slots at 0)."""
    return {slot: w for slot, w in weights.items() if w > 0}


def start_ready(rig: Rig, slot: str, version: str) -> None:
    rig.target.start(rig.spec(slot, version))
    rig.target.wait_ready(SERVICE, slot, timeout=rig.ready_timeout)


def addresses(rig: Rig, *slots: str) -> dict[str, tuple[str, int]]:
    return {slot: rig.target.address(SERVICE, slot) for slot in slots}


def blue_live(rig: Rig) -> None:
    """v1 in blue with all the traffic: where most tests begin."""
    start_ready(rig, "blue", "v1")
    rig.router.set_weights(SERVICE, {"blue": 100}, addresses(rig, "blue"))


# --- the contract ---


def test_they_are_a_target_and_a_router(rig: Rig) -> None:
    assert isinstance(rig.target, Target) and isinstance(rig.router, TrafficRouter)


def test_a_slot_has_its_own_address_before_it_exists(rig: Rig) -> None:
    assert rig.target.slots(SERVICE) == []
    blue, green = rig.target.address(SERVICE, "blue"), rig.target.address(SERVICE, "green")
    assert blue != green
    target, _ = rig.fresh()
    assert target.address(SERVICE, "blue") == blue  # deterministic: another process computes the same


def test_start_then_ready_then_listed(rig: Rig) -> None:
    started = rig.target.start(rig.spec("blue", "v1"))
    assert (started.service, started.slot, started.version, started.running) == (SERVICE, "blue", "v1", True)
    ready = rig.target.wait_ready(SERVICE, "blue", timeout=rig.ready_timeout)
    assert ready.ready and ready.version == "v1"
    assert (ready.digest, ready.rollout_id) == (rig.spec("blue", "v1").digest, "r-contract")  # as recorded
    [listed] = rig.target.slots(SERVICE)
    assert (listed.slot, listed.version, listed.running, listed.ready) == ("blue", "v1", True, True)


def test_starting_what_already_runs_leaves_it_alone_and_a_new_version_replaces_it(rig: Rig) -> None:
    start_ready(rig, "blue", "v1")
    before = rig.instance("blue")
    again = rig.target.start(rig.spec("blue", "v1"))
    assert again.version == "v1" and rig.instance("blue") == before
    rig.target.start(rig.spec("blue", "v2"))
    assert rig.instance("blue") != before
    assert rig.target.wait_ready(SERVICE, "blue", timeout=rig.ready_timeout).version == "v2"


def test_weights_are_set_verified_and_read_back(rig: Rig) -> None:
    blue_live(rig)
    start_ready(rig, "green", "v2")
    both = addresses(rig, "blue", "green")
    assert rig.router.verify(SERVICE, {"blue": 100}) is True
    assert traffic(rig.router.weights(SERVICE)) == {"blue": 100}

    rig.router.set_weights(SERVICE, {"blue": 80, "green": 20}, both)
    assert rig.router.verify(SERVICE, {"blue": 80, "green": 20}) is True
    live = traffic(rig.router.weights(SERVICE))
    if rig.exact:
        assert live == {"blue": 80, "green": 20}
    else:  # as close as the data plane can: both share it, the new slot the smaller part, summing to 100
        assert set(live) == {"blue", "green"} and 0 < live["green"] < live["blue"] and sum(live.values()) == 100
    if rig.send is not None:
        seen = rig.send(200)
        assert set(seen) == {"v1", "v2"} and seen["v2"] < seen["v1"], seen

    rig.router.set_weights(SERVICE, {"blue": 0, "green": 100}, both)
    rig.router.set_weights(SERVICE, {"blue": 0, "green": 100}, both)  # idempotent
    assert traffic(rig.router.weights(SERVICE)) == {"green": 100}
    assert rig.router.verify(SERVICE, {"green": 100}) is True
    assert rig.router.verify(SERVICE, {"blue": 100}) is False
    if rig.send is not None:
        assert rig.send(50) == {"v2": 50}


def test_a_slot_that_is_not_ready_gets_no_traffic(rig: Rig) -> None:
    blue_live(rig)
    rig.target.start(rig.spec("green", "v2", ready=False))
    with pytest.raises(CoursectlError) as info:
        rig.target.wait_ready(SERVICE, "green", timeout=rig.not_ready_timeout)
    assert isinstance(info.value, ExternalError)  # timed out, or the target saw it fail (exit 5)
    if rig.send is None:  # the data plane routes by the Ready state the target reports
        assert [(s.slot, s.ready) for s in rig.target.slots(SERVICE) if s.slot == "green"] == [("green", False)]
        return
    try:  # a router may refuse (and change nothing) or set the weight and keep the slot out by health checks
        rig.router.set_weights(SERVICE, {"blue": 50, "green": 50}, addresses(rig, "blue", "green"))
    except CoursectlError as exc:
        assert isinstance(exc, ExternalError)
        assert traffic(rig.router.weights(SERVICE)) == {"blue": 100}
    assert rig.send(100) == {"v1": 100}


def test_retire_and_remove_take_a_slot_away(rig: Rig) -> None:
    blue_live(rig)
    start_ready(rig, "green", "v2")
    both = addresses(rig, "blue", "green")
    rig.router.set_weights(SERVICE, {"blue": 0, "green": 100}, both)
    rig.router.remove(SERVICE, "blue")
    assert "blue" not in traffic(rig.router.weights(SERVICE))
    assert traffic(rig.router.weights(SERVICE)) == {"green": 100}
    rig.target.retire(SERVICE, "blue")
    left = {s.slot: s.running for s in rig.target.slots(SERVICE)}
    assert left == ({"blue": False, "green": True} if rig.retire_keeps else {"green": True})
    rig.target.retire(SERVICE, "blue")  # again: a no-op
    rig.target.retire(SERVICE, "canary")  # never existed: a no-op
    rig.router.remove(SERVICE, "canary")
    assert traffic(rig.router.weights(SERVICE)) == {"green": 100}
    if rig.send is not None:
        assert rig.send(20) == {"v2": 20}


def test_live_state_is_read_back_after_a_restart(rig: Rig) -> None:
    blue_live(rig)
    start_ready(rig, "green", "v2")
    rig.router.set_weights(SERVICE, {"blue": 80, "green": 20}, addresses(rig, "blue", "green"))
    slots_before = [(s.slot, s.version, s.digest, s.rollout_id, s.running) for s in rig.target.slots(SERVICE)]
    weights_before = traffic(rig.router.weights(SERVICE))

    target, router = rig.fresh()
    assert [(s.slot, s.version, s.digest, s.rollout_id, s.running) for s in target.slots(SERVICE)] == slots_before
    assert traffic(router.weights(SERVICE)) == weights_before
    assert router.verify(SERVICE, {"blue": 80, "green": 20}) is True
    assert target.wait_ready(SERVICE, "green", timeout=rig.ready_timeout).version == "v2"


def test_a_slot_that_cannot_run_is_a_coursectl_error(rig: Rig) -> None:
    blue_live(rig)
    for scenario in rig.cannot_run:
        with scenario() as (spec, expected):
            with pytest.raises(CoursectlError) as info:
                rig.target.start(spec)
                rig.target.wait_ready(SERVICE, spec.slot, timeout=rig.ready_timeout)
            assert isinstance(info.value, expected), repr(info.value)
            said = str(info.value)
            assert spec.service in said or spec.version in said or str(spec.port) in said, said
        assert traffic(rig.router.weights(SERVICE)) == {"blue": 100}  # the live slot is untouched
        rig.target.retire(SERVICE, spec.slot)


def test_weights_for_a_service_the_router_does_not_know_are_refused(rig: Rig) -> None:
    with pytest.raises(PreconditionError):
        rig.router.set_weights("nobody", {"blue": 100}, {"blue": ("127.0.0.1", 1)})
