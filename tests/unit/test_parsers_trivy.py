"""Trivy's JSON parser on every real sample: counts by severity checked against the file itself."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from coursectl.errors import ExternalError
from coursectl.parsers import trivy
from tests.conftest import FIXTURES, fixture_files, needs_fixtures

SAMPLES = fixture_files("trivy/**/*.json.golden")


def expected_counts(report: dict) -> Counter:
    """Independently walk the file: vulns, FAIL misconfigurations, secrets and licenses by severity."""
    counts: Counter = Counter()
    for result in report.get("Results") or []:
        for v in result.get("Vulnerabilities") or []:
            counts[v["Severity"]] += 1
        for m in result.get("Misconfigurations") or []:
            if m.get("Status") == "FAIL":
                counts[m["Severity"]] += 1
        for s in result.get("Secrets") or []:
            counts[s["Severity"]] += 1
        for lic in result.get("Licenses") or []:
            counts[lic["Severity"]] += 1
    return counts


@needs_fixtures
def test_every_known_sample_is_present() -> None:
    names = {str(p.relative_to(FIXTURES)) for p in SAMPLES}
    assert {
        "trivy/alpine-39.json.golden",
        "trivy/photon-30.json.golden",
        "trivy/pip.json.golden",
        "trivy/dockerfile.json.golden",
        "trivy/helm_testchart.json.golden",
        "trivy/secrets.json.golden",
        "trivy/v0.50.0/alpine-39.json.golden",
        "trivy/v0.68.1/dockerfile.json.golden",
    } <= names


@needs_fixtures
@pytest.mark.parametrize("path", SAMPLES, ids=[p.name if p.parent.name == "trivy" else f"{p.parent.name}/{p.name}"
                                               for p in SAMPLES])
def test_parses_every_sample_without_loss(path: Path) -> None:
    text = path.read_text()
    parsed = trivy.parse(text)
    assert Counter(f.severity for f in parsed.findings) == expected_counts(json.loads(text))
    assert all(f.scanners == ("trivy",) for f in parsed.findings)
    assert all(f.id and f.target for f in parsed.findings)


@needs_fixtures
@pytest.mark.parametrize("name", ["alpine-39.json.golden", "v0.50.0/alpine-39.json.golden"])
def test_alpine_39_known_numbers(name: str) -> None:
    parsed = trivy.parse((FIXTURES / "trivy" / name).read_text())
    assert len(parsed.findings) == 6
    assert Counter(f.severity for f in parsed.findings) == {"CRITICAL": 2, "MEDIUM": 4}
    assert len({f.id for f in parsed.findings}) == 3  # CVE-2019-1549 for both libcrypto1.1 and libssl1.1
    assert all(f.fixable and f.status == "fixed" for f in parsed.findings)
    assert parsed.meta["eosl"] is True
    musl = next(f for f in parsed.findings if f.package == "musl")
    assert (musl.id, musl.installed_version, musl.fixed_version) == ("CVE-2019-14697", "1.1.20-r4", "1.1.20-r5")


@needs_fixtures
def test_photon_and_pip() -> None:
    photon = trivy.parse((FIXTURES / "trivy/photon-30.json.golden").read_text())
    assert Counter(f.severity for f in photon.findings) == {"CRITICAL": 2, "HIGH": 1}
    pip = trivy.parse((FIXTURES / "trivy/pip.json.golden").read_text())
    assert Counter(f.severity for f in pip.findings) == {"HIGH": 1, "MEDIUM": 1}
    assert pip.meta["artifact_type"] == "repository"


@needs_fixtures
@pytest.mark.parametrize("name", ["dockerfile.json.golden", "v0.68.1/dockerfile.json.golden"])
def test_both_misconfiguration_id_styles_share_aliases(name: str) -> None:
    (finding,) = trivy.parse((FIXTURES / "trivy" / name).read_text()).findings
    assert finding.kind == "misconfig" and finding.severity == "HIGH"
    assert {"DS-0002", "DS002", "AVD-DS-0002"} <= finding.names


@needs_fixtures
def test_helm_chart_results_without_misconfigurations() -> None:
    parsed = trivy.parse((FIXTURES / "trivy/helm_testchart.json.golden").read_text())
    assert len(parsed.findings) == 6
    assert {f.kind for f in parsed.findings} == {"misconfig"}
    assert any(":" in f.target for f in parsed.findings)  # CauseMetadata.StartLine kept in the target


@needs_fixtures
def test_secrets() -> None:
    parsed = trivy.parse((FIXTURES / "trivy/secrets.json.golden").read_text())
    assert sorted((f.id, f.severity) for f in parsed.findings) == [
        ("aws-access-key-id", "CRITICAL"), ("mysecret", "HIGH")]
    assert {f.kind for f in parsed.findings} == {"secret"}


def test_clean_report_without_results() -> None:
    parsed = trivy.parse('{"SchemaVersion": 2, "ArtifactName": "x", "ArtifactType": "container_image"}')
    assert parsed.findings == () and parsed.artifact == "x"


def test_unknown_severity_and_missing_keys_are_tolerated() -> None:
    report = {"Results": [{"Target": "t", "Vulnerabilities": [{"VulnerabilityID": "CVE-1", "Severity": "SEVERE"},
                                                              {}]}]}
    parsed = trivy.parse(json.dumps(report))
    assert [f.severity for f in parsed.findings] == ["UNKNOWN", "UNKNOWN"]
    assert parsed.findings[0].fixable is False


@pytest.mark.parametrize("text", ["", "panic: runtime error\ngoroutine 1", "[1, 2]", "{not json"])
def test_garbage_is_an_external_error_naming_trivy(text: str) -> None:
    with pytest.raises(ExternalError, match="Trivy"):
        trivy.parse(text)


@pytest.mark.parametrize(
    ("check_id", "avd", "expected"),
    [
        ("DS-0002", "", {"DS002", "AVD-DS-0002"}),
        ("DS002", "AVD-DS-0002", {"DS-0002", "AVD-DS-0002"}),
        ("KSV011", "AVD-KSV-0011", {"KSV-0011", "AVD-KSV-0011"}),
        ("custom-rule", "", set()),
    ],
)
def test_check_aliases(check_id: str, avd: str, expected: set[str]) -> None:
    assert set(trivy.check_aliases(check_id, avd)) == expected
