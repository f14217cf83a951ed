"""Start a program detached (double fork, new session, output to a log) and print its pid.

``python -m coursectl.testing.detach LOG -- ARGV...``: the slot processes of the process target outlive the
coursectl process that started them, as containers outlive the docker CLI.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    log, sep, *command = argv
    if sep != "--" or not command:
        print("usage: detach LOG -- ARGV...", file=sys.stderr)
        return 2
    read_end, write_end = os.pipe()
    if os.fork() == 0:  # first child: new session, fork the real program, report its pid
        os.setsid()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            os.close(write_end)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.execvp(command[0], command)
        os.write(write_end, str(pid).encode())
        os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 32).decode()
    print(child)
    return 0 if child else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
