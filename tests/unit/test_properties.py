"""Property-based tests: random histories of uploads, EB updates, health, alarms, overrides and ticks,
each possibly duplicated, reordered, stale or dropped, drive the pure machine against a small model
of Elastic Beanstalk. After every step the invariants of DESIGN.md must hold.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

from bluegreen.machine import decide
from bluegreen.models import (
    AlarmObservation,
    AppState,
    CreateVersion,
    DeploymentState,
    EffectFailed,
    Event,
    MakeLive,
    UpdateEnvironment,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import (
    ALARM,
    BLUE,
    CNAME,
    GREEN,
    alarm,
    app_state,
    at,
    config,
    env,
    health,
    observed,
    override,
    tick,
    updated,
    upload,
)

EXAMPLES = int(os.environ.get("BLUEGREEN_PROPERTY_EXAMPLES", "1000"))
S = DeploymentState


@dataclass
class EB:
    """A model of two EB environments: versions, health, status and who holds the production CNAME."""

    holder: str = BLUE
    version: dict[str, str | None] = field(default_factory=lambda: {BLUE: "v0", GREEN: "v0"})
    health: dict[str, str] = field(default_factory=lambda: {BLUE: "Ok", GREEN: "Ok"})
    updating: dict[str, str | None] = field(default_factory=lambda: {BLUE: None, GREEN: None})
    alarm_since: float | None = None
    swaps: int = 0
    known_versions: set[str] = field(default_factory=lambda: {"v0"})
    refuse_swaps: int = 0  # EB refuses the next N swaps (a color not Ready, a managed update)

    def observe(self) -> object:
        def one(name: str):  # type: ignore[no-untyped-def]
            red = self.health[name] in ("Severe", "Degraded")
            return env(
                name,
                self.version[name],
                status="Updating" if self.updating[name] else "Ready",
                health="Red" if red else ("Grey" if self.updating[name] else "Green"),
                health_status=self.health[name],
                live=self.holder == name,
            )

        alarms = None  # quiet
        if self.alarm_since is not None:
            alarms = (AlarmObservation(name=ALARM, state="ALARM", since=at(self.alarm_since)),)
        return observed(one(BLUE), one(GREEN), alarms=alarms)


@dataclass
class Run:
    state: AppState
    eb: EB
    now: float = 0.0
    delivered: list[Event] = field(default_factory=list)
    history_records: int = 0
    upload_count: int = 0


def run_effects(
    run: Run, effects: tuple[object, ...], holders: list[str] | None = None
) -> tuple[int, EffectFailed | None]:
    """Run the effects as the controller does, in order, stopping at a refusal: (done, failure).
    `holders[i]` is who EB routes production to once `i` effects have run."""
    state, eb = run.state, run.eb
    holders = holders if holders is not None else []
    holders.append(eb.holder)
    for done, effect in enumerate(effects):
        if done:
            holders.append(eb.holder)
        if isinstance(effect, CreateVersion):
            eb.known_versions.add(effect.artifact.label)
        elif isinstance(effect, UpdateEnvironment):
            # never update the live color, never two updates at once, only known versions
            assert effect.environment != eb.holder, "an update targeted the live color"
            assert eb.updating[effect.environment] is None, "two updates at once on one environment"
            assert effect.version_label in eb.known_versions
            if eb.version[effect.environment] != effect.version_label:
                eb.updating[effect.environment] = effect.version_label
        elif isinstance(effect, MakeLive):
            deployment = state.deployment
            assert deployment is not None
            if eb.holder != effect.environment and (eb.refuse_swaps or any(eb.updating.values())):
                eb.refuse_swaps = max(eb.refuse_swaps - 1, 0)
                failure = EffectFailed(
                    event_id=f"failed:{state.revision}",
                    at=at(run.now),
                    effect="make_live",
                    error="Environment is in an invalid state for this operation. Must be Ready.",
                    environment=effect.environment,
                )
                return done, failure
            if eb.holder != effect.environment:
                target = effect.environment
                if deployment.state == S.BAKING or (
                    deployment.state == S.SUCCEEDED and target == deployment.target_environment
                ):
                    # a promotion: the target must be healthy on the deployment's version
                    assert eb.health[target] == "Ok" and eb.version[target] == deployment.version, (
                        "swap to an unhealthy or wrong color"
                    )
                else:
                    # a rollback: traffic goes back to the last good version
                    assert eb.version[target] == deployment.previous_version, (
                        "rollback to a color without the last good version"
                    )
                eb.holder = target
                eb.swaps += 1
    if effects:
        holders.append(eb.holder)
    return len(effects), None


def deliver(run: Run, event: Event) -> None:
    before = run.state
    event = event.model_copy(update={"observed": run.eb.observe()})
    decision = decide(before, event, at(run.now))
    if decision.outcome != "accepted":
        assert decision.state is before, "an ignored or refused event changed the state"
        return
    assert decision.state.revision == before.revision + 1, "an accepted event leaves exactly one record"
    assert decision.notifications, "an accepted event notifies"
    assert all(n.reason for n in decision.notifications)
    run.history_records += 1
    run.state = decision.state
    run.delivered.append(event)
    holders: list[str] = []
    done, failure = run_effects(run, decision.effects, holders)
    for note, gate in zip(decision.notifications, decision.gates, strict=True):
        if gate <= done and note.to_state in ("BAKING", "ROLLED_BACK", "ROLLBACK_REFUSED", "SWAP_REFUSED"):
            # never report a traffic move (or its absence) other than the one EB made by then
            assert note.live_environment == holders[gate], f"notified {note.to_state} on {note.live_environment}"
    if failure is not None:
        deliver(run, failure)
        return
    # the controller's belief matches EB once effects ran
    assert run.state.live_environment == run.eb.holder, "state and EB disagree on the live color"
    deployment = run.state.deployment
    if deployment is not None and deployment.state == S.ROLLED_BACK and deployment.finished_at == at(run.now):
        assert run.eb.version[run.eb.holder] == run.state.last_good_version


ACTIONS = st.sampled_from(
    [
        "upload",
        "upload",
        "complete_ok",
        "complete_ok",
        "complete_bad",
        "fail_update",
        "degrade",
        "alarm",
        "alarm_ok",
        "tick",
        "tick",
        "wait",
        "duplicate",
        "stale",
        "promote",
        "rollback",
        "abort",
        "pause",
        "resume",
        "retry",
        "console_swap",
        "refuse_swap",
    ]
)


def act(run: Run, action: str, lose: bool, pick: int) -> None:
    eb = run.eb
    run.now += 5
    if action == "upload":
        run.upload_count += 1
        deliver(run, upload(f"build-{run.upload_count}", run.now))
    elif action in ("complete_ok", "complete_bad", "fail_update"):
        for name, label in list(eb.updating.items()):
            if label is None:
                continue
            eb.updating[name] = None
            if action == "fail_update":
                eb.health[name] = "Degraded"
                event: Event = updated(name, "failed", run.now)
            else:
                eb.version[name] = label
                eb.health[name] = "Ok" if action == "complete_ok" else "Severe"
                event = health(name, eb.health[name], run.now)
            if not lose:  # a lost event: only the watchdog will notice
                deliver(
                    run,
                    updated(name, "succeeded", run.now) if action == "complete_ok" and pick % 2 else event,
                )
    elif action == "degrade":
        target = GREEN if pick % 2 else BLUE
        eb.health[target] = "Severe"
        if not lose:
            deliver(run, health(target, "Severe", run.now))
    elif action == "alarm":
        eb.alarm_since = run.now
        if not lose:
            deliver(run, alarm(run.now))
    elif action == "alarm_ok":
        eb.alarm_since = None
        deliver(run, alarm(run.now, state="OK"))
    elif action == "tick":
        deliver(run, tick(run.now))
    elif action == "wait":
        run.now += 400
        deliver(run, tick(run.now))
    elif action == "duplicate" and run.delivered:
        deliver(run, run.delivered[pick % len(run.delivered)])
    elif action == "stale" and run.delivered:
        old = run.delivered[pick % len(run.delivered)]
        deliver(run, old.model_copy(update={"event_id": f"{old.event_id}:late"}))
    elif action == "console_swap":
        # A person swaps in the EB console; EB refuses unless both colors are Ready. bluegreen is not told:
        # the next event that observes EB must reconcile before it picks a target or moves traffic.
        if not any(eb.updating.values()):
            eb.holder = GREEN if eb.holder == BLUE else BLUE
            eb.swaps += 1
            deliver(run, tick(run.now))
    elif action == "refuse_swap":
        eb.refuse_swaps += 1
    elif action in ("promote", "rollback", "abort", "pause", "resume", "retry"):
        deliver(run, override(action, run.now).model_copy(update={"event_id": f"override:{action}:{run.now}"}))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.tuples(ACTIONS, st.booleans(), st.integers(0, 1000)), min_size=1, max_size=40),
    auto_promote=st.booleans(),
    bake=st.sampled_from([0, 60, 300]),
    window=st.sampled_from([0, 600]),
)
def test_random_histories_keep_the_invariants(
    steps: list[tuple[str, bool, int]], auto_promote: bool, bake: int, window: int
) -> None:
    state = app_state(config=config(auto_promote=auto_promote, bake_seconds=bake, rollback_window_seconds=window))
    run = Run(state=state, eb=EB())
    for action, lose, pick in steps:
        act(run, action, lose and action not in ("tick", "wait"), pick)
        assert run.state.live_environment in (BLUE, GREEN)
        assert run.state.config.production_cname == CNAME


@settings(max_examples=max(EXAMPLES // 4, 50), deadline=None)
@given(
    steps=st.lists(st.tuples(ACTIONS, st.booleans(), st.integers(0, 1000)), min_size=1, max_size=30),
    copies=st.integers(2, 5),
)
def test_redelivering_every_event_changes_nothing(steps: list[tuple[str, bool, int]], copies: int) -> None:
    """Each accepted event delivered 2 to 5 times has its effects once."""
    run = Run(state=app_state(), eb=EB())
    for action, lose, pick in steps:
        act(run, action, lose, pick)
        if run.delivered:
            last = run.delivered[-1]
            for _ in range(copies - 1):
                decision = decide(run.state, last, at(run.now))
                assert decision.outcome == "ignored" and decision.state is run.state


def test_a_long_quiet_bake_finishes_with_one_swap() -> None:
    run = Run(state=app_state(), eb=EB())
    act(run, "upload", False, 0)
    act(run, "complete_ok", False, 0)
    assert run.state.deployment is not None and run.state.deployment.state == S.BAKING
    run.now += 400
    deliver(run, tick(run.now))
    assert run.state.deployment.state == S.SUCCEEDED
    assert run.eb.swaps == 1 and run.eb.holder == GREEN
    assert run.state.last_good_version == run.state.deployment.version
    assert run.now - 0 > timedelta(seconds=0).total_seconds()
