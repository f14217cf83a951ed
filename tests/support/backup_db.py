"""Pytest plugin: the real MariaDB of tests/support/servers.py with a backup user, and databases to back up."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

BACKUP_PASSWORD = "bk-Pa55word-never-shown-4471"


@dataclass(frozen=True)
class BackupDB:
    host: str
    port: int
    socket: str
    user: str
    password: str
    admin: Callable[[], Any]

    def make_database(self, rows: int = 500, name: str | None = None) -> str:
        """A database with the shapes a dump must carry: unicode, binary, NULLs, a trigger, a routine, an event."""
        name = name or f"course_{secrets.token_hex(4)}"
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
                cur.execute(f"USE `{name}`")
                cur.execute("CREATE TABLE courses (id INT PRIMARY KEY AUTO_INCREMENT, title VARCHAR(200),"
                            " price DECIMAL(10,2), cover BLOB, note TEXT NULL) ENGINE=InnoDB")
                cur.execute("CREATE TABLE enrolments (id BIGINT PRIMARY KEY AUTO_INCREMENT, course_id INT,"
                            " student VARCHAR(100), at DATETIME(6)) ENGINE=InnoDB")
                cur.execute("CREATE TABLE audit (n INT) ENGINE=InnoDB")
                cur.execute("CREATE TRIGGER enrol_audit AFTER INSERT ON enrolments FOR EACH ROW"
                            " INSERT INTO audit VALUES (NEW.course_id)")
                cur.execute("CREATE FUNCTION price_with_tax(p DECIMAL(10,2)) RETURNS DECIMAL(10,2)"
                            " DETERMINISTIC RETURN p * 1.19")
                cur.execute("CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit")
                cur.executemany(
                    "INSERT INTO courses (title, price, cover, note) VALUES (%s, %s, %s, %s)",
                    [(f"Kurs {i} — Ünïcødé ✓", i * 1.5, bytes([i % 256]) * (i % 50) + b"\x00\xff",
                      None if i % 3 else f"note {i}") for i in range(rows)])
                cur.executemany("INSERT INTO enrolments (course_id, student, at) VALUES (%s, %s, NOW(6))",
                                [(i % 50, f"student{i}@example.org") for i in range(rows * 2)])
            conn.commit()
        finally:
            conn.close()
        return name


@pytest.fixture(scope="session")
def backup_db(mariadb: Any) -> BackupDB:
    """The session's MariaDB with a ``backup`` user holding the privileges a consistent dump needs."""
    conn = mariadb.admin_connect()
    with conn.cursor() as cur:
        cur.execute(f"CREATE USER IF NOT EXISTS 'backup'@'127.0.0.1' IDENTIFIED BY '{BACKUP_PASSWORD}'")
        cur.execute("GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, RELOAD, PROCESS, CREATE, DROP, INSERT,"
                    " ALTER, INDEX, CREATE ROUTINE, ALTER ROUTINE, DELETE, REFERENCES, CREATE VIEW, SET USER"
                    " ON *.* TO 'backup'@'127.0.0.1'")
        cur.execute("SET GLOBAL log_bin_trust_function_creators = 1")
    conn.close()
    return BackupDB(mariadb.host, mariadb.port, mariadb.socket, "backup", BACKUP_PASSWORD, mariadb.admin_connect)
