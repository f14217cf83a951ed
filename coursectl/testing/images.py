"""Fakes of the docker engine and the registry for use-case and CLI tests of build/push/images."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from coursectl.adapters.docker_engine import BuildFailed
from coursectl.domain import BuildResult, PushResult, TagInfo

BASE_ID = "sha256:" + "b" * 64


class FakeBuilder:
    """An engine that "builds" instantly; services in ``fail`` fail with a two-line log."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.images: dict[str, str] = {"coursectl/base:bookworm": BASE_ID}
        self.repo_digest: dict[str, list[str]] = {}
        self.fail = fail or set()
        self.builds: list[str] = []
        self.pushes: list[str] = []
        self.registry: FakeRegistry | None = None
        self.lock = threading.Lock()

    def ping(self) -> None:
        pass

    def image_id(self, ref: str) -> str | None:
        return self.images.get(ref)

    def repo_digests(self, ref: str) -> list[str]:
        return self.repo_digest.get(self.images.get(ref, ""), [])

    def build(
        self,
        *,
        context: Path,
        dockerfile: str,
        tag: str,
        buildargs: Mapping[str, str],
        labels: Mapping[str, str],
        on_line: Callable[[str], None] | None = None,
        **_: Any,
    ) -> BuildResult:
        service = buildargs.get("SERVICE") or dockerfile.split("/")[0]  # a shared Dockerfile is told the service
        with self.lock:
            self.builds.append(service)
        if on_line:
            on_line("Step 1/3 : FROM coursectl/base:bookworm")
        self.last_args = dict(buildargs)
        self.last_labels = dict(labels)
        if service in self.fail:
            raise BuildFailed(f"build of {tag} failed: exit 1", details={"log_tail": ["RUN false", "exit 1"]})
        image_id = "sha256:" + (service[0] * 64)
        with self.lock:
            self.images[tag] = image_id
        return BuildResult(image_id, ("done",))

    def tag(self, image: str, repository: str, tag: str) -> None:
        with self.lock:
            self.images[f"{repository}:{tag}"] = self.images.get(image, image)

    def push(
        self,
        repository: str,
        tag: str,
        *,
        auth: Mapping[str, str] | None,
        registry: str,
        on_line: Callable[[str], None] | None = None,
    ) -> PushResult:
        image_id = self.images[f"{repository}:{tag}"]
        digest = "sha256:" + image_id[-1] * 63 + "d"
        with self.lock:
            self.pushes.append(f"{repository}:{tag}")
            self.repo_digest.setdefault(image_id, []).append(f"{repository}@{digest}")
        assert self.registry is not None
        self.registry.set(repository.split("/", 1)[1], tag, digest)
        return PushResult(tag, digest, True)


class FakeRegistry:
    """A registry in a dict: (repository, tag) → digest, and digest → image config (a default one unless given).

    Like a real registry: an unknown manifest is ``None`` for a digest lookup, an empty tag list for a missing
    repository, and a PreconditionError (exit 4) when its config is read or it is re-tagged.
    """

    DEFAULT_CONFIG: dict[str, Any] = {
        "created": "2026-01-01T00:00:00Z",
        "config": {"Labels": {"org.opencontainers.image.version": "v"}},
    }

    def __init__(self) -> None:
        self.manifests: dict[tuple[str, str], str] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.retags: list[str] = []
        self.lock = threading.Lock()

    def set(self, repo: str, tag: str, digest: str, config: Mapping[str, Any] | None = None) -> None:
        with self.lock:
            self.manifests[(repo, tag)] = digest
            if config is not None:
                self.configs[digest] = dict(config)

    def ping(self) -> None:
        pass

    def tags(self, repo: str) -> list[str]:
        return sorted(t for r, t in self.manifests if r == repo)

    def manifest_digest(self, repo: str, ref: str) -> str | None:
        if ref.startswith("sha256:"):
            return ref if ref in {d for (r, _), d in self.manifests.items() if r == repo} else None
        return self.manifests.get((repo, ref))

    def _known(self, repo: str, ref: str) -> str:
        digest = self.manifest_digest(repo, ref)
        if digest is None:
            from coursectl.errors import PreconditionError

            raise PreconditionError(f"image {repo}:{ref} is not in registry fake")
        return digest

    def tag_info(self, repo: str, tag: str) -> TagInfo:
        digest = self.manifest_digest(repo, tag)
        if digest is None:
            return TagInfo(tag, None)
        config = self.image_config(repo, digest)
        return TagInfo(tag, digest, config.get("created"), (config.get("config") or {}).get("Labels") or {})

    def image_config(self, repo: str, ref: str) -> dict[str, Any]:
        return dict(self.configs.get(self._known(repo, ref), self.DEFAULT_CONFIG))

    def put_tag(self, repo: str, source_ref: str, tag: str) -> str:
        digest = self._known(repo, source_ref)
        self.set(repo, tag, digest)
        self.retags.append(f"{repo}:{tag}")
        return digest
