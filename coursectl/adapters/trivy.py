"""Trivy as a subprocess: build the command, run it through the runner, translate its failures."""

from __future__ import annotations

import logging
import shutil

from coursectl.adapters.process import run
from coursectl.domain import ParsedScan
from coursectl.errors import ExternalError
from coursectl.parsers import trivy as trivy_parser
from coursectl.render.scanners import TrivyOptions, trivy_argv

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install Trivy (https://trivy.dev/latest/getting-started/installation/: the Debian/Ubuntu apt repository, "
    "'brew install trivy' or the release binary), or pass --skip-missing to record the scan as skipped"
)
DB_HINT = (
    "Trivy needs its vulnerability database: run 'trivy image --download-db-only' where the network is reachable "
    "(with the same --cache-dir, see scan.trivy_cache_dir), then scan with scan.offline: true"
)
_DB_MARKERS = (
    "--skip-db-update cannot be specified on the first run",
    "failed to download vulnerability db",
    "vulnerability db",
    "db error",
    "failed to init db",
    "oci repository error",
    "the first run cannot skip downloading db",
    "init error: db",
)
_NETWORK_MARKERS = ("no such host", "dial tcp", "i/o timeout", "connection refused", "network is unreachable")


def classify_failure(returncode: int, stderr: str) -> ExternalError:
    """The error for a failed Trivy run: a missing or unreachable vulnerability DB is named as such."""
    text = stderr.lower()
    tail = "\n".join(stderr.strip().splitlines()[-6:])
    if any(marker in text for marker in _DB_MARKERS):
        offline = any(marker in text for marker in _NETWORK_MARKERS)
        why = "cannot be downloaded (offline?)" if offline else "is missing or unusable"
        return ExternalError(
            f"Trivy's vulnerability database {why}: {tail}",
            hint=DB_HINT,
            details={"scanner": "trivy", "returncode": returncode, "reason": "db"},
        )
    return ExternalError(
        f"Trivy failed with exit code {returncode}: {tail or '(no output on stderr)'}",
        details={"scanner": "trivy", "returncode": returncode},
    )


class TrivyScanner:
    """The Scanner port for Trivy (image, fs and config scans, and ``sbom``: an image's recorded SBOM)."""

    name = "trivy"
    display_name = "Trivy"
    install_hint = INSTALL_HINT
    kinds: tuple[str, ...] = ("image", "fs", "config", "sbom")

    def __init__(self, options: TrivyOptions | None = None, *, executable: str = "trivy"):
        self.options = options or TrivyOptions()
        self.executable = executable

    def available(self) -> bool:
        return shutil.which(self.executable) is not None

    def scan(self, kind: str, target: str, *, dockerfile: str | None = None) -> ParsedScan:
        argv = trivy_argv(kind, target, self.options)
        argv[0] = self.executable
        done = run(argv, timeout=self.options.timeout + 30, check=False, hint=INSTALL_HINT)
        if done.returncode != 0:
            raise classify_failure(done.returncode, done.stderr)
        result = trivy_parser.parse(done.stdout)
        log.info("trivy %s %s: %d findings", kind, target, len(result.findings))
        return result
