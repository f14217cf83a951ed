"""The Registry contract, run against every implementation: the in-memory fake here, the real Docker Registry v2
(the sandbox's, with its credentials) through coursectl's client in ``tests/integration/test_registry_v2_real.py``,
which collects these same tests with its own ``rig``.

Rules stated per capability: *guarded* registries check credentials (a refused password is an AuthError,
exit 4) and can be unreachable (an ExternalError, exit 5); the fake has neither, so those two rules
(``guarded_*`` below) are collected only by the real registry's module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from coursectl.errors import AuthError, ExternalError, PreconditionError

LABELS = {"org.opencontainers.image.version": "1.2.3", "org.opencontainers.image.revision": "c0ffee"}


@dataclass
class Rig:
    registry: Any  # Registry
    repo: str  # a repository that holds ``tag``
    tag: str
    digest: str  # the manifest digest of repo:tag
    labels: dict[str, str]  # the labels of its image config
    wrong_password: Callable[[], Any] | None = None  # the same registry with refused credentials
    unreachable: Callable[[], Any] | None = None  # the same kind of client pointed at nothing


@pytest.fixture
def rig() -> Rig:
    from coursectl.testing.images import FakeRegistry

    registry = FakeRegistry()
    digest = "sha256:" + "a" * 64
    registry.set("contract/app", "v1", digest, {"created": "2026-01-02T03:04:05Z", "config": {"Labels": LABELS}})
    return Rig(registry, "contract/app", "v1", digest, LABELS)


def test_ping_answers(rig: Rig) -> None:
    rig.registry.ping()


def test_a_tag_has_its_manifest_digest_and_a_digest_is_its_own(rig: Rig) -> None:
    assert rig.tag in rig.registry.tags(rig.repo)
    assert rig.registry.manifest_digest(rig.repo, rig.tag) == rig.digest
    assert rig.registry.manifest_digest(rig.repo, rig.digest) == rig.digest


def test_what_does_not_exist_is_none_or_empty(rig: Rig) -> None:
    assert rig.registry.manifest_digest(rig.repo, "no-such-tag") is None
    assert rig.registry.manifest_digest(rig.repo, "sha256:" + "0" * 64) is None
    assert rig.registry.tags("contract/no-such-repository") == []
    info = rig.registry.tag_info(rig.repo, "no-such-tag")
    assert (info.tag, info.digest) == ("no-such-tag", None)


def test_tag_info_reads_the_image_config(rig: Rig) -> None:
    info = rig.registry.tag_info(rig.repo, rig.tag)
    assert (info.tag, info.digest) == (rig.tag, rig.digest)
    assert {k: info.labels.get(k) for k in rig.labels} == rig.labels
    assert info.created and info.created.startswith("20")
    config = rig.registry.image_config(rig.repo, rig.digest)
    assert (config.get("config") or {}).get("Labels", {}).get("org.opencontainers.image.version") == "1.2.3"


def test_put_tag_retags_the_same_manifest(rig: Rig) -> None:
    assert rig.registry.put_tag(rig.repo, rig.tag, "contract-retag") == rig.digest
    assert rig.registry.manifest_digest(rig.repo, "contract-retag") == rig.digest
    assert {rig.tag, "contract-retag"} <= set(rig.registry.tags(rig.repo))
    assert rig.registry.put_tag(rig.repo, rig.digest, "contract-by-digest") == rig.digest  # from a digest too


def test_reading_or_retagging_a_missing_image_is_a_precondition_error(rig: Rig) -> None:
    with pytest.raises(PreconditionError, match="no-such-tag"):
        rig.registry.put_tag(rig.repo, "no-such-tag", "contract-never")
    with pytest.raises(PreconditionError):
        rig.registry.image_config(rig.repo, "no-such-tag")
    assert rig.registry.manifest_digest(rig.repo, "contract-never") is None


# Rules of guarded registries only (credentials, a network in between): not collected here (the fake has neither);
# the real registry's module collects them under test_ names.


def guarded_refused_credentials_are_an_auth_error(rig: Rig) -> None:
    assert rig.wrong_password is not None
    with pytest.raises(AuthError):
        rig.wrong_password().ping()
    with pytest.raises(AuthError):
        rig.wrong_password().tags(rig.repo)


def guarded_unreachable_is_an_external_error(rig: Rig) -> None:
    assert rig.unreachable is not None
    with pytest.raises(ExternalError):
        rig.unreachable().ping()
