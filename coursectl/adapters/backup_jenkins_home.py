"""The Jenkins-home backup source: a controller's configuration from JENKINS_HOME on disk (global and job
configs without builds, users, nodes, views, the installed plugins and their versions, credentials.xml), and
its secrets (secrets/master.key, secrets/hudson.util.Secret, ...) sealed under a key of their own, so that a
restored controller can decrypt its credentials while the backup key alone cannot."""

from __future__ import annotations

import json
import os
import secrets
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from coursectl.adapters import tarstream
from coursectl.adapters.backup_sqlite import prepare_directory
from coursectl.backup import chunks
from coursectl.backup.keys import BackupKey
from coursectl.domain import RestoreRequest, RestoreResult, SourcePart
from coursectl.errors import BackupCorrupt, PreconditionError, UsageError

REQUIRED_SECRETS = ("master.key", "hudson.util.Secret")
_SKIP_DIRS = {"builds", "workspace", "lastStable", "lastSuccessful", "htmlreports", "modules", "promotions"}
_SEAL_PART = "jenkins-secrets"
SALT_LEN = 16


def plugin_versions(home: Path) -> list[dict[str, Any]]:
    """Installed plugins (``plugins/*.jpi|*.hpi``) with their versions, read from each archive's manifest."""
    found: list[dict[str, Any]] = []
    plugins = home / "plugins"
    if not plugins.is_dir():
        return found
    for archive in sorted(plugins.iterdir()):
        if archive.suffix not in (".jpi", ".hpi") or not archive.is_file():
            continue
        fields: dict[str, str] = {}
        try:
            with zipfile.ZipFile(archive) as zf:
                text = zf.read("META-INF/MANIFEST.MF").decode("utf-8", errors="replace")
            # manifest lines wrap at 72 columns with a leading space on continuation lines
            for line in text.replace("\r\n", "\n").replace("\n ", "").splitlines():
                key, sep, value = line.partition(": ")
                if sep:
                    fields[key] = value.strip()
        except (zipfile.BadZipFile, KeyError, OSError):
            fields = {}
        found.append(
            {
                "name": fields.get("Short-Name", archive.stem),
                "version": fields.get("Plugin-Version", "unknown"),
                "enabled": not (plugins / f"{archive.name}.disabled").exists(),
                "pinned": (plugins / f"{archive.name}.pinned").exists(),
            }
        )
    return found


def config_files(home: Path) -> list[Path]:
    """What a configuration backup holds: top-level *.xml, jobs/**/config.xml (no builds or workspaces), users/,
    nodes/, views/ (views themselves live in config.xml)."""
    found = sorted(p for p in home.glob("*.xml") if p.is_file())
    jobs = home / "jobs"
    if jobs.is_dir():
        for dirpath, dirnames, filenames in os.walk(jobs):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("workspace"))
            if "config.xml" in filenames:
                found.append(Path(dirpath) / "config.xml")
    for folder in ("users", "nodes", "views"):
        root = home / folder
        if root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames.sort()
                found.extend(Path(dirpath) / f for f in sorted(filenames))
    return found


def seal(data: bytes, key: BackupKey) -> bytes:
    """``data`` sealed under ``key``: a random salt, then chunks.seal under the key derived for it."""
    salt = secrets.token_bytes(SALT_LEN)
    sealed = b"".join(chunks.seal([data], key=key.part_key(salt, _SEAL_PART), part=_SEAL_PART, chunk_size=65536))
    return key.key_id.encode("ascii") + salt + sealed


def unseal(blob: bytes, key: BackupKey) -> bytes:
    key_id, salt, sealed = (
        blob[:16].decode("ascii", errors="replace"),
        blob[16 : 16 + SALT_LEN],
        blob[16 + SALT_LEN :],
    )
    if key_id != key.key_id:
        raise PreconditionError(
            f"cannot decrypt: key id {key_id} (the Jenkins secrets were sealed with another "
            f"secrets key; the configured one has id {key.key_id})"
        )
    try:
        return b"".join(chunks.open_sealed([sealed], key=key.part_key(salt, _SEAL_PART), part=_SEAL_PART))
    except BackupCorrupt as exc:
        raise BackupCorrupt(
            f"part {JenkinsHomeSource.SECRETS}: the sealed secrets do not authenticate"
            f" ({exc.message.removeprefix(f'part {_SEAL_PART}: ')})",
            details={"part": JenkinsHomeSource.SECRETS},
        ) from None


class JenkinsHomeSource:
    """A controller's JENKINS_HOME on this machine."""

    kind = "jenkins-home"
    CONFIG = "jenkins/config.tar"
    SECRETS = "jenkins/secrets.sealed"

    def __init__(self, name: str, home: Path, *, secrets_key: Callable[[], BackupKey]):
        self.name = name
        self.home = home
        self._secrets_key = secrets_key
        self._facts: dict[str, Any] = {}

    def check(self) -> None:
        if not (self.home / "config.xml").is_file():
            raise PreconditionError(
                f"{self.home} is not a JENKINS_HOME (no config.xml) (backups.sources.{self.name})"
            )
        missing = [n for n in REQUIRED_SECRETS if not (self.home / "secrets" / n).is_file()]
        if missing:
            raise PreconditionError(
                f"{self.home}/secrets lacks {', '.join(missing)}: without them a restored controller cannot "
                "decrypt its credentials"
            )
        self._secrets_key()  # the sealing key must be available before anything is written

    def dump(self) -> Iterator[SourcePart]:
        plugins = plugin_versions(self.home)
        self._facts = {"files": {}, "plugins": plugins, "secrets": {}}
        members = [tarstream.Member(p.relative_to(self.home).as_posix(), path=p) for p in config_files(self.home)]
        members.append(tarstream.Member("plugins.json", data=json.dumps(plugins, indent=2).encode()))
        yield SourcePart(self.CONFIG, tarstream.stream(members, self._facts["files"]), "application/x-tar")
        yield SourcePart(self.SECRETS, self._sealed_secrets(), "application/octet-stream")

    def _sealed_secrets(self) -> Iterator[bytes]:
        key = self._secrets_key()
        folder = self.home / "secrets"
        members = [
            tarstream.Member(f"secrets/{p.relative_to(folder).as_posix()}", path=p, mode=0o600)
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        ]
        digests: dict[str, Any] = {}
        archive = b"".join(tarstream.stream(members, digests))  # small: a few keys
        self._facts["secrets"] = {
            "sealed_with_key_id": key.key_id,
            "files": sorted(digests),
            "sizes": {k: v["size"] for k, v in digests.items()},
        }
        yield seal(archive, key)

    def facts(self) -> dict[str, Any]:
        return self._facts

    def _target(self, request: RestoreRequest) -> Path:
        if request.scratch:
            assert request.workdir is not None
            return request.workdir / "jenkins_home"
        if len(request.to) != 1:
            raise UsageError("restore of a Jenkins home needs --to DIR: the JENKINS_HOME to write")
        return Path(request.to[0]).expanduser().absolute()

    def describe_target(self, request: RestoreRequest, facts: Mapping[str, Any]) -> str:
        return f"JENKINS_HOME {self._target(request)}"

    def restore(
        self,
        open_part: Callable[[str], Iterator[bytes]],
        parts: Sequence[str],
        facts: Mapping[str, Any],
        request: RestoreRequest,
    ) -> RestoreResult:
        target = self._target(request)
        key = self._secrets_key()
        prepare_directory(target, force=request.force)
        began = time.monotonic()
        names = tarstream.extract(open_part(self.CONFIG), target)
        secret_names: list[str] = []
        if self.SECRETS in parts:
            archive = unseal(b"".join(open_part(self.SECRETS)), key)
            secret_names = tarstream.extract([archive], target)
            os.chmod(target / "secrets", 0o700)
            for name in secret_names:
                os.chmod(target / name, 0o600)
        seconds = time.monotonic() - began
        sizes = {n: (target / n).stat().st_size for n in secret_names}
        observed = {
            "files": tarstream.digest_tree(target, names),
            "secrets": {"files": sorted(secret_names), "sizes": sizes, "sealed_with_key_id": key.key_id},
        }
        return RestoreResult(
            where=str(target),
            seconds=seconds,
            observed=observed,
            notes=(f"{len(secret_names)} secret files unsealed",),
        )
