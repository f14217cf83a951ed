"""Version ordering, SBOM diff and the licence policy: pure, table-driven."""

from __future__ import annotations

from datetime import date

import pytest

from coursectl.domain import SbomPackage
from coursectl.sbom.diff import diff
from coursectl.sbom.licenses import UNKNOWN_ID, LicensePolicy, check, license_counts
from coursectl.sbom.versions import compare, compare_deb
from coursectl.scan.ignores import IgnoreEntry

# --- versions --------------------------------------------------------------------------------------------------

# (a, b, expected sign) — the deb cases are dpkg's own documented orderings (deb-version(7), dpkg's test suite)
DEB = [
    ("1.0", "1.0", 0),
    ("1.0", "1.1", -1),
    ("1.10", "1.9", 1),
    ("1.0~rc1", "1.0", -1),  # ~ sorts before the end
    ("1.0~~", "1.0~", -1),
    ("1.0", "1.0+b1", -1),
    ("1:0.9", "2.0", 1),  # the epoch wins
    ("0:1.0", "1.0", 0),
    ("1.0-1", "1.0-2", -1),
    ("1.0-10", "1.0-9", 1),
    ("2.36.1-8+deb12u1", "2.36.1-8", 1),
    ("1.0a", "1.0", 1),
    ("1.0a", "1.0+", -1),  # letters sort before non-letters
    ("3.0.11-1~deb12u2", "3.0.11-1", -1),
    ("009", "9", 0),
]


@pytest.mark.parametrize(("a", "b", "sign"), DEB)
def test_debian_order(a: str, b: str, sign: int) -> None:
    assert compare_deb(a, b) == sign
    assert compare_deb(b, a) == -sign


@pytest.mark.parametrize(
    ("ptype", "a", "b", "sign"),
    [
        ("python", "2.0rc1", "2.0", -1),
        ("python", "2.0", "2.0.post1", -1),
        ("python", "1.10", "1.9", 1),
        ("python", "3.6", "3.20", -1),
        ("python", "1.0", "1.0.0", 0),
        ("python", "not-pep440", "not-pep440-2", -1),  # falls back to the natural order
        ("npm", "1.10.0", "1.9.0", 1),
        ("go-module", "v0.0.0-2022", "v0.0.0-2021", 1),
        ("deb", "1:2.3-4+deb12u1", "1:2.3-4", 1),
    ],
)
def test_ecosystem_order(ptype: str, a: str, b: str, sign: int) -> None:
    assert compare(ptype, a, b) == sign


# --- diff ------------------------------------------------------------------------------------------------------


def py(name: str, version: str, licence: str | None = None) -> SbomPackage:
    return SbomPackage(name, version, "python", f"pkg:pypi/{name.lower()}@{version}", (licence,) if licence else ())


def deb(name: str, version: str) -> SbomPackage:
    return SbomPackage(name, version, "deb", f"pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12")


def test_identity_is_the_purl_without_version_and_qualifiers() -> None:
    assert deb("libc6", "2.36-9").key == "pkg:deb/debian/libc6"
    assert SbomPackage("Foo_Bar", "1", "python", "pkg:pypi/Foo_Bar@1").key == "pkg:pypi/foo-bar"
    assert SbomPackage("foo-bar", "2", "python").key == "python/foo-bar"
    assert SbomPackage("x", "1", "", "pkg:npm/%40scope/x@1#sub").key == "pkg:npm/%40scope/x"


def test_added_removed_upgraded_downgraded_exactly() -> None:
    before = [py("fastapi", "0.110.0"), py("idna", "3.10"), py("six", "1.16.0"), deb("libc6", "2.36-9"),
              deb("zlib1g", "1:1.2.13.dfsg-1"), py("anyio", "4.0")]  # fmt: skip
    after = [py("fastapi", "0.115.2"), py("idna", "3.6"), deb("libc6", "2.36-9+deb12u4"),
             deb("zlib1g", "1:1.2.13.dfsg-1"), py("anyio", "4.0"), py("redis", "5.0.1"), py("Redis-Py", "1")]  # fmt: skip
    d = diff(before, after, {"service": "course"})
    assert [(p.name, p.version) for p in d.added] == [("redis", "5.0.1"), ("Redis-Py", "1")]
    assert [(p.name, p.version) for p in d.removed] == [("six", "1.16.0")]
    assert [(c.name, c.before, c.after) for c in d.upgraded] == [
        ("libc6", ("2.36-9",), ("2.36-9+deb12u4",)),
        ("fastapi", ("0.110.0",), ("0.115.2",)),
    ]
    assert [(c.name, c.before, c.after) for c in d.downgraded] == [("idna", ("3.10",), ("3.6",))]
    assert d.counts() == {"added": 2, "removed": 1, "upgraded": 2, "downgraded": 1, "changed": 0, "unchanged": 2}
    assert d.summary() == (
        "2 added (redis 5.0.1, Redis-Py 1); 1 removed (six 1.16.0); "
        "2 upgraded (libc6 2.36-9 → 2.36-9+deb12u4, fastapi 0.110.0 → 0.115.2); 1 downgraded (idna 3.10 → 3.6)"
    )
    doc = d.to_dict()
    assert doc["service"] == "course" and doc["downgraded"][0]["from"] == ["3.10"]


def test_same_sboms_have_no_changes_and_duplicates_count_once() -> None:
    pkgs = [py("a", "1"), py("a", "1"), deb("b", "2")]
    d = diff(pkgs, list(reversed(pkgs)))
    assert d.empty and d.counts()["unchanged"] == 2 and d.summary() == "no dependency changes"


def test_a_second_copy_at_an_older_version_is_changed_not_upgraded() -> None:
    d = diff([py("a", "2.0")], [py("a", "2.0"), py("a", "1.0")])
    assert [(c.change, c.before, c.after) for c in d.changed] == [("changed", ("2.0",), ("1.0", "2.0"))]


# --- licences --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deny", "text", "denied"),
    [
        (["GPL-3.0"], "GPL-3.0-only", ["GPL-3.0-only"]),
        (["GPL-3.0"], "GPL-3.0-or-later", ["GPL-3.0-or-later"]),
        (["GPL-3.0"], "GPL-3.0+", ["GPL-3.0+"]),
        (["GPL-3.0-or-later"], "GPL-3.0+", ["GPL-3.0+"]),
        (["GPL-3.0-or-later"], "GPL-3.0-only", []),
        (["GPL-3.0"], "LGPL-3.0-only", []),
        (["gpl-*"], "GPL-2.0-only", ["GPL-2.0-only"]),
        (["AGPL-*"], "MIT", []),
        (["GPL-3.0"], "GPL-3.0-only OR MIT", []),  # the user may choose MIT
        (["GPL-3.0", "MIT"], "GPL-3.0-only OR MIT", ["GPL-3.0-only", "MIT"]),
        (["GPL-3.0"], "MIT AND GPL-3.0-only", ["GPL-3.0-only"]),
        (["GPL-2.0"], "GPL-2.0-or-later WITH Classpath-exception-2.0", ["GPL-2.0-or-later"]),
        (["GPL-3.0"], "(MIT OR Apache-2.0) AND (GPL-3.0-only OR BSD-3-Clause)", []),
        (["GPL-3.0", "BSD-3-Clause"], "(MIT OR Apache-2.0) AND (GPL-3.0-only OR BSD-3-Clause)",
         ["GPL-3.0-only", "BSD-3-Clause"]),
        (["GNU General Public License*"], "GNU General Public License v3 (GPLv3)",
         ["GNU General Public License v3 (GPLv3)"]),  # a free-text name is matched whole
        (["GPL-3.0"], "(GPL-3.0-only", ["GPL-3.0-only"]),  # a broken expression: any denied word denies it
        (["GPL-3.0"], "GPL-3.0-only OR", ["GPL-3.0-only"]),
    ],
)  # fmt: skip
def test_licence_expressions(deny: list[str], text: str, denied: list[str]) -> None:
    assert [lic for lic, _ in LicensePolicy(tuple(deny)).denied(text)] == denied


def test_check_blocks_denied_and_unknown_and_honours_ignores() -> None:
    packages = [py("gplthing", "1.0", "GPL-3.0-only"), py("gplthing", "1.0", "GPL-3.0-only"),
                py("nolicence", "2.0"), py("fine", "1.0", "MIT"), py("accepted", "3.0", "AGPL-3.0-only")]  # fmt: skip
    ignore = IgnoreEntry(index=0, id="AGPL-3.0-only", package="accepted", service=None,
                         reason="internal tool, not distributed", expires=date(2030, 1, 1))  # fmt: skip
    policy = LicensePolicy(("GPL-3.0", "AGPL-*"), allow_unknown=False)
    judged = check(packages, policy, service="user", target="reg/ns/user:v1", ignores=[ignore], today=date(2026, 1, 1))
    assert [(j.finding.id, j.finding.package, j.decision) for j in judged] == [
        ("GPL-3.0-only", "gplthing", "blocking"),
        (UNKNOWN_ID, "nolicence", "blocking"),
        ("AGPL-3.0-only", "accepted", "ignored"),
    ]
    first = judged[0].finding
    assert first.kind == "license" and first.service == "user" and first.severity == "HIGH"
    assert first.title == "gplthing 1.0 is licensed GPL-3.0-only: GPL-3.0-only is denied (sbom.deny_licenses: GPL-3.0)"
    assert judged[2].reason == "internal tool, not distributed"
    # unknown licences allowed, ignore expired: the AGPL finding blocks again, saying why
    later = check(packages, LicensePolicy(("AGPL-*",)), service="user", target="t", ignores=[ignore],
                  today=date(2030, 1, 2))  # fmt: skip
    assert [(j.finding.id, j.decision, j.reason) for j in later] == [
        ("AGPL-3.0-only", "blocking", "ignore entry expired on 2030-01-01")
    ]


def test_empty_policy_passes_everything() -> None:
    assert check([py("a", "1", "GPL-3.0-only"), py("b", "1")], LicensePolicy(), service="s", target="t",
                 today=date(2026, 1, 1)) == []  # fmt: skip


def test_licence_counts() -> None:
    assert license_counts([py("a", "1", "MIT"), py("b", "1", "MIT"), py("c", "1")]) == {"MIT": 2, "(none)": 1}
