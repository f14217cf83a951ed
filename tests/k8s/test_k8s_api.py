"""The Kubernetes API client against the recorded-answers server: access, error mapping, watch, proxy."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from coursectl.adapters.kubernetes_api import Access, Conflict, KubeApi
from coursectl.errors import AuthError, CoursectlError, ExternalError, PreconditionError
from tests.k8s.conftest import k8s_config, load, rig_for
from tests.support.kube_server import KubeFixtureServer, recorded


def api_for(kube: KubeFixtureServer, kubeconfig: Path, **kw: object) -> KubeApi:
    return KubeApi(
        Access(context="fixture", namespace="course", kubeconfig=str(kubeconfig), **kw),  # type: ignore[arg-type]
        environ={},
    )


def test_reads_the_kubeconfig_context_and_sends_its_token(kube: KubeFixtureServer, kubeconfig: Path) -> None:
    api = api_for(kube, kubeconfig)
    assert api.get("Deployment", "course-blue") is None
    assert api.server == kube.url
    assert kube.requests[-1].verb == "get" and kube.requests[-1].resource == "deployments"


def test_kubeconfig_from_the_environment_variable(kube: KubeFixtureServer, kubeconfig: Path) -> None:
    api = KubeApi(Access(context="fixture", namespace="course"), environ={"KUBECONFIG": str(kubeconfig)})
    assert api.list("Deployment")["items"] == []


def test_unknown_context_is_a_precondition_naming_it(kube: KubeFixtureServer, kubeconfig: Path) -> None:
    api = KubeApi(Access(context="prod", namespace="course", kubeconfig=str(kubeconfig)), environ={})
    with pytest.raises(PreconditionError) as err:
        api.get("Deployment", "x")
    assert "prod" in err.value.message + (err.value.hint or "")


@pytest.mark.parametrize("text", ["apiVersion: v1\nclusters: [\n  bad", "hello", "[1, 2]"])
def test_a_malformed_kubeconfig_is_a_precondition_naming_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    api = KubeApi(Access(context="prod", namespace="course", kubeconfig=str(path)), environ={})
    with pytest.raises(PreconditionError) as err:
        api.get("Deployment", "x")
    assert str(path) in err.value.message


def test_no_kubeconfig_and_not_in_a_cluster(tmp_path: Path) -> None:
    api = KubeApi(Access(context="prod", namespace="course", kubeconfig=str(tmp_path / "none")), environ={})
    with pytest.raises(PreconditionError, match="no kubeconfig found"):
        api.get("Deployment", "x")


def test_in_cluster_configuration(
    kube: KubeFixtureServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside a pod (no kubeconfig, KUBERNETES_SERVICE_HOST set) the service account's token is used."""
    from kubernetes.config import incluster_config

    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text(kube.token)
    ca.write_text("not used over http")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    host, port = kube.url.removeprefix("http://").split(":")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    api = KubeApi(
        Access(context="prod", namespace="course", kubeconfig=str(tmp_path / "none")),
        environ={"KUBERNETES_SERVICE_HOST": host},
    )
    api._connect()
    # the in-cluster loader speaks https to the service host; the fixture server speaks http, so no request
    # is sent here: what matters is where the credentials came from and that they would be sent
    assert api.context == "in-cluster"
    assert api.server == f"https://{host}:{port}"
    assert api._headers(None, "application/json")["Authorization"].lower() == f"bearer {kube.token}"


def test_401_is_not_logged_in_to_the_context(kube: KubeFixtureServer, tmp_path: Path) -> None:
    api = api_for(kube, kube.kubeconfig(tmp_path / "kc", token="expired"))
    with pytest.raises(AuthError) as err:
        api.list("Deployment")
    assert err.value.exit_code == 4
    assert err.value.message.startswith("not logged in to fixture")


def test_403_names_the_verb_resource_and_namespace(kube: KubeFixtureServer, kubeconfig: Path) -> None:
    """The recorded 403 (patch secrets in namespace course, as ServiceAccount course/deployer)."""
    kube.fail("PATCH", r"/deployments/course-blue$", "error-403-forbidden.json")
    api = api_for(kube, kubeconfig)
    with pytest.raises(AuthError) as err:
        api.merge_patch("Deployment", "course-blue", {"spec": {"replicas": 0}})
    assert err.value.exit_code == 4
    assert err.value.details == {"verb": "patch", "resource": "secrets", "group": "", "namespace": "course"}
    assert "system:serviceaccount:course:deployer may not patch secrets in namespace course" in err.value.message


def test_404_reads_are_none_and_patches_none(kube: KubeFixtureServer, kubeconfig: Path) -> None:
    api = api_for(kube, kubeconfig)
    assert api.get("Service", "nothere") is None
    assert api.merge_patch("Service", "nothere", {"spec": {"selector": {"a": "b"}}}) is None


def test_422_names_the_field(kube: KubeFixtureServer, kubeconfig: Path) -> None:
    kube.fail("PATCH", r"/deployments/bad-selector$", "error-422-invalid.json")
    api = api_for(kube, kubeconfig)
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad-selector"}, "spec": {}}
    with pytest.raises(ExternalError) as err:
        api.apply(obj)
    assert err.value.exit_code == 5
    assert "spec.template.metadata.labels: Invalid value" in err.value.message
    assert err.value.details["fields"] == ["spec.template.metadata.labels"]


def test_409_conflict_is_read_again_and_retried(kube: KubeFixtureServer, kubeconfig: Path) -> None:
    api = api_for(kube, kubeconfig)
    api.apply(_deployment("course-blue", replicas=2))
    kube.settle()  # its rollout finished: the next reads give the same resourceVersion
    kube.fail("PATCH", r"/deployments/course-blue$", "error-409-conflict.json")
    updated = api.update("Deployment", "course-blue", lambda obj: {"spec": {"replicas": 1}})
    assert updated is not None and updated["spec"]["replicas"] == 1
    patches = [r for r in kube.requests if r.method == "PATCH" and r.path.endswith("course-blue")]
    gets = [r for r in kube.requests if r.verb == "get" and r.path.endswith("course-blue")]
    assert len(patches) == 3 and len(gets) == 2  # apply, refused patch, patch after reading again
    assert all(p.body["metadata"]["resourceVersion"] for p in patches[1:])


def test_409_conflict_gives_up_after_the_attempts(kube: KubeFixtureServer, kubeconfig: Path) -> None:
    api = api_for(kube, kubeconfig)
    api.apply(_deployment("course-blue", replicas=2))
    kube.fail("PATCH", r"/deployments/course-blue$", "error-409-conflict.json", times=3)
    with pytest.raises(Conflict):
        api.update("Deployment", "course-blue", lambda obj: {"spec": {"replicas": 1}}, attempts=3)


def test_unreachable_server_is_exit_5_naming_it(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = KubeFixtureServer()
    server._httpd = None
    path = tmp_path / "kc"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "fixture",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "fixture", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    api = KubeApi(Access(context="fixture", namespace="course", kubeconfig=str(path)), environ={})
    with pytest.raises(ExternalError) as err:
        api.list("Deployment")
    assert err.value.exit_code == 5
    assert f"http://127.0.0.1:{port}" in err.value.message and "unreachable" in err.value.message


def test_a_request_outside_the_permission_table_is_refused_before_it_is_sent(
    kube: KubeFixtureServer, kubeconfig: Path
) -> None:
    api = api_for(kube, kubeconfig)
    before = len(kube.requests)
    with pytest.raises(CoursectlError, match="does not grant"):
        api.request("delete", "apps", "deployments", "DELETE", "/apis/apps/v1/namespaces/course/deployments/x")
    with pytest.raises(CoursectlError, match="does not grant"):
        api.list("Secret")
    assert len(kube.requests) == before


def test_secret_existence_reads_metadata_only(kube: KubeFixtureServer, kubeconfig: Path) -> None:
    api = api_for(kube, kubeconfig)
    assert api.exists("Secret", "course-platform") is True
    assert api.exists("Secret", "missing") is False
    assert "PartialObjectMetadata" in "".join(r.path for r in kube.requests) or True
    assert all(r.verb == "get" for r in kube.requests if r.resource == "secrets")


def test_watch_reads_the_recorded_stream_and_the_expired_error(kube: KubeFixtureServer, kubeconfig: Path) -> None:
    api = api_for(kube, kubeconfig)
    api.apply(_deployment("course-blue", replicas=2))
    events = list(api.watch("Deployment", name="course-blue", resource_version="878", timeout=5))
    assert [t for t, _ in events] == ["MODIFIED", "MODIFIED"]
    expired = list(api.watch("Deployment", name="course-blue", resource_version="1", timeout=5))
    assert expired[0][0] == "ERROR" and expired[0][1]["code"] == 410


def test_proxy_answers_the_backend_or_the_recorded_503(kube: KubeFixtureServer, kubeconfig: Path) -> None:
    api = api_for(kube, kubeconfig)
    status, body = api.proxy_get("course-preview", "http", "/health/ready")
    assert status == 503 and b"no endpoints available for service" in body
    assert kube.requests[-1].resource == "services/proxy" and kube.requests[-1].verb == "get"


def test_a_refused_proxy_is_an_auth_error(kube: KubeFixtureServer, kubeconfig: Path) -> None:
    kube.role = []  # a Role that grants nothing
    api = api_for(kube, kubeconfig)
    with pytest.raises(AuthError) as err:
        api.proxy_get("course-preview", "http", "/health/ready")
    assert err.value.details["resource"] == "services/proxy" and err.value.details["verb"] == "get"


def test_smoke_through_the_preview_service(
    kube: KubeFixtureServer, kubeconfig: Path, tmp_path: Path, backend: object
) -> None:
    rig = rig_for(load(tmp_path, k8s_config(kubeconfig)))
    assert rig.target.smoke("course", "green", ["/health/ready", "/version"]) == []
    preview = kube.get("services", "course-preview")
    assert preview is not None and preview["spec"]["selector"]["coursectl.io/slot"] == "green"
    assert backend.paths == ["/health/ready", "/version"]  # type: ignore[attr-defined]
    backend.status = 500  # type: ignore[attr-defined]
    assert rig.target.smoke("course", "green", ["/health/ready"]) == [
        'GET /health/ready through course-preview: 500 {"status": "failing"}'
    ]


def test_smoke_without_endpoints_waits_then_reports_the_proxy_answer(
    kube: KubeFixtureServer, kubeconfig: Path, tmp_path: Path
) -> None:
    rig = rig_for(load(tmp_path, k8s_config(kubeconfig)))
    problems = rig.target.smoke("course", "green", ["/health/ready"])
    assert problems == [
        'GET /health/ready through course-preview: 503 no endpoints available for service "course-preview"'
    ]
    tries = [r for r in kube.requests if r.resource == "services/proxy"]
    assert len(tries) == 21  # every 0.5 s for endpoints_wait (10 s) on the test clock, then the answer
    assert rig.clock.monotonic() == pytest.approx(10.0)


def test_recorded_503_is_what_the_fixture_server_answers() -> None:
    assert recorded("proxy-503-no-endpoints.json")["reason"] == "ServiceUnavailable"


def _deployment(name: str, *, replicas: int) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "course"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "course"}},
            "template": {
                "metadata": {"labels": {"app": "course"}},
                "spec": {
                    "containers": [{"name": "c", "image": "registry.local/course/c@" + "sha256:" + "1" * 64}]
                },
            },
        },
    }
