"""The coursectl error tree: every failure a user can meet, each with its exit code and a hint.

    CoursectlError                 exit 1  base class; a bare one is an internal error (a bug)
    ├── UsageError                 exit 2  bad flags or arguments; confirmation needed but no --yes
    │   └── InputError                     a data file given on the command line is invalid (file:line: what)
    ├── ConfigError                exit 3  configuration missing or invalid (carries every problem found)
    ├── PreconditionError          exit 4  tool not installed, not logged in, image or service not found
    │   ├── ToolMissing                    an external program is not on PATH
    │   └── AuthError                      credentials refused or missing
    ├── ExternalError              exit 5  an external tool or service failed or timed out
    │   └── ExternalTimeout                ... because it did not answer in time
    ├── GateBlocked                exit 6  a gate blocked the change (scan policy, quality gate, analysis)
    │   └── BackupCorrupt                  a backup failed verification: a part or its manifest is damaged
    ├── RolloutFailed              exit 7  a rollout failed and was rolled back or aborted
    ├── LockHeld                   exit 8  the deploy lock is held by someone else
    └── Interrupted                exit 130 interrupted by the user (recorded in the ledger first)

Library code raises only these. Third-party exceptions are translated at the adapter boundary with
``raise CoursectlError(...) from exc``. Expected outcomes (vulnerabilities found, analysis failed) are data,
not exceptions; enforcing them is an explicit step that raises ``GateBlocked`` or ``RolloutFailed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


class CoursectlError(Exception):
    """Base of every coursectl error. Raised directly only for internal errors (bugs)."""

    exit_code: ClassVar[int] = 1
    kind: ClassVar[str] = "internal"

    def __init__(self, message: str, *, hint: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the error, as printed on stderr with ``-o json``."""
        out: dict[str, Any] = {"type": self.kind, "message": self.message, "exit_code": self.exit_code}
        if self.hint:
            out["hint"] = self.hint
        if self.details:
            out["details"] = self.details
        return out


class UsageError(CoursectlError):
    """Raised for bad arguments that the parser could not catch, or a missing ``--yes``."""

    exit_code = 2
    kind = "usage"


class InputError(UsageError):
    """Raised when a data file given as an argument (e.g. ``ledger import FILE.jsonl``) is invalid.

    Exit 2 like other bad arguments: the configuration (exit 3) is fine, the input is not. The message
    names every bad line as ``file:line: field: what is wrong``; ``details["problems"]`` lists them.
    """

    kind = "input"


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a configuration file: where it is and what was expected."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


class ConfigError(CoursectlError):
    """Raised when the configuration is missing or invalid; lists every problem found at once."""

    exit_code = 3
    kind = "config"
    MAX_SHOWN: ClassVar[int] = 30  # problems listed in the message (all of them are counted)
    MAX_DETAILS: ClassVar[int] = 500  # problems listed in details["problems"]

    def __init__(self, problems: Sequence[ConfigProblem] | str, *, hint: str | None = None):
        if isinstance(problems, str):
            problems = [ConfigProblem(file="", path="", message=problems)]
        self.problems = list(problems)
        lines = [str(p) for p in self.problems[: self.MAX_SHOWN]]
        listed = "\n".join(f"  - {line}" for line in lines)
        count = len(self.problems)
        message = lines[0] if count == 1 else f"{count} problems in the configuration:\n{listed}"
        if len(self.problems) > len(lines):
            message += f"\n  ... and {len(self.problems) - len(lines)} more"
        details: dict[str, Any] = {"problems": [p.__dict__ for p in self.problems[: self.MAX_DETAILS]]}
        if len(self.problems) > self.MAX_DETAILS:
            details["problems_not_listed"] = len(self.problems) - self.MAX_DETAILS
        super().__init__(message, hint=hint, details=details)


class PreconditionError(CoursectlError):
    """Raised when something that must exist first does not: a tool, a login, an image, a service."""

    exit_code = 4
    kind = "precondition"


class ToolMissing(PreconditionError):
    """Raised when an external program is not installed (not on PATH)."""

    kind = "tool-missing"


class AuthError(PreconditionError):
    """Raised when credentials are missing or refused."""

    kind = "auth"


class ExternalError(CoursectlError):
    """Raised when an external tool or service fails."""

    exit_code = 5
    kind = "external"


class ExternalTimeout(ExternalError):
    """Raised when an external tool or service does not answer within its timeout."""

    kind = "timeout"


class GateBlocked(CoursectlError):
    """Raised by the enforcing step when a gate (scan policy, quality gate, analysis) blocks a change."""

    exit_code = 6
    kind = "gate"


class BackupCorrupt(GateBlocked):
    """Raised when a backup fails verification: a part does not authenticate, is cut short or does not match the
    sizes and SHA-256 digests its manifest lists, or the manifest itself does not authenticate.
    ``details["part"]`` names the part when one is to blame."""

    kind = "backup-corrupt"


class RolloutFailed(CoursectlError):
    """Raised when a rollout ended aborted or rolled back."""

    exit_code = 7
    kind = "rollout"


class LockHeld(CoursectlError):
    """Raised when the deploy lock of an (environment, service) is held by someone else."""

    exit_code = 8
    kind = "lock"


class Interrupted(CoursectlError):
    """Raised when the user interrupts a command (Ctrl-C); recorded in the ledger before it is raised."""

    exit_code = 130
    kind = "interrupted"


EXIT_CODES: dict[int, str] = {
    0: "success, also --dry-run and 'already up to date'",
    1: "internal error (a bug)",
    2: "usage: bad flags, a confirmation needed but no --yes when not interactive",
    3: "configuration missing or invalid",
    4: "unmet precondition: tool not installed, not logged in, image or service not found",
    5: "an external tool or service failed or timed out",
    6: "a gate blocked the change: scan policy, quality gate, failed analysis before promotion",
    7: "rollout failed and was rolled back / aborted",
    8: "deploy lock held by someone else",
    130: "interrupted (recorded in the ledger first)",
}


def error_classes() -> Iterable[type[CoursectlError]]:
    """Every concrete error class, for documentation and tests."""
    stack: list[type[CoursectlError]] = [CoursectlError]
    while stack:
        cls = stack.pop()
        yield cls
        stack.extend(cls.__subclasses__())
