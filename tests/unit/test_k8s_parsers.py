"""Pure readings of recorded Kubernetes answers: readiness as kubectl reads it (its recorded output is the
reference), why pods are not ready, Status bodies, watch lines; and the replica arithmetic of a canary."""

from __future__ import annotations

import json
from typing import Any

import pytest

from coursectl.parsers import kubernetes as kp
from coursectl.rollout.replicas import canary_pods, replica_split
from tests.conftest import DATA, FIXTURES, NO_FIXTURES

K8S = FIXTURES / "kubernetes"
OWN = DATA / "kubernetes"
pytestmark = pytest.mark.skipif(not K8S.is_dir(), reason=NO_FIXTURES)


def load(name: str) -> Any:
    path = K8S / name if (K8S / name).is_file() else OWN / name
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    ("fixture", "state", "message"),
    [
        ("deployment-created.json", kp.WAITING, "Waiting for deployment spec update to be observed..."),
        (
            "deployment-progressing.json",
            kp.WAITING,
            'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
        ),
        ("deployment-complete.json", kp.READY, 'deployment "web" successfully rolled out'),
        ("deployment-complete-v1.json", kp.READY, 'deployment "web" successfully rolled out'),
        ("deployment-after-undo.json", kp.READY, 'deployment "web" successfully rolled out'),
        ("deployment-recovered-after-undo.json", kp.READY, 'deployment "web" successfully rolled out'),
        (
            "deployment-progress-deadline-exceeded.json",
            kp.FAILED,
            'deployment "web" exceeded its progress deadline',
        ),
    ],
)
def test_readiness_of_the_recorded_deployments(fixture: str, state: str, message: str) -> None:
    reading = kp.deployment_readiness(load(fixture))
    assert (reading.state, reading.message) == (state, message)


def test_the_messages_are_kubectls() -> None:
    """Every line kubectl rollout status printed (recorded) is one our reading can give, word for word."""
    ours = {
        kp.deployment_readiness(load(f)).message
        for f in ("deployment-progressing.json", "deployment-complete.json")
    }
    recorded = (K8S / "rollout-status-progressing.txt").read_text().splitlines()[2:]
    assert set(recorded) <= ours
    deadline = (K8S / "rollout-status-deadline-exceeded.txt").read_text().splitlines()[-1]
    assert (
        deadline == "error: " + kp.deployment_readiness(load("deployment-progress-deadline-exceeded.json")).message
    )
    complete = (K8S / "rollout-status-complete.txt").read_text().splitlines()
    assert complete[-1] == kp.deployment_readiness(load("deployment-complete.json")).message


def test_the_watch_of_a_scale_reads_like_kubectl() -> None:
    """course-blue scaled 2 → 3 (recorded watch): not observed yet, then 2 of 3 updated, then ready."""
    events = list(kp.watch_events((K8S / "watch-deployments.jsonl").read_bytes().splitlines()))
    blue = [obj for kind, obj in events if kind == "MODIFIED" and obj["metadata"]["name"] == "course-blue"]
    states = [kp.deployment_readiness(obj).message.split(": ")[-1] for obj in blue]
    assert states == [
        "Waiting for deployment spec update to be observed...",
        "2 out of 3 new replicas have been updated...",
        "2 out of 3 new replicas have been updated...",
        "2 of 3 updated replicas are available...",
        'deployment "course-blue" successfully rolled out',
    ]
    assert [k for k, _ in events][:3] == ["ADDED", "ADDED", "ADDED"]


def test_expired_watch_is_an_error_event() -> None:
    ((kind, obj),) = list(kp.watch_events((OWN / "watch-too-old.jsonl").read_bytes().splitlines()))
    assert kind == "ERROR" and obj["code"] == 410 and obj["reason"] == "Expired"


def test_pod_problems_of_a_stuck_rollout() -> None:
    """Three ready old pods and one new pod that runs but never becomes ready (recorded)."""
    assert kp.pod_problems(load("pods-never-ready.json")["items"]) == [
        "readiness probe failing: container web runs but is not ready (1 pod: web-59df5bf999-nvcst)"
    ]
    assert kp.pod_problems(load("pods-list.json")["items"]) == []


def test_pod_problems_of_image_pull_and_crash_loops() -> None:
    problems = kp.pod_problems(load("pods-backoff.json")["items"])
    assert problems == [
        "CrashLoopBackOff: container web: back-off 40s restarting failed container=web pod=web-crashloop_rec(uid)"
        " (last exit code 1, Error), restarted 3 times (1 pod: web-crashloop)",
        'ImagePullBackOff: container web: Back-off pulling image "registry.local/course/web@sha256:'
        + "2" * 64
        + '" (1 pod: web-imagepull)',
    ]


def test_probe_events_name_the_failure() -> None:
    events = load("events-deployment-web.json")["items"]
    assert kp.probe_failures(events) == {}  # the recorded events are ScalingReplicaSet only
    assert {e["reason"] for e in events} == {"ScalingReplicaSet"}


@pytest.mark.parametrize(
    ("fixture", "code", "reason"),
    [
        ("error-401-unauthorized.json", 401, "Unauthorized"),
        ("error-404-notfound.json", 404, "NotFound"),
        ("error-409-conflict.json", 409, "Conflict"),
        ("error-409-alreadyexists.json", 409, "AlreadyExists"),
        ("error-422-invalid.json", 422, "Invalid"),
        ("proxy-503-no-endpoints.json", 503, "ServiceUnavailable"),
    ],
)
def test_status_bodies(fixture: str, code: int, reason: str) -> None:
    status = kp.ApiStatus.parse(code, (K8S / fixture if (K8S / fixture).is_file() else OWN / fixture).read_bytes())
    assert (status.code, status.reason) == (code, reason)


def test_forbidden_names_who_may_not_do_what_where() -> None:
    status = kp.ApiStatus.parse(403, json.dumps(load("error-403-forbidden.json")))
    assert kp.forbidden(status) == kp.Forbidden(
        "patch", "secrets", "", "course", "system:serviceaccount:course:deployer"
    )
    listing = kp.ApiStatus.parse(403, json.dumps(load("error-403-forbidden-list-secrets.json")))
    assert kp.forbidden(listing) == kp.Forbidden(
        "list", "secrets", "", "course", "system:serviceaccount:course:deployer"
    )
    apply_create = kp.ApiStatus.parse(403, json.dumps(load("error-403-apply-create.json")))
    assert kp.forbidden(apply_create) is None  # the API names no verb there: the adapter does


def test_invalid_and_conflicting_fields() -> None:
    invalid = kp.ApiStatus.parse(422, json.dumps(load("error-422-invalid.json")))
    assert kp.invalid_fields(invalid) == [
        (
            "spec.template.metadata.labels",
            'Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`',
        )
    ]
    conflict = kp.ApiStatus.parse(409, json.dumps(load("error-409-apply-conflict.json")))
    assert kp.invalid_fields(conflict) == [
        ('.spec.template.spec.containers[name="web"].image', 'conflict with "kubectl" using apps/v1')
    ]


def test_a_body_that_is_not_a_status() -> None:
    assert kp.ApiStatus.parse(502, b"<html>bad gateway</html>").message == "<html>bad gateway</html>"
    assert kp.ApiStatus.parse(500, b'{"status": "failing"}').message == '{"status": "failing"}'


@pytest.mark.parametrize(
    ("total", "weight", "new", "stable", "text"),
    [
        (5, 20, 1, 4, "20 % requested → 1 of 5 pods = 20 %"),
        (5, 50, 3, 2, "50 % requested → 3 of 5 pods = 60 %"),
        (3, 20, 1, 2, "20 % requested → 1 of 3 pods = 33.3 %"),
        (3, 10, 1, 2, "10 % requested → 1 of 3 pods = 33.3 %"),
        (10, 10, 1, 9, "10 % requested → 1 of 10 pods = 10 %"),
        (10, 95, 9, 1, "95 % requested → 9 of 10 pods = 90 %"),
        (1, 20, 1, 1, "20 % requested → 1 of 2 pods = 50 %"),
        (4, 0, 0, 4, "0 % requested → 0 of 4 pods = 0 %"),
        (4, 100, 4, 0, "100 % requested → 4 of 4 pods = 100 %"),
    ],
)
def test_replica_split(total: int, weight: int, new: int, stable: int, text: str) -> None:
    split = replica_split(total, weight)
    assert (split.new, split.stable) == (new, stable)
    assert split.describe() == text


@pytest.mark.parametrize(("total", "weight"), [(0, 10), (3, -1), (3, 101)])
def test_replica_split_refuses_nonsense(total: int, weight: int) -> None:
    with pytest.raises(ValueError):
        replica_split(total, weight)


@pytest.mark.parametrize(("total", "weight", "pods"), [(3, 0, 0), (3, 20, 1), (3, 50, 2), (3, 100, 3), (10, 5, 1)])
def test_canary_pods_for_exact_weights(total: int, weight: int, pods: int) -> None:
    assert canary_pods(total, weight) == pods


def test_own_recordings_are_documented() -> None:
    readme = (OWN / "README.md").read_text()
    for path in OWN.iterdir():
        if path.name != "README.md":
            assert f"`{path.name}`" in readme, path.name


def test_two_kubernetes_environments_cannot_share_a_namespace(tmp_path: Any) -> None:
    from coursectl.config import load_config
    from coursectl.errors import ConfigError
    from tests.conftest import MINIMAL_CONFIG

    text = MINIMAL_CONFIG + "  prod2: {target: kubernetes, context: prod, namespace: course-prod}\n"
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError, match="environments prod and prod2 both use namespace course-prod"):
        load_config(str(tmp_path / "c.yaml"), "prod")
