"""Pure argv builders for the scanners (Trivy, Snyk): data in, a command line out; nothing is run here."""

from __future__ import annotations

from dataclasses import dataclass

SCAN_KINDS = ("image", "fs", "config")
TRIVY_KINDS = (*SCAN_KINDS, "sbom")
"""``sbom``: Trivy reads the image's recorded SBOM (``trivy sbom FILE``) instead of pulling the image again."""


@dataclass(frozen=True)
class TrivyOptions:
    """What changes Trivy's command line besides the target."""

    timeout: float = 900.0
    cache_dir: str | None = None
    offline: bool = False


def _seconds(value: float) -> str:
    return f"{int(value)}s" if float(value).is_integer() else f"{value:g}s"


def trivy_argv(kind: str, target: str, options: TrivyOptions | None = None) -> list[str]:
    """``trivy image|fs|config|sbom --format json ... TARGET``.

    The policy is applied by coursectl, so Trivy reports everything (no ``--severity``/``--ignore-unfixed``) and
    exits 0 with findings (``--exit-code 0``): a non-zero exit then always means Trivy itself failed.
    """
    opts = options or TrivyOptions()
    if kind not in TRIVY_KINDS:
        raise ValueError(f"unknown scan kind {kind!r}; expected one of {', '.join(TRIVY_KINDS)}")
    argv = ["trivy", kind, "--format", "json", "--quiet", "--exit-code", "0", "--timeout", _seconds(opts.timeout)]
    if kind == "image":
        argv += ["--scanners", "vuln,secret"]
    elif kind == "sbom":  # an SBOM lists packages, not files: vulnerabilities are all Trivy can find in it
        argv += ["--scanners", "vuln"]
    elif kind == "fs":
        argv += ["--scanners", "vuln,secret,misconfig"]
    if opts.cache_dir:
        argv += ["--cache-dir", opts.cache_dir]
    if opts.offline:
        argv += ["--skip-db-update", "--skip-java-db-update", "--skip-check-update", "--offline-scan"]
    argv.append(target)
    return argv


def snyk_argv(kind: str, target: str, *, dockerfile: str | None = None) -> list[str]:
    """``snyk container test IMAGE --json`` for images, ``snyk test --json PATH`` for a folder.

    ``config`` (IaC) scans are Trivy's job here: ValueError for that kind.
    """
    if kind == "image":
        argv = ["snyk", "container", "test", target, "--json"]
        if dockerfile:
            argv.append(f"--file={dockerfile}")
        return argv
    if kind == "fs":
        return ["snyk", "test", "--json", target]
    raise ValueError(f"snyk is not used for --kind {kind}")
