"""The kubernetes target and router keep the Target / TrafficRouter promises of coursectl/ports.py (the same the
docker target and the HAProxy edge keep), on the recorded-answers server. The contract suite of those ports can
take ``kube_rig`` from tests/k8s/conftest.py."""

from __future__ import annotations

from typing import Any

from coursectl.domain import SlotSpec
from coursectl.ports import Target, TrafficRouter
from tests.k8s.conftest import DIGEST1, DIGEST2
from tests.support.kube_server import KubeFixtureServer


def spec(slot: str, version: str, digest: str) -> SlotSpec:
    return SlotSpec(
        service="course",
        slot=slot,
        version=version,
        port=8080,
        image=f"registry.local/course/course:{version}",
        digest=digest,
        rollout_id="r1",
    )


def test_they_are_the_ports(kube_rig: Any) -> None:
    assert isinstance(kube_rig.target, Target) and isinstance(kube_rig.router, TrafficRouter)


def test_address_is_known_before_the_slot_exists(kube_rig: Any) -> None:
    assert kube_rig.target.address("course", "green") == ("course-green.course", 8080)


def test_start_wait_slots_retire(kube_rig: Any, kube: KubeFixtureServer) -> None:
    target = kube_rig.target
    assert target.slots("course") == []
    started = target.start(spec("blue", "1.0.0", DIGEST1))
    assert (started.slot, started.version, started.running, started.ready) == ("blue", "1.0.0", True, False)
    ready = target.wait_ready("course", "blue", timeout=30)
    assert ready.ready and ready.digest == DIGEST1 and ready.rollout_id == "r1"
    assert [(s.slot, s.version, s.running) for s in target.slots("course")] == [("blue", "1.0.0", True)]
    target.retire("course", "blue")
    assert [(s.slot, s.running) for s in target.slots("course")] == [("blue", False)]
    target.retire("course", "green")  # a slot that does not exist: a no-op


def test_starting_the_same_version_again_leaves_it_alone(kube_rig: Any, kube: KubeFixtureServer) -> None:
    target = kube_rig.target
    target.start(spec("blue", "1.0.0", DIGEST1))
    kube.settle()
    writes = len([r for r in kube.requests if r.method == "PATCH"])
    target.start(spec("blue", "1.0.0", DIGEST1))
    assert len([r for r in kube.requests if r.method == "PATCH"]) == writes  # the preview already selects it
    target.start(spec("blue", "1.1.0", DIGEST2))
    assert len([r for r in kube.requests if r.method == "PATCH"]) > writes


def test_weights_set_verify_remove(kube_rig: Any, kube: KubeFixtureServer) -> None:
    target, router = kube_rig.target, kube_rig.router
    assert router.weights("course") == {}
    for slot, version, digest in (("blue", "1.0.0", DIGEST1), ("green", "1.1.0", DIGEST2)):
        target.start(spec(slot, version, digest))
        target.wait_ready("course", slot, timeout=30)
    addresses = {s: target.address("course", s) for s in ("blue", "green")}
    router.set_weights("course", {"blue": 100, "green": 0}, addresses)
    assert router.verify("course", {"blue": 100, "green": 0}) is True
    assert router.weights("course") == {"blue": 100}
    router.set_weights("course", {"blue": 100, "green": 0}, addresses)  # idempotent
    assert router.weights("course") == {"blue": 100}
    router.set_weights("course", {"green": 100, "blue": 0}, addresses)
    assert router.weights("course") == {"green": 100}
    assert router.verify("course", {"blue": 100}) is False
    router.remove("course", "blue")  # no traffic on it: a no-op
    assert router.weights("course") == {"green": 100}
    router.remove("course", "nope")
    assert router.weights("course") == {"green": 100}
