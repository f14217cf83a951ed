"""The kubernetes Target: one Deployment (and ConfigMap) per service slot, ``<svc>-blue|green`` or
``<svc>-stable|canary``, in the environment's namespace; the preview Service ``<svc>-preview`` selecting the
slot being started; readiness read the way kubectl reads it; smoke checks through the API server's service proxy.

A retired slot is scaled to zero, not deleted: it keeps its recorded image, so a later rollback scales that
digest up again, and coursectl needs no delete permission at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from coursectl.adapters.kubernetes_api import KubeApi
from coursectl.domain import SlotSpec, SlotState
from coursectl.errors import ExternalError, ExternalTimeout, PreconditionError
from coursectl.parsers import kubernetes as kp
from coursectl.ports import Clock
from coursectl.render import kubernetes as km

log = logging.getLogger(__name__)

FRESH_FOR = 2.0  # seconds a Deployment read by a list stays good enough to skip reading it again
NO_ENDPOINTS = ("ServiceUnavailable", "NotFound")  # the proxy's answers while endpoints are being written


class _WallClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class KubernetesTarget:
    """Slots as Deployments in one namespace."""

    def __init__(
        self,
        api: KubeApi,
        settings: km.Settings,
        services: Mapping[str, km.ServiceInfo],
        *,
        smoke: bool = True,
        clock: Clock | None = None,
        endpoints_wait: float = 10.0,
    ):
        self.api = api
        self.settings = settings
        self.services = dict(services)
        self.smoke_enabled = smoke
        self.clock = clock or _WallClock()
        self.endpoints_wait = endpoints_wait
        self._monotonic = time.monotonic  # how old a read is: wall time, whatever clock the waits use
        self._seen: dict[str, tuple[float, dict[str, Any]]] = {}
        self._listed: dict[str, tuple[float, list[str]]] = {}
        self._secrets_ok: set[str] = set()
        self._preview: dict[str, str] = {}

    # reads -------------------------------------------------------------------------------------------

    def _svc(self, service: str) -> km.ServiceInfo:
        if service not in self.services:
            raise PreconditionError(f"unknown service {service!r}")
        return self.services[service]

    def address(self, service: str, slot: str) -> tuple[str, int]:
        """The slot's Deployment (``name.namespace``) and the service port; pods are reached only through
        Services, so this names the slot rather than a routable address."""
        return f"{km.slot_name(service, slot)}.{self.settings.namespace}", self._svc(service).port

    def _remember(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        data = dict(obj)
        name = str(data["metadata"]["name"])
        self._seen[name] = (self._monotonic(), data)
        service = (data["metadata"].get("labels") or {}).get(km.LABEL_NAME)
        listed = self._listed.get(str(service))
        if listed is not None and name not in listed[1]:  # written since the list: part of it now
            listed[1].append(name)
        return data

    def cached(self, name: str, max_age: float = FRESH_FOR) -> dict[str, Any] | None:
        """The Deployment ``name`` as read less than ``max_age`` seconds ago, else None."""
        hit = self._seen.get(name)
        if hit is None or self._monotonic() - hit[0] > max_age:
            return None
        return hit[1]

    def deployments(self, service: str | None = None) -> list[dict[str, Any]]:
        """coursectl's Deployments of ``service`` (or of every service) in this environment: one list."""
        listing = self.api.list("Deployment", label_selector=km.managed_selector(self.settings, service))
        found = [self._remember({**obj, "kind": "Deployment"}) for obj in kp.items(listing)]
        now = self._monotonic()
        for name in [service] if service else self.services:
            self._listed[name] = (
                now,
                [
                    str(d["metadata"]["name"])
                    for d in found
                    if (d["metadata"].get("labels") or {}).get(km.LABEL_NAME) == name
                ],
            )
        return found

    def recent(self, service: str, max_age: float = FRESH_FOR) -> list[dict[str, Any]]:
        """The service's Deployments as listed less than ``max_age`` seconds ago (each as last seen), else a
        new list: a decision taken right after a list needs no second read."""
        hit = self._listed.get(service)
        if hit is None or self._monotonic() - hit[0] > max_age:
            return self.deployments(service)
        return [self._seen[name][1] for name in hit[1] if name in self._seen]

    def state_of(self, obj: Mapping[str, Any]) -> SlotState:
        meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
        labels, notes = meta.get("labels") or {}, meta.get("annotations") or {}
        service, slot = str(labels.get(km.LABEL_NAME, "")), str(labels.get(km.LABEL_SLOT, ""))
        running = int(spec.get("replicas") or 0) > 0
        ready = running and kp.deployment_readiness(obj).done and int(status.get("availableReplicas") or 0) > 0
        return SlotState(
            service=service,
            slot=slot,
            version=str(notes.get(km.ANN_VERSION) or labels.get(km.LABEL_VERSION) or "?"),
            port=self.services[service].port if service in self.services else 0,
            running=running,
            ready=ready,
            digest=notes.get(km.ANN_DIGEST) or None,
            rollout_id=labels.get(km.LABEL_ROLLOUT) or None,
            host=f"{meta.get('name')}.{self.settings.namespace}",
        )

    def slots(self, service: str) -> list[SlotState]:
        return sorted((self.state_of(d) for d in self.deployments(service)), key=lambda s: s.slot)

    def slots_by_service(self, services: Sequence[str]) -> dict[str, list[SlotState]]:
        """Every slot of every service in ``services`` from one list request."""
        out: dict[str, list[SlotState]] = {name: [] for name in services}
        for obj in self.deployments():
            state = self.state_of(obj)
            if state.service in out:
                out[state.service].append(state)
        return {name: sorted(states, key=lambda s: s.slot) for name, states in out.items()}

    # start -------------------------------------------------------------------------------------------

    def _check_secrets(self, svc: km.ServiceInfo) -> None:
        for ref in km.secret_refs(self.settings, svc):
            if ref["secret"] in self._secrets_ok:
                continue
            if not self.api.exists("Secret", ref["secret"]):
                raise PreconditionError(
                    f"Secret {ref['secret']} (for {ref['name']} of {svc.name}) does not exist in namespace "
                    f"{self.settings.namespace}",
                    hint=f"create it first, e.g. kubectl -n {self.settings.namespace} create secret generic "
                    f"{ref['secret']} --from-literal={ref['key']}=…",
                )
            self._secrets_ok.add(ref["secret"])

    def _replicas_for(self, slot: str, existing: Sequence[Mapping[str, Any]]) -> int:
        """A canary starts with one pod (its traffic share decides the rest); any other slot at the live scale:
        the configured replicas, or more when the autoscaler has scaled the service up."""
        if slot == "canary":
            return 1
        scales = [
            int((d.get("spec") or {}).get("replicas") or 0)
            for d in existing
            if (d["metadata"].get("labels") or {}).get(km.LABEL_SLOT) != "canary"
        ]
        return max([self.settings.replicas, *scales])

    def start(self, spec: SlotSpec) -> SlotState:
        svc = self._svc(spec.service)
        if not spec.image:
            raise PreconditionError(f"no image for {spec.service} {spec.version}", hint="build and push it first")
        if not spec.digest and "@" not in spec.image:
            raise PreconditionError(
                f"the kubernetes target runs images by digest, and no digest of {spec.service} {spec.version} is "
                "recorded",
                hint="push it with coursectl (coursectl push / release) or give --digest sha256:…",
            )
        existing = self.recent(spec.service)  # the plan's list of a moment ago, when there is one
        name = km.slot_name(spec.service, spec.slot)
        current = next((d for d in existing if d["metadata"]["name"] == name), None)
        req = km.SlotRequest(
            service=spec.service,
            slot=spec.slot,
            version=spec.version,
            image=spec.image,
            digest=spec.digest,
            rollout_id=spec.rollout_id,
            env=dict(spec.env),
            replicas=self._replicas_for(spec.slot, existing),
        )
        try:
            deployment = km.deployment(self.settings, svc, req)
            configmap = km.configmap(self.settings, svc, req)
        except km.ManifestError as exc:
            raise PreconditionError(f"{spec.service} {spec.version}: {exc}") from exc
        if current is not None:
            live_hash = (current["metadata"].get("annotations") or {}).get(km.ANN_HASH)
            if live_hash == deployment["metadata"]["annotations"][km.ANN_HASH]:  # the same pods
                if int((current.get("spec") or {}).get("replicas") or 0) > 0:
                    log.info("%s already runs %s: left alone", name, spec.version)
                else:  # a retired slot of this very version: scale its recorded digest up again
                    log.info("%s: scaling %s (%s) up again", name, spec.version, spec.digest)
                    scaled = self.api.merge_patch("Deployment", name, {"spec": {"replicas": req.replicas}})
                    current = self._remember(scaled) if scaled is not None else current
                self.point_preview(spec.service, spec.slot)
                return self.state_of(current)
        self._check_secrets(svc)
        self.api.apply(configmap)
        applied = self._remember(self.api.apply(deployment))
        self._apply_preview(svc, spec.slot)
        for obj in km.service_objects(self.settings, svc):
            self.api.apply(obj)
        return self.state_of(applied)

    def _apply_preview(self, svc: km.ServiceInfo, slot: str) -> None:
        self.api.apply(km.preview_service(self.settings, svc, slot))
        self._preview[svc.name] = slot

    def point_preview(self, service: str, slot: str) -> None:
        """Make ``<svc>-preview`` select ``slot`` (a patch only when this process did not point it there)."""
        if self._preview.get(service) == slot:
            return
        patched = self.api.merge_patch(
            "Service", km.preview_name(service), {"spec": {"selector": km.slot_selector(service, slot)}}
        )
        if patched is None:
            self._apply_preview(self._svc(service), slot)
        self._preview[service] = slot

    # readiness ---------------------------------------------------------------------------------------

    def problems(self, service: str, slot: str) -> list[str]:
        """Why the slot's pods are not ready, read from the pods (and their probe events)."""
        selector = ",".join(f"{k}={v}" for k, v in km.slot_selector(service, slot).items())
        pods = kp.items(self.api.list("Pod", label_selector=selector))
        if not pods:
            return ["no pods (quota, admission, or the ReplicaSet could not create them)"]
        if all((kp.condition(p, "Ready") or {}).get("status") == "True" for p in pods):
            return []
        events = kp.items(self.api.list("Event", field_selector="involvedObject.kind=Pod,reason=Unhealthy"))
        names = {p["metadata"]["name"] for p in pods}
        return kp.pod_problems(pods, [e for e in events if (e.get("involvedObject") or {}).get("name") in names])

    def wait_ready(self, service: str, slot: str, *, timeout: float) -> SlotState:
        """Until the slot's Deployment has rolled out (kubectl's rules): watched, not polled. A progress
        deadline exceeded fails at once, with the reasons read from the pods."""
        name = km.slot_name(service, slot)
        deadline = self.clock.monotonic() + timeout
        obj = self.cached(name) or self.api.get("Deployment", name)
        while True:
            if obj is None:
                raise ExternalError(f"Deployment {name} does not exist in namespace {self.settings.namespace}")
            obj = self._remember(obj)
            if int((obj.get("spec") or {}).get("replicas") or 0) == 0:
                raise ExternalError(f"{name} is scaled to zero: nothing can become ready")
            reading = kp.deployment_readiness(obj)
            if reading.done:
                return self.state_of(obj)
            if reading.failed:
                why = self.problems(service, slot)
                raise ExternalError(
                    f"{name}: {reading.message}" + (": " + "; ".join(why) if why else ""),
                    details={"reason": reading.reason, "pods": why},
                )
            left = deadline - self.clock.monotonic()
            if left <= 0:
                why = self.problems(service, slot)
                raise ExternalTimeout(
                    f"{name} was not ready within {timeout:g} s ({reading.message.rstrip('.')})"
                    + (": " + "; ".join(why) if why else ""),
                    details={"pods": why},
                )
            obj = self._watch_until_change(name, obj, left)

    def _watch_until_change(self, name: str, obj: dict[str, Any], left: float) -> dict[str, Any] | None:
        """The next state of the Deployment worth judging (or the last one seen when the watch ends)."""
        version = str(obj["metadata"].get("resourceVersion") or "")
        latest: dict[str, Any] | None = obj
        for kind, event in self.api.watch(
            "Deployment", name=name, resource_version=version or None, timeout=max(1.0, left)
        ):
            if kind == "ERROR":  # 410 Gone (too old a version) and friends: read it afresh
                return self.api.get("Deployment", name)
            if kind == "DELETED":
                return None
            if kind in ("ADDED", "MODIFIED"):
                latest = {**event, "kind": "Deployment"}
                reading = kp.deployment_readiness(latest)
                if reading.done or reading.failed:
                    return latest
        if latest is not obj:
            return latest
        # the server ended the watch (its timeout) without news: a moment, then read it afresh
        self.clock.sleep(min(1.0, left))
        return self.api.get("Deployment", name)

    # smoke, retire -----------------------------------------------------------------------------------

    def smoke(self, service: str, slot: str, paths: Sequence[str]) -> list[str]:
        """GET each path on ``<svc>-preview`` (selecting ``slot``) through the API server's service proxy."""
        if not self.smoke_enabled:
            log.info("%s: smoke checks through the API server's proxy are off in this environment", service)
            return []
        self.point_preview(service, slot)
        problems = []
        for path in paths:
            status, body = self._through_proxy(km.preview_name(service), path)
            if not 200 <= status < 300:
                said = kp.ApiStatus.parse(status, body).message
                problems.append(
                    f"GET {path} through {km.preview_name(service)}: {status}" + (f" {said}" if said else "")
                )
        return problems

    def _through_proxy(self, service: str, path: str) -> tuple[int, bytes]:
        """One GET through the API server's proxy; while the Service's endpoints are still being written (the
        proxy answers 503 "no endpoints available", or 404 right after the Service was created) it is tried
        again for up to ``endpoints_wait`` seconds."""
        until = self.clock.monotonic() + self.endpoints_wait
        while True:
            status, body = self.api.proxy_get(service, "http", path)
            if status not in (404, 503) or kp.ApiStatus.parse(status, body).reason not in NO_ENDPOINTS:
                return status, body
            if self.clock.monotonic() >= until:
                return status, body
            self.clock.sleep(0.5)

    in_place = ("rolling", "recreate")  # the Deployment's own strategies update the live slot
    records_fingerprints = False  # the pod template hash says whether a slot is current

    def healthy(self, state: SlotState, path: str) -> bool:
        """The Deployment's readiness as last read (its pods' probes GET ``path``; no request from here)."""
        return state.running and state.ready

    def service_urls(self) -> dict[str, str]:
        """Slots reach each other through the cluster's Services, by name."""
        return {f"{name.upper()}_URL": f"http://{name}:{svc.port}" for name, svc in self.services.items()}

    def retire(self, service: str, slot: str) -> None:
        """Scale the slot to zero (its Deployment and recorded image stay for a later rollback)."""
        name = km.slot_name(service, slot)
        patched = self.api.merge_patch("Deployment", name, {"spec": {"replicas": 0}})
        if patched is not None:
            self._remember(patched)
            log.info("%s scaled to zero", name)
