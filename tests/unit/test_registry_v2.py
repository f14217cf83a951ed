"""The Registry v2 client against a local HTTP server answering like Docker Distribution does."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from coursectl.adapters.registry_v2 import ACCEPT, RegistryClient, base_url, parse_challenge
from coursectl.errors import AuthError, ExternalError, PreconditionError

USER, PASSWORD = "coursectl", "s3cret-pass"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_DIGEST = "sha256:" + "c" * 64
CONFIG = {
    "architecture": "amd64",
    "created": "2026-01-02T03:04:05.123456789Z",
    "config": {"Labels": {"org.opencontainers.image.version": "0123456789ab"}},
}
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 100,
                   "digest": CONFIG_DIGEST},
        "layers": [],
    }
).encode()
DIGEST = "sha256:" + "d" * 64
TOKEN = "tok-123"


class Registry:
    """State and answers of the fake registry (``mode``: basic or bearer)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.tags: dict[str, str] = {"0123456789ab": DIGEST, "main": DIGEST}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.url = ""

    def authorized(self, headers: Any) -> bool:
        got = headers.get("Authorization", "")
        if self.mode == "basic":
            return got == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return got == f"Bearer {TOKEN}"


def make_handler(reg: Registry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _challenge(self) -> None:
            if reg.mode == "basic":
                header = 'Basic realm="coursectl-sandbox"'
            else:
                header = f'Bearer realm="{reg.url}/token",service="test-registry"'
            body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})
            self._send(401, body.encode(), {"WWW-Authenticate": header, "Content-Type": "application/json"})

        def _route(self) -> None:
            reg.requests.append((self.command, self.path, dict(self.headers)))
            length = int(self.headers.get("Content-Length", 0) or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.startswith("/token"):
                basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != basic:
                    return self._send(401, b"{}")
                return self._send(200, json.dumps({"token": TOKEN}).encode(), {"Content-Type": "application/json"})
            if not reg.authorized(self.headers):
                return self._challenge()
            path = self.path.split("?")[0]
            if path == "/v2/":
                return self._send(200, b"{}")
            if path == "/v2/ns/user/tags/list":
                if "last=" not in self.path:  # page 1 of 2, as Distribution paginates
                    return self._send(200, json.dumps({"name": "ns/user", "tags": ["main"]}).encode(),
                                      {"Link": '</v2/ns/user/tags/list?last=main&n=1>; rel="next"'})
                return self._send(200, json.dumps({"name": "ns/user", "tags": ["0123456789ab"]}).encode())
            if path.startswith("/v2/ns/user/manifests/"):
                ref = path.rsplit("/", 1)[1]
                if self.command == "PUT":
                    assert body == MANIFEST and self.headers["Content-Type"] == MANIFEST_TYPE
                    reg.tags[ref] = DIGEST
                    return self._send(201, b"", {"Docker-Content-Digest": DIGEST})
                if ref != DIGEST and ref not in reg.tags:
                    return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
                return self._send(200, MANIFEST, {"Docker-Content-Digest": DIGEST, "Content-Type": MANIFEST_TYPE})
            if path == f"/v2/ns/user/blobs/{CONFIG_DIGEST}":
                return self._send(200, json.dumps(CONFIG).encode(), {"Content-Type": "application/octet-stream"})
            if path.startswith("/v2/ns/missing/"):
                return self._send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')
            return self._send(500, b"boom")

        do_GET = do_HEAD = do_PUT = _route

    return Handler


@pytest.fixture(params=["basic", "bearer"])
def registry(request: pytest.FixtureRequest) -> Iterator[Registry]:
    reg = Registry(request.param)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(reg))
    reg.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield reg
    server.shutdown()
    server.server_close()


def client(reg: Registry, password: str = PASSWORD) -> RegistryClient:
    return RegistryClient(reg.url.removeprefix("http://"), username=USER, password=password)


def test_ping_tags_and_digest(registry: Registry) -> None:
    c = client(registry)
    c.ping()
    assert c.tags("ns/user") == ["0123456789ab", "main"]
    assert c.tags("ns/missing") == []
    assert c.manifest_digest("ns/user", "main") == DIGEST
    assert c.manifest_digest("ns/user", "nope") is None
    heads = [r for r in registry.requests if r[0] == "HEAD"]
    assert heads and all(r[2].get("Accept") == ACCEPT for r in heads)


def test_tag_info_reads_the_image_config(registry: Registry) -> None:
    info = client(registry).tag_info("ns/user", "main")
    assert info.digest == DIGEST
    assert info.created == CONFIG["created"]
    assert info.labels["org.opencontainers.image.version"] == "0123456789ab"


def test_put_tag_retags_server_side(registry: Registry) -> None:
    c = client(registry)
    assert c.put_tag("ns/user", "main", "inputs-abc") == DIGEST
    assert c.manifest_digest("ns/user", "inputs-abc") == DIGEST


def test_credentials_are_sent_once_the_scheme_is_known(registry: Registry) -> None:
    c = client(registry)
    c.ping()
    c.manifest_digest("ns/user", "main")
    c.manifest_digest("ns/user", "0123456789ab")
    api = [r for r in registry.requests if not r[1].startswith("/token")]
    anonymous = [(method, path) for method, path, headers in api if "Authorization" not in headers]
    # the first try is anonymous (no password to a scheme not yet known); then basic sends it on every request,
    # bearer fetches one token per new scope (/v2/ has none, the repository has one) and reuses it
    expected = {"basic": [("GET", "/v2/")], "bearer": [("GET", "/v2/"), ("HEAD", "/v2/ns/user/manifests/main")]}
    assert anonymous == expected[registry.mode]
    assert api[0][:2] == ("GET", "/v2/") and "Authorization" not in api[0][2]
    sent = [(method, path) for method, path, headers in api if registry.authorized(headers)]
    assert sent == [("GET", "/v2/"), ("HEAD", "/v2/ns/user/manifests/main"),
                    ("HEAD", "/v2/ns/user/manifests/0123456789ab")]
    assert len(api) == len(anonymous) + len(sent)  # nothing else was sent, nothing with wrong credentials
    tokens = [r for r in registry.requests if r[1].startswith("/token")]
    assert len(tokens) == (2 if registry.mode == "bearer" else 0)


def test_wrong_password_is_an_auth_error(registry: Registry) -> None:
    with pytest.raises(AuthError, match="refused the credentials"):
        client(registry, password="wrong").ping()
    assert AuthError.exit_code == 4


def test_no_credentials_is_an_auth_error(registry: Registry) -> None:
    with pytest.raises(AuthError, match="needs credentials"):
        RegistryClient(registry.url.removeprefix("http://")).ping()


def test_missing_manifest_is_a_precondition(registry: Registry) -> None:
    with pytest.raises(PreconditionError, match="not in registry"):
        client(registry).manifest("ns/user", "nope")


def test_unreachable_registry_is_external() -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ExternalError, match="unreachable") as info:
        RegistryClient(f"127.0.0.1:{port}", username=USER, password=PASSWORD, timeout=2).ping()
    assert info.value.exit_code == 5


def test_scheme_and_challenge_parsing() -> None:
    assert base_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert base_url("localhost:5000") == "http://localhost:5000"
    assert base_url("registry.example.com") == "https://registry.example.com"
    assert base_url("registry.example.com", insecure=True) == "http://registry.example.com"
    scheme, params = parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                                     'scope="repository:library/alpine:pull"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                      "scope": "repository:library/alpine:pull"}
