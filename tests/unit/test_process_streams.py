"""The streaming helpers of coursectl/adapters/process.py (the MariaDB backup pipes through them): output as it
comes, input fed in chunks, and every way the program can fail turned into a coursectl error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from coursectl.adapters import process
from coursectl.errors import ExternalError, ExternalTimeout, ToolMissing


def test_stream_output_yields_what_the_program_writes() -> None:
    code = "import sys; [sys.stdout.buffer.write(b'x' * 1000) for _ in range(300)]"
    data = b"".join(process.stream_output([sys.executable, "-c", code], timeout=30, read_size=4096))
    assert data == b"x" * 300_000


def test_a_failing_program_names_its_exit_code_and_stderr() -> None:
    code = "import sys; print('half', flush=True); sys.stderr.write('disk full\\n'); sys.exit(3)"
    with pytest.raises(ExternalError) as err:
        list(process.stream_output([sys.executable, "-c", code], timeout=30))
    assert "exit code 3" in err.value.message and "disk full" in err.value.message
    assert err.value.details["returncode"] == 3


def test_a_program_that_runs_too_long_is_killed() -> None:
    with pytest.raises(ExternalTimeout, match="did not finish within 0.5 s"):
        list(process.stream_output([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5))


def test_a_program_that_is_not_installed_is_tool_missing() -> None:
    with pytest.raises(ToolMissing, match="no-such-tool-here is not installed"):
        list(process.stream_output(["no-such-tool-here"], timeout=5))
    with pytest.raises(ToolMissing):
        process.feed_input(["no-such-tool-here"], [b"x"], timeout=5)


def test_feed_input_writes_every_chunk(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = f"import sys, shutil; shutil.copyfileobj(sys.stdin.buffer, open({str(out)!r}, 'wb'))"
    process.feed_input([sys.executable, "-c", code], (bytes([i]) * 50_000 for i in range(20)), timeout=30)
    assert out.read_bytes() == b"".join(bytes([i]) * 50_000 for i in range(20))


def test_a_reader_that_stops_early_is_a_failure_with_its_stderr() -> None:
    code = "import sys; sys.stdin.buffer.read(10); sys.stderr.write('bad header\\n'); sys.exit(0)"
    with pytest.raises(ExternalError, match="bad header"):
        process.feed_input([sys.executable, "-c", code], (b"y" * 65536 for _ in range(200)), timeout=30)
