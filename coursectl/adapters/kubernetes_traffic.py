"""Traffic on the kubernetes target (the TrafficRouter port): the stable Service ``<svc>``'s selector, the
live slot's HorizontalPodAutoscaler, and for a canary either a replica ratio or an ingress-nginx canary Ingress.

All traffic to one slot (blue-green switch, first deployment, promotion, abort, rollback): one merge patch of
the Service's selector to that slot (the slot is first scaled to the full count when it has fewer pods).

Split traffic, ``traffic: replicas``: the Service selects every slot of the service and the split is the ratio
of pods (20 % of 5 pods → 1 canary pod + 4 stable; the real share is reported, not the requested one).
``traffic: ingress-nginx``: the Service keeps selecting the stable slot, the preview Service the canary, and the
canary Ingress ``<svc>-canary`` carries the exact weight (``nginx.ingress.kubernetes.io/canary-weight``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from coursectl.adapters.kubernetes_api import KubeApi
from coursectl.adapters.kubernetes_target import KubernetesTarget
from coursectl.domain import SlotState
from coursectl.errors import ExternalError, PreconditionError
from coursectl.parsers import kubernetes as kp
from coursectl.render import kubernetes as km
from coursectl.rollout.replicas import canary_pods, replica_split

log = logging.getLogger(__name__)

REPLICAS = "replicas"
INGRESS_NGINX = "ingress-nginx"


def selected_slot(service_obj: Mapping[str, Any] | None) -> str | None:
    """The slot a Service's selector names (None: every slot, or no Service)."""
    if not service_obj:
        return None
    return ((service_obj.get("spec") or {}).get("selector") or {}).get(km.LABEL_SLOT)


def replica_weights(deployments: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Percent per slot from the pods each slot's Deployment asks for (largest remainder, summing to 100)."""
    from coursectl.rollout.weights import to_percents

    counts = {}
    for d in deployments:
        slot = ((d.get("metadata") or {}).get("labels") or {}).get(km.LABEL_SLOT)
        replicas = int((d.get("spec") or {}).get("replicas") or 0)
        if slot and replicas > 0:
            counts[str(slot)] = replicas
    return to_percents(counts) if counts else {}


def canary_weight(ingress: Mapping[str, Any] | None) -> int:
    if not ingress:
        return 0
    notes = (ingress.get("metadata") or {}).get("annotations") or {}
    if str(notes.get(km.NGINX_CANARY, "")).lower() != "true":
        return 0
    try:
        return max(0, min(100, int(str(notes.get(km.NGINX_WEIGHT, "0")))))
    except ValueError:
        return 0


def live_weights(
    mode: str,
    stable: Mapping[str, Any] | None,
    deployments: Sequence[Mapping[str, Any]],
    preview: Mapping[str, Any] | None = None,
    ingress: Mapping[str, Any] | None = None,
) -> dict[str, int]:
    """The live split of one service from its objects (pure): slot → percent of traffic, slots at 0 left out."""
    if stable is None:
        return {}
    slot = selected_slot(stable)
    if slot is None:
        return replica_weights(deployments) if mode == REPLICAS else {}
    weight = canary_weight(ingress) if mode == INGRESS_NGINX else 0
    canary = selected_slot(preview)
    if weight and canary and canary != slot:
        return {k: v for k, v in {canary: weight, slot: 100 - weight}.items() if v > 0}
    return {slot: 100}


class KubernetesRouter:
    """TrafficRouter over Services (and, with ingress-nginx, canary Ingresses) of one namespace."""

    def __init__(
        self,
        api: KubeApi,
        target: KubernetesTarget,
        *,
        mode: str = REPLICAS,
        ready_timeout: float = 90.0,
    ):
        if mode not in (REPLICAS, INGRESS_NGINX):
            raise PreconditionError(f"unknown traffic mode {mode!r}")
        self.api = api
        self.target = target
        self.settings = target.settings
        self.mode = mode
        self.ready_timeout = ready_timeout
        self._after_patch: dict[str, dict[str, int]] = {}

    # reads -------------------------------------------------------------------------------------------

    def _deployments(self, service: str) -> list[dict[str, Any]]:
        """The service's Deployments, from the target's list of a moment ago when there is one."""
        return self.target.recent(service)

    def _own(self, obj: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """``obj`` when it belongs to this environment; another environment's object in the same namespace is
        an error (both would route the same Service), never something to change."""
        if obj is None:
            return None
        labels = (obj.get("metadata") or {}).get("labels") or {}
        owner = labels.get(km.LABEL_ENV)
        if owner != self.settings.environment:
            name = obj["metadata"]["name"]
            raise PreconditionError(
                f"{obj.get('kind', 'object')} {name} in namespace {self.settings.namespace} belongs to "
                + (f"environment {owner}" if owner else "something coursectl did not create")
                + f", not {self.settings.environment}",
                hint="give every kubernetes environment a namespace of its own (or remove the object)",
            )
        return obj

    def weights(self, service: str) -> dict[str, int]:
        stable = self._own(self.api.get("Service", service))
        if stable is None:
            return {}
        if self.mode == REPLICAS:
            deployments = self.target.deployments(service) if selected_slot(stable) is None else []
            return live_weights(self.mode, stable, deployments)
        ingress = self.api.get("Ingress", km.canary_ingress_name(service))
        preview = self.api.get("Service", km.preview_name(service)) if canary_weight(ingress) else None
        return live_weights(self.mode, stable, [], preview, ingress)

    def verify(self, service: str, weights: Mapping[str, int]) -> bool | None:
        """Whether the live split is what ``set_weights`` makes of ``weights`` (for a replica ratio: the ratio
        of pods, e.g. 33 % for 20 % of 3 pods). Right after ``set_weights`` it judges that call's answers."""
        expected = self.expected(weights)
        live = self._after_patch.pop(service, None)
        if live is None:
            live = self.weights(service)
        return {k: v for k, v in live.items() if v} == {k: v for k, v in expected.items() if v}

    def expected(self, weights: Mapping[str, int], total: int | None = None) -> dict[str, int]:
        """The split ``weights`` really becomes on this router."""
        live = {s: w for s, w in weights.items() if w > 0}
        if len(live) <= 1 or self.mode == INGRESS_NGINX:
            return dict(live)
        new, stable = self._pair(live, None)
        split = replica_split(total or self.settings.replicas, live[new])
        share = split.actual_percent
        return {new: share, stable: 100 - share}

    def explain(self, weight: int, total: int | None = None) -> str:
        """What a canary step's weight becomes here, for plans: ``20 % requested → 1 of 5 pods = 20 %``."""
        if self.mode == INGRESS_NGINX:
            return f"{weight} % (ingress-nginx canary-weight, exact)"
        return replica_split(total or self.settings.replicas, weight).describe()

    def planned_weights(self, service: str) -> dict[str, int]:
        """The live weights: reading them changes nothing."""
        return self.weights(service)

    def snapshot(self, services: Sequence[str]) -> dict[str, tuple[list[SlotState], dict[str, int]]]:
        """Slots and weights of ``services`` from one list per kind (see ``snapshot_of``)."""
        return snapshot_of(self.api, self.target, self.mode, services)

    def ensure_running(self) -> None:
        """The cluster's Services are always there: nothing to start."""

    def running(self) -> bool:
        return True  # a Service does not stop; an API server that does not answer fails the reads instead

    def port_problems(self) -> list[str]:
        return []  # the router listens on no address of coursectl's

    # writes ------------------------------------------------------------------------------------------

    def _pair(self, live: Mapping[str, int], stable_obj: Mapping[str, Any] | None) -> tuple[str, str]:
        """(new, stable) of a split between two slots."""
        if set(live) == {"stable", "canary"}:
            return "canary", "stable"
        current = selected_slot(stable_obj)
        if current in live:
            other = next(s for s in live if s != current)
            return other, str(current)
        a, b = sorted(live)
        return (b, a) if a in ("blue", "stable") else (a, b)

    def set_weights(
        self, service: str, weights: Mapping[str, int], addresses: Mapping[str, tuple[str, int]]
    ) -> None:
        if service not in self.target.services:
            raise PreconditionError(f"unknown service {service!r}")
        live = {s: w for s, w in weights.items() if w > 0}
        if not live:
            raise ExternalError(f"{service}: at least one slot needs traffic")
        if len(live) == 1:
            (slot,) = live
            self._all_to(service, slot)
        elif len(live) == 2:
            self._split(service, live)
        else:
            raise ExternalError(f"{service}: traffic can be split between two slots only, not {sorted(live)}")

    def _scale(self, service: str, slot: str, replicas: int) -> None:
        name = km.slot_name(service, slot)

        def change(obj: Mapping[str, Any]) -> dict[str, Any] | None:
            return (
                None
                if int((obj.get("spec") or {}).get("replicas") or 0) == replicas
                else {"spec": {"replicas": replicas}}
            )

        updated = self.api.update("Deployment", name, change)
        if updated is None:
            raise ExternalError(f"Deployment {name} does not exist in namespace {self.settings.namespace}")
        self.target._remember(updated)

    def _scale_up_and_wait(self, service: str, wanted: Mapping[str, int], current: Mapping[str, int]) -> None:
        ups = {slot: n for slot, n in wanted.items() if n > current.get(slot, 0)}
        for slot, n in ups.items():
            log.info("%s: scaling %s to %d pods", service, slot, n)
            self._scale(service, slot, n)
        for slot in ups:
            self.target.wait_ready(service, slot, timeout=self.ready_timeout)

    @staticmethod
    def _counts(deployments: Sequence[Mapping[str, Any]]) -> dict[str, int]:
        return {
            str(d["metadata"]["labels"].get(km.LABEL_SLOT)): int((d.get("spec") or {}).get("replicas") or 0)
            for d in deployments
        }

    def _select(self, service: str, slot: str | None) -> dict[str, Any]:
        """Point the stable Service at ``slot`` (None: every slot): one merge patch; the Service is created
        (applied) the first time."""
        selector: dict[str, Any] = {km.LABEL_SLOT: slot}  # None removes the key (RFC 7386)
        patched = self.api.merge_patch("Service", service, {"spec": {"selector": selector}})
        if patched is None:
            svc = self.target.services[service]
            patched = self.api.apply(km.stable_service(self.settings, svc, slot))
        return patched

    def _hpa(self, service: str, slot: str, pinned: int | None = None) -> None:
        if self.settings.autoscaling:
            self.api.apply(km.hpa(self.settings, self.target.services[service], slot, pinned))

    def _all_to(self, service: str, slot: str) -> None:
        counts = self._counts(self._deployments(service))
        full = max([self.settings.replicas, *counts.values()])
        if counts.get(slot, 0) < full:  # it takes every request: all its pods first
            self._scale_up_and_wait(service, {slot: full}, counts)
        patched = self._select(service, slot)
        if self.mode == INGRESS_NGINX:
            self._set_canary(service, 0, create=False)
        self._hpa(service, slot)
        self._after_patch[service] = {selected_slot(patched) or "?": 100}

    def _split(self, service: str, live: Mapping[str, int]) -> None:
        deployments = self._deployments(service)
        counts = self._counts(deployments)
        stable_obj = self.api.get("Service", service)
        new, stable = self._pair(live, stable_obj)
        if self.mode == REPLICAS:
            mixed = stable_obj is not None and selected_slot(stable_obj) is None
            total = max(self.settings.replicas, counts.get(stable, 0) + (counts.get(new, 0) if mixed else 0))
            split = replica_split(total, live[new])
            wanted = {new: split.new, stable: split.stable}
            log.info("%s: %s", service, split.describe())
            self._scale_up_and_wait(service, wanted, counts)
            self._select(service, None)
            # the autoscaler (it scales the stable slot) would put the pods taken for the canary back: it is held
            # at the stable share while traffic is split, and released when one slot takes everything again
            self._hpa(service, stable, pinned=split.stable)
            for slot, n in wanted.items():
                if n < counts.get(slot, 0):
                    self._scale(service, slot, n)
            self._after_patch[service] = {new: split.actual_percent, stable: 100 - split.actual_percent}
            return
        total = max(self.settings.replicas, counts.get(stable, 0))
        self._scale_up_and_wait(service, {new: canary_pods(total, live[new])}, counts)
        if selected_slot(stable_obj) != stable:
            self._select(service, stable)
        self.target.point_preview(service, new)
        ingress = self._set_canary(service, live[new], create=True)
        weight = canary_weight(ingress)
        self._after_patch[service] = {k: v for k, v in {new: weight, stable: 100 - weight}.items() if v}

    def _set_canary(self, service: str, weight: int, *, create: bool) -> dict[str, Any] | None:
        """The canary Ingress at ``weight`` (created when ``create``; at 0 a missing one is fine)."""
        if create:
            return self.api.apply(km.canary_ingress(self.settings, self.target.services[service], weight))
        return self.api.merge_patch(
            "Ingress",
            km.canary_ingress_name(service),
            {"metadata": {"annotations": {km.NGINX_WEIGHT: str(weight)}}},
        )

    def remove(self, service: str, slot: str) -> None:
        """Take ``slot`` out of the traffic: the rest of the split goes to the other slot; a slot without
        traffic is a no-op."""
        current = self.weights(service)
        if current.get(slot, 0) == 0:
            return
        rest = {s: w for s, w in current.items() if s != slot and w > 0}
        if not rest:
            log.warning("%s: %s carries all traffic; it stays routed", service, slot)
            return
        (other,) = rest
        self._all_to(service, other)


def snapshot_of(
    api: KubeApi, target: KubernetesTarget, mode: str, services: Sequence[str]
) -> dict[str, tuple[list[SlotState], dict[str, int]]]:
    """Slots and live weights of ``services`` from one list per kind (Deployments, Services, and Ingresses
    with ingress-nginx): what ``coursectl status`` needs, without Prometheus."""
    deployments = target.deployments()
    objects = kp.items(api.list("Service", label_selector=km.managed_selector(target.settings)))
    by_name = {str(o["metadata"]["name"]): o for o in objects}
    ingresses: dict[str, Mapping[str, Any]] = {}
    if mode == INGRESS_NGINX:
        ing = kp.items(api.list("Ingress", label_selector=km.managed_selector(target.settings)))
        ingresses = {str(o["metadata"]["name"]): o for o in ing}
    out: dict[str, tuple[list[SlotState], dict[str, int]]] = {}
    for name in services:
        own = [d for d in deployments if (d["metadata"].get("labels") or {}).get(km.LABEL_NAME) == name]
        slots = sorted((target.state_of(d) for d in own), key=lambda s: s.slot)
        weights = live_weights(
            mode,
            by_name.get(name),
            own,
            by_name.get(km.preview_name(name)),
            ingresses.get(km.canary_ingress_name(name)),
        )
        out[name] = (slots, weights)
    return out
