"""The Docker engine through the docker SDK (imported lazily): build, tag, push, inspect images.

Errors are translated here: no engine → PreconditionError (exit 4, hint ``coursectl sandbox up``); a failed
build → BuildFailed (exit 5) with the last lines of its log; a push the registry refuses → AuthError (4);
a registry that does not answer → ExternalError (5).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coursectl.domain import BuildResult, PushResult
from coursectl.errors import AuthError, CoursectlError, ExternalError, PreconditionError

log = logging.getLogger(__name__)

LineSink = Callable[[str], None]
LOG_TAIL = 25
API_VERSION = "1.41"  # Docker 20.10 (Debian bookworm); newer engines still speak it
NO_ENGINE_HINT = "run `coursectl sandbox up` (or set DOCKER_HOST / the environment's docker_host)"
_AUTH_WORDS = ("unauthorized", "authentication required", "denied", "no basic auth credentials", "401")
_UNREACHABLE_WORDS = ("connection refused", "dial tcp", "no such host", "i/o timeout", "connection reset", "eof")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class BuildFailed(ExternalError):
    """Raised when an image build fails; ``details['log_tail']`` holds the last lines of its log."""

    kind = "build-failed"


@dataclass
class _Tail:
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_TAIL))

    def add(self, text: str) -> list[str]:
        new = [_ANSI.sub("", line).rstrip() for line in text.splitlines()]
        new = [line for line in new if line.strip()]
        self.lines.extend(new)
        return new


def _no_engine(base_url: str | None, exc: BaseException) -> PreconditionError:
    where = base_url or "the default socket"
    return PreconditionError(
        f"no Docker engine answers at {where}: {exc}", hint=NO_ENGINE_HINT, details={"docker_host": where}
    )


def push_error(message: str, registry: str) -> CoursectlError:
    """The coursectl error for a push error message from the engine."""
    low = message.lower()
    if any(word in low for word in _AUTH_WORDS):
        return AuthError(
            f"registry {registry} refused the push: {message}",
            hint="check the registry username/password references (`coursectl config show`)",
        )
    if any(word in low for word in _UNREACHABLE_WORDS):
        return ExternalError(
            f"registry {registry} is unreachable: {message}",
            hint="check registry.url, or run `coursectl sandbox up` for the local registry",
        )
    return ExternalError(f"push to {registry} failed: {message}")


class DockerEngine:
    """One Docker engine (a fresh API client per thread: the SDK's session is not thread-safe)."""

    def __init__(self, base_url: str | None = None, *, timeout: float = 120.0) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._local = threading.local()

    def _api(self) -> Any:
        api = getattr(self._local, "api", None)
        if api is not None:
            return api
        import docker
        import requests
        from docker.errors import DockerException

        kwargs: dict[str, Any] = {"timeout": int(self.timeout), "version": API_VERSION}
        if self.base_url:
            kwargs["base_url"] = self.base_url
        else:
            kwargs.update(docker.utils.kwargs_from_env())
            kwargs["version"] = API_VERSION
        url = str(kwargs.get("base_url") or "unix:///var/run/docker.sock")
        if url.startswith("unix://") and not Path(url.removeprefix("unix://")).exists():
            # checked first: the SDK leaks the socket of a failed connect to a missing path
            raise _no_engine(self.base_url, FileNotFoundError(f"{url.removeprefix('unix://')} does not exist"))
        try:
            api = docker.APIClient(**kwargs)
        except DockerException as exc:
            raise _no_engine(self.base_url, exc) from exc
        try:
            api.ping()
        except (DockerException, requests.RequestException) as exc:
            api.close()
            raise _no_engine(self.base_url, exc) from exc
        self._local.api = api
        return api

    def ping(self) -> None:
        """Check that the engine answers (PreconditionError, exit 4, when not)."""
        self._api()

    def _call(self, what: str, fn: Callable[[], Any], *, missing_ok: bool = False) -> Any:
        """``fn()`` with the SDK's errors translated; with ``missing_ok`` a NotFound is returned as None."""
        import requests
        from docker.errors import DockerException, NotFound

        try:
            return fn()
        except NotFound as exc:
            if missing_ok:
                return None
            raise PreconditionError(f"docker engine: {what}: not found ({exc.explanation or exc})") from exc
        except requests.ConnectionError as exc:
            raise _no_engine(self.base_url, exc) from exc
        except (DockerException, requests.RequestException) as exc:
            raise ExternalError(f"docker engine: {what} failed: {exc}") from exc

    # --- images ------------------------------------------------------------------------------------------

    def inspect(self, ref: str) -> dict[str, Any] | None:
        """The engine's view of an image, None when it does not have it."""
        result: dict[str, Any] | None = self._call(
            f"inspect {ref}", lambda: self._api().inspect_image(ref), missing_ok=True
        )
        return result

    def image_id(self, ref: str) -> str | None:
        """The id (``sha256:…``) of a local image, None when the engine does not have it."""
        info = self.inspect(ref)
        return str(info["Id"]) if info else None

    def repo_digests(self, ref: str) -> list[str]:
        """``repo@sha256:…`` of a local image: the manifests it is known to have in registries."""
        info = self.inspect(ref)
        return list(info.get("RepoDigests") or []) if info else []

    def build(
        self,
        *,
        context: Path,
        dockerfile: str,
        tag: str,
        buildargs: Mapping[str, str],
        labels: Mapping[str, str],
        on_line: LineSink | None = None,
        timeout: float | None = None,
        network_mode: str = "host",
        nocache: bool = False,
    ) -> BuildResult:
        """Build ``dockerfile`` (relative to ``context``) as ``tag``; BuildFailed with the log tail on failure."""
        import requests
        from docker.errors import APIError, DockerException

        api = self._api()
        tail = _Tail()
        image_id: str | None = None
        error: str | None = None
        try:
            stream = api.build(
                path=str(context),
                dockerfile=dockerfile,
                tag=tag,
                buildargs=dict(buildargs),
                labels=dict(labels),
                network_mode=network_mode,
                rm=True,
                forcerm=True,
                pull=False,
                nocache=nocache,
                decode=True,
                timeout=int(timeout or self.timeout),
            )
            for chunk in stream:
                if "stream" in chunk:
                    for line in tail.add(chunk["stream"]):
                        if on_line:
                            on_line(line)
                if "aux" in chunk and isinstance(chunk["aux"], dict) and chunk["aux"].get("ID"):
                    image_id = chunk["aux"]["ID"]
                if "error" in chunk:
                    error = str(chunk.get("error") or chunk.get("errorDetail", {}).get("message", "error"))
                    tail.add(error)
        except requests.ConnectionError as exc:
            raise _no_engine(self.base_url, exc) from exc
        except requests.ReadTimeout as exc:
            raise BuildFailed(f"build of {tag} timed out", details={"log_tail": list(tail.lines)}) from exc
        except (APIError, DockerException, requests.RequestException) as exc:
            error = str(exc)
            tail.add(error)
        if error or not image_id:
            if not error:
                image_id = self.image_id(tag)
                if image_id:
                    return BuildResult(image_id, tuple(tail.lines))
            raise BuildFailed(
                f"build of {tag} failed: {error or 'no image id reported'}",
                details={"log_tail": list(tail.lines)},
            )
        return BuildResult(image_id, tuple(tail.lines))

    def tag(self, image: str, repository: str, tag: str) -> None:
        """Tag a local image as ``repository:tag``; PreconditionError (exit 4) when the image is not there."""
        self._call(f"tag {repository}:{tag}", lambda: self._api().tag(image, repository, tag, force=True))

    def push(
        self,
        repository: str,
        tag: str,
        *,
        auth: Mapping[str, str] | None,
        registry: str,
        on_line: LineSink | None = None,
    ) -> PushResult:
        """Push ``repository:tag`` with ``auth`` (passed in the API header, never argv); its digest."""
        import requests
        from docker.errors import APIError, DockerException

        api = self._api()
        digest: str | None = None
        uploaded = False
        try:
            stream = api.push(
                repository, tag=tag, auth_config=dict(auth) if auth else None, stream=True, decode=True
            )
            for chunk in stream:
                if "error" in chunk:
                    message = str(chunk.get("errorDetail", {}).get("message") or chunk["error"])
                    raise push_error(message, registry)
                status = str(chunk.get("status", ""))
                if status in ("Pushed", "Pushing"):
                    uploaded = True
                aux = chunk.get("aux")
                if isinstance(aux, dict) and aux.get("Digest"):
                    digest = str(aux["Digest"])
                if on_line and status and status not in ("Pushing", "Preparing", "Waiting"):
                    on_line(f"{status} {chunk.get('id', '')}".strip())
        except requests.ConnectionError as exc:
            raise _no_engine(self.base_url, exc) from exc
        except APIError as exc:
            raise push_error(str(exc.explanation or exc), registry) from exc
        except (DockerException, requests.RequestException) as exc:
            raise ExternalError(f"push of {repository}:{tag} failed: {exc}") from exc
        if not digest:
            raise ExternalError(f"push of {repository}:{tag} reported no digest")
        return PushResult(tag, digest, uploaded)

    def close(self) -> None:
        api = getattr(self._local, "api", None)
        if api is not None:
            api.close()
            self._local.api = None
