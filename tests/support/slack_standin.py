"""A local stand-in for Slack (the Web API's chat.postMessage / chat.update and an incoming webhook) on 127.0.0.1.

slack-sdk is pointed at it (``WebClient(base_url=...)``, the webhook URL); it records the real requests the SDK
sends (path, headers, JSON body) and answers in the shape of Slack's: the Web API's JSON answers are built from the
key skeleton of the real chat.postMessage sample in ``shared/fixtures/slack`` (ok, channel, ts, message with
bot_id, type, text, user, ts, team, bot_profile, app_id, blocks), the webhook answers plain ``ok``. It can be told
to fail: a Slack error code, HTTP 429 with Retry-After, or a 500.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import FIXTURES

SAMPLE = FIXTURES / "slack" / "java-slack-sdk" / "chat.postMessage.json"
_MESSAGE_KEYS = ("bot_id", "type", "text", "user", "ts", "team", "bot_profile", "app_id", "blocks")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class StandIn:
    """What the stand-in saw and what it will answer next."""

    token: str = "xoxb-test-token-0000"
    webhook_path: str = "/services/T0000/B0000/standinsecret"
    channel_id: str = "C0STANDIN"
    requests: list[Request] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts -> the message as it is now
    fail_next: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    url: str = ""
    _ts: float = 1503435956.000247
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    @property
    def webhook_url(self) -> str:
        return self.url + self.webhook_path

    def calls(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def fail(self, status: int, body: str, headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` and ``body`` (e.g. 429 + Retry-After)."""
        self.fail_next.extend([(status, body, headers or {})] * times)

    def next_ts(self) -> str:
        with self._lock:
            self._ts += 1.0
            return f"{self._ts:.6f}"

    def shaped(self, channel: str, ts: str, text: str, blocks: Any) -> dict[str, Any]:
        """An ok answer with the keys of the real sample, filled in."""
        sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
        message = {k: sample["message"][k] for k in _MESSAGE_KEYS if k in sample["message"]}
        message.update(type="message", text=text, ts=ts, blocks=blocks or [])
        return {"ok": True, "channel": channel, "ts": ts, "message": message}


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: str, content_type: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            try:
                body: Any = json.loads(raw) if raw else {}
            except ValueError:
                from urllib.parse import parse_qsl

                body = dict(parse_qsl(raw))
            standin.requests.append(Request("POST", self.path, dict(self.headers.items()), body))
            if standin.fail_next:
                status, text, headers = standin.fail_next.pop(0)
                kind = "text/plain" if self.path.startswith("/services/") or status != 200 else "application/json"
                self._send(status, text, kind, headers)
                return
            if self.path.startswith("/services/"):
                if self.path != standin.webhook_path:
                    self._send(404, "no_service", "text/plain")
                elif not body.get("text") and not body.get("blocks"):
                    self._send(400, "no_text", "text/plain")
                else:
                    ts = standin.next_ts()
                    standin.messages[ts] = {"text": body.get("text"), "blocks": body.get("blocks"), "updates": 0}
                    self._send(200, "ok", "text/html")
                return
            if self.headers.get("Authorization") != f"Bearer {standin.token}":
                self._send(200, json.dumps({"ok": False, "error": "invalid_auth"}), "application/json")
                return
            if self.path == "/api/chat.postMessage":
                ts = standin.next_ts()
                standin.messages[ts] = {"text": body.get("text"), "blocks": body.get("blocks"), "updates": 0,
                                        "channel": body.get("channel")}
                self._send(200, json.dumps(standin.shaped(standin.channel_id, ts, body.get("text", ""),
                                                          body.get("blocks"))), "application/json")
            elif self.path == "/api/chat.update":
                ts = str(body.get("ts"))
                if body.get("channel") != standin.channel_id or ts not in standin.messages:
                    self._send(200, json.dumps({"ok": False, "error": "message_not_found"}), "application/json")
                    return
                entry = standin.messages[ts]
                entry.update(text=body.get("text"), blocks=body.get("blocks"), updates=entry["updates"] + 1)
                answer = standin.shaped(standin.channel_id, ts, body.get("text", ""), body.get("blocks"))
                answer["text"] = body.get("text", "")
                self._send(200, json.dumps(answer), "application/json")
            else:
                self._send(200, json.dumps({"ok": False, "error": "unknown_method"}), "application/json")

    return Handler


class SlackServer:
    """Runs a StandIn on 127.0.0.1 in a thread."""

    def __init__(self, port: int = 0):
        self.standin = StandIn()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self.standin))
        self._server.daemon_threads = True
        host, bound = self._server.server_address[:2]
        self.standin.url = f"http://{host}:{bound}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-standin", daemon=True)

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self.standin

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        while len(self.standin.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.standin.requests


def sample_exists() -> bool:
    return Path(SAMPLE).is_file()
