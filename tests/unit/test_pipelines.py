"""pipelines/ cannot drift from the CLI: every coursectl call in the Jenkinsfile and the shared library is checked
against `coursectl cli-spec`; the stages are the platform document's; exit codes are mapped in one place."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from coursectl.cli.spec import PLACEHOLDER, check
from coursectl.cli.spec_groovy import calls_in, calls_under
from coursectl.errors import EXIT_CODES
from tests.conftest import REPO

PIPELINES = REPO / "pipelines"
Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def spec(cli: Cli) -> dict:  # type: ignore[type-arg]
    code, out, err = cli("cli-spec", "-o", "json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_every_coursectl_call_in_pipelines_is_a_valid_command_line(spec: dict) -> None:  # type: ignore[type-arg]
    calls = calls_under(PIPELINES)
    assert len(calls) >= 25, [c.source for c in calls]
    problems = [f"{c.file}:{c.line}: coursectl {c.source}: {p}" for c in calls for p in check(spec, c.argv)]
    assert problems == []
    # the retry of exit 8 adds --lock-wait: valid wherever the library may add it
    for c in calls:
        if c.argv and c.argv[0] == "deploy":
            assert check(spec, [*c.argv, "--lock-wait", "600"]) == [], c
    commands = {c.argv[0] for c in calls if c.argv}
    assert {"config", "build", "test", "release", "journey", "quality-gate", "scan", "push", "deploy", "loadtest",
            "status", "notify", "sandbox", "rollout"} <= commands


def test_no_coursectl_command_line_escapes_the_extraction() -> None:
    """A string that runs coursectl in a shell line anywhere (not only first) was extracted and checked."""
    from coursectl.cli.spec_groovy import _ANY_LITERAL, strip_comments

    extracted = {(c.file, c.line) for c in calls_under(PIPELINES)}
    stray = []
    for path in [*PIPELINES.rglob("*.groovy"), PIPELINES / "Jenkinsfile"]:
        if {"node_modules", "test"} & set(path.relative_to(PIPELINES).parts):
            continue
        source = strip_comments(path.read_text())
        for m in _ANY_LITERAL.finditer(source):
            if re.search(r"(?:^|[;&|(]\s*)coursectl\s+\S", m.group(0).strip("'\"")):
                where = (str(path.relative_to(PIPELINES)), source.count("\n", 0, m.start()) + 1)
                if where not in extracted:
                    stray.append(f"{where}: {m.group(0)}")
    assert stray == []


@pytest.mark.parametrize(
    ("groovy", "problem"),
    [
        ("coursectl \"scan --kinds fs --report ${R}/x.sarif\"", "no such option --kinds"),
        ("coursectl 'scan --format xml'", "'xml' is not one of table, json, sarif, junit"),
        ("coursectl(\"deploy --env prod --version ${V}\", lockWait: 9)", "SERVICES is required"),
        ("coursectl 'rollout promote course --all'", "no such option --all"),
        ("coursectl 'relase --env local --yes'", "no such command 'relase'"),
        ("coursectl 'notify build'", "--result is required"),
        ("coursectl('test unit ' +\n  '--junitt r.xml')", "no such option --junitt"),
        ("sh \"coursectl status --envv prod\"", "no such option --envv"),
        ("coursectl \"deploy ${S} --${FLAG} x\"", "an option name cannot be a run-time value"),
    ],
)
def test_a_renamed_flag_or_command_fails_the_check(
    spec: dict, tmp_path: Path, groovy: str, problem: str  # type: ignore[type-arg]
) -> None:
    path = tmp_path / "Jenkinsfile"
    path.write_text(f"pipeline {{\n  stages {{\n    // coursectl 'commented out --nonsense'\n    {groovy}\n  }}\n}}\n")
    [call] = calls_in(path, tmp_path)
    assert call.line == 4
    assert any(problem in p for p in check(spec, call.argv)), check(spec, call.argv)


def test_interpolations_become_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "x.groovy"
    path.write_text("coursectl \"deploy ${SERVICES} --version ${env.VERSION.trim()} --junit $JUNIT/a-${x}.xml\"\n")
    [call] = calls_in(path, tmp_path)
    assert call.argv == ("deploy", PLACEHOLDER, "--version", PLACEHOLDER, "--junit", f"{PLACEHOLDER}/a-{PLACEHOLDER}.xml")


def test_the_stages_are_the_platform_documents() -> None:
    text = (PIPELINES / "Jenkinsfile").read_text()
    stages = re.findall(r"stage\('([^']+)'\)", text)
    for wanted in ("Checkout", "Build", "Unit tests", "Integration tests", "End-to-end journey",
                   "SonarQube and quality gate", "Trivy and Snyk", "Images: build, tag, scan, push",
                   "Deploy to staging", "Staging tests", "Deploy to production", "Production verification"):
        assert wanted in stages
    assert "input(" in text and "--yes" in text  # a person approves prod, then nothing prompts
    assert re.search(r"post\s*\{\s*always\s*\{\s*publishReports", text) and "notifyBuild()" in text
    reports = (PIPELINES / "vars" / "publishReports.groovy").read_text()
    assert "archiveArtifacts" in reports and "junit(" in reports and "recordIssues" in reports


def test_exit_codes_are_mapped_in_one_place_and_all_of_them() -> None:
    source = (PIPELINES / "src" / "org" / "courseplatform" / "pipeline" / "ExitCodes.groovy").read_text()
    mapped = {int(code): action for code, action in re.findall(r"^\s+(\d+)\s*:\s*\[action: (\w+)", source, re.M)}
    assert set(mapped) == set(EXIT_CODES) - {1}  # 1 (a bug) falls to the default: FAILURE
    assert (mapped[0], mapped[6], mapped[7], mapped[8]) == ("OK", "GATE", "FAIL", "RETRY_WITH_LOCK_WAIT")
    assert re.search(r"^\s+130\s*:\s*\[action: FAIL, result: 'ABORTED'", source, re.M)
    for path in [*PIPELINES.rglob("*.groovy"), PIPELINES / "Jenkinsfile"]:
        if "node_modules" in path.parts or path.name == "ExitCodes.groovy":
            continue
        assert not re.search(r"==\s*[678]\b|case\s+[678]\b", path.read_text()), f"{path}: an exit code mapped here"
