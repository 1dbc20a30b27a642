"""Traffic (issue 12) in the pure machine, row by row: weighted steps at an ALB rule, the drain, standby and
its restore, the rollback to a color on standby (ROLLBACK_WARMING), and what happens when AWS refuses a
step, a restore or a scale-down. `decide` is called directly; times are seconds after T0."""

from __future__ import annotations

from typing import Any

from bluegreen.machine import Decision, decide
from bluegreen.manifest import ReleaseManifest
from bluegreen.models import (
    AlbTraffic,
    AppState,
    Deployment,
    DeploymentState,
    EffectFailed,
    Observed,
    SetCapacity,
    SetWeights,
    Standby,
    StandbySize,
)

from tests.factories import (
    ALARM,
    BLUE,
    GREEN,
    alarm,
    app_state,
    artifact,
    at,
    config,
    env,
    observed,
    override,
    tick,
    upload,
)

S = DeploymentState
RULE = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
GROUPS = {
    BLUE: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/mybot-blue/1",
    GREEN: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/mybot-green/2",
}


def alb_state(**changes: Any) -> AppState:
    alb = AlbTraffic(rule_arn=RULE, target_groups=GROUPS, steps=(10, 50, 100), step_seconds=60)
    return app_state(config=config(traffic="alb", alb=alb, production_cname=""), **changes)


def weights(green: int, *, version: str = "build-1-x") -> Observed:
    seen = observed(env(GREEN, version), env(BLUE, "v0"))
    return seen.model_copy(update={"weights": {GREEN: green, BLUE: 100 - green}})


def baking(state: AppState, weight: int | None = None, **changes: Any) -> AppState:
    art = artifact()
    deployment = Deployment(
        id="mybot-1",
        artifact=art,
        state=S.BAKING,
        target_environment=GREEN,
        previous_environment=BLUE,
        previous_version="v0",
        started_at=at(0),
        state_since=at(30),
        promoted_at=at(30),
        bake_until=None if weight is not None and weight < 100 else at(330),
        weight=weight,
        step_since=at(30) if weight is not None else None,
        **changes,
    )
    return state.model_copy(update={"deployment": deployment, "live_environment": GREEN, "deployment_seq": 1})


def effects(decision: Decision, kind: type) -> list[Any]:
    return [e for e in decision.effects if isinstance(e, kind)]


# ---------------------------------------------------------------- weighted steps


def test_promotion_in_alb_mode_sends_the_first_step_and_the_bake_waits_for_100() -> None:
    state = alb_state()
    deployed = decide(state, upload(), at(0)).state
    version = deployed.deployment.version if deployed.deployment else ""
    seen = weights(0, version=version)
    decision = decide(deployed, tick(30, seen), at(30))
    assert decision.state.deployment is not None and decision.state.deployment.state == S.BAKING
    (step,) = effects(decision, SetWeights)
    assert (step.environment, step.percent, step.rule_arn) == (GREEN, 10, RULE)
    assert decision.state.deployment.bake_until is None and decision.state.deployment.weight == 10


def test_a_step_is_due_after_its_time_and_an_alarm_at_a_middle_step_sends_everything_back() -> None:
    state = baking(alb_state(), weight=10)
    early = decide(state, tick(60, weights(10)), at(60))
    assert early.outcome == "ignored"
    step = decide(state, tick(91, weights(10)), at(91))
    assert step.rule == "advance_weight_step"
    (moved,) = effects(step, SetWeights)
    assert moved.percent == 50 and step.state.deployment is not None and step.state.deployment.weight == 50
    fired = decide(step.state, alarm(100).model_copy(update={"observed": weights(50)}), at(100))
    assert fired.state.deployment is not None and fired.state.deployment.state == S.ROLLED_BACK
    (back,) = effects(fired, SetWeights)
    assert (back.environment, back.percent) == (BLUE, 100)


def test_a_step_the_load_balancer_refused_while_green_serves_part_rolls_back() -> None:
    state = baking(alb_state(), weight=50)
    failed = EffectFailed(
        event_id="failed:1",
        at=at(95),
        effect="set_weights",
        error="AccessDenied",
        environment=GREEN,
        observed=weights(10),
    )
    decision = decide(state, failed, at(95))
    assert decision.rule == "rollback_after_refused_step"
    assert decision.state.deployment is not None and decision.state.deployment.state == S.ROLLED_BACK
    (back,) = effects(decision, SetWeights)
    assert (back.environment, back.percent) == (BLUE, 100)
    assert "load balancer refused a weighted step" in decision.reason


def test_a_release_that_forbids_rollback_at_a_middle_step_sends_everything_forward() -> None:
    state = baking(alb_state(), weight=50)
    assert state.deployment is not None
    forbidding = state.deployment.model_copy(
        update={"policy": state.config.policy().model_copy(update={"rollback": "forbid"})}
    )
    state = state.model_copy(update={"deployment": forbidding})
    decision = decide(state, alarm(100).model_copy(update={"observed": weights(50)}), at(100))
    assert decision.state.deployment is not None and decision.state.deployment.state == S.FIX_FORWARD
    (forward,) = effects(decision, SetWeights)
    assert (forward.environment, forward.percent) == (GREEN, 100)
    assert decision.state.forward_acknowledged and decision.state.forward_acknowledged[0].startswith(f"{ALARM}@")


def test_during_a_split_no_color_counts_as_moved_by_hand() -> None:
    """Drift needs all traffic on the other color: a split is the machine's own step, not a console change."""
    state = baking(alb_state(), weight=50)
    assert decide(state, tick(40, weights(50)), at(40)).outcome == "ignored"


# ---------------------------------------------------------------- drain and standby


def standby_state(**changes: Any) -> AppState:
    return app_state(config=config(standby=StandbySize(min_size=1, max_size=1), drain_seconds=60), **changes)


def test_the_old_color_goes_to_standby_once_due_with_its_capacity_recorded() -> None:
    state = standby_state(live_environment=GREEN, last_good_version="b1", standby_due=at(100))
    seen = observed(env(GREEN, "b1", live=True), env(BLUE, "v0"))
    assert decide(state, tick(90, seen), at(90)).outcome == "ignored"  # not due yet
    no_capacity = decide(state, tick(101, seen), at(101))
    assert no_capacity.outcome == "ignored"  # the capacity was not read: nothing to record
    seen = seen.model_copy(update={"capacities": {BLUE: StandbySize(min_size=2, max_size=6)}})
    decision = decide(state, tick(101, seen), at(101))
    assert decision.rule == "scale_down_standby"
    (scale,) = effects(decision, SetCapacity)
    assert scale.environment == BLUE and scale.capacity == StandbySize(min_size=1, max_size=1)
    assert decision.state.standby == Standby(environment=BLUE, restore=StandbySize(min_size=2, max_size=6))
    assert decision.state.standby_due is None


def test_a_scale_down_eb_refused_forgets_the_record() -> None:
    state = standby_state(
        live_environment=GREEN, standby=Standby(environment=BLUE, restore=StandbySize(min_size=2, max_size=6))
    )
    failed = EffectFailed(event_id="failed:2", at=at(5), effect="set_capacity", error="AccessDenied")
    decision = decide(
        state, failed.model_copy(update={"observed": observed(env(GREEN, "b1", live=True), env(BLUE, "v0"))}), at(5)
    )
    assert decision.rule == "standby_refused" and decision.state.standby is None
    assert "keeps its capacity" in decision.reason


def test_a_build_for_a_color_on_standby_restores_it_first_and_keeps_the_record_until_the_update_starts() -> None:
    record = Standby(environment=BLUE, restore=StandbySize(min_size=2, max_size=6))
    state = standby_state(live_environment=GREEN, last_good_version="b1", standby=record)
    seen = observed(env(GREEN, "b1", live=True), env(BLUE, "v0"))
    started = decide(state, upload("build-2").model_copy(update={"observed": seen}), at(0))
    (restore,) = effects(started, SetCapacity)
    assert restore.environment == BLUE and restore.capacity == record.restore
    assert not [e for e in started.effects if e.kind == "update_environment"]
    assert started.state.standby == record  # if EB refuses the restore, the record still says what it had
    ready = decide(started.state, tick(40, observed(env(GREEN, "b1", live=True), env(BLUE, "v0"))), at(40))
    assert ready.rule == "start_waiting_update_on_tick" and ready.state.standby is None


def test_a_rollback_to_a_color_on_standby_warms_it_first_and_a_refused_restore_says_what_to_do() -> None:
    record = Standby(environment=BLUE, restore=StandbySize(min_size=2, max_size=6))
    state = baking(standby_state(standby=record))
    seen = observed(env(GREEN, "build-1-x", live=True), env(BLUE, "v0"))
    warming = decide(state, alarm(40).model_copy(update={"observed": seen}), at(40))
    assert warming.state.deployment is not None and warming.state.deployment.state == S.ROLLBACK_WARMING
    assert not [e for e in warming.effects if e.kind == "make_live"]
    (restore,) = effects(warming, SetCapacity)
    assert restore.capacity == record.restore and warming.state.standby == record
    refused = EffectFailed(
        event_id="failed:3", at=at(41), effect="set_capacity", error="ConfigurationValidation", observed=seen
    )
    noted = decide(warming.state, refused, at(41))
    assert noted.rule == "restore_refused_while_warming" and "ACTION NEEDED" in noted.reason
    again = decide(noted.state, override("rollback", 50, seen), at(50))
    assert again.rule == "operator_retry_warm_rollback" and effects(again, SetCapacity)
    forced = decide(noted.state, override("rollback", 50, seen, force=True), at(50))
    assert forced.state.deployment is not None and forced.state.deployment.state == S.ROLLED_BACK
    assert [e.environment for e in forced.effects if e.kind == "make_live"] == [BLUE]


def test_the_warm_rollback_swaps_once_the_color_is_ready_and_healthy_again() -> None:
    record = Standby(environment=BLUE, restore=StandbySize(min_size=2, max_size=6))
    state = baking(standby_state(standby=record))
    seen = observed(env(GREEN, "build-1-x", live=True), env(BLUE, "v0"))
    warming = decide(state, alarm(40).model_copy(update={"observed": seen}), at(40)).state
    updating = observed(env(GREEN, "build-1-x", live=True), env(BLUE, "v0", status="Updating"))
    assert decide(warming, tick(60, updating), at(60)).outcome == "ignored"
    done = decide(warming, tick(120, seen), at(120))
    assert done.rule == "finish_warm_rollback"
    assert done.state.deployment is not None and done.state.deployment.state == S.ROLLED_BACK
    assert done.state.standby is None and [e.environment for e in done.effects if e.kind == "make_live"] == [BLUE]


def test_a_console_swap_onto_a_color_on_standby_restores_its_capacity() -> None:
    record = Standby(environment=BLUE, restore=StandbySize(min_size=2, max_size=6))
    state = standby_state(live_environment=GREEN, last_good_version="b1", standby=record)
    swapped = observed(env(GREEN, "b1"), env(BLUE, "v0", live=True))
    decision = decide(state, tick(10, swapped), at(10))
    # the record stays until the color is deployed to again: if EB refuses the restore, it says what to restore
    assert decision.state.live_environment == BLUE and decision.state.standby == record
    (restore,) = effects(decision, SetCapacity)
    assert restore.environment == BLUE and restore.capacity == record.restore


def test_an_alarm_while_fixing_forward_is_acknowledged_for_the_fix() -> None:
    state = baking(app_state())
    assert state.deployment is not None
    forbid = state.config.policy().model_copy(update={"rollback": "forbid"})
    state = state.model_copy(update={"deployment": state.deployment.model_copy(update={"policy": forbid})})
    seen = observed(env(GREEN, "build-1-x", live=True), env(BLUE, "v0"))
    fixed = decide(state, alarm(40).model_copy(update={"observed": seen}), at(40)).state
    other = alarm(50, name="mybot-latency")
    later = decide(fixed.model_copy(update={"config": config(alarms=(ALARM, "mybot-latency"))}), other, at(50))
    assert later.rule == "acknowledge_alarm_while_fixing_forward"
    assert any(key.startswith("mybot-latency@") for key in later.state.forward_acknowledged)
    fix = decide(later.state, upload("build-2").model_copy(update={"observed": seen}), at(60))
    assert fix.state.deployment is not None
    assert set(later.state.forward_acknowledged) <= set(fix.state.deployment.acknowledged_alarms)


def test_the_release_policy_travels_with_the_deployment() -> None:
    state = app_state()
    manifest = ReleaseManifest(rollback="forbid", bake_seconds=900)
    art = artifact().model_copy(update={"manifest": manifest})
    event = upload().model_copy(update={"artifact": art})
    decision = decide(state, event, at(0))
    assert decision.state.deployment is not None and decision.state.deployment.policy is not None
    assert decision.state.deployment.policy.rollback == "forbid"
    assert decision.state.deployment.policy.bake_seconds == 900


def test_a_build_for_the_color_traffic_just_left_waits_for_the_drain_unless_it_runs_that_version_already() -> None:
    from bluegreen.models import Drain

    state = app_state(live_environment=GREEN, last_good_version="b1", drain=Drain(environment=BLUE, until=at(120)))
    seen = observed(env(GREEN, "b1", live=True), env(BLUE, "v0"))
    held = decide(state, upload("build-2").model_copy(update={"observed": seen}), at(10))
    assert held.state.deployment is not None and "is draining" in (held.state.deployment.held or "")
    assert not [e for e in held.effects if e.kind == "update_environment"]
    early = decide(held.state, tick(60, seen), at(60))
    assert early.outcome == "ignored"  # still draining
    after = decide(held.state, tick(121, seen), at(121))
    assert after.rule == "start_waiting_update_on_tick"
    assert [e.environment for e in after.effects if e.kind == "update_environment"] == [BLUE]
    # a color that already runs the version gets no update: nothing to wait for
    label = held.state.deployment.version
    same = observed(env(GREEN, "b1", live=True), env(BLUE, label))
    at_once = decide(state, upload("build-2").model_copy(update={"observed": same}), at(10))
    assert at_once.state.deployment is not None and at_once.state.deployment.update_started
