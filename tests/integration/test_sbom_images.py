"""The real syft on the real images of the six platform services, built by `coursectl build --push` on the session
sandbox (private engine, registry with auth, base image: tests/integration/conftest.py).

One build of the six images and one of a variant of `course` (one extra pip package, one pinned older) keep the
CPU cost low; the engine's layer cache from test_build_images.py is reused when it ran first. Every coursectl
call is a subprocess with `-o json`, as a Jenkins stage would run it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("user", "course", "payment", "enrollment", "notification", "content")


@dataclass
class Env:
    state_dir: Path
    registry: str
    docker_host: str
    username: str
    password: str

    def environ(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSECTL_", "DOCKER_", "BUILD_", "SYFT_"))}
        env.update(COURSECTL_STATE_DIR=str(self.state_dir), DOCKER_HOST=self.docker_host, PYTHONPATH=str(REPO),
                   REGISTRY_USER=self.username, REGISTRY_PASSWORD=self.password)  # fmt: skip
        env.update(extra)
        return env


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, timeout=60)
    return done.stdout.strip()


def coursectl(env: Env, repo: Path, *args: str, expect: int = 0, **extra: str) -> tuple[Any, str]:
    done = subprocess.run(
        [sys.executable, "-m", "coursectl", *args, "-o", "json"],
        cwd=repo, env=env.environ(**extra), capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert done.returncode == expect, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return (json.loads(done.stdout) if done.stdout.strip() else None), done.stderr


@dataclass
class Built:
    env: Env
    repo: Path
    build: dict[str, Any]  # `build --push` result


@pytest.fixture(scope="module")
def built(sandbox: Any, registry_credentials: Any, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The six images built and pushed from a clone of this repository (registry pointed at the sandbox)."""
    env = Env(tmp_path_factory.mktemp("sbom-state"), sandbox.registry_address(), sandbox.docker_host(),
              registry_credentials.username, registry_credentials.password)  # fmt: skip
    repo = tmp_path_factory.mktemp("sbom-repo") / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(repo)], check=True, timeout=120)
    git(repo, "config", "user.email", "test@example.invalid")
    git(repo, "config", "user.name", "coursectl tests")
    config = repo / "coursectl.yaml"
    config.write_text(config.read_text().replace("url: 127.0.0.1:5000", f"url: {env.registry}"))
    git(repo, "commit", "-q", "--allow-empty", "-am", "test: point the registry at the sandbox")
    # the six Python services (the storefront, built with npm first, has its own tests)
    doc, _ = coursectl(env, repo, "build", *SERVICES, "--push", "--parallel", "2")
    assert {s["service"] for s in doc["services"] if s["pushed"]} == set(SERVICES)
    return Built(env, repo, doc)


def packages(doc: dict[str, Any]) -> dict[str, str]:
    from coursectl.parsers import sbom as parser

    parsed = parser.parse(Path(doc["files"]["cyclonedx-json"]["path"]).read_bytes())
    return {f"{p.key}@{p.version}": p.name for p in parsed.packages}


def test_sboms_of_the_six_images_from_the_engine(built: Built) -> None:
    from coursectl.ledger import open_ledger
    from coursectl.sbom.store import sha256_file

    digests = {s["service"]: s["digest"] for s in built.build["services"]}
    versions = {s["service"]: s["version"] for s in built.build["services"]}
    for service in SERVICES:
        doc, err = coursectl(built.env, built.repo, "sbom", service)
        assert doc["status"] == "made" and doc["source"] == "docker", err
        assert doc["version"] == versions[service] and doc["image_digest"] == digests[service]
        names = set(packages(doc).values())
        # the service itself, the shared library, its Python dependencies and the Debian base
        assert {f"{service}-service", "course-common", "fastapi", "uvicorn", "sqlalchemy", "pydantic"} <= names
        assert {"libc6", "python3.11"} <= names, sorted(names)[:40]
        assert doc["license_check"]["outcome"] == "passed"
    with open_ledger(built.env.state_dir) as ledger:
        events = {e.service: e for e in ledger.events(kinds=["sbom"])}
    assert set(events) == set(SERVICES)
    for service, event in events.items():
        entry = event.details["files"]["cyclonedx-json"]
        assert sha256_file(Path(entry["path"])) == entry["sha256"]  # the file's digest, with the image digest
        assert event.details["image_digest"] == digests[service] and event.git_commit == git(built.repo, "rev-parse",
                                                                                             "HEAD")  # fmt: skip


def test_a_dependency_change_shows_up_in_the_diff_exactly(built: Built) -> None:
    env, repo = built.env, built.repo
    v1 = next(s["version"] for s in built.build["services"] if s["service"] == "course")
    first, _ = coursectl(env, repo, "sbom", "course", "--version", v1)
    idna_v1 = next(k.split("@", 1)[1] for k in packages(first) if k.startswith("pkg:pypi/idna@"))
    from coursectl.sbom.versions import compare

    assert compare("python", idna_v1, "3.6") > 0, idna_v1  # the variant pins an older idna
    assert not any(k.startswith("pkg:pypi/six@") for k in packages(first))

    # the variant: one extra package, one pinned older — a change to this service's dependencies only
    pyproject = repo / "platform-services" / "course" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"redis>=5.0",', '"redis>=5.0",\n    "six==1.16.0",\n'
                                                                           '    "idna==3.6",'))  # fmt: skip
    git(repo, "commit", "-qam", "course: six, and idna pinned to 3.6")
    doc, _ = coursectl(env, repo, "build", "course", "--push")
    (row,) = doc["services"]
    v2 = row["version"]
    assert row["status"] == "built" and v2 != v1

    diff, _ = coursectl(env, repo, "sbom", "diff", "course", v1, v2)
    assert [(p["name"], p["version"], p["type"]) for p in diff["added"]] == [("six", "1.16.0", "python")]
    assert diff["removed"] == [] and diff["upgraded"] == [] and diff["changed"] == []
    assert [(c["name"], c["from"], c["to"]) for c in diff["downgraded"]] == [("idna", [idna_v1], ["3.6"])]
    back, _ = coursectl(env, repo, "sbom", "diff", "course", v2, v1)
    assert [p["name"] for p in back["removed"]] == ["six"]
    assert [(c["name"], c["from"], c["to"]) for c in back["upgraded"]] == [("idna", ["3.6"], [idna_v1])]

    # the same image read from the registry (credentials from the secret references, in syft's environment)
    from_engine, _ = coursectl(env, repo, "sbom", "course", "--version", v2)
    from_registry, _ = coursectl(env, repo, "sbom", "course", "--version", v2, "--source", "registry", "--refresh")
    assert from_registry["source"] == "registry" and from_registry["image_digest"] == row["digest"]
    assert packages(from_registry) == packages(from_engine)
    _, err = coursectl(env, repo, "sbom", "course", "--version", v2, "--source", "registry", "--refresh",
                       expect=4, REGISTRY_PASSWORD="wrong-password")  # fmt: skip
    assert "refused" in err and "wrong-password" not in err

    # the licence policy on the real SBOM: deny six's licence
    six_licences = next(p for p in _parsed(from_engine).packages if p.name == "six").licenses
    assert six_licences, "syft read no licence for six"
    config = repo / "coursectl.yaml"
    text = config.read_text()  # the sbom section's deny list replaced (a second `sbom:` key would be refused)
    denied = re.sub(r"(?m)^(sbom:\n(?:  .*\n|\s*\n)*?)  deny_licenses: .*\n", "\\1", text)
    config.write_text(denied.replace("sbom:\n", f"sbom:\n  deny_licenses: [{six_licences[0]!r}]\n", 1))
    report = repo / "reports" / "licences.sarif"
    doc, err = coursectl(env, repo, "sbom", "course", "--version", v2, "--report", str(report), expect=6)
    blocking = {(f["package"], f["id"]) for f in doc["license_check"]["findings"] if f["decision"] == "blocking"}
    assert ("six", six_licences[0]) in blocking
    assert "licence policy blocked course" in err
    sarif = json.loads(report.read_text())
    assert any(r["properties"]["package"] == "six" and r["level"] == "error" for r in sarif["runs"][0]["results"])


def _parsed(doc: dict[str, Any]) -> Any:
    from coursectl.parsers import sbom as parser

    return parser.parse(Path(doc["files"]["cyclonedx-json"]["path"]).read_bytes())
