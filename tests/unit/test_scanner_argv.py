"""The scanners' command lines, asserted exactly (Kamal's command tests are the model)."""

from __future__ import annotations

import pytest

from coursectl.render.scanners import TrivyOptions, snyk_argv, trivy_argv


def test_trivy_image() -> None:
    assert " ".join(trivy_argv("image", "127.0.0.1:5000/p/user:abc")) == (
        "trivy image --format json --quiet --exit-code 0 --timeout 900s --scanners vuln,secret "
        "127.0.0.1:5000/p/user:abc"
    )


def test_trivy_fs_with_cache_offline_and_timeout() -> None:
    argv = trivy_argv("fs", "/src/user", TrivyOptions(timeout=90.5, cache_dir="/cache", offline=True))
    assert argv == [
        "trivy", "fs", "--format", "json", "--quiet", "--exit-code", "0", "--timeout", "90.5s",
        "--scanners", "vuln,secret,misconfig", "--cache-dir", "/cache",
        "--skip-db-update", "--skip-java-db-update", "--skip-check-update", "--offline-scan", "/src/user",
    ]


def test_trivy_config() -> None:
    assert trivy_argv("config", "svc", TrivyOptions(timeout=60)) == [
        "trivy", "config", "--format", "json", "--quiet", "--exit-code", "0", "--timeout", "60s", "svc"]


def test_trivy_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown scan kind"):
        trivy_argv("vm", "x")


def test_snyk_container_with_dockerfile() -> None:
    assert snyk_argv("image", "reg/p/user:1", dockerfile="svc/Dockerfile") == [
        "snyk", "container", "test", "reg/p/user:1", "--json", "--file=svc/Dockerfile"]
    assert snyk_argv("image", "reg/p/user:1") == ["snyk", "container", "test", "reg/p/user:1", "--json"]


def test_snyk_fs_and_no_config() -> None:
    assert snyk_argv("fs", "/src/user") == ["snyk", "test", "--json", "/src/user"]
    with pytest.raises(ValueError, match="snyk is not used for --kind config"):
        snyk_argv("config", "/src/user")
