"""Where SBOMs are kept (``<state>/sbom/<service>/<version>/``) and how a recorded one is read back, verified.

The ledger's ``sbom`` event is the index: it names each file and its sha256, with the image and its digest. A
file that is missing, or whose content no longer matches the recorded digest, is refused (exit 4), never used.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coursectl.domain import LedgerEvent
from coursectl.errors import PreconditionError
from coursectl.render.syft import EXTENSIONS

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]")


def sbom_dir(state_dir: Path, service: str, version: str) -> Path:
    """The folder of one service version's SBOMs."""
    return state_dir / "sbom" / _UNSAFE.sub("_", service) / _UNSAFE.sub("_", version)


def sbom_path(state_dir: Path, service: str, version: str, image_digest: str, fmt: str) -> Path:
    """``<state>/sbom/<service>/<version>/<digest hex, 16>.<cdx|spdx>.json``: one file per image and format."""
    hexpart = image_digest.split(":", 1)[-1][:16] or "unknown"
    return sbom_dir(state_dir, service, version) / f"{_UNSAFE.sub('_', hexpart)}.{EXTENSIONS[fmt]}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


@dataclass(frozen=True)
class StoredSbom:
    """One SBOM file as the ledger recorded it."""

    service: str
    version: str
    format: str
    path: Path
    sha256: str
    image: str
    image_digest: str
    event: LedgerEvent

    def verified_bytes(self) -> bytes:
        """The file's content, after checking it still has the recorded digest."""
        if not self.path.is_file():
            raise PreconditionError(
                f"the SBOM of {self.service} {self.version} recorded at {self.path} is missing",
                hint=f"make it again: coursectl sbom {self.service} --version {self.version}",
            )
        data = self.path.read_bytes()
        actual = f"sha256:{hashlib.sha256(data).hexdigest()}"
        if actual != self.sha256:
            raise PreconditionError(
                f"the SBOM of {self.service} {self.version} at {self.path} changed since it was recorded "
                f"(sha256 {actual}, recorded {self.sha256}): refusing to use it",
                hint=f"make it again: coursectl sbom {self.service} --version {self.version}",
                details={"path": str(self.path), "expected": self.sha256, "actual": actual},
            )
        return data


def recorded(
    ledger: Any, service: str, version: str, *, fmt: str = "cyclonedx-json", image_digest: str | None = None
) -> StoredSbom | None:
    """The newest SBOM recorded for ``service`` at ``version`` in format ``fmt`` (and of ``image_digest`` when
    given), or None. Only the ledger is read; ``verified_bytes`` checks the file."""
    for event in ledger.events(service=service, kinds=["sbom"], limit=200):
        if event.version != version or event.outcome not in ("succeeded", "blocked"):
            continue
        details = event.details or {}
        if image_digest and details.get("image_digest") != image_digest:
            continue
        entry = (details.get("files") or {}).get(fmt)
        if not entry:
            continue
        return StoredSbom(
            service=service,
            version=version,
            format=fmt,
            path=Path(entry["path"]),
            sha256=str(entry["sha256"]),
            image=str(details.get("image") or ""),
            image_digest=str(details.get("image_digest") or ""),
            event=event,
        )
    return None
