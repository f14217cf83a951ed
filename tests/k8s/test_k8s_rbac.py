"""Least privilege: the deployer's Role grants exactly the verbs coursectl uses, derived from what coursectl really
sends. Every scenario below runs against the recorded-answers server enforcing the Role coursectl renders (a
request outside it is refused with the recorded 403, and a server-side apply that creates an object needs create
as well, as the real API server decides); the verbs the server saw are then compared with the Role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from coursectl.api import kubernetes as kapi
from coursectl.api import rollout as api
from coursectl.errors import RolloutFailed
from coursectl.render import kubernetes as km
from coursectl.render.kubernetes import PERMISSIONS
from tests.conftest import REPO
from tests.k8s.conftest import DIGEST1, DIGEST2, DIGEST3, Backend, k8s_config
from tests.k8s.test_k8s_rollouts import K8sCase, _push
from tests.support.kube_server import KubeFixtureServer

CHART = REPO / "charts" / "course-platform"


def table() -> set[tuple[str, str, str]]:
    return {(verb, r.group, res) for r in PERMISSIONS for res in r.resources for verb in r.verbs}


def role_of(case: K8sCase) -> list[dict[str, Any]]:
    (role,) = [
        o
        for o in km.rbac(km.Settings.from_config(case.loaded.config, "k"), kapi.rules_for(case.loaded))
        if o["kind"] == "Role"
    ]
    return list(role["rules"])


def run(tmp_path: Path, name: str, scenario: Any, **config: Any) -> set[tuple[str, str, str]]:
    kube = KubeFixtureServer(namespace="course").start()
    kube.secrets.add("course-platform")
    backend = Backend()
    kube.backends["course-preview"] = backend.url
    try:
        folder = tmp_path / name
        folder.mkdir()
        case = K8sCase(folder, kube, kube.kubeconfig(folder / "kubeconfig"), **config)
        kube.role = role_of(case)
        scenario(case)  # a request the Role refused would have failed the scenario
        return kube.verbs()
    finally:
        backend.stop()
        kube.stop()


def blue_green(case: K8sCase) -> None:
    case.deploy("1.0.0", DIGEST1)
    kapi.dry_run(case.context(), [api.plan_deploy(case.context(), "course", version="1.1.0", digest=DIGEST2)])
    case.deploy("1.1.0", DIGEST2)
    api.status(case.context())
    case.rollback()


def warm_rollback(case: K8sCase) -> None:
    case.deploy("1.0.0", DIGEST1)

    def die(t: float) -> None:
        if t > 10:
            raise RuntimeError("killed during the scale-down delay")

    case.clock.on_sleep.append(die)
    with pytest.raises(RuntimeError):
        case.deploy("1.1.0", DIGEST2)
    case.clock.on_sleep.clear()
    case.rollback()


def never_ready(case: K8sCase) -> None:
    case.deploy("1.0.0", DIGEST1)
    case.ledger.record(_push("course", "2.0.0", "registry.local/never-ready/course:2.0.0", DIGEST3))
    with pytest.raises(RolloutFailed):
        case.deploy("2.0.0", DIGEST3)


def canary(case: K8sCase) -> None:
    case.deploy("1.0.0", DIGEST1)
    case.deploy("1.1.0", DIGEST2)
    api.status(case.context())


def logs(case: K8sCase) -> None:
    from datetime import UTC, datetime

    from coursectl.wiring import log_source

    case.deploy("1.0.0", DIGEST1)
    case.kube.pod_logs["course-blue"] = [(datetime.now(UTC), '{"message": "read by coursectl logs"}')]
    assert log_source(case.loaded, Path("/nonexistent")).read("course")


def test_the_role_grants_exactly_the_verbs_coursectl_uses(tmp_path: Path) -> None:
    seen = set()
    seen |= run(tmp_path, "blue-green", blue_green)
    seen |= run(tmp_path, "warm", warm_rollback)
    seen |= run(tmp_path, "never-ready", never_ready)
    seen |= run(tmp_path, "canary-replicas", canary, strategy="canary")
    seen |= run(tmp_path, "canary-nginx", canary, strategy="canary", traffic="ingress-nginx")
    seen |= run(tmp_path, "rolling", blue_green, strategy="rolling")
    seen |= run(tmp_path, "logs", logs)
    assert seen == table(), (sorted(table() - seen), sorted(seen - table()))


def test_the_role_refuses_what_is_not_in_it(tmp_path: Path, kube: KubeFixtureServer, kubeconfig: Path) -> None:
    """The enforcement is real: without watch on deployments, waiting for a slot is refused and named."""
    case = K8sCase(tmp_path, kube, kubeconfig, smoke=False)
    rules = role_of(case)
    for rule in rules:
        if rule["resources"] == ["deployments"]:
            rule["verbs"] = [v for v in rule["verbs"] if v != "watch"]
    kube.role = rules
    with pytest.raises(RolloutFailed) as err:
        case.deploy("1.0.0", DIGEST1)
    assert "may not watch deployments in API group 'apps' in namespace course" in err.value.message


def test_an_apply_that_creates_needs_create(tmp_path: Path, kube: KubeFixtureServer, kubeconfig: Path) -> None:
    """What the real API server answers (recorded): an empty reason; coursectl names the missing verb."""
    case = K8sCase(tmp_path, kube, kubeconfig, smoke=False)
    rules = role_of(case)
    for rule in rules:
        if rule["resources"] == ["configmaps"]:
            rule["verbs"] = [v for v in rule["verbs"] if v != "create"]
    kube.role = rules
    with pytest.raises(RolloutFailed) as err:
        case.deploy("1.0.0", DIGEST1)
    assert "the deployer may not create configmaps in namespace course" in err.value.message


def test_the_rendered_role_is_namespaced_and_limits_secrets_to_their_names(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text("{}")
    from tests.k8s.conftest import load

    loaded = load(tmp_path, k8s_config(kubeconfig))
    objects = km.rbac(km.Settings.from_config(loaded.config, "k"), kapi.rules_for(loaded))
    assert [o["kind"] for o in objects] == ["ServiceAccount", "Role", "RoleBinding"]
    role = objects[1]
    assert role["metadata"]["namespace"] == "course"
    (secrets,) = [r for r in role["rules"] if r["resources"] == ["secrets"]]
    assert secrets == {
        "apiGroups": [""],
        "resources": ["secrets"],
        "resourceNames": ["course-platform"],
        "verbs": ["get"],
    }
    binding = objects[2]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "coursectl-deployer",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "coursectl-deployer", "namespace": "course"}]


def test_the_charts_role_is_the_same_table() -> None:
    """charts/course-platform ships the Role's rules as a plain file its template includes: the same table."""
    rules = yaml.safe_load((CHART / "files" / "coursectl-role-rules.yaml").read_text())
    chart = {
        (verb, group, res)
        for r in rules
        for group in r["apiGroups"]
        for res in r["resources"]
        for verb in r["verbs"]
    }
    secrets_rule = table() & {("get", "", "secrets")}
    assert chart | secrets_rule == table()
    assert not any("secrets" in r["resources"] for r in rules)  # the template adds it, limited to names
    template = (CHART / "templates" / "rbac.yaml").read_text()
    assert 'Files.Get "files/coursectl-role-rules.yaml"' in template
    assert "resourceNames" in template and "kind: ClusterRole" not in template
    for path in CHART.rglob("*.yaml"):
        assert "kind: ClusterRole" not in path.read_text(), path
