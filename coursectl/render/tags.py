"""The tag policy (pure): which Docker tags and which version string an image of a commit gets.

Policies (``build.tags`` in coursectl.yaml), each giving at most one tag:

    git-sha        the short commit sha (12 hex), always given even when not listed; for a dirty work tree
                   ``<sha>-dirty-<inputs 12 hex>``: a dirty build never passes for the commit, and two dirty
                   builds with different content never share a tag (the same content does, idempotently)
    branch         the branch name made a valid tag: lower case, ``[a-z0-9_.-]``, a valid first character,
                   at most 128 characters (none on a detached HEAD unless Jenkins names the branch)
    build-number   ``build-<BUILD_NUMBER>`` when Jenkins sets BUILD_NUMBER
    semver         ``1.2.3`` when HEAD carries a tag like ``v1.2.3`` and the tree is clean
    inputs         ``inputs-<12 hex>``: the content digest of the build inputs (the ``--changed-only`` key)

The version string is the semver when there is one, else the short sha; ``-dirty-<inputs>`` is appended for
a dirty tree. Docker's tag grammar: ``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from coursectl.errors import UsageError

SHORT_SHA = 12
MAX_TAG = 128
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
SEMVER_RE = re.compile(
    r"^v?(?P<core>(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*))"
    r"(?P<pre>-[0-9A-Za-z.-]+)?(?P<build>\+[0-9A-Za-z.-]+)?$"
)
INPUTS_PREFIX = "inputs-"
INPUTS_HEX = 12
ALWAYS = "git-sha"


@dataclass(frozen=True)
class GitState:
    """What the work tree says about the code being built."""

    sha: str
    branch: str | None = None
    dirty: bool = False
    tags: tuple[str, ...] = ()
    commit_time: datetime | None = None

    @property
    def short_sha(self) -> str:
        return self.sha[:SHORT_SHA]


@dataclass(frozen=True)
class TagSet:
    """The version string and the tags of one image, in policy order (the first is the primary tag)."""

    version: str
    tags: tuple[str, ...]

    @property
    def primary(self) -> str:
        return self.tags[0]


def is_valid_tag(tag: str) -> bool:
    """True when ``tag`` is a valid Docker tag."""
    return bool(TAG_RE.fullmatch(tag))


DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def validate_digest(digest: str) -> str:
    """``digest`` itself, or UsageError (exit 2) when it is not an image digest (``sha256:`` and 64 hex digits)."""
    if not DIGEST_RE.fullmatch(digest):
        shown = digest if len(digest) <= 80 else digest[:79] + "…"
        raise UsageError(
            f"{shown!r} is not an image digest",
            hint="a digest is sha256: followed by 64 lower-case hex digits (or sha512: and 128)",
        )
    return digest


def parse_env_pairs(pairs: Sequence[str], option: str = "--set-env") -> dict[str, str]:
    """``KEY=VALUE`` pairs as a mapping; UsageError for a pair without ``=``, a KEY that is not a valid variable
    name, or a VALUE with a NUL byte (no process environment can hold one)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        shown = pair if len(pair) <= 80 else pair[:79] + "…"
        if not sep:
            raise UsageError(f"{option} {shown!r}: expected KEY=VALUE")
        if not ENV_NAME_RE.fullmatch(key):
            raise UsageError(
                f"{option} {shown!r}: {key[:60]!r} is not a valid variable name",
                hint="a name is letters, digits and '_', not starting with a digit",
            )
        if "\x00" in value:
            raise UsageError(f"{option} {key}: the value contains a NUL byte")
        out[key] = value
    return out


def validate_tag(tag: str) -> str:
    """``tag`` itself, or UsageError (exit 2) saying why it cannot be a Docker tag."""
    if not is_valid_tag(tag):
        raise UsageError(
            f"{tag!r} is not a valid image tag",
            hint="a tag is 1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'",
        )
    return tag


def sanitize_branch(name: str | None) -> str | None:
    """A branch name as a valid tag (``feature/Login-UI`` → ``feature-login-ui``); None when nothing is left."""
    if not name:
        return None
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9_.-]+", "-", ascii_name.lower())
    text = re.sub(r"-{2,}", "-", text)
    text = text.lstrip(".-")[:MAX_TAG].rstrip(".-")
    return text or None


def semver_of(git_tags: Sequence[str]) -> str | None:
    """The highest semantic version among the git tags on HEAD, as a tag (``+build`` becomes ``_build``)."""
    found: list[tuple[tuple[int, ...], str]] = []
    for raw in git_tags:
        match = SEMVER_RE.match(raw.strip())
        if not match:
            continue
        core = tuple(int(part) for part in match.group("core").split("."))
        text = match.group("core") + (match.group("pre") or "") + (match.group("build") or "").replace("+", "_")
        found.append((core, text))
    if not found:
        return None
    text = max(found)[1]
    return text if is_valid_tag(text) else None


def branch_from(git: GitState, environ: Mapping[str, str]) -> str | None:
    """The branch: git's, or on a detached HEAD (Jenkins checkouts) ``BRANCH_NAME`` / ``GIT_BRANCH``."""
    if git.branch:
        return git.branch
    for key in ("BRANCH_NAME", "GIT_BRANCH"):
        value = environ.get(key, "").strip()
        if value:
            return value.removeprefix("origin/")
    return None


def version_of(git: GitState, inputs_digest: str | None = None) -> str:
    """The version string: semver of a tag on HEAD (clean tree only), else the short sha; a dirty tree's is
    ``<sha>-dirty-<12 hex of the inputs digest>`` (just ``-dirty`` when no inputs digest is known)."""
    semver = None if git.dirty else semver_of(git.tags)
    if semver:
        return semver
    if not git.dirty:
        return git.short_sha
    if inputs_digest:
        return f"{git.short_sha}-dirty-{inputs_digest.split(':', 1)[-1][:INPUTS_HEX]}"
    return f"{git.short_sha}-dirty"


def inputs_tag(inputs_digest: str) -> str:
    """``inputs-<12 hex>`` from a ``sha256:…`` (or bare hex) inputs digest."""
    hexpart = inputs_digest.split(":", 1)[-1]
    return f"{INPUTS_PREFIX}{hexpart[:INPUTS_HEX]}"


def compute_tags(
    policy: Sequence[str],
    git: GitState,
    *,
    inputs_digest: str | None = None,
    environ: Mapping[str, str] | None = None,
    extra: Sequence[str] = (),
) -> TagSet:
    """The version and the tags ``policy`` gives ``git`` (the short-sha tag always, first)."""
    env = environ or {}
    sha_tag = version_of(GitState(git.sha, dirty=git.dirty), inputs_digest)
    tags: list[str] = [sha_tag]
    for name in policy:
        tag: str | None
        if name == ALWAYS:
            continue
        if name == "branch":
            tag = sanitize_branch(branch_from(git, env))
        elif name == "build-number":
            number = env.get("BUILD_NUMBER", "").strip()
            tag = sanitize_branch(f"build-{number}") if number else None
        elif name == "semver":
            tag = None if git.dirty else semver_of(git.tags)
        elif name == "inputs":
            tag = inputs_tag(inputs_digest) if inputs_digest else None
        else:
            raise UsageError(f"unknown tag policy {name!r}", hint="git-sha, branch, build-number, semver, inputs")
        if tag and tag not in tags:
            tags.append(tag)
    for tag in extra:
        if validate_tag(tag) not in tags:
            tags.append(tag)
    for tag in tags:
        validate_tag(tag)
    return TagSet(version=version_of(git, inputs_digest), tags=tuple(tags))
