"""The Kubernetes API as coursectl uses it: access through the official ``kubernetes`` package (kubeconfig
context, ``--kubeconfig`` / ``KUBECONFIG``, in-cluster), raw JSON requests, and every failure translated into a
coursectl error at this boundary.

Every request names the RBAC verb and resource it needs and is checked against ``PERMISSIONS`` before it is
sent: the Role coursectl ships (``coursectl k8s render``, ``charts/course-platform``) grants exactly that table,
and a request outside it is a bug caught at call time, not a 403 in production.

Errors: unreachable → ExternalError (exit 5) naming the server; 401 → AuthError (exit 4) "not logged in to
<context>"; 403 → AuthError naming the verb, resource and namespace missing from the Role; 404 → None for reads;
409 Conflict → ``Conflict`` (callers re-read and retry); 422 → ExternalError naming the field the API named.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.parse
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from coursectl.errors import AuthError, CoursectlError, ExternalError, ExternalTimeout, PreconditionError
from coursectl.parsers.kubernetes import ApiStatus, forbidden, invalid_fields, watch_events
from coursectl.render.kubernetes import MANAGER, PERMISSIONS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    """Where the objects of one kind live in the API."""

    kind: str
    api_version: str
    resource: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def prefix(self) -> str:
        return f"/apis/{self.api_version}" if "/" in self.api_version else f"/api/{self.api_version}"


KINDS: dict[str, Kind] = {
    k.kind: k
    for k in (
        Kind("Deployment", "apps/v1", "deployments"),
        Kind("Service", "v1", "services"),
        Kind("ConfigMap", "v1", "configmaps"),
        Kind("Pod", "v1", "pods"),
        Kind("Event", "v1", "events"),
        Kind("Secret", "v1", "secrets"),
        Kind("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers"),
        Kind("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets"),
        Kind("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies"),
        Kind("Ingress", "networking.k8s.io/v1", "ingresses"),
    )
}

LOG_LIMIT_BYTES = 16 * 1024 * 1024
"""The most of one container's log ``pod_log`` reads (its last bytes): a noisy pod cannot fill the memory."""

_ALLOWED = {(r.group, res, verb) for r in PERMISSIONS for res in r.resources for verb in r.verbs}


class Conflict(ExternalError):
    """409: the object changed since it was read (re-read and retry), or it already exists."""

    kind = "conflict"

    def __init__(self, message: str, status: ApiStatus):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Access:
    """How to reach the cluster: kubeconfig (file, context) or in-cluster, and the namespace to act in."""

    context: str | None
    namespace: str
    kubeconfig: str | None = None
    request_timeout: float = 30.0


@dataclass(frozen=True)
class Request:
    """One request as sent: the RBAC verb and resource it needs, and the HTTP method and path."""

    verb: str
    group: str
    resource: str
    method: str
    path: str


def kubeconfig_paths(explicit: str | None, environ: Mapping[str, str]) -> list[Path]:
    """The kubeconfig files to read: ``explicit``, else $KUBECONFIG (a list), else ~/.kube/config."""
    if explicit:
        return [Path(os.path.expanduser(explicit))]
    if environ.get("KUBECONFIG"):
        return [Path(os.path.expanduser(p)) for p in environ["KUBECONFIG"].split(os.pathsep) if p]
    return [Path(os.path.expanduser("~/.kube/config"))]


class KubeApi:
    """A namespaced JSON client of the Kubernetes API. Thread-safe enough for the lock heartbeat's thread (it
    does not use this); one instance per command."""

    def __init__(self, access: Access, *, environ: Mapping[str, str] | None = None):
        self.access = access
        self.namespace = access.namespace
        self.environ = dict(os.environ if environ is None else environ)
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._cfg: Any = None
        self._pool: Any = None
        self._source = "?"

    # connection ----------------------------------------------------------------------------------------

    @property
    def context(self) -> str:
        return self.access.context or "in-cluster"

    @property
    def server(self) -> str:
        self._connect()
        return str(self._cfg.host)

    def describe(self) -> str:
        """``context <c> (<server>)`` for messages."""
        return f"context {self.context} ({self.server})"

    def _connect(self) -> None:
        if self._pool is not None:
            return
        import urllib3
        from kubernetes import client, config

        cfg = client.Configuration()
        files = kubeconfig_paths(self.access.kubeconfig, self.environ)
        existing = [p for p in files if p.is_file()]
        try:
            if existing:
                config.load_kube_config(  # type: ignore[no-untyped-call]  # the package has no type hints
                    config_file=os.pathsep.join(str(p) for p in existing),
                    context=self.access.context,
                    client_configuration=cfg,
                    persist_config=False,
                )
                self._source = ", ".join(str(p) for p in existing)
            elif self.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]  # untyped
                self._source = "in-cluster service account"
                self.access = Access(None, self.access.namespace, None, self.access.request_timeout)
            else:
                raise PreconditionError(
                    f"no kubeconfig found ({', '.join(str(p) for p in files)}) and not running in a cluster",
                    hint="pass --kubeconfig PATH, set KUBECONFIG, or kubernetes.kubeconfig in the environment",
                )
        except config.ConfigException as exc:
            raise PreconditionError(
                f"kubeconfig {', '.join(str(p) for p in existing) or '(in-cluster)'}: {exc}",
                hint=f"check that context {self.access.context!r} exists (kubectl config get-contexts)",
            ) from exc
        except (OSError, ValueError, TypeError, KeyError, yaml.YAMLError) as exc:  # unreadable or malformed files
            where = ", ".join(str(p) for p in existing) or "(in-cluster)"
            raise PreconditionError(f"cannot read the kubeconfig {where}: {exc}".replace("\n", " ")) from exc
        if not cfg.verify_ssl:
            log.warning("the kubeconfig of %s skips TLS verification of %s", self.context, cfg.host)
        rest = client.rest.RESTClientObject(cfg)
        self._cfg = cfg
        self._pool = rest.pool_manager
        self._urllib3 = urllib3

    def _headers(self, content_type: str | None, accept: str) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": "coursectl"}
        if content_type:
            headers["Content-Type"] = content_type
        try:  # bearer tokens (static, exec plugins, OIDC refresh) as the kubernetes package resolves them
            settings = self._cfg.auth_settings()
        except Exception as exc:  # the exec / OIDC refresh hooks of the kubernetes package
            raise AuthError(f"not logged in to {self.context}: refreshing the credentials failed: {exc}") from exc
        for auth in settings.values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[str(auth["key"]).title()] = str(auth["value"])
        return headers

    def _send(self, method: str, url: str, **kwargs: Any) -> Any:
        """The pool's request; an unverified TLS connection (insecure-skip-tls-verify) was warned about once."""
        if self._cfg.verify_ssl:
            return self._pool.request(method, url, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self._urllib3.exceptions.InsecureRequestWarning)
            return self._pool.request(method, url, **kwargs)

    # the one request function ----------------------------------------------------------------------------

    def _check(self, verb: str, group: str, resource: str) -> None:
        for one in verb.split("+"):  # "patch+create": a server-side apply, which may create the object
            if (group, resource, one) not in _ALLOWED:
                raise CoursectlError(
                    f"coursectl tried {one} on {resource} ({group or 'core'}), which its Role does not grant "
                    "(a bug)"
                )

    def request(
        self,
        verb: str,
        group: str,
        resource: str,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
        accept: str = "application/json",
        stream: bool = False,
        timeout: float | None = None,
        target: str = "",
    ) -> Any:
        """Send one request; the urllib3 response (status < 400, or any status for ``stream``)."""
        self._check(verb, group, resource)
        self._connect()
        url = self._cfg.host.rstrip("/") + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        with self._lock:
            self.requests.append(Request(verb, group, resource, method, path))
        u3 = self._urllib3
        read_timeout = timeout if timeout is not None else self.access.request_timeout
        try:
            resp = self._send(
                method,
                url,
                body=data,
                headers=self._headers(content_type, accept),
                preload_content=False,
                timeout=u3.Timeout(connect=min(10.0, self.access.request_timeout), read=read_timeout),
                retries=u3.Retry(total=1, connect=1, read=0, redirect=0, status=0, other=0),
            )
        except (u3.exceptions.ReadTimeoutError, u3.exceptions.ConnectTimeoutError) as exc:
            raise ExternalTimeout(
                f"the Kubernetes API server at {self._cfg.host} ({self.context}) did not answer "
                f"{method} {path} within {read_timeout:g} s"
            ) from exc
        except u3.exceptions.HTTPError as exc:  # refused, reset, TLS, name resolution
            reason = getattr(exc, "reason", None) or exc
            raise ExternalError(
                f"the Kubernetes API server at {self._cfg.host} ({self.context}) is unreachable: {reason}",
                hint="check the cluster is up and the kubeconfig's server address (kubectl cluster-info)",
            ) from exc
        if resp.status >= 400 and not stream:
            raw = self._body(resp)
            self._raise(resp.status, raw, verb, resource, target, group)
        return resp

    def _raise(self, code: int, raw: bytes, verb: str, resource: str, target: str, group: str = "") -> None:
        status = ApiStatus.parse(code, raw)
        what = f"{verb} {resource}" + (f"/{target}" if target else "")
        if code == 401:
            raise AuthError(
                f"not logged in to {self.context}: the API server at {self._cfg.host} refused the credentials "
                f"({status.message or 'Unauthorized'})",
                hint=f"log in again (refresh the credentials of context {self.context} in {self._source})",
            )
        if code == 403:
            refused = forbidden(status)
            fix = "apply the Role coursectl ships (charts/course-platform, or coursectl k8s render --env E)"
            if refused is not None:
                group = f" in API group {refused.group!r}" if refused.group else ""
                who = refused.user or "the deployer"
                raise AuthError(
                    f"{who} may not {refused.verb} {refused.resource}{group} in namespace "
                    f"{refused.namespace or self.namespace}: the deployer's Role is missing that verb",
                    hint=fix,
                    details={
                        "verb": refused.verb,
                        "resource": refused.resource,
                        "group": refused.group,
                        "namespace": refused.namespace or self.namespace,
                    },
                )
            if verb == "patch+create":  # the API names no verb when an apply would create the object
                raise AuthError(
                    f"the deployer may not create {resource} in namespace {self.namespace} "
                    f"({status.kind or resource} {status.name or target} does not exist yet, and server-side "
                    "apply creates it, which needs create besides patch): the deployer's Role is missing that "
                    "verb",
                    hint=fix,
                    details={"verb": "create", "resource": resource, "group": group, "namespace": self.namespace},
                )
            raise AuthError(f"{what}: forbidden: {status.message}")
        if code == 404:
            raise _NotFound(status.message or f"{what} not found")
        if code == 409:
            raise Conflict(f"{what}: {status.message}", status)
        if code == 422:
            fields = invalid_fields(status)
            named = "; ".join(f"{f}: {m}" for f, m in fields) if fields else status.message
            raise ExternalError(
                f"the API server refused {status.kind or resource} {status.name or target}: {named}",
                details={"fields": [f for f, _ in fields], "reason": status.reason},
            )
        if code == 429 or code >= 500:
            raise ExternalError(f"the Kubernetes API server failed {what}: {code} {status.message}".rstrip())
        raise ExternalError(f"{what}: {code} {status.reason}: {status.message}")

    def _body(self, resp: Any) -> bytes:
        """The whole body of a response (a broken connection while reading it is an external failure)."""
        try:
            return bytes(resp.data)
        except self._urllib3.exceptions.HTTPError as exc:
            raise ExternalError(
                f"the Kubernetes API server at {self._cfg.host} broke off an answer: {exc}"
            ) from exc
        finally:
            resp.release_conn()

    def _json(self, resp: Any) -> dict[str, Any]:
        raw = self._body(resp)
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ExternalError(
                f"the Kubernetes API server answered something that is not JSON: {raw[:200]!r}"
            ) from exc
        return dict(data) if isinstance(data, dict) else {"value": data}

    # objects ----------------------------------------------------------------------------------------------

    def _path(self, kind: Kind, name: str | None = None, sub: str | None = None) -> str:
        path = f"{kind.prefix}/namespaces/{self.namespace}/{kind.resource}"
        if name:
            path += f"/{urllib.parse.quote(name, safe='')}"
        if sub:
            path += f"/{sub}"
        return path

    def get(self, kind_name: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        kind = KINDS[kind_name]
        try:
            return self._json(
                self.request("get", kind.group, kind.resource, "GET", self._path(kind, name), target=name)
            )
        except _NotFound:
            return None

    def exists(self, kind_name: str, name: str) -> bool:
        """Whether the object exists, reading only its metadata (for Secrets: never their data)."""
        kind = KINDS[kind_name]
        accept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;q=0.1"
        try:
            resp = self.request(
                "get", kind.group, kind.resource, "GET", self._path(kind, name), accept=accept, target=name
            )
        except _NotFound:
            return False
        self._body(resp)  # metadata only, and not kept
        return True

    def list(
        self, kind_name: str, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> dict[str, Any]:
        """One List request (every page)."""
        kind = KINDS[kind_name]
        query: dict[str, str] = {}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        result: dict[str, Any] = {}
        while True:
            page = self._json(
                self.request("list", kind.group, kind.resource, "GET", self._path(kind), query=query)
            )
            if not result:
                result = page
                result["items"] = list(page.get("items") or [])
            else:
                result["items"] += list(page.get("items") or [])
                result["metadata"] = page.get("metadata", {})
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return result
            query["continue"] = token

    def apply(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply of ``obj`` (field manager coursectl, forcing conflicts: coursectl owns these
        objects); with ``dry_run`` nothing is persisted and the answer is what would be."""
        kind = KINDS[str(obj["kind"])]
        name = str(obj["metadata"]["name"])
        query = {"fieldManager": MANAGER, "force": "true"}
        if dry_run:
            query["dryRun"] = "All"
        resp = self.request(
            "patch+create",
            kind.group,
            kind.resource,
            "PATCH",
            self._path(kind, name),
            query=query,
            body=json.dumps(obj),
            content_type="application/apply-patch+yaml",
            target=name,
        )
        return self._json(resp)

    def merge_patch(
        self, kind_name: str, name: str, patch: Mapping[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any] | None:
        """A JSON merge patch (RFC 7386); None when the object does not exist. A patch carrying
        ``metadata.resourceVersion`` is refused with ``Conflict`` when the object changed since."""
        kind = KINDS[kind_name]
        query = {"fieldManager": MANAGER}
        if dry_run:
            query["dryRun"] = "All"
        try:
            resp = self.request(
                "patch",
                kind.group,
                kind.resource,
                "PATCH",
                self._path(kind, name),
                query=query,
                body=dict(patch),
                content_type="application/merge-patch+json",
                target=name,
            )
        except _NotFound:
            return None
        return self._json(resp)

    def update(self, kind_name: str, name: str, change: Any, *, attempts: int = 5) -> dict[str, Any] | None:
        """Read-modify-write: ``change(obj)`` gives a merge patch (None: nothing to do), sent with the
        resourceVersion read; on 409 the object is read again and ``change`` asked again."""
        for attempt in range(attempts):
            obj = self.get(kind_name, name)
            if obj is None:
                return None
            patch = change(obj)
            if patch is None:
                return obj
            patch = dict(patch)
            patch["metadata"] = {
                **dict(patch.get("metadata") or {}),
                "resourceVersion": obj["metadata"]["resourceVersion"],
            }
            try:
                return self.merge_patch(kind_name, name, patch)
            except Conflict as exc:
                if attempt == attempts - 1:
                    raise
                log.info("%s %s changed while being updated (%s): reading it again", kind_name, name, exc.message)
        return None

    def watch(
        self, kind_name: str, *, name: str, resource_version: str | None, timeout: float
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Watch events of one object from ``resource_version`` for at most ``timeout`` seconds.

        The stream ends when the server closes it; an ``ERROR`` event (e.g. 410 Gone: the version is too old)
        is yielded as it is, for the caller to read the object again.
        """
        kind = KINDS[kind_name]
        query = {
            "watch": "1",
            "fieldSelector": f"metadata.name={name}",
            "timeoutSeconds": str(max(1, int(timeout))),
            "allowWatchBookmarks": "false",
        }
        if resource_version:
            query["resourceVersion"] = resource_version
        resp = self.request(
            "watch",
            kind.group,
            kind.resource,
            "GET",
            self._path(kind),
            query=query,
            stream=True,
            timeout=timeout + 10,
            target=name,
        )
        if resp.status >= 400:
            self._raise(resp.status, self._body(resp), "watch", kind.resource, name, kind.group)
        try:
            yield from watch_events(_lines(resp))
        except self._urllib3.exceptions.HTTPError as exc:
            raise ExternalError(f"the watch of {kind.resource}/{name} broke off: {exc}") from exc
        except ValueError as exc:
            raise ExternalError(
                f"the watch of {kind.resource}/{name} sent a line that is not JSON: {exc}"
            ) from exc
        finally:
            resp.release_conn()

    def proxy_get(self, service: str, port: str, path: str, *, timeout: float = 10.0) -> tuple[int, bytes]:
        """GET ``path`` on a Service through the API server's service proxy, with the deployer's credentials.

        The answer of the service (any status) is returned; the API server's own refusals (401, 403) raise.
        """
        full = self._path(KINDS["Service"], f"{service}:{port}", "proxy") + ("/" + path.lstrip("/"))
        resp = self.request(
            "get", "", "services/proxy", "GET", full, stream=True, timeout=timeout, accept="*/*", target=service
        )
        raw = self._body(resp)
        if resp.status in (401, 403):
            status = ApiStatus.parse(resp.status, raw)
            if status.reason in ("Unauthorized", "Forbidden"):
                self._raise(resp.status, raw, "get", "services/proxy", service)
        return int(resp.status), bytes(raw)

    def pod_log(
        self,
        pod: str,
        container: str,
        *,
        since_seconds: int | None = None,
        limit_bytes: int = LOG_LIMIT_BYTES,
        previous: bool = False,
        timeout: float = 30.0,
    ) -> str:
        """The log of one container of ``pod`` with the runtime's time stamps (``timestamps=true``), at most its
        last ``limit_bytes``. ``LogUnavailable`` when there is none to read: the pod is gone, the container is
        waiting to start (400), or the API server could not reach its node (5xx). ``previous``: the log of the
        container's instance before its last restart (a crash's own output)."""
        query = {"container": container, "timestamps": "true", "limitBytes": str(limit_bytes)}
        if previous:
            query["previous"] = "true"
        if since_seconds is not None:
            query["sinceSeconds"] = str(max(1, since_seconds))
        path = self._path(KINDS["Pod"], pod, "log")
        resp = self.request(
            "get", "", "pods/log", "GET", path, query=query, stream=True, timeout=timeout, accept="*/*", target=pod
        )
        raw = self._body(resp)
        if resp.status < 400:
            return raw.decode("utf-8", errors="replace")
        status = ApiStatus.parse(resp.status, raw)
        if resp.status in (400, 404) or resp.status >= 500:
            raise LogUnavailable(
                f"no log of container {container} of pod {pod}: {resp.status} "
                f"{status.message or status.reason}".rstrip(),
                status,
            )
        self._raise(resp.status, raw, "get", "pods/log", pod)
        raise AssertionError("unreachable")  # _raise always raises

    def version(self) -> dict[str, Any]:
        """GET /version (any authenticated client may): is the API server there, and which one."""
        self._connect()
        started = time.monotonic()
        resp = self._pool_request_unchecked("/version")
        log.debug("GET /version took %.3f s", time.monotonic() - started)
        return self._json(resp)

    def _pool_request_unchecked(self, path: str) -> Any:
        # /version needs no Role rule (system:public-info-viewer), so it is outside PERMISSIONS on purpose
        u3 = self._urllib3
        try:
            resp = self._send(
                "GET",
                self._cfg.host.rstrip("/") + path,
                headers=self._headers(None, "application/json"),
                preload_content=False,
                timeout=u3.Timeout(connect=5.0, read=10.0),
                retries=u3.Retry(total=0, connect=0, read=0, redirect=0, status=0, other=0),
            )
        except u3.exceptions.HTTPError as exc:
            raise ExternalError(
                f"the Kubernetes API server at {self._cfg.host} ({self.context}) is unreachable: "
                f"{getattr(exc, 'reason', None) or exc}"
            ) from exc
        with self._lock:
            self.requests.append(Request("get", "", "version", "GET", path))
        if resp.status >= 400:
            self._raise(resp.status, self._body(resp), "get", "version", "")
        return resp


class LogUnavailable(ExternalError):
    """A container whose log cannot be read (gone, not started, its node unreachable): its Status."""

    def __init__(self, message: str, status: ApiStatus):
        super().__init__(message)
        self.status = status


class _NotFound(ExternalError):
    """404 (internal: reads answer None)."""


def _lines(resp: Any) -> Iterator[bytes]:
    buffer = b""
    for chunk in resp.stream(65536, decode_content=True):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line
    if buffer.strip():
        yield buffer
