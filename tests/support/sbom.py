"""Real syft on small root filesystems made by the tests: Python dist-info and Debian dpkg entries with licences.

``rootfs`` writes the files syft's catalogers read in an image (``*.dist-info/METADATA``, ``/var/lib/dpkg/status``
with ``/usr/share/doc/<pkg>/copyright``, ``/etc/os-release``), so the SBOMs in the fast tiers are syft's own
output, not imitations. ``DirSyft`` is the real syft adapter with one change: an image ref registered with
``add`` is read from its folder (``dir:`` source) instead of an engine or registry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from coursectl.adapters.syft import SyftGenerator

Py = tuple[str, str, str | None]  # name, version, licence (None: no licence declared)
Deb = tuple[str, str, str | None]


def rootfs(root: Path, python: Iterable[Py] = (), deb: Iterable[Deb] = ()) -> Path:
    """A folder laid out like a Debian image with these Python and Debian packages installed."""
    site = root / "opt/venv/lib/python3.11/site-packages"
    site.mkdir(parents=True, exist_ok=True)
    for name, version, licence in python:
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        if licence:
            key = "License-Expression" if any(op in licence for op in (" OR ", " AND ", " WITH ")) else "License"
            lines.append(f"{key}: {licence}")
        (info / "METADATA").write_text("\n".join(lines) + "\n")
    status = []
    for name, version, licence in deb:
        status.append(
            f"Package: {name}\nStatus: install ok installed\nPriority: optional\nSection: libs\n"
            f"Installed-Size: 10\nMaintainer: Tests <tests@example.invalid>\nArchitecture: amd64\n"
            f"Version: {version}\nDescription: {name}\n"
        )
        if licence:
            doc = root / "usr/share/doc" / name
            doc.mkdir(parents=True, exist_ok=True)
            (doc / "copyright").write_text(
                "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
                f"Files: *\nCopyright: 2024 Tests\nLicense: {licence}\n"
            )
    (root / "var/lib/dpkg").mkdir(parents=True, exist_ok=True)
    (root / "var/lib/dpkg/status").write_text("\n".join(status))
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n')
    return root


class DirSyft(SyftGenerator):
    """The real syft adapter, reading registered image refs from folders (every other ref: as asked)."""

    def __init__(self, folders: Mapping[str, Path] | None = None, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.folders: dict[str, Path] = dict(folders or {})
        self.calls: list[tuple[str, str]] = []

    def add(self, ref: str, folder: Path) -> None:
        self.folders[ref] = folder

    def generate(self, source: str, target: str, outputs: Mapping[str, Path]) -> None:
        self.calls.append((source, target))
        if target in self.folders:
            return super().generate("dir", str(self.folders[target]), outputs)
        return super().generate(source, target, outputs)


@dataclass
class LocalImages:
    """A Builder stand-in that knows which image refs "are in the engine" (their id: a digest of the ref)."""

    refs: set[str] = field(default_factory=set)

    def image_id(self, ref: str) -> str | None:
        return f"sha256:{hashlib.sha256(ref.encode()).hexdigest()}" if ref in self.refs else None

    def repo_digests(self, ref: str) -> list[str]:
        return []
