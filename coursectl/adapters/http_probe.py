"""The one HTTP probe: GET or POST a loopback URL and report the status code (proxies ignored, never raises)."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request


def _open(request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""
    except (OSError, ValueError, http.client.HTTPException):
        return 0, b""


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """``(status, body)`` of a GET of ``url``; ``(0, b"")`` when nothing answers (body empty on 4xx/5xx)."""
    return _open(urllib.request.Request(url), timeout)


def http_status(url: str, *, timeout: float = 2.0) -> int | None:
    """The status code a GET of ``url`` answers with, or None when nothing answers."""
    return _open(urllib.request.Request(url), timeout)[0] or None


def http_post(url: str, *, timeout: float = 10.0) -> int | None:
    """POST nothing to ``url``: the status code, or None when nothing answers."""
    return _open(urllib.request.Request(url, data=b"", method="POST"), timeout)[0] or None


def answers_ok(host: str, port: int, path: str, *, timeout: float = 0.5) -> bool:
    """Whether ``GET http://host:port/path`` answers 200 within ``timeout`` seconds."""
    return http_get(f"http://{host}:{port}{path}", timeout)[0] == 200
