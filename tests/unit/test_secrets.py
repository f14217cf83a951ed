"""Secret references: resolved from the environment or a file, never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from coursectl.config import load_config
from coursectl.config.redact import mask_url_passwords, redacted
from coursectl.config.secrets import SecretMasker, SecretRef
from coursectl.errors import AuthError


def test_env_reference_resolves_from_environment_then_secrets_file(tmp_path: Path) -> None:
    ref = SecretRef(env="REG_PW")
    stored = tmp_path / "secrets.env"
    stored.write_text("# generated\nREG_PW=from-file\nOTHER=x\n")
    assert ref.resolve(environ={"REG_PW": "from-env"}, secrets_file=stored) == "from-env"
    assert ref.resolve(environ={}, secrets_file=stored) == "from-file"
    with pytest.raises(AuthError, match="env:REG_PW is not set"):
        ref.resolve(environ={}, secrets_file=tmp_path / "absent.env")


def test_file_reference(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-value\n")
    assert SecretRef(file=str(secret)).resolve() == "s3cr3t-value"
    with pytest.raises(AuthError, match="cannot be read"):
        SecretRef(file=str(tmp_path / "missing")).resolve()


def test_redacted_configuration_never_contains_the_value(config_file: Path, tmp_path: Path) -> None:
    value = "pa55-word-never-shown"
    loaded = load_config(config_file, environ={})
    data = redacted(loaded.config, environ={"DEMO_REGISTRY_PASSWORD": value})
    assert data["registry"]["password"] == {"ref": "env:DEMO_REGISTRY_PASSWORD", "value": "***", "available": True}
    assert data["registry"]["username"]["available"] is False
    assert value not in repr(data)


def test_url_passwords_are_masked() -> None:
    assert mask_url_passwords("amqp://guest:topsecret@127.0.0.1:5672/") == "amqp://guest:***@127.0.0.1:5672/"
    assert mask_url_passwords("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/x"


def test_log_filter_masks_known_values(caplog: pytest.LogCaptureFixture) -> None:
    masker = SecretMasker(["hunter2-long"])
    logger = logging.getLogger("coursectl.test.masking")
    logger.addFilter(masker)
    with caplog.at_level(logging.INFO, logger="coursectl.test.masking"):
        logger.info("logging in with %s", "hunter2-long")
    assert "hunter2-long" not in caplog.text and "***" in caplog.text
