"""`coursectl lock list|acquire|release`: the deploy lock of each environment and service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from coursectl.cli._app import confirm_or_fail, state_of
from coursectl.cli._options import EnvOption, LockWaitOption, OutputOption, YesOption

if TYPE_CHECKING:
    from rich.console import Console

    from coursectl.cli._app import AppState

app = typer.Typer(help="Inspect and manage deploy locks.", no_args_is_help=True)

ServiceArg = Annotated[str, typer.Argument(help="Service whose deploy lock to act on.")]


def _env(state: AppState, env: str | None, service: str) -> str:
    loaded = state.config(env)
    from coursectl.errors import UsageError

    if service not in loaded.config.services:
        raise UsageError(
            f"unknown service {service!r}", hint=f"services: {', '.join(sorted(loaded.config.services))}"
        )
    _ = loaded.environment  # ConfigError (exit 3) when no environment is selected
    assert loaded.env_name is not None
    return loaded.env_name


@app.command("list")
def list_locks(ctx: typer.Context, env: EnvOption = None, output: OutputOption = None) -> None:
    """List held deploy locks (expired ones are marked)."""
    state = state_of(ctx)
    out = state.out(output)
    locks = state.ledger().locks(env or state.env_name)
    data = {"locks": [dict(lock.to_dict(), expired=lock.expired()) for lock in locks]}

    def human(console: Console) -> None:
        if not locks:
            console.print("no deploy locks held", markup=False)
        from coursectl.render.printable import printable as p

        for lock in locks:
            mark = " (expired)" if lock.expired() else ""
            console.print(
                f"{p(lock.environment)}/{p(lock.service)}: {p(lock.holder)} since"
                f" {lock.acquired_at:%Y-%m-%d %H:%M:%S} UTC until {lock.expires_at:%H:%M:%S} UTC{mark}"
                f" — {p(lock.reason)}",
                markup=False,
            )

    out.result(data, human=human, ids=[f"{lock.environment}/{lock.service}" for lock in locks])


@app.command("acquire")
def acquire(
    ctx: typer.Context,
    service: ServiceArg,
    env: EnvOption = None,
    reason: Annotated[
        str, typer.Option("--reason", "-m", help="Why (shown to whoever finds it held).")
    ] = "manual",
    ttl: Annotated[str, typer.Option("--ttl", help="Expiry, e.g. 15m or 2h.")] = "15m",
    lock_wait: LockWaitOption = 0.0,
    output: OutputOption = None,
) -> None:
    """Take the deploy lock by hand (maintenance); exit 8 when someone else holds it."""
    from coursectl.config.models import parse_duration
    from coursectl.domain import current_actor
    from coursectl.errors import UsageError

    state = state_of(ctx)
    out = state.out(output)
    if not reason.isprintable() or not reason.strip() or len(reason) > 500:
        raise UsageError(
            "--reason: give one line of printable text (at most 500 characters)",
            hint="no control characters or newlines: the reason is shown to whoever finds the lock",
        )
    env_name = _env(state, env, service)
    try:
        seconds = parse_duration(ttl)
    except ValueError as exc:
        raise UsageError(f"--ttl: {exc}") from None
    lock = state.ledger().acquire_lock(
        env_name, service, holder=current_actor(), reason=reason, ttl=seconds, wait=lock_wait
    )
    out.result(
        lock.to_dict(),
        human=f"locked {env_name}/{service} until {lock.expires_at:%H:%M:%S} UTC",
        ids=[f"{env_name}/{service}"],
    )


@app.command("release")
def release(
    ctx: typer.Context,
    service: ServiceArg,
    env: EnvOption = None,
    force: Annotated[bool, typer.Option("--force", help="Release a lock held by someone else.")] = False,
    yes: YesOption = False,
    output: OutputOption = None,
) -> None:
    """Release the deploy lock you hold (or, with --force, anyone's — recorded in the ledger)."""
    from coursectl.domain import current_actor
    from coursectl.errors import LockHeld
    from coursectl.render.printable import printable

    state = state_of(ctx)
    out = state.out(output)
    env_name = _env(state, env, service)
    ledger = state.ledger()
    lock = ledger.lock_info(env_name, service)
    actor = current_actor()
    if lock is None:
        out.result({"released": False, "held": False}, human=f"{env_name}/{service} is not locked")
        return
    if lock.holder != actor and not force:
        raise LockHeld(
            f"the deploy lock of {service} in {env_name} is held by {printable(lock.holder)}:"
            f" {printable(lock.reason)}",
            hint="pass --force to release someone else's lock",
            details=lock.to_dict(),
        )
    if lock.holder != actor:
        confirm_or_fail(out, f"release {printable(lock.holder)}'s lock on {env_name}/{service}?", yes=yes)
        ledger.force_release(env_name, service, actor=actor)
    else:
        ledger.release_lock(lock)
    out.result(
        {"released": True, "previous": lock.to_dict()},
        human=f"released {env_name}/{service} (was held by {printable(lock.holder)})",
        ids=[f"{env_name}/{service}"],
    )
