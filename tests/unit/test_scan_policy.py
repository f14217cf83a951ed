"""The scan policy as tables: merge, threshold, unfixed, ignore entries (valid, expired, scoped), ignore file."""

from __future__ import annotations

from datetime import date

import pytest

from coursectl.domain import Finding, normalize_severity, severity_rank
from coursectl.errors import ConfigError
from coursectl.scan.ignores import IgnoreEntry, load_ignores, parse_ignores
from coursectl.scan.policy import Policy, matches, merge

TODAY = date(2026, 6, 1)


def f(id: str = "CVE-1", severity: str = "HIGH", *, package: str = "openssl", fixable: bool = True,
      scanner: str = "trivy", service: str = "user", target: str = "img", kind: str = "vuln",
      aliases: tuple[str, ...] = ()) -> Finding:
    return Finding(id=id, package=package, severity=severity, fixable=bool(fixable), scanners=(scanner,),
                   service=service, target=target, kind=kind, aliases=aliases,
                   fixed_version="1.1" if fixable else "")


def entry(id: str = "CVE-1", expires: date = date(2026, 12, 31), **kw: str) -> IgnoreEntry:
    return IgnoreEntry(id=id, reason="accepted", expires=expires, **kw)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("critical", "CRITICAL"), ("High", "HIGH"), ("", "UNKNOWN"), (None, "UNKNOWN"), ("SEVERE", "UNKNOWN")],
)
def test_normalize_severity(value: object, expected: str) -> None:
    assert normalize_severity(value) == expected


@pytest.mark.parametrize(
    ("severity", "fail_on", "decision"),
    [
        ("CRITICAL", "HIGH", "blocking"),
        ("HIGH", "HIGH", "blocking"),
        ("MEDIUM", "HIGH", "below-threshold"),
        ("HIGH", "CRITICAL", "below-threshold"),
        ("UNKNOWN", "LOW", "below-threshold"),
        ("UNKNOWN", "UNKNOWN", "blocking"),
        ("LOW", "low", "blocking"),
    ],
)
def test_threshold(severity: str, fail_on: str, decision: str) -> None:
    assert Policy(fail_on=fail_on).judge(f(severity=severity), TODAY).decision == decision


@pytest.mark.parametrize(
    ("ignore_unfixed", "fixable", "kind", "decision"),
    [
        (False, False, "vuln", "blocking"),
        (True, False, "vuln", "unfixed"),
        (True, True, "vuln", "blocking"),
        (True, False, "secret", "blocking"),  # "unfixed" is about vulnerabilities only
    ],
)
def test_ignore_unfixed(ignore_unfixed: bool, fixable: bool, kind: str, decision: str) -> None:
    policy = Policy(fail_on="HIGH", ignore_unfixed=ignore_unfixed)
    assert policy.judge(f(fixable=fixable, kind=kind), TODAY).decision == decision


@pytest.mark.parametrize(
    ("ignore", "finding", "decision"),
    [
        (entry(), f(), "ignored"),
        (entry(expires=TODAY), f(), "ignored"),  # valid through its expiry date
        (entry(expires=date(2026, 5, 31)), f(), "blocking"),  # expired: ignores nothing
        (entry(package="openssl"), f(), "ignored"),
        (entry(package="zlib"), f(), "blocking"),
        (entry(service="course"), f(), "blocking"),
        (entry(service="user"), f(), "ignored"),
        (entry(id="cve-1"), f(), "ignored"),  # ids match case-insensitively
        (entry(id="CVE-2021-28831"), f(id="SNYK-ALPINE-1", aliases=("CVE-2021-28831",)), "ignored"),
        (entry(id="AVD-DS-0002"), f(id="DS-0002", kind="misconfig", aliases=("DS002", "AVD-DS-0002")), "ignored"),
        (entry(), f(severity="LOW"), "ignored"),  # a valid entry is reported as such, whatever the severity
    ],
)
def test_ignore_entries(ignore: IgnoreEntry, finding: Finding, decision: str) -> None:
    judged = Policy(fail_on="HIGH", ignores=(ignore,)).judge(finding, TODAY)
    assert judged.decision == decision
    if decision == "ignored":
        assert judged.reason == "accepted" and judged.ignore == ignore


def test_expired_entry_is_reported() -> None:
    old = entry(expires=date(2026, 1, 1))
    policy = Policy(fail_on="HIGH", ignores=(old, entry(id="CVE-9")))
    judged = policy.judge(f(), TODAY)
    assert judged.blocking and judged.expired_ignore == old and "expired on 2026-01-01" in judged.reason
    assert policy.expired_entries(TODAY) == [old]


def test_matches_scopes() -> None:
    assert matches(entry(), f())
    assert not matches(entry(id="CVE-2"), f())


def test_merge_folds_trivy_and_snyk_on_id_and_package() -> None:
    trivy = f(id="CVE-2021-28831", severity="MEDIUM", package="busybox", target="alpine:3.12 (alpine 3.12.9)")
    snyk = f(id="SNYK-ALPINE312-BUSYBOX-1089799", severity="HIGH", package="busybox", scanner="snyk",
             aliases=("CVE-2021-28831",), target="docker-image|x")
    other_service = f(id="CVE-2021-28831", package="busybox", service="course")
    (merged, kept) = merge([trivy, snyk, other_service])
    assert merged.scanners == ("trivy", "snyk")
    assert merged.severity == "HIGH"  # the worse of the two
    assert "SNYK-ALPINE312-BUSYBOX-1089799" in merged.aliases
    assert kept == other_service


def test_merge_keeps_different_packages_and_same_scanner_targets_apart() -> None:
    a = f(package="libssl1.1")
    b = f(package="libcrypto1.1")
    c = f(package="libssl1.1", target="other-lockfile")
    assert len(merge([a, b, c])) == 3
    assert len(merge([a, a])) == 1


def test_severity_rank_order() -> None:
    assert [severity_rank(s) for s in ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")] == [0, 1, 2, 3, 4]


def test_ignore_file_forms(tmp_path) -> None:
    text = "ignores:\n  - {id: CVE-1, reason: r, expires: 2026-12-31, package: p, service: user}\n"
    (e,) = parse_ignores(text)
    assert (e.id, e.package, e.service, e.expires) == ("CVE-1", "p", "user", date(2026, 12, 31))
    assert parse_ignores("- {id: CVE-2, reason: r, expires: '2027-01-01'}\n")[0].expires == date(2027, 1, 1)
    assert parse_ignores("") == []
    assert load_ignores(tmp_path / "absent.yaml") == []


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("ignores:\n  - {id: CVE-1, expires: 2026-12-31}\n", "ignores.0.reason"),
        ("ignores:\n  - {id: CVE-1, reason: r, expires: 2026-12-31}\n  - {id: CVE-2, reason: r}\n",
         "ignores.1.expires"),
        ("ignores:\n  - {id: CVE-1, reason: r, expires: next week}\n", "ignores.0.expires"),
        ("ignores:\n  - {id: CVE-1, reason: r, expires: 2026-12-31, until: x}\n", "ignores.0.until"),
        ("ignores:\n  - CVE-1\n", "ignores.0"),
        ("ignore: []\n", "ignore"),
        ("ignores: {a: 1}\n", "ignores"),
        ("ignores: [\n", "line"),
    ],
)
def test_malformed_ignore_file_names_file_and_entry(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_ignores(text, "x/.coursectl-ignore.yaml")
    assert info.value.exit_code == 3
    assert "x/.coursectl-ignore.yaml" in info.value.message and where in info.value.message
