"""Every target and router, real or fake, has every member of its port: callers never probe with hasattr."""

from __future__ import annotations

import pytest

from coursectl.adapters.docker_target import DockerTarget
from coursectl.adapters.haproxy import HAProxyEdge
from coursectl.adapters.kubernetes_target import KubernetesTarget
from coursectl.adapters.kubernetes_traffic import KubernetesRouter
from coursectl.adapters.process_target import ProcessTarget
from coursectl.adapters.prometheus import PrometheusMetrics
from coursectl.ports import MetricsProvider, Target, TrafficRouter
from coursectl.testing.fakes import FakeRouter, FakeTarget, ScriptedMetrics


def members(port: type) -> set[str]:
    return {name for name in vars(port) if not name.startswith("_")}


def test_the_ports_name_what_was_probed_before() -> None:
    assert {"healthy", "service_urls", "in_place", "records_fingerprints"} <= members(Target)
    assert {"ensure_running", "running", "planned_weights", "port_problems", "explain", "snapshot"} <= members(
        TrafficRouter
    )


@pytest.mark.parametrize(
    ("port", "implementation"),
    [
        (Target, FakeTarget),
        (Target, ProcessTarget),
        (Target, DockerTarget),
        (Target, KubernetesTarget),
        (TrafficRouter, FakeRouter),
        (TrafficRouter, HAProxyEdge),
        (TrafficRouter, KubernetesRouter),
        (MetricsProvider, ScriptedMetrics),
        (MetricsProvider, PrometheusMetrics),
    ],
)
def test_every_implementation_has_every_member_of_its_port(port: type, implementation: type) -> None:
    missing = sorted(name for name in members(port) if not hasattr(implementation, name))
    assert not missing, f"{implementation.__name__} lacks {', '.join(missing)} of {port.__name__}"


def test_targets_that_run_no_slot_of_their_own_answer_with_their_defaults() -> None:
    fake = FakeTarget()
    assert fake.in_place == () and fake.records_fingerprints and fake.service_urls() == {}
    router = FakeRouter()
    router.set_weights("course", {"blue": 100}, {"blue": ("127.0.0.1", 8102)})
    assert router.planned_weights("course") == {"blue": 100} and router.running()
    assert router.port_problems() == [] and router.explain(20) is None and router.snapshot(["course"]) is None
