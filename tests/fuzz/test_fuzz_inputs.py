"""Fuzzing the doors that take whole files: thousands of mutated configurations at `config validate` (and
`config show -o json` when one is accepted) and mutated JSONL lines at `ledger import`.

Every input must end in a documented exit code (0, 2, 3 or 4) with a message naming the file, within a few
seconds (a timer fails the test on a hang), and a rejected import must leave the ledger exactly as it was.
Deterministic (``derandomize``) so CI is reproducible: 1,500 configurations and 1,000 import files (about 2,500
lines) by default, about half a minute on two cores; ``COURSECTL_FUZZ_SCALE=10`` multiplies both for a longer hunt.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coursectl.cli import build_app
from coursectl.cli import run as run_cli
from coursectl.ledger import open_ledger
from tests.conftest import MINIMAL_CONFIG, REPO

pytestmark = pytest.mark.slow

SCALE = float(os.environ.get("COURSECTL_FUZZ_SCALE", "1"))
SECONDS_PER_INPUT = 10.0


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,  # the timer below bounds each input; hypothesis' deadline would make slow machines flaky
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


COMMAND = typer.main.get_command(build_app())  # built once: building it is most of a command's run time


class Hang(BaseException):
    """An input took longer than SECONDS_PER_INPUT (BaseException: no handler in coursectl can swallow it)."""


@contextmanager
def bounded(what: str) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise Hang(f"{what} did not finish within {SECONDS_PER_INPUT:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, SECONDS_PER_INPUT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with bounded(" ".join(args)):
        code = run_cli(COMMAND, list(args))
    out, err = capsys.readouterr()
    return code, out, err


def strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in JSON output")

    return json.loads(text, parse_constant=refuse)


# hostile values ------------------------------------------------------------------------------------------

HOSTILE_TEXT = [
    "", " ", "\x1b[2J", "a\nb", "\x00", "\udcff", "\u202e", "0.0.0.0:99999", "127.0.0.1:0", "[::1]", "::1:8080",
    "10d", "1e999", ".inf", "-1s", "nan", "99999999999999999999d", "${HOME}", "{env: X}", "x" * 5000,
    "sha256:" + "a" * 64, "Europe/Berlin", "Mars/Olympus", "../../etc/passwd", "http://u:p@h:1", "*", "&a",
    "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "2026-11-01T10:00:00", "true", "null",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, 1, -1, 65535, 65536, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(HOSTILE_TEXT),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                      max_leaves=12)

INSERTS = [b"\x00", b"\xff", b"\xfe\xff", b"\xef\xbb\xbf", b"[", b"{", b"]", b"}", b"&a ", b"*a", b"<<: *a\n",
           b": ", b"\n", b"\n- ", b"\t", b"'", b'"', b"!!python/object:os.system", b"!!binary", b"%YAML 1.1\n",
           b"---\n", b"...\n", b"? ", b"|\n", b">-\n", b"#", b"\\", b"\x1b[2J", b"\r", b"9" * 400, b".nan",
           b"[" * 200, b"{a: " * 100, b"\xc3\x28", b"\xed\xa0\x80"]


def mutate_bytes(data: bytes, draw: Callable[[Any], Any]) -> bytes:
    """A few random edits: flip, insert (often something YAML/JSON cares about), delete, duplicate, truncate."""
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=max(0, len(data))))
        op = draw(st.sampled_from(["flip", "insert", "insert", "delete", "duplicate", "truncate"]))
        if op == "flip" and data:
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([data[at] ^ draw(st.integers(min_value=1, max_value=255))]) + data[at + 1 :]
        elif op == "insert":
            piece = draw(st.one_of(st.sampled_from(INSERTS), st.binary(min_size=1, max_size=8)))
            data = data[:at] + piece + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + draw(st.integers(min_value=1, max_value=40)) :]
        elif op == "duplicate":
            data = data[:at] + data[at : at + 60] + data[at:]
        elif op == "truncate":
            data = data[:at]
    return data


def paths_of(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.extend(paths_of(value, (*prefix, key)))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out.extend(paths_of(value, (*prefix, i)))
    return out


def mutate_tree(doc: Any, draw: Callable[[Any], Any]) -> Any:
    """Replace, delete or add a value somewhere in a parsed document (a copy)."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(paths_of(doc)))
        if not path:
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if op == "replace":
            parent[path[-1]] = draw(values)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["bogus", "port", "edge", "interval", "steps", "actor", "source", "kind",
                                         "imported", "commits", "\x1b"]))] = draw(values)
        else:
            parent.append(draw(values))
    return doc


# configurations ------------------------------------------------------------------------------------------

CONFIG_SEEDS = [MINIMAL_CONFIG, (REPO / "coursectl.yaml").read_text(encoding="utf-8")]


@st.composite
def configurations(draw: Callable[[Any], Any]) -> tuple[bytes, bytes | None]:
    """(main file, overlay or None): structurally mutated, byte-mutated, or both."""
    seed = draw(st.sampled_from(CONFIG_SEEDS))
    kind = draw(st.sampled_from(["tree", "bytes", "both"]))
    data = seed.encode()
    if kind in ("tree", "both"):
        doc = mutate_tree(yaml.safe_load(seed), draw)
        data = yaml.safe_dump(doc, allow_unicode=draw(st.booleans()), sort_keys=False).encode("utf-8", "surrogatepass")
    if kind in ("bytes", "both"):
        data = mutate_bytes(data, draw)
    overlay = None
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        overlay = mutate_bytes(b"environments:\n  local: {strategy: canary, steps: [{weight: 10, pause: 5s}]}\n", draw)
    return data, overlay


@fuzz(1500)
@given(case=configurations())
def test_fuzzed_configurations_get_a_documented_exit_code_and_a_message(
    case: tuple[bytes, bytes | None], tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path_factory.mktemp("cfg", numbered=True)
    path = folder / "coursectl.yaml"
    path.write_bytes(case[0])
    if case[1] is not None:
        (folder / "coursectl.local.yaml").write_bytes(case[1])
    code, out, err = run(capsys, "config", "validate", "-c", str(path))
    assert code in (0, 3), (code, err, case)
    if code == 3:
        assert err.startswith("error: ") and str(folder) in err, err
        return
    assert out.startswith("ok: "), out
    code, out, err = run(capsys, "config", "show", "-c", str(path), "-o", "json")
    assert code in (0, 3, 4), (code, err)
    if code == 0:
        strict_json(out)


# import lines --------------------------------------------------------------------------------------------

DEPLOYMENT = {"kind": "deployment", "service": "payment", "environment": "prod", "version": "1.4.2",
              "commit": "abc1234", "started_at": "2026-11-01T10:00:00Z", "finished_at": "2026-11-01T10:04:10Z",
              "status": "succeeded", "hotfix": False, "ticket": "OPS-1",
              "commits": [{"sha": "abc1234", "committed_at": "2026-11-01T09:00:00+02:00"}]}
ROLLBACK = {"kind": "rollback", "service": "payment", "environment": "prod", "from_version": "1.4.2",
            "to_version": "1.4.1", "started_at": "2026-11-01T11:00:00Z", "finished_at": "2026-11-01T11:01:00Z",
            "status": "succeeded", "actor": "oncall"}


@st.composite
def import_files(draw: Callable[[Any], Any]) -> bytes:
    """A JSONL file: some valid lines (with fresh times, so that they are new) and mutated ones."""
    lines = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        seed = dict(draw(st.sampled_from([DEPLOYMENT, ROLLBACK])))
        minute = draw(st.integers(min_value=0, max_value=59))
        seed["finished_at"] = f"2026-11-0{draw(st.integers(min_value=1, max_value=9))}T12:{minute:02d}:00Z"
        kind = draw(st.sampled_from(["valid", "tree", "bytes", "both", "deep"]))
        if kind in ("tree", "both"):
            seed = mutate_tree(seed, draw)
        if kind == "deep":
            depth = draw(st.sampled_from([31, 33, 500, 50_000]))
            text = json.dumps(seed)[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
        else:
            text = json.dumps(seed, ensure_ascii=draw(st.booleans()))
        data = text.encode("utf-8", "surrogatepass")
        if kind in ("bytes", "both"):
            data = mutate_bytes(data, draw)
        lines.append(data.replace(b"\n", b" "))
    return b"\n".join(lines) + b"\n"


def fingerprint(state: Path) -> tuple[Any, ...]:
    with open_ledger(state) as ledger:
        return tuple(ledger.read("SELECT count(*), max(id), total(length(details)) FROM events")[0]) + tuple(
            ledger.read("SELECT count(*) FROM dora_deployments")[0]
        )


@fuzz(1000)
@given(data=import_files())
def test_fuzzed_import_lines_are_imported_or_refused_without_touching_the_ledger(
    data: bytes, tmp_path: Path, isolated_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "history.jsonl"
    path.write_bytes(data)
    before = fingerprint(isolated_state)
    code, out, err = run(capsys, "ledger", "import", str(path), "-o", "json")
    assert code in (0, 2), (code, err, data[:500])
    if code == 2:
        error = json.loads(err.splitlines()[-1])["error"]
        assert error["type"] == "input" and str(path) in error["message"]
        assert fingerprint(isolated_state) == before  # a rejected import changes nothing
        return
    result = strict_json(out)
    assert result["imported"] + result["skipped"] == result["valid"]
    code, out, err = run(capsys, "ledger", "export")
    assert code == 0, err
    for line in out.splitlines():
        strict_json(line)
    code, out, err = run(capsys, "history", "-o", "json", "-n", "5")
    assert code == 0, err
    strict_json(out)
