"""Pure builders for syft: the command line and the environment of one SBOM run; nothing is run here.

Registry credentials travel in syft's own environment variables (``SYFT_REGISTRY_AUTH_*``), never on the command
line, where every user of the machine could read them.
"""

from __future__ import annotations

from collections.abc import Mapping

SBOM_FORMATS = ("cyclonedx-json", "spdx-json")
"""What syft writes for coursectl (both are JSON documents coursectl can read back)."""

SOURCES = ("docker", "registry", "docker-archive", "oci-archive", "oci-dir", "dir")
"""Where syft reads the image from: the engine, the registry, or an image saved on disk."""

EXTENSIONS = {"cyclonedx-json": "cdx.json", "spdx-json": "spdx.json"}


def syft_argv(
    source: str, target: str, outputs: Mapping[str, str], *, scope: str = "squashed", executable: str = "syft"
) -> list[str]:
    """``syft scan --from SOURCE TARGET --scope squashed --output FORMAT=PATH ...``.

    ``outputs`` maps each format to the file syft writes it to (one run, several documents). ``squashed`` is
    what the running container sees: a package deleted in a later layer is not reported. No ``--quiet``: with
    it syft says nothing at all when it fails, and its error line on stderr is what names the cause.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown syft source {source!r}; expected one of {', '.join(SOURCES)}")
    if not outputs:
        raise ValueError("syft needs at least one output")
    unknown = [f for f in outputs if f not in SBOM_FORMATS]
    if unknown:
        raise ValueError(f"unknown SBOM format {', '.join(unknown)}; expected one of {', '.join(SBOM_FORMATS)}")
    if scope not in ("squashed", "all-layers"):
        raise ValueError(f"unknown scope {scope!r}; expected squashed or all-layers")
    argv = [executable, "scan", "--from", source, target, "--scope", scope]
    for fmt in SBOM_FORMATS:  # a fixed order, whatever order the mapping has
        if fmt in outputs:
            argv += ["--output", f"{fmt}={outputs[fmt]}"]
    return argv


def syft_env(
    *,
    docker_host: str | None = None,
    registry: str | None = None,
    username: str | None = None,
    password: str | None = None,
    insecure_http: bool = False,
) -> dict[str, str]:
    """The variables added to syft's environment.

    syft never looks for a newer release (there is no network here, and a run must not depend on one);
    ``docker_host`` is the engine of the ``docker`` source; ``registry`` with ``username``/``password`` is the
    authority and the basic credentials of the ``registry`` source; ``insecure_http`` talks plain HTTP to it
    (a loopback registry).
    """
    env = {"SYFT_CHECK_FOR_APP_UPDATE": "false"}
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    if registry:
        if insecure_http:
            env["SYFT_REGISTRY_INSECURE_USE_HTTP"] = "true"
        if username:
            env["SYFT_REGISTRY_AUTH_AUTHORITY"] = registry
            env["SYFT_REGISTRY_AUTH_USERNAME"] = username
            env["SYFT_REGISTRY_AUTH_PASSWORD"] = password or ""
    return env


def is_loopback(registry: str) -> bool:
    """Whether ``host[:port]`` is on this machine (such registries speak plain HTTP here)."""
    if registry.startswith("["):  # [::1]:5000
        host = registry[1:].split("]", 1)[0]
    else:
        host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    return host in ("localhost", "::1") or host.startswith("127.")
