"""The Snyk CLI as a subprocess: build the command, run it through the runner, map its exit codes."""

from __future__ import annotations

import json
import logging
import shutil

from coursectl.adapters.process import run
from coursectl.domain import ParsedScan
from coursectl.errors import AuthError, ExternalError
from coursectl.parsers import snyk as snyk_parser
from coursectl.render.scanners import snyk_argv

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install the Snyk CLI ('npm install -g snyk' or the release binary from https://docs.snyk.io/snyk-cli) "
    "and set SNYK_TOKEN, or pass --skip-missing to record the scan as skipped"
)
AUTH_HINT = "set SNYK_TOKEN (an API token of the Snyk organisation) or run 'snyk auth'"
FINDINGS_FOUND = 1
_AUTH_CODES = (77,)


def _error_text(stdout: str, stderr: str) -> str:
    """Snyk's own error message: the ``error`` of its JSON error document, else the end of stderr."""
    try:
        doc = json.loads(stdout)
    except (json.JSONDecodeError, TypeError):
        doc = None
    if isinstance(doc, dict) and doc.get("error"):
        return str(doc["error"])
    text = (stderr or stdout or "").strip()
    return "\n".join(text.splitlines()[-6:]) or "(no output)"


class SnykScanner:
    """The Scanner port for Snyk (container test for images, test for folders)."""

    name = "snyk"
    display_name = "Snyk"
    install_hint = INSTALL_HINT
    kinds: tuple[str, ...] = ("image", "fs")

    def __init__(self, *, timeout: float = 900.0, executable: str = "snyk"):
        self.timeout = timeout
        self.executable = executable

    def available(self) -> bool:
        return shutil.which(self.executable) is not None

    def scan(self, kind: str, target: str, *, dockerfile: str | None = None) -> ParsedScan:
        argv = snyk_argv(kind, target, dockerfile=dockerfile)
        argv[0] = self.executable
        done = run(argv, timeout=self.timeout, check=False, hint=INSTALL_HINT)
        # exit codes (src/cli/exit-codes.ts): 0 clean, 1 vulnerabilities found, 2 failure, 3 no supported project
        if done.returncode in (0, FINDINGS_FOUND):
            result = snyk_parser.parse(done.stdout)
            if result.errors and not result.findings and not result.suppressed:
                raise ExternalError(
                    f"Snyk could not test {target}: {'; '.join(result.errors)}", details={"scanner": "snyk"}
                )
            log.info("snyk %s %s: %d findings", kind, target, len(result.findings))
            return result
        message = _error_text(done.stdout, done.stderr)
        lowered = message.lower()
        if done.returncode in _AUTH_CODES or "authenticat" in lowered or "401" in lowered:
            raise AuthError(f"Snyk refused the credentials: {message}", hint=AUTH_HINT)
        what = {2: "failed", 3: "found no supported project"}.get(done.returncode, "failed")
        raise ExternalError(
            f"Snyk {what} (exit code {done.returncode}) on {target}: {message}",
            details={"scanner": "snyk", "returncode": done.returncode},
        )
