"""Run a rollout's plan step by step, persisting state before each action; analyse during pauses.

The engine is the only place that acts, and it acts only through the ports. It reads operator requests
(pause, promote, promote --full, abort) written to the store by other processes between steps and during
pauses, and it can pick up any persisted rollout — after a crash, from another process — at the step it was on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from coursectl.domain import QueryResult, SlotSpec
from coursectl.errors import CoursectlError, ExternalError, LockHeld
from coursectl.ports import Clock, MetricsProvider, Target, TrafficRouter
from coursectl.rollout import analysis as an
from coursectl.rollout import steps as st
from coursectl.rollout.fingerprint import slot_fingerprint
from coursectl.rollout.state import ABORTED, ABORTING, FAILED, PAUSED, PROGRESSING, SUCCEEDED, RolloutState
from coursectl.rollout.store import Rollouts
from coursectl.rollout.weights import split

log = logging.getLogger(__name__)

MAX_KEPT_MEASUREMENTS = 40


@dataclass
class EngineSettings:
    """What the engine needs from the configuration besides the ports."""

    rules: an.AnalysisRules | None = None
    on_failure: str = "abort"
    smoke_paths: Sequence[str] = ("/health/ready",)
    health: str = "/health/ready"
    service_env: Mapping[str, str] = field(default_factory=dict)
    secret_names: frozenset[str] = frozenset()  # variables of service_env whose values the fingerprint leaves out
    ready_timeout: float = 90.0
    tick: float = 1.0
    scrape_interval: float = 5.0
    warmup: float | None = None  # default: two scrapes; "no data" before then is not yet a failure
    # the target labels each slot's series with its fingerprint, ``spec`` (coursectl's file_sd targets): a new
    # slot's analysis then reads its own series only, never what the slot's previous occupant left in the window
    spec_label: bool = False
    observe_timeout: float | None = None  # default: max(15 s, 4 scrapes); the longest "observed" waits


WARMUP_RETRY = 1.0  # seconds between analysis attempts while a new slot has no data yet


class Engine:
    """Executes ``RolloutState.steps`` from ``step_index``; returns the state when it stops.

    It stops when the rollout succeeds, ends aborted or failed, or pauses (a pause without a duration,
    inconclusive analysis, ``on_failure: pause``, or an operator's pause) — a paused rollout is continued
    by ``rollout resume`` from any process.
    """

    def __init__(
        self,
        *,
        target: Target,
        router: TrafficRouter,
        store: Rollouts,
        clock: Clock,
        metrics: MetricsProvider | None = None,
        settings: EngineSettings | None = None,
        heartbeat: Callable[[], None] | None = None,
        on_change: Callable[[RolloutState], None] | None = None,
    ):
        self.target = target
        self.router = router
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.settings = settings or EngineSettings()
        self._heartbeat = heartbeat
        self._on_change = on_change

    # the loop ----------------------------------------------------------------------------------------

    def run(self, state: RolloutState, *, hand_off: Callable[[RolloutState], bool] | None = None) -> RolloutState:
        """Run from ``step_index``. ``hand_off(state)``, asked before each step, returning True stops the loop
        there with the state still active: what is left is the caller's to hand to another process (a
        rollback's drain and retire, coursectl/api/finisher.py)."""
        while state.phase in (PROGRESSING, ABORTING):
            self._beat()
            if self._handle_request(state) == "stop":
                continue
            step = state.current_step
            if step is None:
                self._finish(state)
                break
            if hand_off is not None and hand_off(state):
                break
            self._save(state)  # the step about to run is on record before it runs
            try:
                done = self._execute(state, step)
            except LockHeld:
                raise
            except CoursectlError as exc:
                if isinstance(step, st.Retire) and (state.promoted or state.phase == ABORTING):
                    # traffic is already where it belongs: an abort now would send users back to what was just
                    # replaced. The retire stays to do (rollout resume / finish, or the next deploy); the error
                    # goes to the caller.
                    self.store.event(
                        "rollout.step", state, outcome="error", step=st.to_dict(step), index=state.step_index,
                        error=exc.message,
                    )  # fmt: skip
                    raise
                done = False
                self._step_failed(state, step, exc)
            if done:
                self.store.event(
                    "rollout.step",
                    state,
                    outcome="done",
                    step=st.to_dict(step),
                    index=state.step_index,
                    phase=state.phase,
                    description=st.describe(step),
                    weights=state.weights(),
                )
                state.step_index += 1
                self._save(state)
        return state

    def begin_abort(self, state: RolloutState, reason: str, *, actor: str | None = None) -> None:
        """Replace the remaining plan with the way back to stable, and record why (before acting)."""
        plan = st.abort_plan(
            strategy=state.strategy,
            stable=state.stable_slot,
            new=state.new_slot,
            stable_replaced=state.stable_replaced,
        )
        state.move(ABORTING, reason)
        state.aborted_by = actor or state.actor
        state.steps, state.step_index = plan, 0
        self._save(state)
        self.store.event(
            "rollout.abort",
            state,
            actor=actor,
            outcome="started",
            reason=reason,
            plan=[st.to_dict(s) for s in plan],
        )

    # steps -------------------------------------------------------------------------------------------

    def _execute(self, state: RolloutState, step: st.Step) -> bool:
        """Run one step; True when it is done (False: the rollout stopped on it — paused, aborting)."""
        match step:
            case st.Start(slot=slot, which=which):
                if slot == state.stable_slot and which == "new":
                    state.stable_replaced = True
                    self._save(state)
                self.target.start(self._spec(state, step))
                return True
            case st.WaitReady(slot=slot):
                self.target.wait_ready(state.service, slot, timeout=self.settings.ready_timeout)
                return True
            case st.Smoke(slot=slot):
                problems = self.target.smoke(state.service, slot, list(self.settings.smoke_paths))
                if problems:
                    raise ExternalError(f"smoke check of {slot} failed: " + "; ".join(problems))
                return True
            case st.WaitObserved(slot=slot):
                return self._observed(state, slot)
            case st.SetWeight(weight=weight):
                self._route(state, weight)
                return True
            case st.Pause(duration=duration, analyze=analyze):
                return self._pause(state, duration, analyze)
            case st.Delay(duration=duration):
                return self._pause(state, duration, False)
            case st.Promote():
                state.promoted = True
                self._save(state)
                self.store.event("rollout.promote", state, outcome="promoted", weights=state.weights())
                return True
            case st.Retire(slot=slot):
                self.router.remove(state.service, slot)
                self.target.retire(state.service, slot)
                return True
            case _:  # not a step (a plan built by hand): never loop on it
                raise CoursectlError(f"unknown rollout step {step!r}")

    def _new_spec(self, state: RolloutState) -> str | None:
        """The fingerprint the new slot's series are labelled with (``spec``), when the target labels them."""
        if not self.settings.spec_label:
            return None
        return self._spec(state, st.Start(state.new_slot)).fingerprint

    def _spec(self, state: RolloutState, step: st.Start) -> SlotSpec:
        slot = step.slot
        old = step.which == "stable-old"
        env = dict(self.settings.service_env)
        if not old:
            env.update(state.set_env)
        _, port = self.target.address(state.service, slot)
        version = (state.stable_version or "") if old else state.version
        image = state.stable_image if old else state.image
        digest = state.stable_digest if old else state.digest
        return SlotSpec(
            service=state.service,
            slot=slot,
            version=version,
            port=port,
            image=image,
            digest=digest,
            env=env,
            rollout_id=state.id,
            health=self.settings.health,
            fingerprint=slot_fingerprint(
                image=image, digest=digest, version=version, env=env, secret_names=self.settings.secret_names
            ),
        )

    def _route(self, state: RolloutState, weight: int) -> None:
        wanted = split(state.new_slot, state.stable_slot, weight)
        addresses = {slot: self.target.address(state.service, slot) for slot in wanted}
        state.weight = weight
        if weight > 0 and state.traffic_since is None and state.stable_slot is not None:
            state.traffic_since = self._stamp()
        self._save(state)
        self.router.set_weights(state.service, wanted, addresses)
        if self.router.verify(state.service, wanted) is False:
            raise ExternalError(f"the router did not take the weights {wanted} for {state.service}")

    def _pause(self, state: RolloutState, duration: float | None, analyze: bool) -> bool:
        if duration is None:
            state.move(PAUSED, "paused until resumed (rollout resume / promote)")
            self._save(state)
            return False
        rules = self.settings.rules
        analyze = analyze and rules is not None
        interval = rules.interval if (analyze and rules) else duration
        start = self.clock.monotonic()
        # while the new slot's first traffic is being scraped, look early and often (rounds without data are not
        # counted then): a bad canary is judged on its very first data, not a whole interval later
        first = min(interval, WARMUP_RETRY) if analyze and self._warming_up(state) else interval
        next_round = start + first
        passed_here = 0
        while True:
            now = self.clock.monotonic()
            if analyze and now >= next_round:
                verdict = self._analyse(state)
                if verdict == an.INCONCLUSIVE and self._warming_up(state):
                    # no data yet (a new target takes a few seconds to be scraped): look again soon rather
                    # than a whole interval later, so a bad canary is caught in its first intervals
                    next_round = self.clock.monotonic() + min(interval, WARMUP_RETRY)
                else:
                    next_round += interval
                if state.phase != PROGRESSING:
                    return False
                if verdict == an.SUCCESSFUL:
                    passed_here += 1
            if now - start >= duration and (not analyze or passed_here >= 1):
                return True
            wakes = [next_round] if analyze else []
            if now - start < duration:
                wakes.append(start + duration)
            wake = min(wakes) if wakes else now
            self.clock.sleep(max(0.0, min(self.settings.tick, wake - now)))
            self._beat()
            action = self._handle_request(state, in_pause=True)
            if action == "skip":
                return True
            if action == "stop":
                return False

    def _observed(self, state: RolloutState, slot: str) -> bool:
        """Wait until the metrics provider has scraped the new slot twice (at most ``observe_timeout``): users are
        sent to it only when its first requests can be seen. On timeout (Prometheus down, a target it does not
        scrape) the rollout goes on and analysis decides — it never promotes without data."""
        rules = self.settings.rules
        if rules is None or self.metrics is None:
            return True
        window = an.window_for(rules.interval, self.settings.scrape_interval)
        version = state.version if slot == state.new_slot else state.stable_version
        spec = self._new_spec(state) if slot == state.new_slot else None
        query = an.render_scrapes_query(
            service=state.service, slot=slot, window=window, version=version, spec=spec
        )
        timeout = self.settings.observe_timeout
        if timeout is None:
            timeout = max(15.0, 4 * self.settings.scrape_interval)
        deadline = self.clock.monotonic() + timeout
        while True:
            result = self._query(query)
            if result.error is None and result.value is not None and result.value >= 2:
                return True
            if self.clock.monotonic() >= deadline:
                why = result.error or "no scrapes of it yet"
                log.warning("%s: %s is not observed after %g s (%s): going on", state.service, slot, timeout, why)
                self.store.event("rollout.step", state, outcome="unobserved", slot=slot, reason=why)
                return True
            self.clock.sleep(min(self.settings.tick, WARMUP_RETRY / 2))
            self._beat()
            action = self._handle_request(state)
            if action == "stop":
                return False

    def _analyse(self, state: RolloutState) -> str:
        """One analysis round: every metric with the user requests it is based on, judged, recorded, decided."""
        rules = self.settings.rules
        assert rules is not None
        window = an.window_for(rules.interval, self.settings.scrape_interval)
        at = self._stamp()
        stable_has_traffic = state.stable_slot is not None and state.weight < 100
        tally = an.Tally.from_dict(state.analysis)
        warming = self._warming_up(state)
        counts: dict[str, QueryResult] = {}
        found: list[an.Measurement] = []
        excluded = rules.exclude_routes
        new_spec = self._new_spec(state)

        def promql(rule: an.MetricRule, slot: str, version: str | None, spec: str | None = None) -> str:
            return an.render_query(
                rule,
                service=state.service,
                slot=slot,
                window=window,
                version=version,
                exclude_routes=excluded,
                spec=spec,
            )

        for rule in rules.metrics:
            query = promql(rule, state.new_slot, state.version, new_spec)
            result = self._query(query)
            count_query = an.render_requests_query(
                rule, service=state.service, slot=state.new_slot, window=window, version=state.version,
                exclude_routes=excluded, spec=new_spec,
            )  # fmt: skip
            if count_query not in counts:
                counts[count_query] = self._query(count_query)
            count = counts[count_query]
            error = result.error or count.error
            stable_value = None
            if rules.compare_with_stable and stable_has_traffic and error is None:
                assert state.stable_slot is not None
                stable_value = self._query(promql(rule, state.stable_slot, state.stable_version)).value
            verdict, reason = an.judge(
                rule,
                value=result.value,
                error=error,
                stable_value=stable_value,
                compare_with_stable=rules.compare_with_stable and stable_has_traffic,
                max_ratio=rules.max_ratio_to_stable,
                requests=count.value,
                window=window,
            )
            no_traffic = verdict == an.INCONCLUSIVE and an.too_little_traffic(rule, count.value)
            if warming and verdict == an.FAILED and result.value is None and error is None:
                verdict = an.INCONCLUSIVE  # nothing scraped yet (a new target): wait, do not judge
            if warming and verdict == an.INCONCLUSIVE:
                reason += " (warming up)"
            found.append(
                an.Measurement(
                    metric=rule.name,
                    slot=state.new_slot,
                    query=query,
                    value=result.value,
                    verdict=verdict,
                    reason=reason,
                    at=at,
                    max=rule.max,
                    min=rule.min,
                    stable_value=stable_value,
                    error=error,
                    requests=count.value,
                    min_requests=rule.min_requests,
                    window=window,
                    round=tally.rounds + 1,
                    weight=state.weight,
                    no_traffic=no_traffic,
                )
            )
        verdict, no_traffic = an.round_verdict(found)
        warm_skip = verdict == an.INCONCLUSIVE and warming
        if not warm_skip:
            tally.add(verdict, no_traffic=no_traffic)
        state.analysis = tally.to_dict()
        state.measurements = (state.measurements + [m.to_dict() for m in found])[-MAX_KEPT_MEASUREMENTS:]
        decision = an.decide(tally, failure_limit=rules.failure_limit, inconclusive_limit=rules.inconclusive_limit)
        self.store.event(
            "rollout.measurement",
            state,
            outcome=verdict,
            weight=state.weight,
            decision=decision,
            no_traffic=no_traffic,
            counted=not warm_skip,
            measurements=[m.to_dict() for m in found],
            tally=tally.to_dict(),
        )
        if decision == an.FAIL:
            why = "analysis failed: " + an.explain_failure(found, tally)
            if self.settings.on_failure == "pause":
                state.move(PAUSED, why + " (on_failure: pause — abort or promote by hand)")
                self._save(state)
            else:
                self.begin_abort(state, why)
        elif decision == an.NO_TRAFFIC:
            why = "analysis inconclusive: " + an.explain_no_traffic(found, tally)
            if rules.on_no_traffic == "abort":
                self.begin_abort(state, why + " (on_no_traffic: abort)")
            else:
                state.move(
                    PAUSED,
                    why + " (on_no_traffic: pause — send traffic and `rollout resume`, or `rollout promote`"
                    " / `rollout abort`)",
                )
                self._save(state)
        elif decision == an.PAUSE:
            state.move(PAUSED, f"analysis inconclusive {tally.inconclusive} times: a human decides (resume/abort)")
            self._save(state)
        else:
            self._save(state)
        return verdict

    def _warming_up(self, state: RolloutState) -> bool:
        if not state.traffic_since:
            return False
        from datetime import datetime

        warmup = self.settings.warmup if self.settings.warmup is not None else 2 * self.settings.scrape_interval
        since = datetime.fromisoformat(state.traffic_since.replace("Z", "+00:00"))
        return (self.clock.now() - since).total_seconds() < warmup

    def _query(self, query: str) -> QueryResult:
        if self.metrics is None:
            return QueryResult(query, error="no metrics provider configured")
        try:
            return self.metrics.query(query)
        except Exception as exc:  # a provider must not raise; if it does, that is an error measurement
            return QueryResult(query, error=f"{type(exc).__name__}: {exc}")

    # requests, failures, the end ----------------------------------------------------------------------

    def _handle_request(self, state: RolloutState, *, in_pause: bool = False) -> str | None:
        request = self.store.take_request(state.id)
        if not request:
            return None
        what, actor = request.get("do"), request.get("actor")
        log.info("rollout %s: %s requested by %s", state.id, what, actor)
        if what == "abort" and state.phase != ABORTING:
            self.begin_abort(state, f"aborted by {actor}", actor=actor)
            return "stop"
        if what == "pause" and state.phase == PROGRESSING:
            state.move(PAUSED, f"paused by {actor}")
            self._save(state)
            self.store.event("rollout.step", state, actor=actor, outcome="paused", index=state.step_index)
            return "stop"
        if what == "promote" and state.phase == PROGRESSING and in_pause:
            self.store.event("rollout.promote", state, actor=actor, outcome="step-skipped", index=state.step_index)
            return "skip"
        if what == "promote-full" and state.phase == PROGRESSING:
            state.steps = st.fast_promote_plan(state.steps, state.step_index + (1 if in_pause else 0))
            state.step_index = 0
            self._save(state)
            self.store.event(
                "rollout.promote", state, actor=actor, outcome="full", plan=[st.to_dict(s) for s in state.steps]
            )
            return "stop"
        return None

    def _step_failed(self, state: RolloutState, step: st.Step, exc: CoursectlError) -> None:
        reason = f"{st.describe(step)}: {exc.message}"
        self.store.event(
            "rollout.step",
            state,
            outcome="error",
            step=st.to_dict(step),
            index=state.step_index,
            error=exc.message,
        )
        if state.phase == PROGRESSING:
            self.begin_abort(state, reason)
        else:  # the way back itself failed: stop, keep the state for a human (traffic is still routed)
            state.move(FAILED, f"abort could not finish: {reason}")
            state.finished_at = self._stamp()
            self._save(state)
            self._record_outcome(state)

    def _finish(self, state: RolloutState) -> None:
        if state.phase == ABORTING:
            state.move(ABORTED)
            self.store.event("rollout.abort", state, outcome="done", reason=state.message)
        else:
            state.move(SUCCEEDED, state.message or ("rolled back" if state.kind == "rollback" else "rolled out"))
        state.finished_at = self._stamp()
        self._save(state)
        self._record_outcome(state)

    def _record_outcome(self, state: RolloutState) -> None:
        """The deployment (or rollback) row DORA metrics read: the contract in docs/rollout.md."""
        status = {SUCCEEDED: "succeeded", ABORTED: "rolled_back", FAILED: "failed"}[state.phase]
        finished = self.clock.now()
        if state.kind == "rollback":
            self.store.event(
                "rollback",
                state,
                outcome=status,
                time=finished,
                from_version=state.from_version,
                to_version=state.version,
                started_at=state.started_at,
                finished_at=state.finished_at,
                status=status,
                digest=state.digest,
                strategy=state.strategy,
                reason=state.reason,
            )
            return
        self.store.event(
            "deployment",
            state,
            outcome=status,
            git_commit=state.git_commit,
            time=finished,
            started_at=state.started_at,
            finished_at=state.finished_at,
            status=status,
            hotfix=state.hotfix,
            digest=state.digest,
            strategy=state.strategy,
            source="coursectl",
            message=state.message,
            set_env=sorted(state.set_env),
        )

    def _stamp(self) -> str:
        return self.clock.now().isoformat().replace("+00:00", "Z")

    def _save(self, state: RolloutState) -> None:
        self.store.save(state)
        if self._on_change:
            self._on_change(state)

    def _beat(self) -> None:
        if self._heartbeat:
            self._heartbeat()
