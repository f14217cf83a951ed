"""`coursectl ledger import|export`: line-by-line validation, nothing half-imported, idempotent, round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coursectl.ledger import open_ledger

GOOD = {"kind": "deployment", "service": "payment", "environment": "prod", "version": "1.4.2", "commit": "abc1234",
        "started_at": "2026-11-01T10:00:00Z", "finished_at": "2026-11-01T10:04:10Z", "status": "succeeded",
        "commits": [{"sha": "abc1234", "committed_at": "2026-11-01T09:00:00Z"}]}
ROLLBACK = {"kind": "rollback", "service": "payment", "environment": "prod", "from_version": "1.4.2",
            "to_version": "1.4.1", "started_at": "2026-11-01T11:00:00Z", "finished_at": "2026-11-01T11:01:00Z",
            "status": "succeeded"}


def _write(path: Path, *lines: object) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def _count(state_dir: Path) -> int:
    with open_ledger(state_dir) as ledger:
        return len(ledger.events(kinds=["deployment", "rollback"]))


def test_bad_lines_are_named_and_nothing_is_imported(cli, tmp_path: Path, state_dir: Path) -> None:  # type: ignore[no-untyped-def]
    bad_time = {**GOOD, "finished_at": "2026-11-01T10:04:10"}  # no offset
    bad_status = {**GOOD, "status": "ok"}
    f = _write(tmp_path / "h.jsonl", GOOD, ROLLBACK, "", bad_time, "{not json", bad_status,
               {**ROLLBACK, "kind": "build"}, {**GOOD, "finished_at": "2026-11-01T09:00:00Z"})
    code, out, err = cli("ledger", "import", str(f), "-o", "json")
    assert code == 2 and out == ""
    error = json.loads(err)["error"]
    assert error["type"] == "input"
    problems = {p["line"]: p["message"] for p in error["details"]["problems"]}
    assert sorted(problems) == [4, 5, 6, 7, 8]
    assert problems[4].startswith("finished_at: ") and "timezone" in problems[4]
    assert problems[5].startswith("not valid JSON")
    assert problems[6].startswith("status: ") and "'succeeded'" in problems[6]
    assert problems[7] == "kind: expected 'deployment' or 'rollback', got 'build'"
    assert problems[8] == "finished_at is before started_at"
    assert f"{f}:4: finished_at" in error["message"]
    assert _count(state_dir) == 0  # the two good lines were not imported either

    code, _, err = cli("ledger", "import", str(_write(tmp_path / "one.jsonl", GOOD, bad_status)))
    assert code == 2 and f"{tmp_path / 'one.jsonl'}:2: status:" in err and "nothing was imported" in err
    assert _count(state_dir) == 0


def test_import_is_idempotent_and_export_round_trips(cli, tmp_path: Path, state_dir: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    extra = {**GOOD, "version": "1.4.3", "finished_at": "2026-11-02T10:00:00+01:00", "hotfix": True,
             "digest": "sha256:" + "a" * 64, "strategy": "canary", "ticket": "OPS-7", "commits": None}
    extra.pop("commits")
    f = _write(tmp_path / "h.jsonl", GOOD, ROLLBACK, extra)
    code, out, _ = cli("ledger", "import", str(f), "-o", "json")
    assert code == 0 and json.loads(out) == {"file": str(f), "valid": 3, "imported": 3, "skipped": 0,
                                             "dry_run": False}
    code, out, _ = cli("ledger", "import", str(f), "-o", "json")
    assert json.loads(out)["imported"] == 0 and json.loads(out)["skipped"] == 3
    assert _count(state_dir) == 3

    code, out, _ = cli("ledger", "export")
    assert code == 0
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["kind"] for x in lines] == ["deployment", "rollback", "deployment"]
    first = lines[0]
    for key, value in GOOD.items():
        assert first[key] == value, key
    assert lines[1]["from_version"] == "1.4.2" and lines[1]["to_version"] == "1.4.1"
    third = lines[2]
    assert third["finished_at"] == "2026-11-02T09:00:00Z" and third["hotfix"] is True
    assert third["ticket"] == "OPS-7" and third["strategy"] == "canary" and "commits" not in third

    # exported → imported into an empty ledger → exported again: the same lines
    exported = _write(tmp_path / "export.jsonl", *out.splitlines())
    other = tmp_path / "other-state"
    monkeypatch.setenv("COURSECTL_STATE_DIR", str(other))
    code, _, err = cli("ledger", "import", str(exported))
    assert code == 0, err
    code, again, _ = cli("ledger", "export")
    assert again == out
    # and importing the export into the original ledger adds nothing
    monkeypatch.setenv("COURSECTL_STATE_DIR", str(state_dir))
    code, res, _ = cli("ledger", "import", str(exported), "-o", "json")
    assert json.loads(res)["imported"] == 0


def test_dry_run_validates_without_writing(cli, tmp_path: Path, state_dir: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("ledger", "import", str(_write(tmp_path / "h.jsonl", GOOD)), "--dry-run", "-o", "json")
    assert code == 0 and json.loads(out)["valid"] == 1
    assert _count(state_dir) == 0


def _snapshot(state_dir: Path) -> list[tuple[object, ...]]:
    with open_ledger(state_dir) as ledger:
        return [tuple(r) for r in ledger.read("SELECT * FROM events ORDER BY id")]


BAD_LINES = {
    "20,000 nested arrays": '{"kind": "deployment", "x": ' + "[" * 20_000 + "]" * 20_000 + "}",
    "40 nested objects": json.dumps({**GOOD, "x": json.loads('{"a":' * 40 + "1" + "}" * 40)}),
    "year 9999 with an offset": json.dumps({**GOOD, "finished_at": "9999-12-31T23:59:59-05:00"}),
    "year 0001 with an offset": json.dumps({**GOOD, "started_at": "0001-01-01T00:00:00+05:00"}),
    "a commit in year 3000": json.dumps({**GOOD, "commits": [{"sha": "abc1234", "committed_at": "3000-01-01T00:00Z"}]}),
    "NaN": json.dumps({**GOOD, "x": float("nan")}),
    "Infinity": json.dumps({**GOOD, "score": float("inf")}),
    "-Infinity": json.dumps({**GOOD, "score": float("-inf")}),
    "an escape in the service": json.dumps({**GOOD, "service": "\x1b[2Jpayment"}),
    "a newline in the environment": json.dumps({**GOOD, "environment": "prod\nFAKE: all good"}),
    "a control character in the actor": json.dumps({**GOOD, "actor": "admin\r"}),
    "a lone surrogate": json.dumps(GOOD).replace('"payment"', '"pay\\udcffment"'),
    "a reserved key": json.dumps({**GOOD, "imported": {"by": "nobody"}}),
    "recorded_actor": json.dumps({**GOOD, "recorded_actor": "admin@prod"}),
    "an integer of 5,000 digits": json.dumps(GOOD)[:-1] + ', "n": ' + "9" * 5000 + "}",
}


@pytest.mark.parametrize("name", sorted(BAD_LINES))
def test_hostile_lines_are_refused_with_exit_2_and_change_nothing(cli, tmp_path: Path, state_dir: Path,  # type: ignore[no-untyped-def]
                                                                  name: str) -> None:
    code, _, err = cli("ledger", "import", str(_write(tmp_path / "seed.jsonl", ROLLBACK)))
    assert code == 0, err
    before = _snapshot(state_dir)
    f = _write(tmp_path / "h.jsonl", GOOD, BAD_LINES[name])
    code, out, err = cli("ledger", "import", str(f), "-o", "json")
    assert code == 2, (name, err)
    error = json.loads(err)["error"]
    assert [p["line"] for p in error["details"]["problems"]] == [2], (name, error)
    assert _snapshot(state_dir) == before


def test_a_named_pipe_is_refused_without_waiting(cli, tmp_path: Path, state_dir: Path) -> None:  # type: ignore[no-untyped-def]
    import os
    import time

    fifo = tmp_path / "history.jsonl"
    os.mkfifo(fifo)
    started = time.monotonic()
    code, _, err = cli("ledger", "import", str(fifo))
    assert code == 2 and "is not a regular file (a named pipe" in err
    assert time.monotonic() - started < 5
    code, _, err = cli("ledger", "import", str(tmp_path))
    assert code == 2 and "is a directory" in err
    code, _, err = cli("ledger", "import", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "cannot be read" in err


def test_a_file_that_is_not_utf8_names_the_line(cli, tmp_path: Path, state_dir: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "h.jsonl"
    f.write_bytes(json.dumps(GOOD).encode() + b"\n" + json.dumps(ROLLBACK).encode().replace(b"1.4.1", b"1.4.\xe9")
                  + b"\n")
    code, _, err = cli("ledger", "import", str(f))
    assert code == 2 and f"{f}:2: not valid UTF-8 (byte 0xe9" in err
    f.write_bytes(json.dumps(GOOD).encode("utf-16"))
    code, _, err = cli("ledger", "import", str(f))
    assert code == 2 and "UTF-16" in err


def test_imported_events_say_they_were_imported_and_cannot_forge_actor_or_source(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, state_dir: Path, monkeypatch
) -> None:
    monkeypatch.setenv("COURSECTL_ACTOR", "bob@laptop")
    forged = {**GOOD, "actor": "admin@prod", "source": "coursectl", "rollout_id": "r1"}
    f = _write(tmp_path / "h.jsonl", forged)
    code, _, err = cli("ledger", "import", str(f))
    assert code == 0, err
    code, out, _ = cli("history", "-o", "json")
    (event,) = json.loads(out)["events"]
    assert event["actor"] == "import:bob@laptop"
    details = event["details"]
    assert details["source"] == "import"
    assert details["imported"]["by"] == "bob@laptop" and details["imported"]["file"] == str(f.resolve())
    assert details["imported"]["line"] == 1 and details["imported"]["at"].endswith("Z")
    assert details["recorded_actor"] == "admin@prod" and details["recorded_source"] == "coursectl"
    code, out, _ = cli("history")
    assert "admin@prod" not in out and "import:bob@laptop" in out
    code, out, _ = cli("ledger", "export")  # what the record said goes out again, unchanged
    exported = json.loads(out)
    assert exported["actor"] == "admin@prod" and exported["source"] == "coursectl" and exported["rollout_id"] == "r1"
    assert "imported" not in exported and "recorded_actor" not in exported
