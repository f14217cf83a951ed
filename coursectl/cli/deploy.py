"""`coursectl deploy SERVICE...`: roll a version out with the environment's strategy."""

from __future__ import annotations

from typing import Annotated

import typer

from coursectl.cli._app import confirm_or_fail, state_of
from coursectl.cli._options import DryRunOption, EnvOption, JUnitOption, LockWaitOption, OutputOption, YesOption


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)


def deploy(
    ctx: typer.Context,
    services: Annotated[list[str], typer.Argument(help="Services to deploy, in order.")],
    env: EnvOption = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="Version (image tag) to deploy; default: the one pushed for this commit."),
    ] = None,
    digest: Annotated[str | None, typer.Option("--digest", help="Image digest to deploy (sha256:...).")] = None,
    strategy: Annotated[
        str | None, typer.Option("--strategy", help="recreate, rolling, blue-green or canary (default: env's).")
    ] = None,
    set_env: Annotated[
        list[str] | None,
        typer.Option("--set-env", metavar="KEY=VALUE", help="Extra environment for this deployment (recorded)."),
    ] = None,
    hotfix: Annotated[bool, typer.Option("--hotfix", help="Mark this deployment as a hotfix (DORA).")] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    lock_wait: LockWaitOption = 0.0,
    junit: JUnitOption = None,
    output: OutputOption = None,
) -> None:
    """Deploy SERVICE(s): start the new version beside the old, check it, shift traffic, analyse, finish.

    Without --version/--digest: the version built and pushed for the work tree's commit. The live version
    with another environment (--set-env, a changed env in the configuration) is a new release; the same
    version, image and environment is "already live" (exit 0). Exit 7 when the rollout was aborted (traffic
    back on the old version), 8 when the deploy lock is held, 6 when it stopped paused for a human
    (inconclusive analysis, no traffic with on_no_traffic: pause, a manual step).
    """
    from coursectl.api import rollout as api
    from coursectl.cli._rollout_common import context, summary
    from coursectl.errors import CoursectlError, GateBlocked, UsageError
    from coursectl.render.tags import parse_env_pairs, validate_digest, validate_tag
    from coursectl.rollout import steps as st
    from coursectl.rollout.state import PAUSED

    state = state_of(ctx)
    out = state.out(output)
    if version is not None:
        validate_tag(version)
    if digest is not None:
        validate_digest(digest)
    if strategy and strategy not in st.STRATEGIES:
        raise UsageError(f"--strategy must be one of {', '.join(st.STRATEGIES)}")
    extra_env = parse_env_pairs(set_env or [])
    rctx = context(state, env, out, read_only=dry_run)
    for svc in services:
        rctx.service(svc)  # exit 2 for an unknown service, before anything is read or changed
    options = dict(version=version, digest=digest, strategy=strategy, set_env=extra_env, hotfix=hotfix)
    if dry_run:
        kube = rctx.env.target == "kubernetes"
        if kube:  # the plan from the live objects, or offline when the cluster does not answer
            from coursectl.api import kubernetes as kapi

            plans = [kapi.plan(rctx, svc, read_only=True, **options)[0] for svc in services]
        else:
            plans = [
                api.plan_deploy(rctx, svc, read_only=True, **options)  # type: ignore[arg-type]
                for svc in services
            ]
        router = rctx.rig(api.OBSERVE).router if kube else None  # the plan was read from it: already built

        def describe(step: st.Step) -> str:
            text = st.describe(step)
            if router is not None and isinstance(step, st.SetWeight) and 0 < step.weight < 100:
                note = router.explain(step.weight)
                text += f" ({note})" if note else ""
            return text

        data = {
            "dry_run": True,
            "plans": [
                dict(summary(p), steps=[describe(s) for s in p.steps], analysis=_analysis_plan(rctx))
                for p in plans
            ],
        }
        manifests = kapi.dry_run(rctx, plans) if kube else None
        if manifests is not None:
            data["kubernetes"] = manifests

        def human(console):  # type: ignore[no-untyped-def]
            for p in plans:
                console.print(
                    f"{p.service}: {p.stable_version or '(nothing)'} → {p.version} with {p.strategy} "
                    f"({p.stable_slot or '-'} → {p.new_slot}) in {p.environment}",
                    markup=False,
                )
                for i, step in enumerate(p.steps, 1):
                    console.print(f"  {i}. {describe(step)}", markup=False)
            console.print("analysis: " + "; ".join(_analysis_plan(rctx)), markup=False)
            if manifests is not None:
                console.print(kapi.render_dry_run(manifests), markup=False, highlight=False)

        out.result(data, human=human, ids=[p.id for p in plans])
        return
    if rctx.env.protected:
        confirm_or_fail(out, f"deploy {', '.join(services)} to {rctx.env_name}?", yes=yes)
    results = []
    try:
        for svc in services:
            what = version or digest or "(the version pushed for this commit)"
            out.progress(f"deploying {svc} {what} to {rctx.env_name}")
            results.append(api.deploy(rctx, svc, lock_wait=lock_wait, **options))
    except CoursectlError as exc:
        if junit is not None:  # the measurements that aborted it are what Jenkins should show
            failed = rctx.store.load(str(exc.details.get("rollout_id"))) if exc.details.get("rollout_id") else None
            _write_analysis(junit, results + ([failed] if failed else []), out)
        raise
    if junit is not None:
        _write_analysis(junit, results, out)
    data = {"deployments": [summary(r) for r in results]}
    lines = "\n".join(f"{r.service} {r.version}: {r.phase} — {r.message}" for r in results)
    out.result(data, human=lines, ids=[r.id for r in results])
    paused = [r for r in results if r.phase == PAUSED]
    if paused:
        raise GateBlocked(
            f"rollout of {paused[0].service} is paused: {paused[0].message}",
            hint=f"coursectl rollout resume|promote|abort {paused[0].service} --env {rctx.env_name}",
        )


def _analysis_plan(rctx) -> list[str]:  # type: ignore[no-untyped-def]
    a = rctx.config.analysis
    metrics = [f"{m.name} {'≤ ' + str(m.max) if m.max is not None else '≥ ' + str(m.min)}" for m in a.metrics]
    env = rctx.env
    min_requests = env.min_requests if env.min_requests is not None else a.min_requests
    return [
        f"every {a.interval:g} s",
        *metrics,
        f"user requests only, at least {min_requests} per window",
        f"no traffic: {env.on_no_traffic or a.on_no_traffic}",
        f"failure_limit {a.failure_limit}",
        f"inconclusive_limit {a.inconclusive_limit}",
        f"canary vs stable ≤ {a.max_ratio_to_stable:g}×" if a.compare_with_stable else "no stable comparison",
    ]


def _write_analysis(path, rollouts, out) -> None:  # type: ignore[no-untyped-def]
    """The analysis measurements of ``rollouts`` as JUnit XML (a rollout without analysis is one skipped case)."""
    from coursectl.cli._output import write_report
    from coursectl.render.junit import measurement_cases, to_xml

    write_report(path, to_xml("coursectl analysis", measurement_cases([r.to_dict() for r in rollouts if r.id])))
    out.progress(f"wrote junit report {path}")
