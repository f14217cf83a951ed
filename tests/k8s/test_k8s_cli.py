"""The command line on a kubernetes environment (recorded-answers API server): k8s render, status, deploy
(--dry-run with a server-side diff, offline when the cluster does not answer), rollback, and the exit codes of
the API's refusals."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from coursectl.cli import main
from tests.k8s.conftest import DIGEST1, DIGEST2, k8s_config
from tests.support.kube_server import KubeFixtureServer


@pytest.fixture
def config(tmp_path: Path, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "coursectl.yaml"
    path.write_text(k8s_config(kubeconfig, smoke=False).replace("scale_down_delay: 30s", "scale_down_delay: 0s"))
    monkeypatch.setenv("COURSECTL_CONFIG", str(path))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    data = json.loads(out.out) if "-o" in argv and "json" in argv and out.out.strip() else out.out
    return code, data, out.err


def test_k8s_render_writes_one_file_per_object(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data, _ = run(
        capsys,
        "k8s",
        "render",
        "--env",
        "k",
        "--version",
        "1.0.0",
        "--digest",
        DIGEST1,
        "--out",
        str(tmp_path / "out"),
        "-o",
        "json",
    )
    assert code == 0
    names = sorted(Path(f).name for f in data["files"])
    assert "deployment-course-blue.yaml" in names and "role-coursectl-deployer.yaml" in names
    dep = yaml.safe_load((tmp_path / "out" / "deployment-course-blue.yaml").read_text())
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/course/course@" + DIGEST1
    code, text, _ = run(capsys, "k8s", "render", "course", "--env", "k", "--version", "1.0.0", "--digest", DIGEST1)
    assert code == 0
    kinds = [d["kind"] for d in yaml.safe_load_all(text) if d]
    assert kinds[:2] == ["ConfigMap", "Deployment"] and "Role" in kinds


def test_k8s_render_of_a_docker_environment_is_usage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import MINIMAL_CONFIG

    (tmp_path / "c.yaml").write_text(MINIMAL_CONFIG)
    code, _, err = run(capsys, "-c", str(tmp_path / "c.yaml"), "k8s", "render", "--env", "local", "--version", "1")
    assert code == 2 and "not kubernetes" in err


def test_deploy_status_rollback_and_history(
    config: Path, kube: KubeFixtureServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "deploy", "course", "--env", "k", "--version", "1.0.0", "--digest", DIGEST1)
    assert code == 0, err
    kube.settle()
    code, data, _ = run(capsys, "status", "--env", "k", "-o", "json")
    assert code == 0
    assert data["services"][0]["version"] == "1.0.0" and data["services"][0]["weights"] == {"blue": 100}
    code, _, err = run(
        capsys, "deploy", "course", "--env", "k", "--version", "1.1.0", "--digest", DIGEST2, "-o", "json"
    )
    assert code == 0, err
    code, data, err = run(capsys, "rollback", "course", "--env", "k", "-o", "json")
    assert code == 0, err
    assert data["version"] == "1.0.0" and data["phase"] == "succeeded"
    code, data, _ = run(capsys, "history", "course", "--env", "k", "-o", "json")
    assert code == 0 and {"deployment", "rollback"} <= {e["kind"] for e in data["events"]}


def test_dry_run_prints_the_manifests_and_a_server_side_diff(
    config: Path, kube: KubeFixtureServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "deploy", "course", "--env", "k", "--version", "1.0.0", "--digest", DIGEST1)[0] == 0
    kube.settle()
    start = len(kube.requests)
    code, data, _ = run(
        capsys,
        "deploy",
        "course",
        "--env",
        "k",
        "--version",
        "1.1.0",
        "--digest",
        DIGEST2,
        "--dry-run",
        "-o",
        "json",
    )
    assert code == 0
    patches = [r for r in kube.requests[start:] if r.method == "PATCH"]
    assert len(patches) == 7 and all(r.query.get("dryRun") == "All" for r in patches)  # nothing written
    k8s = data["kubernetes"]
    assert k8s["server_side"] is True
    objects = {(o["kind"], o["name"]): o for o in k8s["services"][0]["objects"]}
    green = objects[("Deployment", "course-green")]
    assert green["change"] == "create" and "image: registry.local/course/course@" + DIGEST2 in green["diff"]
    assert objects[("Service", "course")]["change"] == "update"
    assert "-    coursectl.io/slot: blue" in objects[("Service", "course")]["diff"]
    assert "+    coursectl.io/slot: green" in objects[("Service", "course")]["diff"]
    code, text, _ = run(
        capsys, "deploy", "course", "--env", "k", "--version", "1.1.0", "--digest", DIGEST2, "--dry-run"
    )
    assert code == 0 and "--- Deployment/course-green: create" in text


def test_dry_run_offline_when_the_cluster_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = _dead_kubeconfig(tmp_path)
    path = tmp_path / "coursectl.yaml"
    path.write_text(k8s_config(dead, strategy="canary"))
    monkeypatch.setenv("COURSECTL_CONFIG", str(path))
    code, data, _ = run(
        capsys,
        "deploy",
        "course",
        "--env",
        "k",
        "--version",
        "1.1.0",
        "--digest",
        DIGEST2,
        "--dry-run",
        "-o",
        "json",
    )
    assert code == 0
    assert data["kubernetes"]["server_side"] is False and "unreachable" in data["kubernetes"]["offline_reason"]
    (plan,) = data["plans"]
    assert "route 20% to the new slot (20 % requested → 1 of 3 pods = 33.3 %)" not in plan["steps"]  # first deploy
    kinds = [o["kind"] for o in data["kubernetes"]["services"][0]["objects"]]
    assert kinds[:2] == ["ConfigMap", "Deployment"]


def test_the_canary_plan_shows_the_real_replica_ratio(
    config: Path, kube: KubeFixtureServer, tmp_path: Path, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config.write_text(k8s_config(kubeconfig, strategy="canary", smoke=False))
    assert run(capsys, "deploy", "course", "--env", "k", "--version", "1.0.0", "--digest", DIGEST1)[0] == 0
    kube.settle()
    config.write_text(k8s_config(kubeconfig, strategy="canary", replicas=5, smoke=False))
    code, text, _ = run(
        capsys, "deploy", "course", "--env", "k", "--version", "1.1.0", "--digest", DIGEST2, "--dry-run"
    )
    assert code == 0
    assert "4. route 20% to the new slot (20 % requested → 1 of 5 pods = 20 %)" in text
    assert "6. route 50% to the new slot (50 % requested → 3 of 5 pods = 60 %)" in text


def test_not_logged_in_is_exit_4_naming_the_context(
    config: Path, kube: KubeFixtureServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kube.token = "rotated"
    code, _, err = run(capsys, "status", "--env", "k", "-o", "json")
    assert code == 4
    error = json.loads(err)["error"]
    assert error["type"] == "auth" and error["message"].startswith("not logged in to fixture")


def test_forbidden_is_exit_4_naming_verb_resource_and_namespace(
    config: Path, kube: KubeFixtureServer, capsys: pytest.CaptureFixture[str]
) -> None:
    kube.role = [{"apiGroups": [""], "resources": ["services"], "verbs": ["list"]}]
    code, _, err = run(capsys, "status", "--env", "k", "-o", "json")
    assert code == 4
    error = json.loads(err)["error"]
    assert error["details"] == {"verb": "list", "resource": "deployments", "group": "apps", "namespace": "course"}


def test_unreachable_is_exit_5_naming_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = _dead_kubeconfig(tmp_path)
    path = tmp_path / "coursectl.yaml"
    path.write_text(k8s_config(dead))
    monkeypatch.setenv("COURSECTL_CONFIG", str(path))
    code, _, err = run(capsys, "status", "--env", "k")
    assert code == 5
    assert "Kubernetes API server at http://127.0.0.1:" in err and "unreachable" in err


def test_kubeconfig_flag_wins(
    tmp_path: Path, kube: KubeFixtureServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--kubeconfig (given after the command too) over the environment's kubeconfig and KUBECONFIG."""
    dead = _dead_kubeconfig(tmp_path)
    path = tmp_path / "coursectl.yaml"
    path.write_text(k8s_config(dead))
    monkeypatch.setenv("COURSECTL_CONFIG", str(path))
    monkeypatch.setenv("KUBECONFIG", str(dead))
    good = kube.kubeconfig(tmp_path / "good")
    code, data, err = run(capsys, "status", "--env", "k", "--kubeconfig", str(good), "-o", "json")
    assert code == 0, err
    assert kube.requests and kube.requests[-1].verb == "list"


def _dead_kubeconfig(tmp_path: Path) -> Path:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = KubeFixtureServer()
    path = tmp_path / "dead-kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "fixture",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": server.token}}],
                "contexts": [{"name": "fixture", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    return path
