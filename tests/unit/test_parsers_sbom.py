"""SBOM documents → packages: syft's own CycloneDX and SPDX output (made here by the real syft), Trivy's CycloneDX,
and Trivy's report of `trivy sbom` read by the Trivy parser."""

from __future__ import annotations

import pytest

from coursectl.adapters.syft import SyftGenerator
from coursectl.errors import ExternalError
from coursectl.parsers import sbom as parser
from coursectl.parsers import trivy
from tests.conftest import DATA
from tests.support.sbom import rootfs

TRIVY_SBOM = DATA / "trivy-sbom"


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("sbom")
    tree = rootfs(
        tmp / "root",
        python=[("alpha", "1.2.0", "MIT"), ("beta-pkg", "2.0", "GPL-3.0-only OR MIT"), ("gamma", "0.1", None)],
        deb=[("libfoo1", "1:2.3-4+deb12u1", "LGPL-2.1+"), ("nolic", "1.0-1", None)],
    )
    out = {"cyclonedx-json": tmp / "s.cdx.json", "spdx-json": tmp / "s.spdx.json"}
    SyftGenerator(timeout=120).generate("dir", str(tree), out)
    return {fmt: p.read_bytes() for fmt, p in out.items()}


EXPECTED = [
    ("alpha", "1.2.0", "python", "pkg:pypi/alpha@1.2.0", ("MIT",)),
    ("beta-pkg", "2.0", "python", "pkg:pypi/beta-pkg@2.0", ("GPL-3.0-only OR MIT",)),
    ("gamma", "0.1", "python", "pkg:pypi/gamma@0.1", ()),
    ("libfoo1", "1:2.3-4+deb12u1", "deb",
     "pkg:deb/debian/libfoo1@1:2.3-4%2Bdeb12u1?arch=amd64&distro=debian-12", ("LGPL-2.1-or-later",)),
    ("nolic", "1.0-1", "deb", "pkg:deb/debian/nolic@1.0-1?arch=amd64&distro=debian-12", ()),
]  # fmt: skip


@pytest.mark.parametrize("fmt", ["cyclonedx-json", "spdx-json"])
def test_syft_documents(documents: dict[str, bytes], fmt: str) -> None:
    doc = parser.parse(documents[fmt])
    assert doc.format == fmt
    assert doc.tool.startswith("syft")
    got = sorted((p.name, p.version, p.type, p.purl, p.licenses) for p in doc.packages)
    assert got == EXPECTED  # the OS itself (CycloneDX's operating-system component) is not a package


def test_both_formats_give_the_same_identities(documents: dict[str, bytes]) -> None:
    cdx = parser.parse(documents["cyclonedx-json"])
    spdx = parser.parse(documents["spdx-json"])
    assert sorted(p.key for p in cdx.packages) == sorted(p.key for p in spdx.packages) == [
        "pkg:deb/debian/libfoo1", "pkg:deb/debian/nolic", "pkg:pypi/alpha", "pkg:pypi/beta-pkg", "pkg:pypi/gamma",
    ]  # fmt: skip


def test_trivys_cyclonedx() -> None:
    doc = parser.parse((TRIVY_SBOM / "fluentd-multiple-lockfiles-cyclonedx.json").read_bytes())
    assert doc.format == "cyclonedx-json" and doc.tool.startswith("trivy")
    by = {p.name: p for p in doc.packages}
    assert by["bash"].version == "5.0-4" and by["bash"].type == "deb"
    assert by["activesupport"].type == "gem"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"not json", "is not a JSON document"),
        (b"[]", "expected a JSON object"),
        (b'{"foo": 1}', "neither CycloneDX JSON nor SPDX JSON"),
    ],
)
def test_garbage_is_an_external_error(text: bytes, message: str) -> None:
    with pytest.raises(ExternalError, match=message):
        parser.parse(text, source="x.json")


def test_trivy_sbom_report_parses_like_an_image_scan() -> None:
    parsed = trivy.parse((TRIVY_SBOM / "fluentd-multiple-lockfiles.json.golden").read_text())
    assert sorted((f.id, f.package, f.severity) for f in parsed.findings) == [
        ("CVE-2019-18224", "libidn2-0", "CRITICAL"),
        ("CVE-2019-18276", "bash", "LOW"),
        ("CVE-2020-8165", "activesupport", "HIGH"),
    ]

