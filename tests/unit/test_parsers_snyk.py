"""Snyk's JSON parser on every real sample: unique issues per project checked against the file's own counts."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from coursectl.errors import ExternalError
from coursectl.parsers import snyk
from tests.conftest import FIXTURES, fixture_files, needs_fixtures

SAMPLES = fixture_files("snyk/**/*.json")


def projects(doc: object) -> list[dict]:
    """Every project object of a Snyk document, container applications included."""
    out: list[dict] = []
    for project in doc if isinstance(doc, list) else [doc]:
        out.append(project)
        out.extend(project.get("applications") or [])
    return out


def expected(doc: object) -> tuple[int, Counter]:
    """(sum of uniqueCount, severities of unique (id, package, version) per project), walked independently."""
    unique_count = 0
    severities: Counter = Counter()
    for project in projects(doc):
        unique_count += project.get("uniqueCount", 0)
        seen = {(v["id"], v["packageName"], v["version"]): v["severity"].upper()
                for v in project.get("vulnerabilities") or []}
        severities.update(seen.values())
    return unique_count, severities


@needs_fixtures
def test_every_known_sample_is_present() -> None:
    names = {str(p.relative_to(FIXTURES / "snyk")) for p in SAMPLES}
    assert {
        "npm-issue-grouping/singleProjectResultJsonDataNonGrouped.json",
        "npm-issue-grouping/multiProjectResultJsonDataNonGrouped.json",
        "container-app-vulns/resultJsonDataNonGrouped.json",
        "ruby-app-thresholds/test-result-critical-severity.json",
        "ruby-app-policy/test-result.json",
        "ruby-app-no-vulns/test-result.json",
    } <= names


@needs_fixtures
@pytest.mark.parametrize("path", SAMPLES, ids=[p.parent.name for p in SAMPLES])
def test_parses_every_sample_without_loss(path: Path) -> None:
    doc = json.loads(path.read_text())
    parsed = snyk.parse(path.read_text())
    unique_count, severities = expected(doc)
    assert Counter(f.severity for f in parsed.findings) == severities
    # Snyk's own uniqueCount: distinct issue ids per project
    per_project = sum(len({f.id for f in parsed.findings if f.target == snyk._target(p)}) for p in projects(doc))
    assert per_project == unique_count
    assert parsed.meta["paths"] == sum(len(p.get("vulnerabilities") or []) for p in projects(doc))


@needs_fixtures
def test_single_npm_project() -> None:
    parsed = snyk.parse((FIXTURES / "snyk/npm-issue-grouping/singleProjectResultJsonDataNonGrouped.json").read_text())
    assert len(parsed.findings) == 7 and parsed.meta["paths"] == 11
    assert all(f.scanners == ("snyk",) for f in parsed.findings)


@needs_fixtures
def test_all_projects_array() -> None:
    parsed = snyk.parse((FIXTURES / "snyk/npm-issue-grouping/multiProjectResultJsonDataNonGrouped.json").read_text())
    assert parsed.meta["projects"] == 2
    assert len({f.target for f in parsed.findings}) == 2


@needs_fixtures
def test_container_os_and_application_vulns_with_cve_aliases() -> None:
    parsed = snyk.parse((FIXTURES / "snyk/container-app-vulns/resultJsonDataNonGrouped.json").read_text())
    busybox = next(f for f in parsed.findings if f.id == "SNYK-ALPINE312-BUSYBOX-1089799")
    assert busybox.package == "busybox" and busybox.severity == "HIGH"
    assert "CVE-2021-28831" in busybox.aliases
    assert busybox.fixed_version == "1.32.1-r4" and busybox.fixable
    assert any(f.target == "/package.json" for f in parsed.findings)  # from applications[]
    assert parsed.meta["base_image"] == "alpine:3.12.9"


@needs_fixtures
def test_policy_ignored_vulns_are_suppressed_with_reason() -> None:
    parsed = snyk.parse((FIXTURES / "snyk/ruby-app-policy/test-result.json").read_text())
    (s,) = parsed.suppressed
    assert s.finding.id == "SNYK-RUBY-LYNX-20160"
    assert "will check again in 2100" in s.reason and s.expires.startswith("2100-01-01")
    assert all(f.id != "SNYK-RUBY-LYNX-20160" for f in parsed.findings)


@needs_fixtures
def test_clean_and_threshold_results() -> None:
    assert snyk.parse((FIXTURES / "snyk/ruby-app-no-vulns/test-result.json").read_text()).findings == ()
    critical = snyk.parse((FIXTURES / "snyk/ruby-app-thresholds/test-result-critical-severity.json").read_text())
    assert [f.severity for f in critical.findings] == ["CRITICAL"]


def test_error_document_and_failed_project() -> None:
    parsed = snyk.parse('{"ok": false, "error": "Could not detect supported target files", "path": "svc"}')
    assert parsed.findings == () and parsed.errors == ("svc: Could not detect supported target files",)
    mixed = snyk.parse(json.dumps([{"ok": False, "error": "boom", "path": "a"},
                                   {"ok": True, "vulnerabilities": [], "projectName": "b"}]))
    assert mixed.errors == ("a: boom",)


@pytest.mark.parametrize("text", ["", "<html>502</html>", "42", "[]"])
def test_garbage_is_an_external_error_naming_snyk(text: str) -> None:
    with pytest.raises(ExternalError, match="Snyk"):
        snyk.parse(text)
