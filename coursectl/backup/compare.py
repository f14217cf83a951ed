"""What a restore must show: the figures recorded at backup time compared with those read back after a restore
(row counts and CHECKSUM TABLE per table, ledger event counts, file digests, SQLite integrity)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Comparison:
    """Problems found (empty: the restore matches) and what was checked, in words."""

    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _major_minor(version: str) -> str:
    return ".".join(version.split("-")[0].split(".")[:2])


def _databases(recorded: Mapping[str, Any], observed: Mapping[str, Any], out: Comparison) -> None:
    rec_version = str(recorded.get("server", {}).get("version", ""))
    obs_version = str(observed.get("server", {}).get("version", ""))
    comparable = not rec_version or not obs_version or _major_minor(rec_version) == _major_minor(obs_version)
    tables = checksums = 0
    for db, rec_db in sorted(recorded.get("databases", {}).items()):
        obs_db = observed.get("databases", {}).get(db)
        if obs_db is None:
            out.problems.append(f"database {db}: not restored")
            continue
        rec_tables, obs_tables = rec_db.get("tables", {}), obs_db.get("tables", {})
        for table in sorted(set(rec_tables) | set(obs_tables)):
            if table not in obs_tables:
                out.problems.append(f"{db}.{table}: missing after the restore")
                continue
            if table not in rec_tables:
                out.problems.append(f"{db}.{table}: present after the restore but not at backup time")
                continue
            rec, obs = rec_tables[table], obs_tables[table]
            tables += 1
            if rec.get("rows") != obs.get("rows"):
                out.problems.append(
                    f"{db}.{table}: {obs.get('rows')} rows after the restore, {rec.get('rows')} at backup time"
                )
            if rec.get("checksum") is not None and comparable:
                checksums += 1
                if rec.get("checksum") != obs.get("checksum"):
                    out.problems.append(
                        f"{db}.{table}: CHECKSUM TABLE {obs.get('checksum')} after the restore,"
                        f" {rec.get('checksum')} at backup time"
                    )
    out.checked.append(
        f"{tables} tables: row counts" + (f", {checksums} CHECKSUM TABLE values" if checksums else "")
    )
    if not comparable:
        out.checked.append(
            f"CHECKSUM TABLE not compared: backed up from {rec_version}, restored into {obs_version}"
            " (checksums differ between server versions)"
        )


def _sqlite(name: str, recorded: Mapping[str, Any], observed: Mapping[str, Any], out: Comparison) -> int:
    if observed.get("integrity") != "ok":
        out.problems.append(f"{name}: integrity check says {observed.get('integrity')!r}")
    rec_tables, obs_tables = recorded.get("tables", {}), observed.get("tables", {})
    for table in sorted(set(rec_tables) | set(obs_tables)):
        if rec_tables.get(table) != obs_tables.get(table):
            out.problems.append(
                f"{name}: table {table} has {obs_tables.get(table)} rows after the restore,"
                f" {rec_tables.get(table)} at backup time"
            )
    return len(rec_tables)


def _files(recorded: Mapping[str, Any], observed: Mapping[str, Any], out: Comparison) -> None:
    missing = sorted(set(recorded) - set(observed))
    for name in missing[:20]:
        out.problems.append(f"file {name}: missing after the restore")
    if len(missing) > 20:
        out.problems.append(f"... and {len(missing) - 20} more files missing")
    for name in sorted(set(recorded) & set(observed)):
        if recorded[name] != observed[name]:
            out.problems.append(f"file {name}: size or SHA-256 differs from the backup")
    out.checked.append(f"{len(recorded)} files: size and SHA-256")


def compare(recorded: Mapping[str, Any], observed: Mapping[str, Any]) -> Comparison:
    """Every figure in ``recorded`` that the restore can show, checked against ``observed``."""
    out = Comparison()
    if "databases" in recorded:
        _databases(recorded, observed, out)
    if "ledger" in recorded:
        rec, obs = recorded["ledger"], observed.get("ledger", {})
        count = _sqlite("ledger", rec, obs, out)
        events = rec.get("tables", {}).get("events")
        out.checked.append(f"ledger: integrity, {count} tables' row counts ({events} events)")
    if "files" in recorded:
        _files(recorded["files"], observed.get("files", {}), out)
    if "sqlite" in recorded:
        for name, rec in sorted(recorded["sqlite"].items()):
            _sqlite(name, rec, observed.get("sqlite", {}).get(name, {}), out)
        out.checked.append(f"{len(recorded['sqlite'])} SQLite databases: integrity and row counts")
    if "secrets" in recorded and recorded["secrets"]:
        rec, obs = recorded["secrets"], observed.get("secrets", {})
        if sorted(rec.get("files", [])) != sorted(obs.get("files", [])) or rec.get("sizes") != obs.get("sizes"):
            out.problems.append("Jenkins secrets: the unsealed files differ from those sealed at backup time")
        out.checked.append(f"{len(rec.get('files', []))} Jenkins secret files unsealed")
    return out
