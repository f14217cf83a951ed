"""The Registry contract (tests/contract/test_registry_contract.py) against the real Docker Registry v2 of the
sandbox (htpasswd credentials), through coursectl's client: a tiny image with known labels is pushed once."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest

from coursectl.testing.drill import free_port
from tests.contract.test_registry_contract import (  # noqa: F401 - collected here with the real registry's rig
    LABELS,
    Rig,
    test_a_tag_has_its_manifest_digest_and_a_digest_is_its_own,
    test_ping_answers,
    test_put_tag_retags_the_same_manifest,
    test_reading_or_retagging_a_missing_image_is_a_precondition_error,
    test_tag_info_reads_the_image_config,
    test_what_does_not_exist_is_none_or_empty,
)
from tests.contract.test_registry_contract import (  # noqa: F401 - the guarded registries' rules, collected here
    guarded_refused_credentials_are_an_auth_error as test_refused_credentials_are_an_auth_error,
)
from tests.contract.test_registry_contract import (  # noqa: F401
    guarded_unreachable_is_an_external_error as test_an_unreachable_registry_is_an_external_error,
)

pytestmark = pytest.mark.integration

REPO = "contract/app"


@pytest.fixture(scope="module")
def pushed(sandbox: Any, docker_client: Any) -> tuple[str, str]:
    """``(registry host:port, digest)`` of contract/app:v1, a one-file image labelled with LABELS."""
    registry = f"127.0.0.1:{sandbox.settings.registry_port}"
    labels = "".join(f' "{k}"="{v}"' for k, v in LABELS.items())
    dockerfile = f"FROM scratch\nCOPY hello.txt /hello.txt\nLABEL{labels}\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile), ("hello.txt", b"contract\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    ref = f"{registry}/{REPO}"
    docker_client.images.build(fileobj=buf, custom_context=True, tag=f"{ref}:v1", rm=True)
    creds = sandbox.credentials()
    for line in docker_client.images.push(
        ref, tag="v1", auth_config=creds.auth_config(), stream=True, decode=True
    ):
        assert "error" not in line, line
    image = docker_client.images.get(f"{ref}:v1")
    [digest] = [d.split("@", 1)[1] for d in image.attrs["RepoDigests"] if d.startswith(ref + "@")]
    return registry, digest


@pytest.fixture
def rig(sandbox: Any, pushed: tuple[str, str]) -> Rig:
    from coursectl.adapters.registry_v2 import RegistryClient

    registry, digest = pushed
    creds = sandbox.credentials()
    return Rig(
        RegistryClient(registry, username=creds.username, password=creds.password, timeout=10),
        REPO,
        "v1",
        digest,
        LABELS,
        wrong_password=lambda: RegistryClient(registry, username=creds.username, password="not-the-password"),
        unreachable=lambda: RegistryClient(f"127.0.0.1:{free_port()}", username="u", password="p", timeout=2),
    )
