"""The sandbox manifest on disk and the /proc parsing that guards recorded pids."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from coursectl.errors import PreconditionError
from coursectl.sandbox import pids
from coursectl.sandbox.manifest import Entry, Manifest


def test_absent_manifest_is_empty(tmp_path: Path) -> None:
    manifest = Manifest.load(tmp_path / "sandbox.json")
    assert manifest.entries == {}
    assert not (tmp_path / "sandbox.json").exists()


def test_round_trip_and_drop(tmp_path: Path) -> None:
    path = tmp_path / "sandbox" / "sandbox.json"
    manifest = Manifest.load(path)
    manifest.set("registry", Entry("http://127.0.0.1:5000", True, pid=123, starttime=456, log="/l/registry.log"))
    manifest.set("engine", Entry("unix:///var/run/docker.sock", False))
    loaded = Manifest.load(path)
    assert loaded.entries == manifest.entries
    assert json.loads(path.read_text())["version"] == 1
    loaded.drop("registry")
    assert set(Manifest.load(path).entries) == {"engine"}
    assert [p.name for p in path.parent.iterdir()] == ["sandbox.json"]


def test_corrupt_manifest_is_a_precondition_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.json"
    path.write_text("{not json")
    with pytest.raises(PreconditionError, match=str(path)):
        Manifest.load(path)


def test_stale_lists_only_our_dead_pids(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path / "m.json")
    manifest.entries = {
        "registry": Entry("r", True, pid=10, starttime=1),
        "prometheus": Entry("p", True, pid=11, starttime=1),
        "engine": Entry("e", False),
        "base-image": Entry("coursectl/base:bookworm", True),
    }
    assert manifest.stale(lambda pid, start: pid == 11) == ["registry"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42 (dockerd) S 1 42 42 0 -1 4194560 " + "0 " * 12 + "98765 0 0", ("S", 1, 98765)),
        ("7 (a b) c)) Z 3 7 7 0 -1 0 " + "0 " * 12 + "55 0", ("Z", 3, 55)),
    ],
)
def test_parse_stat(text: str, expected: tuple[str, int, int]) -> None:
    assert pids.parse_stat(text) == expected


def test_this_process_is_alive_and_pid_reuse_is_detected() -> None:
    me = pids.info(os.getpid())
    assert me is not None and me.cmdline
    assert pids.alive(os.getpid(), me.starttime)
    assert not pids.alive(os.getpid(), me.starttime + 1)
    assert not pids.alive(None)


def test_matching_never_returns_this_process_or_its_parents() -> None:
    me = pids.info(os.getpid())
    assert me is not None
    assert all(p.pid != os.getpid() for p in pids.matching([me.command]))
