"""deploy / rollback / status through the use cases, the engine and the real kubernetes adapters, against the
recorded-answers API server: every strategy, readiness failures with the pods' reasons, rollback paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from coursectl.api import rollout as api
from coursectl.errors import PreconditionError, RolloutFailed
from coursectl.ledger import open_ledger
from coursectl.rollout.state import ABORTED, SUCCEEDED
from coursectl.testing.fakes import FrozenClock, ScriptedMetrics
from tests.k8s.conftest import DIGEST1, DIGEST2, DIGEST3, k8s_config, load, rig_for
from tests.support.kube_server import KubeFixtureServer

SLOT = "coursectl.io/slot"


class K8sCase:
    """A RolloutContext whose rig is the wiring's kubernetes rig on the fixture server (test clock, scripted
    metrics)."""

    def __init__(self, tmp_path: Path, kube: KubeFixtureServer, kubeconfig: Path, **config: Any):
        self.kube = kube
        self.clock = FrozenClock()
        self.metrics = ScriptedMetrics({"error-rate": 0.0})
        self.loaded = load(tmp_path, k8s_config(kubeconfig, **config))
        self.ledger = open_ledger(tmp_path / "state")
        self.rigs: list[Any] = []
        self.ctx = self.context()

    def context(self) -> api.RolloutContext:
        def factory(loaded: Any, state_dir: Path, need: str = "rollout") -> Any:
            rig = rig_for(loaded, metrics=self.metrics, clock=self.clock)
            self.rigs.append(rig)
            return rig

        return api.RolloutContext(
            loaded=self.loaded,
            ledger=self.ledger,
            state_dir=Path("/nonexistent"),
            actor="tester",
            rig_factory=factory,
        )

    def deploy(self, version: str, digest: str, **kw: Any) -> Any:
        self.ctx = self.context()  # a new command: a new rig, no memory of the last one
        return api.deploy(self.ctx, "course", version=version, digest=digest, **kw)

    def rollback(self, **kw: Any) -> Any:
        self.ctx = self.context()
        return api.rollback(self.ctx, "course", **kw)

    def selector(self) -> dict[str, str]:
        svc = self.kube.get("services", "course")
        assert svc is not None
        return dict(svc["spec"]["selector"])

    def replicas(self, slot: str) -> int | None:
        dep = self.kube.get("deployments", f"course-{slot}")
        return None if dep is None else int(dep["spec"]["replicas"])

    def image(self, slot: str) -> str:
        dep = self.kube.get("deployments", f"course-{slot}")
        assert dep is not None
        return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


@pytest.fixture
def case(tmp_path: Path, kube: KubeFixtureServer, kubeconfig: Path, backend: Any) -> K8sCase:
    return K8sCase(tmp_path, kube, kubeconfig)


def test_first_deployment_then_blue_green_switch_keeps_the_old_colour_warm_then_scales_it_to_zero(
    case: K8sCase,
) -> None:
    first = case.deploy("1.0.0", DIGEST1)
    assert first.phase == SUCCEEDED and first.new_slot == "blue"
    assert case.selector()[SLOT] == "blue"
    assert case.image("blue") == "registry.local/course/course@" + DIGEST1  # by digest, never by tag
    hpa = case.kube.get("horizontalpodautoscalers", "course")
    assert hpa is not None and hpa["spec"]["scaleTargetRef"]["name"] == "course-blue"

    switched_at: list[float] = []
    case.clock.on_sleep.append(
        lambda t: (
            switched_at.append(t)
            if not switched_at and case.selector()[SLOT] == "green" and case.replicas("blue") == 3
            else None
        )
    )
    second = case.deploy("1.1.0", DIGEST2)
    assert second.phase == SUCCEEDED and second.new_slot == "green"
    assert case.selector()[SLOT] == "green"
    assert switched_at, "the old colour was not kept at full scale after the switch"
    assert case.clock.monotonic() >= 30  # scale_down_delay
    assert case.replicas("blue") == 0  # retired: scaled to zero, not deleted (its digest stays recorded)
    assert case.image("blue").endswith(DIGEST1)
    hpa = case.kube.get("horizontalpodautoscalers", "course")
    assert hpa is not None and hpa["spec"]["scaleTargetRef"]["name"] == "course-green"
    events = case.ledger.events(service="course", kinds=["deployment"])
    assert [(e.version, e.outcome) for e in events] == [("1.1.0", "succeeded"), ("1.0.0", "succeeded")]


def test_smoke_failure_aborts_before_any_traffic_moves(case: K8sCase, backend: Any) -> None:
    case.deploy("1.0.0", DIGEST1)
    backend.status = 500
    with pytest.raises(RolloutFailed) as err:
        case.deploy("1.1.0", DIGEST2)
    assert err.value.exit_code == 7
    assert "smoke" in err.value.message and "500" in err.value.message
    assert case.selector()[SLOT] == "blue"  # never switched
    assert case.replicas("green") == 0


def test_progress_deadline_exceeded_fails_at_once_with_the_reason_from_the_pods(case: K8sCase) -> None:
    case.deploy("1.0.0", DIGEST1)
    # a version whose pods never become ready (the stand-in kubelet's rule: "never-ready" in the image)
    case.ledger.record(_push("course", "2.0.0", "registry.local/never-ready/course:2.0.0", DIGEST3))
    with pytest.raises(RolloutFailed) as err:
        case.deploy("2.0.0", DIGEST3)
    message = err.value.message
    assert 'deployment "course-green" exceeded its progress deadline' in message
    assert (
        "readiness probe failing: container web runs but is not ready (1 pod: course-green-59df5bf999-nvcst)"
        in message
    )  # read from the recorded pods of the stuck rollout
    assert case.clock.monotonic() < 60  # the controller's verdict, not coursectl's own timeout
    assert case.selector()[SLOT] == "blue"
    assert case.replicas("green") == 0


def test_rollback_while_the_old_colour_is_warm_is_one_selector_patch(case: K8sCase) -> None:
    case.deploy("1.0.0", DIGEST1)
    stop = RuntimeError("the deploy process dies during its scale-down delay")

    def die(t: float) -> None:
        if t > 10:
            raise stop

    case.clock.on_sleep.append(die)
    with pytest.raises(RuntimeError):
        case.deploy("1.1.0", DIGEST2)
    case.clock.on_sleep.clear()
    assert case.selector()[SLOT] == "green" and case.replicas("blue") == 3  # switched; blue still warm
    case.kube.settle()
    start = len(case.kube.requests)
    result = case.rollback()
    assert result.phase == ABORTED and result.stable_slot == "blue"
    assert case.selector()[SLOT] == "blue"
    sent = case.kube.requests[start:]
    first_patch = next(i for i, r in enumerate(sent) if r.method == "PATCH")
    assert (sent[first_patch].resource, sent[first_patch].name) == ("services", "course")
    assert sent[first_patch].body == {"spec": {"selector": {SLOT: "blue"}}}
    # the one read before it: are blue's pods all there (it takes every request the moment the patch lands)
    assert [(r.verb, r.resource) for r in sent[:first_patch]] == [("list", "deployments")]
    assert case.replicas("green") == 0


def test_rollback_after_the_delay_scales_the_recorded_digest_up_again(case: K8sCase) -> None:
    case.deploy("1.0.0", DIGEST1)
    case.deploy("1.1.0", DIGEST2)
    assert case.replicas("blue") == 0
    result = case.rollback()
    assert result.phase == SUCCEEDED and result.version == "1.0.0"
    assert case.selector()[SLOT] == "blue"
    assert case.replicas("blue") == 3 and case.image("blue").endswith(DIGEST1)
    assert case.replicas("green") == 0


def test_deploy_of_what_is_live_changes_nothing(case: K8sCase) -> None:
    case.deploy("1.0.0", DIGEST1)
    start = len(case.kube.requests)
    again = case.deploy("1.0.0", DIGEST1)
    assert again.phase == SUCCEEDED and "already live" in again.message
    assert not [r for r in case.kube.requests[start:] if r.method != "GET"]


def test_a_missing_secret_is_a_precondition_before_anything_is_written(case: K8sCase) -> None:
    case.kube.secrets.clear()
    with pytest.raises(RolloutFailed) as err:
        case.deploy("1.0.0", DIGEST1)
    assert (
        "Secret course-platform (for JWT_SECRET of course) does not exist in namespace course" in err.value.message
    )
    assert case.kube.get("deployments", "course-blue") is None


def test_without_a_digest_nothing_is_started(case: K8sCase) -> None:
    with pytest.raises(RolloutFailed, match="runs images by digest"):
        api.deploy(case.ctx, "course", version="1.0.0")
    assert case.kube.get("deployments", "course-blue") is None


def test_status_reads_one_list_per_kind_and_needs_no_prometheus(case: K8sCase) -> None:
    case.deploy("1.0.0", DIGEST1)
    case.deploy("1.1.0", DIGEST2)
    case.kube.settle()
    case.ctx = case.context()
    start = len(case.kube.requests)
    data = api.status(case.ctx)
    sent = [(r.verb, r.resource) for r in case.kube.requests[start:]]
    assert sent == [("list", "deployments"), ("list", "services")]
    (course, web) = data["services"]
    assert course["version"] == "1.1.0" and course["weights"] == {"green": 100} and course["health"] == "healthy"
    assert [(s["slot"], s["running"], s["ready"]) for s in course["slots"]] == [
        ("blue", False, False),
        ("green", True, True),
    ]
    assert web["health"] == "down" and web["slots"] == []
    assert data["edge_url"] == ""


def test_canary_by_replica_ratio(tmp_path: Path, kube: KubeFixtureServer, kubeconfig: Path, backend: Any) -> None:
    case = K8sCase(tmp_path, kube, kubeconfig, strategy="canary")
    case.deploy("1.0.0", DIGEST1)
    assert case.kube.get("deployments", "course-stable") is not None and case.selector()[SLOT] == "stable"
    seen: list[tuple[dict[str, str], int | None, int | None]] = []
    pinned: list[tuple[int, int]] = []

    def look(_t: float) -> None:
        seen.append((case.selector(), case.replicas("canary"), case.replicas("stable")))
        hpa = case.kube.get("horizontalpodautoscalers", "course")
        assert hpa is not None
        pinned.append((hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]))

    case.clock.on_sleep.append(look)
    result = case.deploy("1.1.0", DIGEST2)
    assert result.phase == SUCCEEDED
    # 20 % of 3 pods: 1 canary + 2 stable, the Service selecting both slots; 50 %: 2 + 1
    mixed = [(c, s) for sel, c, s in seen if SLOT not in sel]
    assert (1, 2) in mixed and (2, 1) in mixed
    # while split, the autoscaler of the stable slot is held at its share (or it would undo the ratio)
    assert (2, 2) in pinned and (1, 1) in pinned
    hpa = case.kube.get("horizontalpodautoscalers", "course")
    assert hpa is not None and (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 6)
    assert case.selector()[SLOT] == "stable" and case.image("stable").endswith(DIGEST2)
    assert case.replicas("canary") == 0 and case.replicas("stable") == 3
    steps = case.ledger.events(service="course", kinds=["rollout.step"])
    assert any(e.details.get("weights") == {"canary": 20, "stable": 80} for e in steps)


def test_bad_canary_is_aborted_back_to_the_stable_slot(
    tmp_path: Path, kube: KubeFixtureServer, kubeconfig: Path, backend: Any
) -> None:
    case = K8sCase(tmp_path, kube, kubeconfig, strategy="canary")
    case.deploy("1.0.0", DIGEST1)
    case.metrics.values = {("error-rate", "canary"): 0.3, ("error-rate", "stable"): 0.0}
    with pytest.raises(RolloutFailed) as err:
        case.deploy("1.1.0", DIGEST2)
    assert "error-rate" in err.value.message
    assert case.selector()[SLOT] == "stable" and case.replicas("stable") == 3 and case.replicas("canary") == 0
    assert case.image("stable").endswith(DIGEST1)


def test_canary_through_an_ingress_nginx_canary_ingress(
    tmp_path: Path, kube: KubeFixtureServer, kubeconfig: Path, backend: Any
) -> None:
    case = K8sCase(tmp_path, kube, kubeconfig, strategy="canary", traffic="ingress-nginx")
    case.deploy("1.0.0", DIGEST1)
    weights: list[str] = []

    def look(_t: float) -> None:
        ing = case.kube.get("ingresses", "course-canary")
        if ing:
            weights.append(ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"])

    case.clock.on_sleep.append(look)
    result = case.deploy("1.1.0", DIGEST2)
    assert result.phase == SUCCEEDED
    assert "20" in weights and "50" in weights  # exact weights
    # the promotion sends every request to the canary slot: all its pods first, then the selector
    sent = case.kube.requests
    switch = next(
        i
        for i, r in enumerate(sent)
        if r.method == "PATCH" and r.name == "course" and r.body == {"spec": {"selector": {SLOT: "canary"}}}
    )
    scales = [
        r.body["spec"]["replicas"]
        for r in sent[:switch]
        if r.method == "PATCH"
        and r.resource == "deployments"
        and r.name == "course-canary"
        and "merge" in r.content_type
    ]
    assert scales[-1] == 3
    ing = case.kube.get("ingresses", "course-canary")
    assert ing is not None
    assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "0"
    path = ing["spec"]["rules"][0]["http"]["paths"][0]
    assert path["path"] == "/api/course" and path["backend"]["service"]["name"] == "course-preview"
    assert ing["spec"]["rules"][0]["host"] == "course.example.test"
    assert case.selector()[SLOT] == "stable"


def test_rolling_updates_the_live_slot_in_place_and_rollback_redeploys_the_recorded_digest(
    tmp_path: Path, kube: KubeFixtureServer, kubeconfig: Path, backend: Any
) -> None:
    case = K8sCase(tmp_path, kube, kubeconfig, strategy="rolling")
    case.deploy("1.0.0", DIGEST1)
    second = case.deploy("1.1.0", DIGEST2)
    assert second.new_slot == second.stable_slot == "blue"
    assert [s.kind for s in second.steps] == ["start", "ready", "smoke", "weight", "promoted"]
    assert case.image("blue").endswith(DIGEST2) and case.kube.get("deployments", "course-green") is None
    dep = case.kube.get("deployments", "course-blue")
    assert dep is not None and dep["spec"]["strategy"]["type"] == "RollingUpdate"
    back = case.rollback()
    assert back.phase == SUCCEEDED and back.version == "1.0.0"
    assert case.image("blue").endswith(DIGEST1)


def test_rolling_that_never_gets_ready_puts_the_old_version_back(
    tmp_path: Path, kube: KubeFixtureServer, kubeconfig: Path, backend: Any
) -> None:
    case = K8sCase(tmp_path, kube, kubeconfig, strategy="rolling")
    case.deploy("1.0.0", DIGEST1)
    case.ctx = case.context()
    # a version whose pods never become ready (the stand-in kubelet's rule: "never-ready" in the image)
    case.ledger.record(_push("course", "9.9.9", "registry.local/course/never-ready:9.9.9", DIGEST3))
    with pytest.raises(RolloutFailed) as err:
        case.deploy("9.9.9", DIGEST3)
    assert "exceeded its progress deadline" in err.value.message
    assert case.image("blue").endswith(DIGEST1)  # the old version went back into the slot


def test_recreate_uses_the_deployments_recreate_strategy(
    tmp_path: Path, kube: KubeFixtureServer, kubeconfig: Path, backend: Any
) -> None:
    case = K8sCase(tmp_path, kube, kubeconfig, strategy="recreate")
    case.deploy("1.0.0", DIGEST1)
    dep = case.kube.get("deployments", "course-blue")
    assert dep is not None and dep["spec"]["strategy"] == {"type": "Recreate"}


def test_unknown_service_is_usage(case: K8sCase) -> None:
    from coursectl.errors import UsageError

    with pytest.raises(UsageError):
        api.deploy(case.ctx, "nope", version="1", digest=DIGEST1)


def test_api_unreachable_during_a_deploy_is_exit_5(case: K8sCase) -> None:
    case.kube.stop()
    with pytest.raises(Exception) as err:
        case.deploy("1.0.0", DIGEST1)
    assert getattr(err.value, "exit_code", None) == 5
    assert case.kube.url in str(err.value)


def _push(service: str, version: str, image: str, digest: str) -> Any:
    from coursectl.domain import LedgerEvent

    return LedgerEvent(
        kind="push",
        actor="tester",
        service=service,
        version=version,
        outcome="succeeded",
        details={"image": image, "digest": digest},
    )


def test_another_environments_service_in_the_namespace_is_never_touched(case: K8sCase) -> None:
    case.deploy("1.0.0", DIGEST1)
    other = case.kube.get("services", "course")
    assert other is not None
    other["metadata"]["labels"]["coursectl.io/environment"] = "staging"  # as if staging shared the namespace
    case.kube.store[("services", "course")].obj = other
    start = len(case.kube.requests)
    with pytest.raises(PreconditionError) as err:
        case.deploy("1.1.0", DIGEST2)
    assert "Service course in namespace course belongs to environment staging, not k" in err.value.message
    assert not [r for r in case.kube.requests[start:] if r.method != "GET"]
