"""Pure builders for an image build: repository names, build arguments and OCI labels."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from coursectl.render.tags import GitState

LABEL_PREFIX = "io.coursectl"
_ARG_RE = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE | re.MULTILINE)


def repository(registry_url: str, namespace: str, service: str) -> str:
    """``<registry>/<namespace>/<service>`` (no tag): the repository an image of ``service`` goes to."""
    parts = [registry_url.rstrip("/"), namespace.strip("/"), service]
    return "/".join(p for p in parts if p)


def repo_path(namespace: str, service: str) -> str:
    """The repository name as the Registry v2 API sees it: ``<namespace>/<service>``."""
    return "/".join(p for p in (namespace.strip("/"), service) if p)


def image_ref(registry_url: str, namespace: str, service: str, tag: str) -> str:
    """``<registry>/<namespace>/<service>:<tag>``."""
    return f"{repository(registry_url, namespace, service)}:{tag}"


def rfc3339(moment: datetime) -> str:
    """``2026-01-02T03:04:05Z`` (UTC, seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def declared_args(dockerfile_text: str) -> set[str]:
    """The names of the ``ARG`` instructions of a Dockerfile."""
    return set(_ARG_RE.findall(dockerfile_text))


def build_args(
    *,
    base_image: str,
    version: str,
    git: GitState,
    build_time: datetime,
    service: str,
    declared: set[str] | None = None,
    source: str | None = None,
    port: int | None = None,
) -> dict[str, str]:
    """The build arguments: BASE_IMAGE, APP_VERSION, GIT_SHA, BUILD_TIME (+ the aliases the Dockerfile declares,
    and SERVICE / SERVICE_NAME / SERVICE_PORT: which service a Dockerfile shared by several services builds).

    Only arguments the Dockerfile declares are passed when ``declared`` is given, so the classic builder does
    not warn about unused ones; BASE_IMAGE is always passed.
    """
    values = {
        "BASE_IMAGE": base_image,
        "APP_VERSION": version,
        "VERSION": version,
        "GIT_SHA": git.sha + ("-dirty" if git.dirty else ""),
        "GIT_COMMIT": git.sha,
        "GIT_DIRTY": "true" if git.dirty else "false",
        "BUILD_TIME": rfc3339(build_time),
        "BUILD_DATE": rfc3339(build_time),
        "SERVICE": service,
        "SERVICE_NAME": service,
    }
    if source:
        values["SOURCE_URL"] = source
    if port is not None:
        values["SERVICE_PORT"] = str(port)
    if declared is None:
        return {k: values[k] for k in ("BASE_IMAGE", "APP_VERSION", "GIT_SHA", "BUILD_TIME")}
    return {k: v for k, v in values.items() if k in declared or k == "BASE_IMAGE"}


IMAGE_ARGS = ("SERVICE", "SERVICE_NAME", "SERVICE_PORT")


def image_args(args: Mapping[str, str]) -> dict[str, str]:
    """The build arguments among ``args`` that shape what the image *is* (which service a shared Dockerfile
    builds, on which port): inputs of the image, counted in its inputs digest — unlike the version metadata
    (version, git sha, build time), which changes on every commit."""
    return {k: args[k] for k in IMAGE_ARGS if k in args}


def labels(
    *,
    service: str,
    version: str,
    git: GitState,
    build_time: datetime,
    source: str | None,
    inputs_digest: str,
    base_image: str,
) -> dict[str, str]:
    """The OCI labels (revision, source, created, version, title) and coursectl's own (dirty, inputs)."""
    out = {
        "org.opencontainers.image.title": service,
        "org.opencontainers.image.revision": git.sha,
        "org.opencontainers.image.created": rfc3339(build_time),
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.base.name": base_image,
        f"{LABEL_PREFIX}.service": service,
        f"{LABEL_PREFIX}.dirty": "true" if git.dirty else "false",
        f"{LABEL_PREFIX}.inputs-digest": inputs_digest,
    }
    if source:
        out["org.opencontainers.image.source"] = source
    if git.branch:
        out[f"{LABEL_PREFIX}.branch"] = git.branch
    return out


def source_url(remote: str | None, fallback: str) -> str:
    """The OCI ``source`` label: the git remote (credentials stripped, scp-style made https) or ``fallback``."""
    if not remote:
        return fallback
    text = remote.strip()
    scp = re.match(r"^[\w.-]+@([\w.-]+):(.+)$", text)
    if scp:
        text = f"https://{scp.group(1)}/{scp.group(2)}"
    text = re.sub(r"^(\w+://)[^/@]+@", r"\1", text)
    return text


def env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """Build metadata Jenkins gives (BUILD_URL) as extra labels."""
    out: dict[str, str] = {}
    if environ.get("BUILD_URL"):
        out[f"{LABEL_PREFIX}.build-url"] = environ["BUILD_URL"]
    if environ.get("BUILD_NUMBER"):
        out[f"{LABEL_PREFIX}.build-number"] = environ["BUILD_NUMBER"]
    return out
