"""The CommandRunner port's contract, run against the fake and the real runner (this machine's processes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from coursectl.adapters.commands import LocalCommands
from coursectl.errors import ExternalError, ToolMissing
from coursectl.testing.fakes import FakeCommands


def _real(tmp_path: Path) -> tuple[object, list[str], list[str], str]:
    """The real runner, a command that succeeds printing 'hello', one that fails with 3, a missing program."""
    failing = ["sh", "-c", "echo broken >&2; exit 3"]
    return LocalCommands(), ["sh", "-c", "echo hello"], failing, "no-such-program-x1"


def _fake(tmp_path: Path) -> tuple[object, list[str], list[str], str]:
    runner = FakeCommands(fail={"failing": 3}, output=["hello"], missing=["no-such-program-x1"])
    return runner, ["ok", "arg"], ["failing"], "no-such-program-x1"


Factory = Callable[[Path], tuple[object, list[str], list[str], str]]


@pytest.fixture(params=[_real, _fake], ids=["local", "fake"])
def runner(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[object, list[str], list[str], str]:
    factory: Factory = request.param
    return factory(tmp_path)


def test_a_command_that_succeeds_returns_and_passes_its_output_on(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    impl, ok, _, _ = runner
    lines: list[str] = []
    assert impl.run(ok, cwd=tmp_path, timeout=30, on_line=lines.append) is None
    assert "hello" in lines


def test_a_command_that_fails_is_an_external_error_with_its_output(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    impl, _, failing, _ = runner
    with pytest.raises(ExternalError) as info:
        impl.run(failing, cwd=tmp_path, timeout=30)
    assert info.value.exit_code == 5
    assert info.value.details["returncode"] == 3
    assert "exit code 3" in info.value.message and str(tmp_path) in info.value.message
    assert info.value.details["log_tail"]


def test_a_missing_program_is_tool_missing(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    impl, _, _, missing = runner
    with pytest.raises(ToolMissing) as info:
        impl.run([missing, "x"], cwd=tmp_path, timeout=30)
    assert info.value.exit_code == 4 and missing in info.value.message


def test_the_real_runner_runs_in_the_folder_and_keeps_to_its_timeout(tmp_path: Path) -> None:
    from coursectl.errors import ExternalTimeout

    (tmp_path / "marker").write_text("here")
    lines: list[str] = []
    LocalCommands().run(["cat", "marker"], cwd=tmp_path, timeout=30, on_line=lines.append)
    assert lines == ["here"]
    with pytest.raises(ExternalTimeout):
        LocalCommands().run(["sleep", "5"], cwd=tmp_path, timeout=0.2)
