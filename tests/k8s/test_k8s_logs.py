"""`coursectl logs` on the kubernetes target: the LogSource contract (tests/contract/test_logsource_contract.py)
run against the pods of the recorded-answers API server, then what the kubernetes source adds — several pods per
slot merged by time, the runtime's time stamps, ``sinceSeconds``, containers whose log cannot be read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from coursectl.errors import ExternalError
from tests.contract.test_logsource_contract import (  # noqa: F401 - collected here with the kubernetes rig
    LINES,
    Rig,
    _json,
    test_a_service_without_slots_has_no_lines,
    test_one_slot_only,
    test_reads_every_slot_of_the_service_and_only_that_service,
    test_since_in_the_future_leaves_out_stamped_lines,
)
from tests.k8s.conftest import k8s_config, load
from tests.support.kube_server import KubeFixtureServer, iter_requests


def source(kube: KubeFixtureServer, kubeconfig: Path, tmp_path: Path) -> Any:
    from coursectl.wiring import log_source

    return log_source(load(tmp_path, k8s_config(kubeconfig)), tmp_path / "state")


@pytest.fixture
def rig(kube: KubeFixtureServer, kubeconfig: Path, tmp_path: Path) -> Iterator[Rig]:
    start = datetime.now(UTC) - timedelta(seconds=30)
    for (svc, slot), lines in LINES.items():
        kube.pod_logs[f"{svc}-{slot}"] = [
            (start + timedelta(seconds=i), _json(svc, rid, message)) for i, (rid, message) in enumerate(lines)
        ]
    yield Rig(source(kube, kubeconfig, tmp_path), stamps=True)


def test_the_lines_of_a_slots_pods_come_merged_by_the_time_the_runtime_stamped(rig: Rig,
                                                                                kube: KubeFixtureServer) -> None:
    blue = [x for x in rig.source.read("payment") if x.slot == "blue"]
    assert [json.loads(x.text)["request_id"] for x in blue] == ["r1", "r2"]
    assert blue[0].time is not None and blue[1].time is not None and blue[0].time < blue[1].time
    pods = {s.name for s in iter_requests(kube, "get", "pods/log") if s.name and s.name.startswith("payment-blue-")}
    assert len(pods) == 3  # each of the slot's three pods was read: its lines are on two of them
    asked = [s for s in iter_requests(kube, "get", "pods/log")]
    assert all(s.query["timestamps"] == "true" and int(s.query["limitBytes"]) == 16 * 1024 * 1024 for s in asked)


def test_since_is_asked_of_the_api_server_and_applied(rig: Rig, kube: KubeFixtureServer) -> None:
    now = datetime.now(UTC)
    kube.pod_logs["payment-blue"] = [(now - timedelta(minutes=10), _json("payment", "old", "before")),
                                     (now - timedelta(seconds=5), _json("payment", "new", "after"))]  # fmt: skip
    lines = rig.source.read("payment", slot="blue", since=now - timedelta(minutes=1))
    assert [json.loads(x.text)["request_id"] for x in lines] == ["new"]
    asked = [s for s in iter_requests(kube, "get", "pods/log")]
    assert asked and all(55 <= int(s.query["sinceSeconds"]) <= 70 for s in asked)


def test_a_pod_whose_log_cannot_be_read_is_left_out_with_a_warning(
    rig: Rig, kube: KubeFixtureServer, caplog: pytest.LogCaptureFixture
) -> None:
    kube.fail("GET", r"/pods/payment-green-[^/]+/log$", "pods-log-404-pod-gone.json", times=3)
    lines = rig.source.read("payment")
    assert {x.slot for x in lines} == {"blue"}
    assert "no log of container web of pod payment-green-" in caplog.text


def test_when_no_log_at_all_can_be_read_it_is_an_external_failure(rig: Rig, kube: KubeFixtureServer) -> None:
    # what a real API server answers when it cannot reach the pod's node (recorded: tests/data/kubernetes)
    kube.fail("GET", r"/pods/payment-green-[^/]+/log$", "pods-log-500-node-unreachable.json", times=3)
    with pytest.raises(ExternalError) as err:
        rig.source.read("payment", slot="green")
    message = err.value.message
    assert "no log of payment could be read: no log of container web of pod payment-green-" in message
    assert "connect: connection refused" in message and "(and 2 more like it)" in message
    assert err.value.exit_code == 5 and len(err.value.details["unavailable"]) == 3
    assert "kubectl get pods -n course -l app.kubernetes.io/name=payment" in (err.value.hint or "")


def test_a_container_name_the_pod_does_not_have_is_left_out(rig: Rig, kube: KubeFixtureServer,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    kube.fail("GET", r"/pods/payment-blue-[^/]+/log$", "pods-log-400-bad-container.json", times=1)
    lines = rig.source.read("payment", slot="blue")
    assert lines  # the two other pods' lines
    assert "400 container nope is not valid for pod" in caplog.text


def test_a_refused_log_read_names_the_missing_verb(rig: Rig, kube: KubeFixtureServer, tmp_path: Path) -> None:
    from coursectl.errors import AuthError

    kube.role = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]  # no pods/log
    with pytest.raises(AuthError) as err:
        rig.source.read("payment")
    assert "may not get pods/log" in err.value.message


def test_coursectl_logs_follows_one_request_through_the_pods(
    kube: KubeFixtureServer, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from coursectl.cli import main

    now = datetime.now(UTC) - timedelta(seconds=10)
    kube.pod_logs["course-blue"] = [(now, _json("course", "abc", "listed courses")),
                                    (now + timedelta(seconds=1), _json("course", "zzz", "other"))]  # fmt: skip
    kube.pod_logs["web-green"] = [(now + timedelta(seconds=2), _json("web", "abc", "rendered page"))]
    (tmp_path / "coursectl.yaml").write_text(k8s_config(kubeconfig))
    monkeypatch.setenv("COURSECTL_STATE_DIR", str(tmp_path / "state"))
    assert main(["-c", str(tmp_path / "coursectl.yaml"), "logs", "--request-id", "abc", "-o", "json"]) == 0
    lines = json.loads(capsys.readouterr().out)["lines"]
    assert [(x["service"], x["slot"], x["message"]) for x in lines] == [
        ("course", "blue", "listed courses"), ("web", "green", "rendered page")]  # fmt: skip


def test_a_crash_looping_container_shows_what_its_last_instance_wrote(rig: Rig, kube: KubeFixtureServer) -> None:
    """The recorded pods of a canary in trouble: one CrashLoopBackOff after 3 restarts, one ImagePullBackOff."""
    now = datetime.now(UTC)
    kube.pods_fixture["canary"] = "pods-backoff.json"
    kube.previous_logs["payment-canary"] = [(now - timedelta(seconds=20), _json("payment", "-", "KeyError: 'DSN'"))]
    kube.pod_logs["payment-canary"] = [(now - timedelta(seconds=5), _json("payment", "-", "starting"))]
    lines = rig.source.read("payment", slot="canary")
    assert [json.loads(x.text)["message"] for x in lines] == ["KeyError: 'DSN'", "starting"]
    previous = [s.name for s in iter_requests(kube, "get", "pods/log") if s.query.get("previous") == "true"]
    assert previous == ["payment-canary-crashloop"]  # only the container that restarted is asked for its past


def test_a_restarted_container_without_an_earlier_log_still_shows_its_current_one(
    rig: Rig, kube: KubeFixtureServer
) -> None:
    kube.pods_fixture["canary"] = "pods-backoff.json"
    kube.pod_logs["payment-canary"] = [(datetime.now(UTC), _json("payment", "-", "starting"))]
    assert [json.loads(x.text)["message"] for x in rig.source.read("payment", slot="canary")] == ["starting"]


def test_a_container_waiting_to_restart_still_shows_its_last_instances_lines(
    rig: Rig, kube: KubeFixtureServer, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now(UTC)
    kube.pods_fixture["canary"] = "pods-backoff.json"
    kube.previous_logs["payment-canary"] = [(now - timedelta(seconds=20), _json("payment", "-", "KeyError: 'DSN'"))]
    # its current instance has no log to read (the recorded 400 stands for the kubelet's "waiting to start")
    kube.fail("GET", r"/pods/payment-canary-crashloop/log$", "pods-log-400-bad-container.json",
              query={"previous": None})  # fmt: skip
    kube.fail("GET", r"/pods/payment-canary-imagepull/log$", "pods-log-400-bad-container.json")
    lines = rig.source.read("payment", slot="canary")
    assert [json.loads(x.text)["message"] for x in lines] == ["KeyError: 'DSN'"]
