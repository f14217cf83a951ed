"""Container HEALTHCHECK of the course platform's services: exit 0 only when GET <HEALTH_PATH> on this service's
HOST:PORT answers 2xx within the timeout; else exit 1 with one line on stderr saying why (Docker keeps it in
the container's health log).

Docker runs this in every container at every interval, so it costs one interpreter start and nothing more: it
imports ``os``, ``socket`` and ``sys`` only — never ``course_common`` (which pulls in FastAPI) nor ``urllib``
(which pulls in ``http.client``, ``email`` and ``ssl``). ``python3 -X importtime -m course_healthcheck`` shows
it; platform-services/tests/test_healthcheck.py asserts it. The image's line:
``HEALTHCHECK ... CMD ["python3", "-m", "course_healthcheck"]``.

Environment: ``HOST`` (127.0.0.1; a wildcard address means loopback), ``PORT`` (8000), ``HEALTH_PATH``
(/health/ready — coursectl's docker target sets it to the service's configured ``health``),
``HEALTHCHECK_TIMEOUT`` (seconds, 3).
"""

import os
import socket
import sys

WILDCARDS = ("", "0.0.0.0", "::", "[::]")
MAX_HEAD = 8192  # a status line longer than this is not an answer


def target(environ: "os._Environ[str] | dict[str, str]") -> tuple[str, int, str, float]:
    """(host, port, path, timeout) from the environment; ValueError naming a bad variable."""
    host = (environ.get("HOST") or "127.0.0.1").strip()
    host = "127.0.0.1" if host in WILDCARDS else host.strip("[]")
    if not host.isascii() or any(ch <= " " for ch in host):
        raise ValueError(f"HOST={host!r} is not an address")
    port_text = environ.get("PORT") or "8000"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"PORT={port_text!r} is not a port number")
    path = environ.get("HEALTH_PATH") or "/health/ready"
    if not path.startswith("/") or any(ch <= " " or ch == "\x7f" for ch in path):
        raise ValueError(f"HEALTH_PATH={path!r} is not an absolute URL path")
    timeout_text = environ.get("HEALTHCHECK_TIMEOUT") or "3"
    try:
        timeout = float(timeout_text)
    except ValueError:
        timeout = -1.0
    if not 0 < timeout <= 300:
        raise ValueError(f"HEALTHCHECK_TIMEOUT={timeout_text!r} is not a number of seconds (0-300)")
    return host, int(port_text), path, timeout


def status_of(host: str, port: int, path: str, timeout: float) -> int:
    """The HTTP status GET ``path`` answers with (HTTP/1.0, no keep-alive); OSError when there is no answer."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = f"GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: course-healthcheck\r\n\r\n"
    # the host as bytes: a str would make getaddrinfo import the idna codec (and python3-minimal may lack it)
    with socket.create_connection((host.encode("ascii"), port), timeout=timeout) as sock:
        sock.sendall(request.encode("ascii"))
        head = b""
        while b"\n" not in head:
            chunk = sock.recv(1024)
            if not chunk:
                break
            head += chunk
            if len(head) > MAX_HEAD:
                break
    line = head.split(b"\n", 1)[0].decode("latin-1").strip()
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise OSError(f"not an HTTP answer: {line[:80]!r}")
    return int(parts[1])


def main() -> int:
    try:
        host, port, path, timeout = target(os.environ)
    except ValueError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1
    try:
        status = status_of(host, port, path, timeout)
    except OSError as exc:  # refused, timed out, reset, not HTTP
        print(f"healthcheck: GET {path} on {host}:{port}: no answer ({exc})", file=sys.stderr)
        return 1
    if 200 <= status < 300:
        return 0
    print(f"healthcheck: GET {path} on {host}:{port}: {status}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
