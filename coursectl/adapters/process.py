"""The one subprocess runner: argv lists, a timeout always, no shell, errors translated."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Generator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

from coursectl.domain import Completed
from coursectl.errors import ExternalError, ExternalTimeout, ToolMissing

log = logging.getLogger(__name__)


def which(program: str, *, hint: str | None = None) -> str:
    """The full path of ``program``, or ToolMissing naming it."""
    found = shutil.which(program)
    if not found:
        raise ToolMissing(f"{program} is not installed (not found on PATH)", hint=hint)
    return found


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    check: bool = True,
    input: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    ok_codes: Sequence[int] = (0,),
    hint: str | None = None,
) -> Completed:
    """Run ``argv`` to completion and capture its output as text.

    ``env`` is added to the current environment. Raises ToolMissing when the program is absent,
    ExternalTimeout after ``timeout`` seconds, and ExternalError for a return code outside ``ok_codes``
    when ``check`` is true.
    """
    args = [os.fspath(a) for a in argv]
    program = which(args[0], hint=hint) if os.sep not in args[0] else args[0]
    full_env = {**os.environ, **env} if env else None
    log.debug("run: %s", " ".join(args))
    text_input = input if isinstance(input, str) or input is None else None
    try:
        if isinstance(input, bytes):
            raw = subprocess.run(
                [program, *args[1:]], input=input, capture_output=True, timeout=timeout, env=full_env, cwd=cwd
            )
            returncode = raw.returncode
            stdout, stderr = raw.stdout.decode(errors="replace"), raw.stderr.decode(errors="replace")
        else:
            proc = subprocess.run(
                [program, *args[1:]],
                input=text_input,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                env=full_env,
                cwd=cwd,
            )
            returncode, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except FileNotFoundError as exc:
        raise ToolMissing(f"{args[0]} is not installed (not found on PATH)", hint=hint) from exc
    except subprocess.TimeoutExpired as exc:
        raise ExternalTimeout(f"{args[0]} did not finish within {timeout:g} s", hint=hint) from exc
    done = Completed(tuple(args), returncode, stdout, stderr)
    if check and returncode not in ok_codes:
        raise ExternalError(
            f"{Path(args[0]).name} failed with exit code {returncode}: {done.tail(8)}",
            hint=hint,
            details={"argv": args[:2], "returncode": returncode},
        )
    return done


class LocalProcesses:
    """The ProcessRunner port: ``run`` on this machine, a non-zero exit returned rather than raised."""

    def run(self, argv: Sequence[str], *, cwd: Path, timeout: float) -> Completed:
        return run(argv, timeout=timeout, cwd=cwd, check=False)


def spawn(
    argv: Sequence[str | os.PathLike[str]],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running daemon detached in its own session, its output appended to ``log_path``."""
    args = [os.fspath(a) for a in argv]
    which(args[0]) if os.sep not in args[0] else None
    full_env = {**os.environ, **env} if env else None
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )


def spawn_daemon(
    argv: Sequence[str | os.PathLike[str]],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
) -> int:
    """Start a daemon in its own session, output appended to ``log_path``, stdin from /dev/null; returns its pid.

    Unlike ``spawn`` there is no Popen handle to keep alive: the caller tracks the daemon by pid (it may outlive
    this process) and collects it with ``os.waitpid`` if it ends while this process still runs.
    """
    args = [os.fspath(a) for a in argv]
    program = which(args[0]) if os.sep not in args[0] else args[0]
    if not os.access(program, os.X_OK):
        raise ToolMissing(f"{args[0]} is not installed (not executable)")
    full_env = {**os.environ, **env} if env else dict(os.environ)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log.debug("spawn daemon: %s", " ".join(args))
    return os.posix_spawn(
        program,
        args,
        full_env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
            *((os.POSIX_SPAWN_CLOSE, fd) for fd in _inherited_fds()),
        ],
        setsid=True,
    )


def _inherited_fds() -> list[int]:
    """Descriptors above 2 this process inherited and would pass on (e.g. a ``flock`` lock's): a daemon that kept
    one would hold that lock for as long as it runs."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return []
    out = []
    for fd in fds:
        if fd <= 2:
            continue
        try:
            if os.get_inheritable(fd):
                out.append(fd)
        except OSError:  # the descriptor listdir itself used, closed by now
            continue
    return sorted(out)


def secret_pipe(text: str) -> int:
    """A pipe's read end holding ``text`` (for ``--defaults-file=/dev/fd/N``): a secret handed to a child process
    without argv, environment or a file on disk. The caller passes it in ``pass_fds`` and closes it afterwards."""
    data = text.encode("utf-8")
    if len(data) > 60_000:
        raise ValueError("too large for a pipe buffer")
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, data)
    finally:
        os.close(write_fd)
    return read_fd


def _widen_pipe(fd: int, size: int = 1024 * 1024) -> None:
    """A 1 MiB pipe buffer (Linux): the other process keeps writing (or reading) a whole block ahead while this one
    compresses and encrypts the previous one, instead of stalling on the default 64 KiB."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (OSError, ImportError):  # not Linux, or above /proc/sys/fs/pipe-max-size: the default still works
        pass


class _Watchdog:
    """Kills a process when its time is up, and remembers that it did."""

    def __init__(self, proc: subprocess.Popen[bytes], timeout: float):
        self.fired = False
        self._proc = proc
        self._timer = threading.Timer(timeout, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        self._proc.kill()

    def cancel(self) -> None:
        self._timer.cancel()


def _stderr_tail(fh: IO[bytes], lines: int = 8) -> str:
    fh.seek(0)
    text = fh.read()[-8192:].decode(errors="replace").strip()
    return "\n".join(text.splitlines()[-lines:])


def _piped(
    args: list[str],
    err: IO[bytes],
    *,
    env: Mapping[str, str] | None,
    pass_fds: Sequence[int],
    stdin: int,
    stdout: int,
) -> subprocess.Popen[bytes]:
    """``args`` started with one end piped (``stdin`` or ``stdout``) and its stderr into the file ``err``;
    ToolMissing when the program is not installed."""
    program = which(args[0]) if os.sep not in args[0] else args[0]
    try:
        return subprocess.Popen(
            [program, *args[1:]],
            stdin=stdin,
            stdout=stdout,
            stderr=err,
            pass_fds=tuple(pass_fds),
            env={**os.environ, **env} if env else None,
        )
    except FileNotFoundError as exc:
        raise ToolMissing(f"{args[0]} is not installed (not found on PATH)") from exc


def _check_exit(
    args: list[str],
    proc: subprocess.Popen[bytes],
    err: IO[bytes],
    *,
    timed_out: bool,
    timeout: float,
    broken: bool = False,
) -> None:
    """ExternalTimeout when the watchdog killed it; ExternalError with the end of its stderr when it failed (or
    stopped reading its input: ``broken``)."""
    if timed_out:
        raise ExternalTimeout(f"{Path(args[0]).name} did not finish within {timeout:g} s")
    if proc.returncode != 0 or broken:
        raise ExternalError(
            f"{Path(args[0]).name} failed with exit code {proc.returncode}: {_stderr_tail(err)}",
            details={"argv": args[:1], "returncode": proc.returncode},
        )


def stream_output(
    argv: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    pass_fds: Sequence[int] = (),
    env: Mapping[str, str] | None = None,
    read_size: int = 1024 * 1024,
) -> Generator[bytes, None, None]:
    """Run ``argv`` and yield its stdout as it comes, in blocks of at most ``read_size`` bytes.

    The process is killed after ``timeout`` seconds (ExternalTimeout) or when the consumer stops early;
    a non-zero exit is ExternalError with the end of its stderr.
    """
    args = [os.fspath(a) for a in argv]
    log.debug("stream from: %s", " ".join(args))
    with tempfile.TemporaryFile() as err:
        proc = _piped(args, err, env=env, pass_fds=pass_fds, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        timer = _Watchdog(proc, timeout)
        finished = False
        try:
            assert proc.stdout is not None
            _widen_pipe(proc.stdout.fileno())
            while True:
                block = os.read(proc.stdout.fileno(), read_size)
                if not block:
                    break
                yield block
            proc.wait()
            finished = True
        finally:
            timer.cancel()
            if not finished:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        _check_exit(args, proc, err, timed_out=timer.fired, timeout=timeout)


def feed_input(
    argv: Sequence[str | os.PathLike[str]],
    chunks: Iterable[bytes],
    *,
    timeout: float,
    pass_fds: Sequence[int] = (),
    env: Mapping[str, str] | None = None,
) -> None:
    """Run ``argv`` with ``chunks`` written to its stdin; ExternalError (with its stderr) when it fails."""
    args = [os.fspath(a) for a in argv]
    log.debug("stream into: %s", " ".join(args))
    with tempfile.TemporaryFile() as err:
        proc = _piped(args, err, env=env, pass_fds=pass_fds, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        timer = _Watchdog(proc, timeout)
        broken = False
        try:
            assert proc.stdin is not None
            _widen_pipe(proc.stdin.fileno())
            try:
                for chunk in chunks:
                    proc.stdin.write(chunk)
            except BrokenPipeError:
                broken = True  # it stopped reading: its exit code and stderr say why
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    broken = True
            proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        _check_exit(args, proc, err, timed_out=timer.fired, timeout=timeout, broken=broken)
