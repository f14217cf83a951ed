"""A client of the Docker Registry HTTP API v2: tags, manifest digests, image configs, re-tagging.

Authentication: anonymous first; on ``401`` the ``WWW-Authenticate`` challenge decides — ``Basic`` sends the
credentials, ``Bearer`` fetches a token from the realm (with the credentials, scoped to the repository) and
retries. Errors are translated at this boundary: refused credentials → AuthError (exit 4), no answer →
ExternalError (exit 5), anything else unexpected → ExternalError naming the status.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from coursectl.domain import TagInfo
from coursectl.errors import AuthError, ExternalError, PreconditionError

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
ACCEPT = ", ".join(MANIFEST_TYPES)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
LOOPBACK = ("127.", "localhost", "[::1]")


def base_url(registry: str, *, insecure: bool = False) -> str:
    """``http://`` for loopback or insecure registries, else ``https://``."""
    if "://" in registry:
        return registry.rstrip("/")
    scheme = "http" if insecure or registry.startswith(LOOPBACK) else "https"
    return f"{scheme}://{registry.rstrip('/')}"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``('bearer', {'realm': …, 'service': …, 'scope': …})`` from a WWW-Authenticate header."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


class RegistryClient:
    """The Registry v2 API of one registry, with basic or token authentication."""

    def __init__(
        self,
        registry: str,
        *,
        username: str | None = None,
        password: str | None = None,
        insecure: bool = False,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        import requests

        self.registry = registry
        self.url = base_url(registry, insecure=insecure)
        self._auth = (username, password) if username and password is not None else None
        self.timeout = timeout
        self._session = session or requests.Session()
        self._session.trust_env = False  # no proxies between us and a loopback registry
        self._tokens: dict[str, str] = {}
        self._basic = False
        self._lock = threading.Lock()

    def close(self) -> None:
        self._session.close()

    # --- transport ----------------------------------------------------------------------------------------

    def _send(
        self, method: str, path: str, scope: str, headers: Mapping[str, str], data: bytes | None = None
    ) -> requests.Response:
        import requests

        hdrs = dict(headers)
        auth = None
        with self._lock:
            token = self._tokens.get(scope)
            basic = self._basic
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        elif basic and self._auth:
            auth = self._auth
        try:
            return self._session.request(
                method, self.url + path, headers=hdrs, auth=auth, data=data, timeout=self.timeout
            )
        except requests.Timeout as exc:
            raise ExternalError(f"registry {self.registry} did not answer within {self.timeout:g} s") from exc
        except requests.ConnectionError as exc:
            raise ExternalError(
                f"registry {self.registry} is unreachable: {type(exc).__name__}",
                hint="check registry.url, or run `coursectl sandbox up` for the local registry",
            ) from exc
        except requests.RequestException as exc:
            raise ExternalError(f"registry {self.registry}: {exc}") from exc

    def _request(
        self,
        method: str,
        path: str,
        *,
        scope: str = "",
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
    ) -> requests.Response:
        resp = self._send(method, path, scope, headers or {}, data)
        if resp.status_code != 401:
            return resp
        scheme, params = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        if self._auth is None:
            raise AuthError(
                f"registry {self.registry} needs credentials",
                hint="set registry.username/password references (the sandbox writes them to secrets.env)",
            )
        if scheme == "basic":
            with self._lock:
                already = self._basic
                self._basic = True
            if already:
                raise self._refused()
        elif scheme == "bearer":
            token = self._fetch_token(params, scope)
            with self._lock:
                self._tokens[scope] = token
        else:
            raise self._refused()
        resp = self._send(method, path, scope, headers or {}, data)
        if resp.status_code == 401:
            raise self._refused()
        return resp

    def _refused(self) -> AuthError:
        return AuthError(
            f"registry {self.registry} refused the credentials",
            hint="check the registry username/password references (`coursectl config show`)",
        )

    def _fetch_token(self, params: Mapping[str, str], scope: str) -> str:
        import requests

        realm = params.get("realm")
        if not realm:
            raise ExternalError(f"registry {self.registry} asked for a token without a realm")
        query = {"service": params.get("service", "")}
        if scope or params.get("scope"):
            query["scope"] = scope or params["scope"]
        try:
            resp = self._session.get(realm, params=query, auth=self._auth, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ExternalError(f"token service {realm} is unreachable: {type(exc).__name__}") from exc
        if resp.status_code in (401, 403):
            raise self._refused()
        if resp.status_code != 200:
            raise ExternalError(f"token service {realm} answered {resp.status_code}")
        body = self._json(resp.content, f"token service {realm}")
        token = body.get("token") or body.get("access_token")
        if not token:
            raise ExternalError(f"token service {realm} gave no token")
        return str(token)

    def _json(self, raw: bytes, what: str) -> dict[str, Any]:
        """A JSON object from the registry; ExternalError (exit 5) when it is not one."""
        import json

        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ExternalError(f"registry {self.registry}: {what} is not JSON: {raw[:80]!r}") from exc
        if not isinstance(body, dict):
            raise ExternalError(f"registry {self.registry}: {what} is not a JSON object")
        return body

    def _unexpected(self, resp: requests.Response, what: str) -> ExternalError:
        return ExternalError(
            f"registry {self.registry}: {what} answered {resp.status_code} {resp.reason}: {resp.text[:200]}"
        )

    # --- API ----------------------------------------------------------------------------------------------

    def ping(self) -> None:
        """Check that the registry answers and accepts the credentials."""
        resp = self._request("GET", "/v2/")
        if resp.status_code != 200:
            raise self._unexpected(resp, "/v2/")

    def tags(self, repo: str) -> list[str]:
        """Every tag of ``repo`` (following pagination); empty when the repository does not exist."""
        scope = f"repository:{repo}:pull"
        out: list[str] = []
        path: str | None = f"/v2/{repo}/tags/list?n=1000"
        while path:
            resp = self._request("GET", path, scope=scope)
            if resp.status_code == 404:
                return []
            if resp.status_code != 200:
                raise self._unexpected(resp, f"tags of {repo}")
            out.extend(self._json(resp.content, f"the tag list of {repo}").get("tags") or [])
            link = resp.headers.get("Link", "")
            match = re.match(r"<([^>]+)>", link)
            path = match.group(1) if match else None
        return sorted(out)

    def manifest_digest(self, repo: str, ref: str) -> str | None:
        """The digest of ``repo:ref`` (a tag or a digest) via HEAD; None when there is no such manifest."""
        resp = self._request(
            "HEAD", f"/v2/{repo}/manifests/{ref}", scope=f"repository:{repo}:pull", headers={"Accept": ACCEPT}
        )
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self._unexpected(resp, f"manifest {repo}:{ref}")
        digest = resp.headers.get("Docker-Content-Digest")
        if not digest:
            raise ExternalError(f"registry {self.registry} gave no Docker-Content-Digest for {repo}:{ref}")
        return digest

    def manifest(self, repo: str, ref: str) -> tuple[str, bytes, str]:
        """``(media type, raw bytes, digest)`` of a manifest; PreconditionError (exit 4) when it does not exist."""
        resp = self._request(
            "GET", f"/v2/{repo}/manifests/{ref}", scope=f"repository:{repo}:pull", headers={"Accept": ACCEPT}
        )
        if resp.status_code == 404:
            raise PreconditionError(f"image {repo}:{ref} is not in registry {self.registry}")
        if resp.status_code != 200:
            raise self._unexpected(resp, f"manifest {repo}:{ref}")
        media = resp.headers.get("Content-Type", "").split(";")[0] or MANIFEST_TYPES[0]
        return media, resp.content, resp.headers.get("Docker-Content-Digest", "")

    def image_config(self, repo: str, ref: str) -> dict[str, Any]:
        """The image configuration blob (``created``, ``config.Labels`` …) of a single-platform image."""
        media, raw, _ = self.manifest(repo, ref)
        body = self._json(raw, f"the manifest of {repo}:{ref}")
        if "manifests" in body:  # an index: take the first platform's manifest
            media, raw, _ = self.manifest(repo, body["manifests"][0]["digest"])
            body = self._json(raw, f"the manifest of {repo}:{ref}")
        config_digest = body.get("config", {}).get("digest")
        if not config_digest:
            return {}
        resp = self._request("GET", f"/v2/{repo}/blobs/{config_digest}", scope=f"repository:{repo}:pull")
        if resp.status_code != 200:
            raise self._unexpected(resp, f"config blob of {repo}:{ref}")
        return self._json(resp.content, f"the config blob of {repo}:{ref}")

    def tag_info(self, repo: str, tag: str) -> TagInfo:
        """The digest, creation time and labels of ``repo:tag``."""
        digest = self.manifest_digest(repo, tag)
        if digest is None:
            return TagInfo(tag, None)
        config = self.image_config(repo, digest)
        return TagInfo(tag, digest, config.get("created"), (config.get("config") or {}).get("Labels") or {})

    def put_tag(self, repo: str, source_ref: str, tag: str) -> str:
        """Point ``tag`` at the manifest of ``source_ref`` (server-side re-tag, no layers move); its digest."""
        media, raw, digest = self.manifest(repo, source_ref)
        resp = self._request(
            "PUT",
            f"/v2/{repo}/manifests/{tag}",
            scope=f"repository:{repo}:pull,push",
            headers={"Content-Type": media},
            data=raw,
        )
        if resp.status_code not in (200, 201):
            raise self._unexpected(resp, f"re-tag {repo}:{tag}")
        return resp.headers.get("Docker-Content-Digest") or digest
