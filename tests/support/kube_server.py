"""A local HTTP server that answers the Kubernetes API with REAL recorded objects and Status bodies.

Sources: ``shared/fixtures/kubernetes/`` (recorded from kube-apiserver v1.24.0) and ``tests/data/kubernetes/``
(recorded from the same version, see its README). Nothing here writes an answer of its own invention. The server
keeps the objects coursectl writes and answers every request with a recorded object of that kind, adapted
programmatically in exactly these ways:

* ``metadata.name``, ``namespace``, ``labels`` and ``annotations``, and the ``spec`` (Services, Deployments,
  autoscalers, budgets, policies, Ingresses) or ``data`` (ConfigMaps), are the ones coursectl sent — as a real
  server echoes them back. A JSON merge patch (RFC 7386) is applied to the stored object.
* A Deployment's ``metadata.generation`` / ``resourceVersion`` and its whole ``status`` come verbatim from the
  recorded snapshots, in the order they were recorded: a new template walks created → progressing → complete
  (``deployment-created/-progressing/-complete.json``); an image containing ``never-ready`` walks progressing →
  ProgressDeadlineExceeded; a replica change walks the recorded ``kubectl scale`` watch events of
  ``watch-deployments.jsonl``; a scale to zero answers ``deployment-scaled-to-zero.json``. The recorded counts
  are 3 pods, so tests keep a service at 3 replicas or fewer.
* ConfigMaps have no recorded sample: their answer is the recorded ServiceAccount's metadata skeleton (uid,
  resourceVersion, creationTimestamp) with coursectl's kind, apiVersion and data.
* Status bodies (401/403/404/409/422, the proxy's 503) are the recorded ones; for a 403 or 404 the object's name,
  the verb, the resource and the namespace inside the recorded message are replaced.
* The service proxy forwards to a real local HTTP server when a test registers one for that Service
  (``backends``); otherwise it answers the recorded 503 "no endpoints available" (what a real cluster without
  ready pods answers).

* A pod's log (``pods/log``) is the one answer composed here, from lines a test registers (``pod_logs``): the
  log endpoint returns what the container wrote, each line prefixed with its time (RFC 3339, nanoseconds) when
  asked for ``timestamps=true`` (``previous=true``: the lines registered in ``previous_logs``, else the recorded
  400 standing for the kubelet's "no previous instance"); no control plane here runs containers, so none could
  be recorded.

Every request is recorded with the RBAC verb and resource it needs (``requests``), and with ``role`` set the
server refuses (the recorded 403, adapted) whatever the Role does not grant.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import DATA, FIXTURES

K8S = FIXTURES / "kubernetes"
OWN = DATA / "kubernetes"
TOKEN = "fixture-token"

GROUPS = {
    "": "v1",
    "apps": "apps/v1",
    "autoscaling": "autoscaling/v2",
    "policy": "policy/v1",
    "networking.k8s.io": "networking.k8s.io/v1",
}
KINDS = {
    "deployments": "Deployment",
    "services": "Service",
    "configmaps": "ConfigMap",
    "pods": "Pod",
    "events": "Event",
    "secrets": "Secret",
    "horizontalpodautoscalers": "HorizontalPodAutoscaler",
    "poddisruptionbudgets": "PodDisruptionBudget",
    "networkpolicies": "NetworkPolicy",
    "ingresses": "Ingress",
}


def recorded(name: str) -> Any:
    """A recorded fixture (shared first, then this project's own recordings), parsed."""
    for folder in (K8S, OWN):
        path = folder / name
        if path.is_file():
            if name.endswith(".jsonl"):
                return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            return json.loads(path.read_text())
    raise FileNotFoundError(name)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def matches(labels: Mapping[str, str], selector: str | None) -> bool:
    if not selector:
        return True
    for part in selector.split(","):
        key, _, value = part.partition("=")
        if labels.get(key) != value:
            return False
    return True


def _scale_events() -> list[dict[str, Any]]:
    """The recorded MODIFIED events of ``kubectl scale deploy/course-blue --replicas=3``."""
    return [
        e["object"]
        for e in recorded("watch-deployments.jsonl")
        if e["type"] == "MODIFIED" and e["object"]["metadata"]["name"] == "course-blue"
    ]


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    verb: str
    group: str
    resource: str
    name: str | None
    namespace: str | None
    body: Any = None
    content_type: str = ""
    creates: bool = False  # a server-side apply of an object that does not exist: authorized as create too


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    fixture: str
    times: int
    query: Mapping[str, str | None] = field(default_factory=dict)  # only requests with these parameters (None: absent)


@dataclass
class Stored:
    """An object as stored, and (Deployments) the recorded snapshots it still has to walk through."""

    obj: dict[str, Any]
    pending: list[dict[str, Any]] = field(default_factory=list)


class KubeFixtureServer:
    """Start with ``start()``; ``url``; ``kubeconfig(path)`` writes a kubeconfig pointing here."""

    def __init__(self, namespace: str = "course", token: str = TOKEN):
        self.namespace = namespace
        self.token = token
        self.store: dict[tuple[str, str], Stored] = {}
        self.requests: list[Seen] = []
        self.faults: list[Fault] = []
        self.secrets: set[str] = set()
        self.backends: dict[str, str] = {}
        self.role: list[Mapping[str, Any]] | None = None
        self.pods_fixture: dict[str, str] = {}  # slot → recorded pod list to answer for its pods
        # "<service>-<slot>" → (time, text) lines its containers wrote; dealt round-robin to the slot's pods
        self.pod_logs: dict[str, list[tuple[datetime, str]]] = {}
        # the same for the instances before their containers' last restart (``previous=true``)
        self.previous_logs: dict[str, list[tuple[datetime, str]]] = {}
        self.lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None

    # lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> KubeFixtureServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # headers and body in one write (flushed after each request)
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                server._dispatch(self)

            do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def kubeconfig(self, path: Path, *, context: str = "fixture", token: str | None = None) -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": context,
                    "clusters": [{"name": "fixture", "cluster": {"server": self.url}}],
                    "users": [{"name": "deployer", "user": {"token": token or self.token}}],
                    "contexts": [{"name": context, "context": {"cluster": "fixture", "user": "deployer"}}],
                }
            )
        )
        return path

    def fail(
        self,
        method: str,
        path_regex: str,
        fixture: str,
        times: int = 1,
        query: Mapping[str, str | None] | None = None,
    ) -> None:
        """Answer the next ``times`` requests matching (path, and ``query`` when given) with the recorded error
        ``fixture``."""
        self.faults.append(Fault(method, re.compile(path_regex), fixture, times, dict(query or {})))

    # object helpers for tests ------------------------------------------------------------------------------

    def get(self, resource: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            stored = self.store.get((resource, name))
            return copy.deepcopy(stored.obj) if stored else None

    def verbs(self) -> set[tuple[str, str, str]]:
        """(verb, group, resource) of every request received — an apply that created its object counts as
        create too, as the API server authorizes it."""
        out = {(s.verb, s.group, s.resource) for s in self.requests if s.resource != "version"}
        return out | {("create", s.group, s.resource) for s in self.requests if s.creates}

    def settle(self) -> None:
        """Every Deployment at its last recorded snapshot (as if its controller had finished)."""
        with self.lock:
            for stored in self.store.values():
                if stored.pending:
                    self._advance(stored, all_of_it=True)

    # dispatch ---------------------------------------------------------------------------------------------

    def _reply(
        self, h: BaseHTTPRequestHandler, code: int, body: Any, content_type: str = "application/json"
    ) -> None:
        data = body if isinstance(body, bytes) else (json.dumps(body) + "\n").encode()
        h.send_response(code)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _status(self, h: BaseHTTPRequestHandler, fixture: str, **names: str) -> None:
        body = copy.deepcopy(recorded(fixture))
        if names:
            body = _adapt_status(body, **names)
        self._reply(h, int(body["code"]), body)

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(h.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        ctype = h.headers.get("Content-Type", "")
        body = json.loads(raw) if raw and "json" in ctype or raw and "yaml" in ctype else None
        route = _route(parsed.path, h.command, query)
        seen = Seen(
            h.command,
            parsed.path,
            query,
            route["verb"],
            route["group"],
            route["resource"],
            route["name"],
            route["namespace"],
            body,
            ctype,
        )
        with self.lock:
            self.requests.append(seen)
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            return self._status(h, "error-401-unauthorized.json")
        if parsed.path == "/version":
            return self._reply(h, 200, recorded("version.json"))
        for fault in list(self.faults):
            if (
                fault.method == h.command
                and fault.pattern.search(parsed.path)
                and all(query.get(k) == v for k, v in fault.query.items())
            ):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return self._status(h, fault.fixture)
        if seen.verb == "patch" and ctype.startswith("application/apply-patch") and seen.name:
            with self.lock:
                seen.creates = (seen.resource, seen.name) not in self.store
        if self.role is not None and not _allowed(self.role, seen):
            if seen.name:
                return self._status(
                    h,
                    "error-403-forbidden.json",
                    name=seen.name,
                    verb=seen.verb,
                    resource=seen.resource,
                    group=seen.group,
                    namespace=seen.namespace or "",
                )
            return self._status(
                h,
                "error-403-forbidden-list-secrets.json",
                verb=seen.verb,
                resource=seen.resource,
                group=seen.group,
                namespace=seen.namespace or "",
            )
        if self.role is not None and seen.creates and not _allowed(self.role, seen, verb="create"):
            return self._status(h, "error-403-apply-create.json", name=seen.name or "", kind=seen.resource)
        if seen.resource == "services/proxy":
            return self._proxy(h, seen, parsed.path)
        if seen.resource == "pods/log":
            return self._pod_log(h, seen)
        handler = {"get": self._get, "list": self._list, "watch": self._watch, "patch": self._patch}.get(seen.verb)
        if handler is None:
            return self._reply(h, 405, b"method not served by the fixture server", "text/plain")
        handler(h, seen)

    # reads ------------------------------------------------------------------------------------------------

    def _advance(self, stored: Stored, all_of_it: bool = False) -> None:
        while stored.pending:
            stored.obj = stored.pending.pop(0)
            if not all_of_it:
                return

    def _get(self, h: BaseHTTPRequestHandler, seen: Seen) -> None:
        assert seen.name is not None
        if seen.resource == "secrets":
            if seen.name in self.secrets:
                meta = copy.deepcopy(recorded("secret-metadata.json"))
                meta["metadata"].update(name=seen.name, namespace=seen.namespace)
                return self._reply(h, 200, meta)
            return self._status(h, "error-404-secret.json", name=seen.name, namespace=seen.namespace or "")
        with self.lock:
            stored = self.store.get((seen.resource, seen.name))
            if stored is None:
                return self._status(
                    h, "error-404-notfound.json", name=seen.name, resource=seen.resource, group=seen.group
                )
            answer = copy.deepcopy(stored.obj)
            self._advance(stored)  # the controller moves on between two reads
        self._reply(h, 200, answer)

    def _list(self, h: BaseHTTPRequestHandler, seen: Seen) -> None:
        selector = seen.query.get("labelSelector")
        if seen.resource == "pods":
            return self._reply(h, 200, self._pods(selector))
        if seen.resource == "events":
            return self._reply(h, 200, recorded("events-deployment-web.json"))
        with self.lock:
            found = [
                copy.deepcopy(s.obj)
                for (res, _), s in sorted(self.store.items())
                if res == seen.resource and matches(s.obj["metadata"].get("labels") or {}, selector)
            ]
        for item in found:  # list items carry no kind / apiVersion, as the API returns them
            item.pop("kind", None)
            item.pop("apiVersion", None)
        kind = KINDS[seen.resource]
        self._reply(
            h,
            200,
            {
                "kind": f"{kind}List",
                "apiVersion": GROUPS[seen.group],
                "metadata": {"resourceVersion": "1192"},
                "items": found,
            },
        )

    def _pods(self, selector: str | None) -> dict[str, Any]:
        labels = dict(p.split("=", 1) for p in (selector or "").split(",") if "=" in p)
        slot = labels.get("coursectl.io/slot", "")
        name = labels.get("app.kubernetes.io/name", "web")
        logged = {*self.pod_logs, *self.previous_logs}
        if not slot and logged:  # every slot of the service: the slots whose pods wrote logs
            slots = sorted(k.removeprefix(f"{name}-") for k in logged if k.startswith(f"{name}-"))
            listing = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1192"}, "items": []}
            for one in slots:
                per_slot = ",".join([*(p for p in (selector or "").split(",") if p), f"coursectl.io/slot={one}"])
                listing["items"] += self._pods(per_slot)["items"]
            return listing
        deployment = self.get("deployments", f"{name}-{slot}")
        image = json.dumps(deployment) if deployment else ""
        fixture = self.pods_fixture.get(slot) or (
            "pods-never-ready.json" if "never-ready" in image else "pods-list.json"
        )
        listing = copy.deepcopy(recorded(fixture))
        for pod in listing["items"]:
            pod["metadata"]["labels"] = {
                **labels,
                "pod-template-hash": pod["metadata"]["labels"].get("pod-template-hash", "0"),
            }
            pod["metadata"]["name"] = pod["metadata"]["name"].replace("web", f"{name}-{slot}", 1)
            pod["metadata"]["namespace"] = self.namespace
        return listing

    def _pod_log(self, h: BaseHTTPRequestHandler, seen: Seen) -> None:
        """A container's log: the lines a test registered for the pod's slot (``pod_logs``), dealt round-robin to
        the slot's pods, each as the log endpoint writes it with ``timestamps=true`` (its RFC 3339 time with
        nanoseconds, a space, the text); ``sinceSeconds`` and ``limitBytes`` applied. A pod of no listing is the
        recorded 404."""
        pod = seen.name or ""
        with self.lock:
            owner = next((k for k in {*self.pod_logs, *self.previous_logs} if pod.startswith(f"{k}-")), None)
        if owner is None:
            return self._status(h, "error-404-notfound.json", name=pod, resource="pods", group="")
        service, _, slot = owner.rpartition("-")
        selector = f"app.kubernetes.io/name={service},coursectl.io/slot={slot}"
        pods = sorted(p["metadata"]["name"] for p in self._pods(selector)["items"])
        if pod not in pods:
            return self._status(h, "error-404-notfound.json", name=pod, resource="pods", group="")
        logs = self.pod_logs
        if seen.query.get("previous") == "true":
            logs = self.previous_logs
            if owner not in logs:  # no instance before (the kubelet's own 400; the recorded 400 stands for it)
                return self._status(h, "pods-log-400-bad-container.json")
        lines = logs.get(owner, [])[pods.index(pod) :: len(pods)]
        since = seen.query.get("sinceSeconds")
        if since:
            cutoff = datetime.now(UTC) - timedelta(seconds=int(since))
            lines = [(t, text) for t, text in lines if t >= cutoff]
        stamps = seen.query.get("timestamps") == "true"
        body = "".join(
            (f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond:06d}000Z " if stamps else "") + text + "\n" for t, text in lines
        ).encode()
        limit = int(seen.query.get("limitBytes") or 0)
        self._reply(h, 200, body[-limit:] if limit else body, "text/plain")

    def _watch(self, h: BaseHTTPRequestHandler, seen: Seen) -> None:
        name = (seen.query.get("fieldSelector") or "").partition("metadata.name=")[2] or None
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()

        def chunk(data: bytes) -> None:
            h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            h.wfile.flush()

        if seen.query.get("resourceVersion") == "1":  # compacted long ago: the recorded 410
            for event in recorded("watch-too-old.jsonl"):
                chunk((json.dumps(event) + "\n").encode())
        else:
            with self.lock:
                stored = self.store.get((seen.resource, name or ""))
                events = []
                if stored is not None:
                    while stored.pending:
                        self._advance(stored)
                        events.append({"type": "MODIFIED", "object": copy.deepcopy(stored.obj)})
            for event in events:
                chunk((json.dumps(event) + "\n").encode())
        chunk(b"")

    # writes -----------------------------------------------------------------------------------------------

    def _patch(self, h: BaseHTTPRequestHandler, seen: Seen) -> None:
        assert seen.name is not None
        dry = seen.query.get("dryRun") == "All"
        apply = seen.content_type.startswith("application/apply-patch")
        with self.lock:
            stored = self.store.get((seen.resource, seen.name))
            if apply:
                if seen.query.get("fieldManager") != "coursectl" or seen.query.get("force") != "true":
                    return self._status(h, "error-409-apply-conflict.json")
                sent = seen.body
                new_obj = self._from_sent(seen.resource, sent, stored, dry)
                code = 200 if stored else 201
            else:
                if stored is None:
                    return self._status(
                        h, "error-404-service-patch.json", name=seen.name, resource=seen.resource, group=seen.group
                    )
                want = (seen.body or {}).get("metadata", {}).get("resourceVersion")
                if want and want != stored.obj["metadata"].get("resourceVersion"):
                    return self._status(h, "error-409-merge-patch-stale.json")
                merged = merge_patch(
                    stored.obj,
                    {
                        **seen.body,
                        "metadata": {
                            k: v for k, v in (seen.body.get("metadata") or {}).items() if k != "resourceVersion"
                        },
                    },
                )
                new_obj = self._from_sent(seen.resource, merged, stored, dry, patched=True)
                code = 200
            if not dry:
                self._store(seen.resource, seen.name, new_obj, stored)
                answer = copy.deepcopy(self.store[(seen.resource, seen.name)].obj)
            else:
                answer = new_obj.obj
        self._reply(h, code, answer)

    def _from_sent(
        self, resource: str, sent: Mapping[str, Any], stored: Stored | None, dry: bool, patched: bool = False
    ) -> Stored:
        """The object to keep: the recorded sample of the kind with what coursectl sent laid over it."""
        meta = sent["metadata"]
        if resource == "deployments":
            return self._deployment(sent, stored, dry, patched)
        base_file = {
            "services": "service-patched-green.json" if patched else "service-created.json",
            "configmaps": "serviceaccount-deployer.json",
            "horizontalpodautoscalers": "hpa-created.json",
            "poddisruptionbudgets": "pdb-created.json",
            "networkpolicies": "networkpolicy.json",
            "ingresses": "ingress-canary-weight-50.json" if patched else "ingress-canary.json",
        }[resource]
        obj = copy.deepcopy(recorded(base_file))
        _overlay(obj, sent)
        if resource == "configmaps":
            obj["kind"], obj["apiVersion"] = "ConfigMap", "v1"
            obj["data"] = dict(sent.get("data") or {})
        if resource == "services" and stored is not None:  # a Service keeps its allocated cluster IP
            obj["spec"]["clusterIP"] = stored.obj["spec"].get("clusterIP")
        obj["metadata"]["name"], obj["metadata"]["namespace"] = meta["name"], self.namespace
        return Stored(obj)

    def _deployment(self, sent: Mapping[str, Any], stored: Stored | None, dry: bool, patched: bool) -> Stored:
        before = stored.obj if stored else None
        same_template = before is not None and before["spec"].get("template") == sent["spec"].get("template")
        replicas = int(sent["spec"].get("replicas") or 0)
        never = "never-ready" in json.dumps(sent["spec"].get("template"))
        if dry:
            snapshots = [recorded("dryrun-apply-server-side.json")]
        elif before is None:
            snapshots = [
                recorded("deployment-created.json"),
                recorded("deployment-progressing.json"),
                recorded("deployment-progress-deadline-exceeded.json")
                if never
                else recorded("deployment-complete.json"),
            ]
        elif same_template and replicas == 0:
            snapshots = [recorded("deployment-scaled-to-zero.json")]
        elif same_template and replicas != int(before["spec"].get("replicas") or 0):
            snapshots = _scale_events()
        elif same_template:
            snapshots = [before]
        else:
            snapshots = [
                recorded("deployment-progressing.json"),
                recorded("deployment-progress-deadline-exceeded.json")
                if never
                else recorded("deployment-complete.json"),
            ]
        objs = []
        for snap in snapshots:
            obj = copy.deepcopy(snap)
            _overlay(obj, sent)
            obj["metadata"]["namespace"] = self.namespace
            objs.append(obj)
        return Stored(objs[0], objs[1:])

    def _store(self, resource: str, name: str, new: Stored, stored: Stored | None) -> None:
        self.store[(resource, name)] = new

    # proxy ------------------------------------------------------------------------------------------------

    def _proxy(self, h: BaseHTTPRequestHandler, seen: Seen, path: str) -> None:
        service = (seen.name or "").split(":", 1)[0]
        rest = path.split("/proxy", 1)[1] or "/"
        backend = self.backends.get(service)
        if backend is None:
            return self._status(h, "proxy-503-no-endpoints.json", service=service)
        try:
            with urllib.request.urlopen(backend + rest, timeout=5) as resp:  # noqa: S310 - loopback
                return self._reply(h, resp.status, resp.read(), resp.headers.get("Content-Type", "text/plain"))
        except urllib.error.HTTPError as exc:
            return self._reply(h, exc.code, exc.read(), exc.headers.get("Content-Type", "text/plain"))


def _overlay(obj: dict[str, Any], sent: Mapping[str, Any]) -> None:
    meta = sent.get("metadata") or {}
    obj["metadata"]["name"] = meta.get("name", obj["metadata"].get("name"))
    for key in ("labels", "annotations"):
        if key in meta:
            obj["metadata"][key] = copy.deepcopy(meta[key])
        else:
            obj["metadata"].pop(key, None)
    if "spec" in sent:
        obj["spec"] = copy.deepcopy(sent["spec"])


def _route(path: str, method: str, query: Mapping[str, str]) -> dict[str, Any]:
    """The RBAC verb, API group, resource, namespace and name of a request path."""
    out: dict[str, Any] = {"verb": "", "group": "", "resource": "", "namespace": None, "name": None}
    if path == "/version":
        return {**out, "verb": "get", "resource": "version"}
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        rest = parts[2:]
    else:
        out["group"] = parts[1]
        rest = parts[3:]
    if rest and rest[0] == "namespaces" and len(rest) >= 3:
        out["namespace"], rest = rest[1], rest[2:]
    out["resource"] = rest[0] if rest else ""
    if len(rest) >= 2:
        out["name"] = urllib.parse.unquote(rest[1])
    if len(rest) >= 3:
        out["resource"] += "/" + rest[2]
    named = out["name"] is not None
    out["verb"] = {
        "GET": "get" if named else ("watch" if query.get("watch") in ("1", "true") else "list"),
        "PATCH": "patch",
        "POST": "create",
        "PUT": "update",
        "DELETE": "delete" if named else "deletecollection",
    }[method]
    return out


def _allowed(role: Iterable[Mapping[str, Any]], seen: Seen, verb: str | None = None) -> bool:
    for rule in role:
        if seen.group not in rule.get("apiGroups", []) or seen.resource not in rule.get("resources", []):
            continue
        if (verb or seen.verb) not in rule.get("verbs", []):
            continue
        names = rule.get("resourceNames")
        if names and (seen.name or "").split(":", 1)[0] not in names:
            continue
        return True
    return False


def _adapt_status(body: dict[str, Any], **names: str) -> dict[str, Any]:
    """A recorded Status with the object's name, verb, resource, group and namespace replaced."""
    message = body["message"]
    if "name" in names:
        message = re.sub(r'"[^"]*"', f'"{names["name"]}"', message, count=1)
        body.setdefault("details", {})["name"] = names["name"]
    if "resource" in names and body.get("code") == 404:
        group = names.get("group")
        qualified = f"{names['resource']}.{group}" if group else names["resource"]
        message = re.sub(r"^\S+", qualified, message, count=1)
        body["details"]["kind"] = names["resource"]
        if group:
            body["details"]["group"] = group
        else:
            body["details"].pop("group", None)
    if "verb" in names:
        message = re.sub(r"^\S+", names["resource"], message, count=1)
        message = re.sub(
            r'cannot \w+ resource "[^"]*"', f'cannot {names["verb"]} resource "{names["resource"]}"', message
        )
        message = re.sub(r'in API group "[^"]*"', f'in API group "{names["group"]}"', message)
        body["details"]["kind"] = names["resource"]
    if names.get("namespace"):
        message = re.sub(r'in the namespace "[^"]*"', f'in the namespace "{names["namespace"]}"', message)
    if "kind" in names:
        message = re.sub(r"^\S+", names["kind"], message, count=1)
        body.setdefault("details", {})["kind"] = names["kind"]
    if "service" in names:
        message = re.sub(r'service "[^"]*"', f'service "{names["service"]}"', message)
    body["message"] = message
    return body


def own_fixture(name: str) -> Path:
    return OWN / name


def iter_requests(server: KubeFixtureServer, verb: str, resource: str) -> Iterator[Seen]:
    return (s for s in server.requests if s.verb == verb and s.resource == resource)
