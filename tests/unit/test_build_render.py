"""Pure builders of a build: repository names, build arguments, OCI labels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from coursectl.render.image import (
    build_args,
    declared_args,
    image_ref,
    labels,
    repo_path,
    repository,
    source_url,
)
from coursectl.render.tags import GitState

SHA = "0123456789abcdef0123456789abcdef01234567"
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_names() -> None:
    assert repository("127.0.0.1:5000", "course-platform", "user") == "127.0.0.1:5000/course-platform/user"
    assert repository("127.0.0.1:5000", "", "user") == "127.0.0.1:5000/user"
    assert repo_path("course-platform", "user") == "course-platform/user"
    assert image_ref("r:5000", "ns", "svc", "abc") == "r:5000/ns/svc:abc"


def test_declared_args() -> None:
    text = "ARG BASE_IMAGE=x\nFROM $BASE_IMAGE AS build\n  arg GIT_SHA\nARG APP_VERSION=dev\nRUN echo ARG NOPE\n"
    assert declared_args(text) == {"BASE_IMAGE", "GIT_SHA", "APP_VERSION"}


def test_build_args_only_what_the_dockerfile_declares() -> None:
    git = GitState(SHA, "main")
    args = build_args(base_image="b:1", version="0123456789ab", git=git, build_time=WHEN, service="user",
                      declared={"BASE_IMAGE", "APP_VERSION", "GIT_SHA", "BUILD_TIME"})
    assert args == {
        "BASE_IMAGE": "b:1",
        "APP_VERSION": "0123456789ab",
        "GIT_SHA": SHA,
        "BUILD_TIME": "2026-01-02T03:04:05Z",
    }
    assert build_args(base_image="b:1", version="v", git=git, build_time=WHEN, service="user",
                      declared=set()) == {"BASE_IMAGE": "b:1"}


def test_dirty_tree_is_marked_in_args_and_labels() -> None:
    git = GitState(SHA, "main", dirty=True)
    args = build_args(base_image="b", version="0123456789ab-dirty", git=git, build_time=WHEN, service="s",
                      declared={"GIT_SHA", "APP_VERSION", "GIT_DIRTY"})
    assert args["GIT_SHA"] == SHA + "-dirty"
    assert args["GIT_DIRTY"] == "true"
    lab = labels(service="s", version="0123456789ab-dirty", git=git, build_time=WHEN, source="https://x/y",
                 inputs_digest="sha256:ab", base_image="b")
    assert lab["io.coursectl.dirty"] == "true"
    assert lab["org.opencontainers.image.version"] == "0123456789ab-dirty"


def test_oci_labels() -> None:
    lab = labels(service="user", version="1.2.3", git=GitState(SHA, "main"), build_time=WHEN,
                 source="https://git.example/course", inputs_digest="sha256:ab", base_image="coursectl/base:bookworm")
    assert lab["org.opencontainers.image.revision"] == SHA
    assert lab["org.opencontainers.image.source"] == "https://git.example/course"
    assert lab["org.opencontainers.image.created"] == "2026-01-02T03:04:05Z"
    assert lab["org.opencontainers.image.version"] == "1.2.3"
    assert lab["io.coursectl.inputs-digest"] == "sha256:ab"
    assert lab["io.coursectl.dirty"] == "false"


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        (None, "fallback"),
        ("git@github.com:org/repo.git", "https://github.com/org/repo.git"),
        ("https://user:token@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("/srv/git/repo", "/srv/git/repo"),
    ],
)
def test_source_url_never_carries_credentials(remote: str | None, expected: str) -> None:
    assert source_url(remote, "fallback") == expected
