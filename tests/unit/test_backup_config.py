"""The backups: section of coursectl.yaml: every mistake named by file and key path, secrets only by reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from coursectl.config import load_config
from coursectl.config.models import parse_size
from coursectl.errors import ConfigError

BASE = """\
project: t
services: {user: {path: x, port: 8001}}
registry: {url: 127.0.0.1:5000}
environments: {local: {target: docker}, prod: {target: kubernetes, context: c, namespace: n}}
backups:
"""


def _problems(tmp_path: Path, backups: str) -> list[str]:
    path = tmp_path / "coursectl.yaml"
    path.write_text(BASE + backups)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.exit_code == 3
    return [f"{p.path}: {p.message}" for p in info.value.problems]


def _ok(tmp_path: Path, backups: str) -> object:
    path = tmp_path / "coursectl.yaml"
    path.write_text(BASE + backups)
    return load_config(path, environ={}).config.backups


def test_a_full_section_loads(tmp_path: Path) -> None:
    cfg = _ok(tmp_path, """\
  key: {env: K}
  previous_keys: [{file: /etc/old.key}]
  chunk_size: 4MiB
  stores:
    s3: {type: s3, bucket: b, endpoint_url: "http://127.0.0.1:9000", part_size: 8MiB,
         access_key_id: {env: A}, secret_access_key: {env: S}}
    disk: {type: local, path: /srv/backups}
  sources:
    db: {type: mariadb, store: s3, databases: [course, payment], password: {env: P},
         retention: {keep_daily: 7, keep_monthly: unlimited}}
    ledger: {type: ledger, store: disk}
    jenkins: {type: jenkins-home, store: disk, path: /var/lib/jenkins, secrets_key: {env: JK}}
    ci: {type: jenkins, store: disk, url: "https://ci", token: {env: T}}
    data: {type: docker-data, store: disk, environment: local}
""")
    assert cfg.chunk_size == 4 * 1024 * 1024  # type: ignore[attr-defined]
    assert cfg.stores["s3"].part_size == 8 * 1024 * 1024  # type: ignore[attr-defined]
    assert cfg.sources["db"].retention.keep_monthly == -1  # type: ignore[attr-defined]


def test_mistakes_are_named_by_key_path(tmp_path: Path) -> None:
    problems = _problems(tmp_path, """\
  key: "plain-text-key"
  stores:
    s3: {type: s3, bucket: b, part_size: 1MiB, access_key_id: {env: A}}
    disk: {type: local, pth: /x}
    ftp: {type: ftp}
  sources:
    db: {type: mariadb, store: s3, databases: ["bad name"], port: 70000, password: "hunter2"}
    jenkins: {type: jenkins-home, store: disk, path: /j}
    led: {type: ledger, store: disk, retention: {keep_daily: -5}}
""")
    text = "\n".join(problems)
    assert "backups.key: secrets are never written in the configuration" in text
    assert "backups.stores.s3.part_size: expected a value greater than or equal to 5242880" in text
    assert "backups.stores.disk.pth: unknown key; did you mean 'path'?" in text
    assert "backups.stores.ftp: type must be one of 'local', 's3', got 'ftp'" in text
    assert "backups.sources.db.port: expected a value less than or equal to 65535" in text
    assert "backups.sources.db.password: secrets are never written" in text
    assert "backups.sources.db.databases: not a plain database name: 'bad name'" in text
    assert "backups.sources.jenkins.secrets_key: required key is missing" in text
    assert "backups.sources.led.retention.keep_daily: expected a count" in text
    assert "hunter2" not in text and "plain-text-key" not in text


def test_cross_references_are_checked(tmp_path: Path) -> None:
    assert any("source 'l' uses store 'nowhere'" in p for p in _problems(tmp_path, """\
  key: {env: K}
  stores: {disk: {type: local, path: /x}}
  sources: {l: {type: ledger, store: nowhere}}
"""))
    assert any("'prod' is not a docker environment" in p for p in _problems(tmp_path, """\
  key: {env: K}
  stores: {disk: {type: local, path: /x}}
  sources: {d: {type: docker-data, store: disk, environment: prod}}
"""))
    assert any("s3" in p and "both access_key_id and secret_access_key" in p for p in _problems(tmp_path, """\
  key: {env: K}
  stores: {s3: {type: s3, bucket: b, access_key_id: {env: A}}}
  sources: {l: {type: ledger, store: s3}}
"""))


@pytest.mark.parametrize(("text", "size"), [("1MiB", 1048576), ("16MB", 16_000_000), ("512KiB", 524288),
                                            (4096, 4096), ("1gib", 1024**3), ("2 MiB", 2 * 1048576)])
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["1 parsec", -1, True, "MiB"])
def test_bad_sizes(text: object) -> None:
    with pytest.raises(ValueError):
        parse_size(text)
