"""The tag policy: branch sanitizing, semver, dirty trees, detached HEADs — as tables."""

from __future__ import annotations

import pytest

from coursectl.errors import UsageError
from coursectl.render.tags import (
    GitState,
    compute_tags,
    inputs_tag,
    is_valid_tag,
    sanitize_branch,
    semver_of,
    version_of,
)

SHA = "0123456789abcdef0123456789abcdef01234567"
ALL = ["git-sha", "branch", "build-number", "semver", "inputs"]
DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("branch", "expected"),
    [
        ("main", "main"),
        ("feature/login-ui", "feature-login-ui"),
        ("Feature/Login_UI", "feature-login_ui"),
        ("release/1.2", "release-1.2"),
        ("bugfix//double--slash", "bugfix-double-slash"),
        ("-leading-dash", "leading-dash"),
        (".hidden", "hidden"),
        ("café/ünïcodé", "cafe-unicode"),
        ("søren/fix", "sren-fix"),
        ("修正/バグ", None),
        ("日本-fix", "fix"),
        ("a" * 200, "a" * 128),
        ("x/" + "b" * 200, ("x-" + "b" * 200)[:128]),
        ("ends-with-dot.", "ends-with-dot"),
        ("", None),
        (None, None),
        ("////", None),
    ],
)
def test_sanitize_branch(branch: str | None, expected: str | None) -> None:
    got = sanitize_branch(branch)
    assert got == expected
    if got is not None:
        assert is_valid_tag(got) and len(got) <= 128 and got == got.lower()


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ((), None),
        (("v1.2.3",), "1.2.3"),
        (("1.2.3",), "1.2.3"),
        (("v1.2.3-rc.1",), "1.2.3-rc.1"),
        (("v1.2.3+build.7",), "1.2.3_build.7"),
        (("v1.2", "latest", "v01.2.3"), None),
        (("v1.2.3", "v1.10.0", "v1.9.9"), "1.10.0"),
        (("release-2024",), None),
    ],
)
def test_semver_of(tags: tuple[str, ...], expected: str | None) -> None:
    assert semver_of(tags) == expected


@pytest.mark.parametrize(
    ("git", "environ", "version", "tags"),
    [
        (GitState(SHA, "main"), {}, "0123456789ab", ("0123456789ab", "main", "inputs-abababababab")),
        (
            GitState(SHA, "feature/Login"),
            {"BUILD_NUMBER": "42"},
            "0123456789ab",
            ("0123456789ab", "feature-login", "build-42", "inputs-abababababab"),
        ),
        # dirty: the sha tag and the version are marked with the content (inputs digest), no semver
        (
            GitState(SHA, "main", dirty=True, tags=("v2.0.0",)),
            {},
            "0123456789ab-dirty-abababababab",
            ("0123456789ab-dirty-abababababab", "main", "inputs-abababababab"),
        ),
        # a release tag on a clean HEAD
        (
            GitState(SHA, "main", tags=("v2.0.0",)),
            {},
            "2.0.0",
            ("0123456789ab", "main", "2.0.0", "inputs-abababababab"),
        ),
        # detached HEAD: no branch tag...
        (GitState(SHA, None), {}, "0123456789ab", ("0123456789ab", "inputs-abababababab")),
        # ...unless Jenkins names the branch
        (
            GitState(SHA, None),
            {"BRANCH_NAME": "PR-17", "BUILD_NUMBER": "3"},
            "0123456789ab",
            ("0123456789ab", "pr-17", "build-3", "inputs-abababababab"),
        ),
        (
            GitState(SHA, None),
            {"GIT_BRANCH": "origin/develop"},
            "0123456789ab",
            ("0123456789ab", "develop", "inputs-abababababab"),
        ),
        # a branch named like the sha is not repeated
        (GitState(SHA, "0123456789ab"), {}, "0123456789ab", ("0123456789ab", "inputs-abababababab")),
    ],
)
def test_compute_tags(git: GitState, environ: dict[str, str], version: str, tags: tuple[str, ...]) -> None:
    result = compute_tags(ALL, git, inputs_digest=DIGEST, environ=environ)
    assert result.version == version
    assert result.tags == tags
    assert all(is_valid_tag(t) for t in result.tags)


def test_sha_tag_is_always_there_and_first() -> None:
    result = compute_tags(["branch"], GitState(SHA, "main"), inputs_digest=DIGEST)
    assert result.tags == ("0123456789ab", "main")
    assert result.primary == "0123456789ab"


def test_extra_tags_are_validated() -> None:
    assert compute_tags([], GitState(SHA), extra=["latest"]).tags == ("0123456789ab", "latest")
    with pytest.raises(UsageError, match="not a valid image tag"):
        compute_tags([], GitState(SHA), extra=["Not Valid"])
    with pytest.raises(UsageError):
        compute_tags([], GitState(SHA), extra=["-x"])
    with pytest.raises(UsageError):
        compute_tags([], GitState(SHA), extra=["x" * 129])


def test_two_dirty_builds_with_different_content_never_share_a_tag() -> None:
    dirty = GitState(SHA, "main", dirty=True)
    one = compute_tags(ALL, dirty, inputs_digest="sha256:" + "1" * 64)
    two = compute_tags(ALL, dirty, inputs_digest="sha256:" + "2" * 64)
    again = compute_tags(ALL, dirty, inputs_digest="sha256:" + "1" * 64)
    assert one.version == "0123456789ab-dirty-111111111111" and two.version == "0123456789ab-dirty-222222222222"
    assert one.primary != two.primary and one.primary == again.primary  # the same content: the same tag
    assert compute_tags(ALL, GitState(SHA, "main"), inputs_digest="sha256:" + "1" * 64).primary == "0123456789ab"


def test_version_and_inputs_tag() -> None:
    assert version_of(GitState(SHA, dirty=True, tags=("v1.0.0",))) == "0123456789ab-dirty"
    assert version_of(GitState(SHA, dirty=True), "sha256:" + "c" * 64) == "0123456789ab-dirty-cccccccccccc"
    assert inputs_tag(DIGEST) == "inputs-abababababab"
    assert inputs_tag("cdcdcdcdcdcdcdcd") == "inputs-cdcdcdcdcdcd"
