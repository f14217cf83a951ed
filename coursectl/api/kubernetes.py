"""Use cases of the kubernetes target besides rolling out: render an environment's manifests (offline), and
the manifests plus a diff against the live objects that ``deploy --dry-run`` prints (server-side dry-run when
the cluster answers, an offline render otherwise)."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from coursectl.errors import CoursectlError, ExternalError, PreconditionError, UsageError
from coursectl.render import kubernetes as km

OBSERVE = "observe"  # the rig need of reads (coursectl.api.rollout.OBSERVE)

log = logging.getLogger(__name__)

_VOLATILE_META = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink")


def _require_kubernetes(loaded: Any) -> None:
    env = loaded.environment
    if env.target != "kubernetes":
        raise UsageError(f"environment {loaded.env_name} uses the {env.target} target, not kubernetes")


def _secret_names(settings: km.Settings, services: Mapping[str, km.ServiceInfo]) -> list[str]:
    return sorted({ref["secret"] for svc in services.values() for ref in km.secret_refs(settings, svc)})


def rules_for(loaded: Any) -> list[km.Rule]:
    """The deployer Role's rules for an environment: coursectl's verbs, Secrets limited to those it names."""
    settings = km.Settings.from_config(loaded.config, loaded.env_name)
    return km.role_rules(_secret_names(settings, km.ServiceInfo.all_from_config(loaded.config)))


@dataclass
class Rendered:
    """The manifests of an environment, and what the reader should know about them."""

    environment: str
    namespace: str
    objects: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "namespace": self.namespace,
            "notes": self.notes,
            "objects": self.objects,
        }


def _artifact(ledger: Any, service: str, version: str | None, digest: str | None) -> dict[str, Any] | None:
    for event in ledger.events(service=service, kinds=["push"], limit=200):
        d = event.details
        if (
            (version is None and digest is None)
            or event.version == version
            or (digest and d.get("digest") == digest)
        ):
            repository = d.get("repository")
            return {
                "version": event.version,
                "digest": digest or d.get("digest"),
                "image": d.get("image") or (f"{repository}:{event.version}" if repository else None),
            }
    return None


def render_environment(
    loaded: Any,
    ledger: Any,
    *,
    services: Sequence[str] = (),
    version: str | None = None,
    digest: str | None = None,
) -> Rendered:
    """Every object coursectl would own in the environment for the given (default: last pushed) versions, in
    the first slot of its strategy, plus the deployer's ServiceAccount, Role and RoleBinding. Offline."""
    from coursectl.api.rollout import image_for
    from coursectl.rollout.steps import pair_for

    _require_kubernetes(loaded)
    config, env_name = loaded.config, str(loaded.env_name)
    env = loaded.environment
    settings = km.Settings.from_config(config, env_name)
    infos = km.ServiceInfo.all_from_config(config)
    names = list(services or sorted(infos))
    unknown = [n for n in names if n not in infos]
    if unknown:
        raise UsageError(f"unknown services: {', '.join(unknown)}", hint=f"services: {', '.join(sorted(infos))}")
    slot = pair_for(env.strategy)[0]
    notes: list[str] = []
    requests = []
    for name in names:
        art = _artifact(ledger, name, version, digest)
        if art is None:
            if version is None:
                raise UsageError(f"no pushed version of {name} is recorded", hint="give --version (and --digest)")
            art = {"version": version, "digest": digest, "image": None}
        image = art["image"] or image_for(config, name, art["version"])
        if not art["digest"]:
            notes.append(f"{name} {art['version']}: no digest recorded, rendered by tag (deploy refuses that)")
        requests.append(
            km.SlotRequest(
                service=name,
                slot=slot,
                version=str(art["version"]),
                image=image,
                digest=art["digest"],
                env={**_service_urls(config)},
                replicas=1 if slot == "canary" else settings.replicas,
            )
        )
    try:
        objects = km.environment_objects(
            settings,
            infos,
            requests,
            live={n: slot for n in names},
            traffic=env.kubernetes.traffic,
            rules=rules_for(loaded),
        )
    except km.ManifestError as exc:
        raise PreconditionError(str(exc)) from exc
    return Rendered(env_name, settings.namespace, objects, notes)


def _service_urls(config: Any) -> dict[str, str]:
    return {f"{name.upper()}_URL": f"http://{name}:{svc.port}" for name, svc in config.services.items()}


# deploy --dry-run ----------------------------------------------------------------------------------------


def _clean(obj: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE_META}
    notes = {k: v for k, v in (meta.get("annotations") or {}).items() if k != "deployment.kubernetes.io/revision"}
    if notes:
        meta["annotations"] = notes
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return out


def diff(live: Mapping[str, Any] | None, planned: Mapping[str, Any], label: str) -> str:
    """A unified diff of two objects as YAML (server-filled volatile fields and status left out)."""
    before = yaml.safe_dump(_clean(live), sort_keys=True).splitlines(keepends=True) if live is not None else []
    after = yaml.safe_dump(_clean(planned), sort_keys=True).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, f"live/{label}", f"planned/{label}"))


def planned_objects(ctx: Any, plan: Any) -> list[dict[str, Any]]:
    """What a planned rollout writes: the new slot's ConfigMap and Deployment, the preview Service, the
    per-service PodDisruptionBudget and NetworkPolicy, and the stable Service and autoscaler as they end."""
    rig = ctx.rig(OBSERVE)
    target = rig.target
    settings, svc = target.settings, target.services[plan.service]
    image = plan.image or ""
    req = km.SlotRequest(
        service=plan.service,
        slot=plan.new_slot,
        version=plan.version,
        image=image,
        digest=plan.digest,
        rollout_id=plan.id,
        env={**target.service_urls(), **dict(svc.env), **plan.set_env},
        replicas=1 if plan.new_slot == "canary" else settings.replicas,
    )
    final = plan.stable_slot if (plan.strategy == "canary" and plan.stable_slot) else plan.new_slot
    objects = [
        km.configmap(settings, svc, req),
        km.deployment(settings, svc, req),
        km.preview_service(settings, svc, plan.new_slot),
        *km.service_objects(settings, svc),
        km.stable_service(settings, svc, final),
    ]
    if settings.autoscaling:
        objects.append(km.hpa(settings, svc, final))
    return objects


def plan(ctx: Any, service: str, **options: Any) -> tuple[Any, str | None]:
    """The plan of a deploy from the live state, or — when the cluster does not answer — from nothing live
    (an offline plan), with the reason."""
    from coursectl.api import rollout as api

    try:
        return api.plan_deploy(ctx, service, **options), None
    except ExternalError as exc:
        reason = exc.message
    env = ctx.env
    artifact = api.resolve_artifact(ctx, service, options.get("version"), options.get("digest"))
    strategy = options.get("strategy") or env.strategy
    steps = [(s.weight, s.pause) for s in env.steps] or api.default_canary_steps(ctx.config.analysis.interval)
    from coursectl.rollout.plan import plan_rollout

    offline = plan_rollout(
        environment=ctx.env_name,
        service=service,
        version=artifact["version"],
        strategy=strategy,
        weights={},
        running={},
        canary_steps=steps,
        post_analysis=env.post_promotion_analysis,
        scale_down_delay=env.scale_down_delay,
        digest=artifact["digest"],
        image=artifact["image"],
        git_commit=artifact["git_commit"],
        hotfix=bool(options.get("hotfix")),
        set_env=dict(options.get("set_env") or {}),
        actor=ctx.actor,
        reason="deploy",
    )
    return offline, reason


def dry_run(ctx: Any, plans: Sequence[Any]) -> dict[str, Any]:
    """Manifests of ``plans`` and their diff against the live objects (server-side dry-run), or, when the cluster
    does not answer, the offline render with the reason. Nothing is persisted anywhere."""
    rig = ctx.rig(OBSERVE)
    api = rig.target.api
    reachable, reason = True, ""
    try:
        api.version()
    except ExternalError as exc:
        reachable, reason = False, exc.message
    services = []
    for plan in plans:
        try:
            objects = planned_objects(ctx, plan)
        except km.ManifestError as exc:
            raise PreconditionError(f"{plan.service} {plan.version}: {exc}") from exc
        entries = []
        for obj in objects:
            kind, name = str(obj["kind"]), str(obj["metadata"]["name"])
            entry: dict[str, Any] = {"kind": kind, "name": name, "manifest": obj}
            if reachable:
                try:
                    live = api.get(kind, name)
                    merged = api.apply(obj, dry_run=True)
                    entry["change"] = (
                        "create" if live is None else ("unchanged" if _clean(live) == _clean(merged) else "update")
                    )
                    entry["diff"] = diff(live, merged, f"{kind}/{name}")
                except CoursectlError as exc:
                    entry["change"] = "refused"
                    entry["error"] = exc.message
            entries.append(entry)
        services.append({"service": plan.service, "objects": entries})
    return {"server_side": reachable, "offline_reason": reason or None, "services": services}


def render_dry_run(data: Mapping[str, Any]) -> str:
    """The human text of ``dry_run``'s answer: per object its change and diff (or its manifest offline)."""
    lines = []
    if not data["server_side"]:
        lines.append(f"kubernetes: {data['offline_reason']} — offline render, no diff against live objects")
    for svc in data["services"]:
        for entry in svc["objects"]:
            head = f"--- {entry['kind']}/{entry['name']}"
            if "change" in entry:
                head += f": {entry['change']}"
            lines.append(head)
            if entry.get("error"):
                lines.append(f"  the API server would refuse it: {entry['error']}")
            elif data["server_side"]:
                if entry.get("diff"):
                    lines.append(entry["diff"].rstrip("\n"))
            else:
                lines.append(km.to_yaml([entry["manifest"]]).rstrip("\n"))
    return "\n".join(lines)
