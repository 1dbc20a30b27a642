"""The machine's table, row by row: pure, no AWS, assertions on states, effects and notifications."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bluegreen.machine import RULES, Decision, decide, describe_rules, observation_needs
from bluegreen.models import (
    AlarmObservation,
    AppState,
    CreateVersion,
    DeploymentState,
    MakeLive,
    Observed,
    UpdateEnvironment,
)

from tests.factories import (
    ALARM,
    BLUE,
    GREEN,
    alarm,
    app_state,
    at,
    config,
    env,
    health,
    healthy_green,
    observed,
    override,
    tick,
    updated,
    upload,
)

S = DeploymentState


def step(state: AppState, event, when: float) -> Decision:  # type: ignore[no-untyped-def]
    return decide(state, event, at(when))


def deploying(**config_changes) -> AppState:  # type: ignore[no-untyped-def]
    state = app_state(config=config(**config_changes)) if config_changes else app_state()
    return step(state, upload("build-1"), 0).state


def verifying(**config_changes) -> AppState:  # type: ignore[no-untyped-def]
    state = deploying(auto_promote=False, **config_changes)
    verified = step(state, health(GREEN, "Ok", 30, healthy_green(label(state))), 30).state
    assert current(verified) == S.VERIFYING
    return verified


def label(state: AppState) -> str:
    assert state.deployment is not None
    return state.deployment.version


def baking() -> AppState:
    state = deploying()
    return step(state, health(GREEN, "Ok", 30, healthy_green(label(state))), 30).state


def current(state: AppState) -> DeploymentState:
    assert state.deployment is not None
    return state.deployment.state


# ------------------------------------------------------------------ artifacts


def test_upload_deploys_to_the_idle_color() -> None:
    decision = step(app_state(), upload("build-1"), 0)
    assert decision.rule == "deploy_to_idle"
    deployment = decision.state.deployment
    assert deployment is not None and deployment.state == S.DEPLOYING
    assert deployment.target_environment == GREEN and deployment.previous_environment == BLUE
    assert deployment.previous_version == "v0"
    assert [type(e) for e in decision.effects] == [CreateVersion, UpdateEnvironment]
    assert decision.effects[1] == UpdateEnvironment(
        application_name="mybot", environment=GREEN, version_label=deployment.version
    )
    (note,) = decision.notifications
    assert (note.from_state, note.to_state, note.cause.type) == (None, "DEPLOYING", "artifact")
    assert decision.state.revision == 2


def test_the_same_artifact_twice_is_ignored() -> None:
    state = deploying()
    decision = step(state, upload("build-1", 5).model_copy(update={"event_id": "other-delivery"}), 5)
    assert (decision.outcome, decision.rule) == ("ignored", "artifact_already_known")
    assert decision.state is state


def test_a_duplicate_event_id_is_ignored() -> None:
    state = deploying()
    decision = step(state, upload("build-1"), 1)
    assert decision.rule == "duplicate_event" and decision.state is state


def test_newer_upload_supersedes_while_deploying_and_waits_for_the_busy_color() -> None:
    state = deploying()
    decision = step(state, upload("build-2", 10), 10)
    assert decision.rule == "supersede_in_flight"
    assert [n.to_state for n in decision.notifications] == ["SUPERSEDED", "DEPLOYING"]
    new = decision.state.deployment
    assert new is not None and new.artifact.key == "mybot/build-2.zip" and not new.update_started
    # the color is still updating to build-1: no second update at once
    assert [type(e) for e in decision.effects] == [CreateVersion]


def test_superseding_a_verifying_deployment_updates_at_once() -> None:
    state = verifying()
    decision = step(state, upload("build-2", 40), 40)
    assert [type(e) for e in decision.effects] == [CreateVersion, UpdateEnvironment]


def test_waiting_update_starts_when_the_busy_update_finishes() -> None:
    state = step(deploying(), upload("build-2", 10), 10).state
    decision = step(state, updated(GREEN, "succeeded", 20), 20)
    assert decision.rule == "start_waiting_update"
    (effect,) = decision.effects
    assert isinstance(effect, UpdateEnvironment) and effect.version_label == label(state)
    assert decision.state.deployment is not None and decision.state.deployment.update_started


def test_waiting_update_starts_on_a_tick_that_sees_the_color_ready() -> None:
    state = step(deploying(), upload("build-2", 10), 10).state
    decision = step(state, tick(60, healthy_green("the-superseded-version")), 60)
    assert decision.rule == "start_waiting_update_on_tick"


def test_upload_during_bake_is_queued_newest_wins() -> None:
    state = baking()
    first = step(state, upload("build-2", 40), 40)
    assert first.rule == "queue_during_bake" and first.effects == ()
    second = step(first.state, upload("build-3", 41), 41)
    assert second.state.queued is not None and second.state.queued.key == "mybot/build-3.zip"
    assert "replacing queued mybot/build-2.zip" in second.reason


def test_upload_while_paused_is_recorded_but_not_started() -> None:
    paused = step(app_state(), override("pause", 0), 0).state
    decision = step(paused, upload("build-1", 1), 1)
    assert decision.rule == "queue_while_paused"
    assert decision.state.deployment is None and decision.state.queued is not None
    assert decision.effects == ()


# ------------------------------------------------------------------ health and updates


def test_healthy_idle_on_the_version_verifies_and_auto_promotes() -> None:
    state = deploying()
    decision = step(state, health(GREEN, "Ok", 30, healthy_green(label(state))), 30)
    assert decision.rule == "verify_healthy_idle"
    assert [n.to_state for n in decision.notifications] == ["VERIFYING", "BAKING"]
    assert decision.effects == (MakeLive(environment=GREEN, other=BLUE),)
    assert decision.state.live_environment == GREEN
    assert decision.state.deployment is not None
    assert decision.state.deployment.bake_until == at(30) + timedelta(seconds=300)


def test_health_ok_is_not_trusted_without_eb_agreeing_on_the_version() -> None:
    state = deploying()
    decision = step(state, health(GREEN, "Ok", 30, healthy_green("some-other-version")), 30)
    assert decision.outcome == "ignored"


def test_promotion_delay_waits_in_verifying_then_the_watchdog_promotes() -> None:
    state = deploying(promote_delay_seconds=60)
    verified = step(state, health(GREEN, "Ok", 30, healthy_green(label(state))), 30)
    assert current(verified.state) == S.VERIFYING and verified.effects == ()
    early = step(verified.state, tick(60, healthy_green(label(state))), 60)
    assert early.outcome == "ignored"
    due = step(verified.state, tick(95, healthy_green(label(state))), 95)
    assert due.rule == "promote_when_due" and current(due.state) == S.BAKING


def test_promotion_becomes_due_on_a_health_event_too() -> None:
    state = deploying(promote_delay_seconds=10)
    verified = step(state, health(GREEN, "Ok", 30, healthy_green(label(state))), 30).state
    decision = step(verified, health(GREEN, "Ok", 45, healthy_green(label(state)), eid="again"), 45)
    assert decision.rule == "promote_when_due_on_health"


def test_update_success_with_healthy_observation_verifies() -> None:
    state = deploying()
    decision = step(state, updated(GREEN, "succeeded", 30, healthy_green(label(state))), 30)
    assert decision.rule == "verify_updated_idle"


@pytest.mark.parametrize("value", ["Degraded", "Severe", "Red"])
def test_unhealthy_idle_aborts_before_promotion_once_the_grace_is_over(value: str) -> None:
    state = deploying()
    obs = observed(env(GREEN, label(state), health="Red", health_status="Severe"), env(BLUE, "v0", live=True))
    first = step(state, health(GREEN, value, 30, obs), 30)
    assert first.rule == "start_health_grace" and current(first.state) == S.DEPLOYING
    assert "aborts if it lasts 60s" in first.reason
    decision = step(first.state, health(GREEN, value, 95, obs, eid="again"), 95)
    assert decision.rule == "abort_unhealthy_idle"
    assert current(decision.state) == S.ABORTED and decision.effects == ()
    assert decision.state.live_environment == BLUE
    immediate = step(deploying(health_grace_seconds=0), health(GREEN, value, 30, obs), 30)
    assert immediate.rule == "abort_unhealthy_idle"


def test_unhealthy_event_contradicted_by_eb_is_not_acted_on() -> None:
    state = deploying()
    decision = step(state, health(GREEN, "Severe", 30, healthy_green(label(state))), 30)
    assert decision.rule != "abort_unhealthy_idle"


def test_failed_update_aborts() -> None:
    state = deploying()
    obs = observed(env(GREEN, "v0", health="Red", health_status="Degraded"), env(BLUE, "v0", live=True))
    decision = step(state, updated(GREEN, "failed", 30, obs), 30)
    assert decision.rule == "abort_failed_update" and current(decision.state) == S.ABORTED


def test_events_for_the_other_color_or_older_deployments_are_ignored() -> None:
    state = deploying()
    assert step(state, health(BLUE, "Severe", 30), 30).rule == "health_for_other_color"
    assert step(state, health(GREEN, "Severe", -60), 30).rule == "health_predates_deployment"
    assert step(state, updated(GREEN, "failed", -60), 30).rule == "update_predates_deployment"
    assert step(state, updated(BLUE, "failed", 30), 30).rule == "update_for_other_color"


def test_unhealthy_promoted_color_during_bake_rolls_back() -> None:
    state = baking()
    obs = observed(env(GREEN, label(state), health="Red", health_status="Severe", live=True), env(BLUE, "v0"))
    decision = step(state, health(GREEN, "Severe", 60, obs), 60)
    assert decision.rule == "rollback_unhealthy_live"
    assert decision.effects == (MakeLive(environment=BLUE, other=GREEN),)


# ------------------------------------------------------------------ alarms


def test_alarm_during_bake_rolls_back_in_the_same_decision() -> None:
    state = baking()
    decision = step(state, alarm(60), 60)
    assert decision.rule == "rollback_on_alarm"
    assert current(decision.state) == S.ROLLED_BACK
    assert decision.state.live_environment == BLUE and decision.state.last_good_version == "v0"
    assert decision.effects == (MakeLive(environment=BLUE, other=GREEN),)
    assert decision.notifications[0].cause.type == "alarm"


def test_alarm_before_promotion_aborts() -> None:
    decision = step(deploying(), alarm(10), 10)
    assert decision.rule == "abort_on_alarm" and decision.effects == ()


def test_alarm_ok_unknown_or_stale_is_ignored() -> None:
    state = baking()
    assert step(state, alarm(60, state="OK"), 60).rule == "alarm_not_firing"
    assert step(state, alarm(60, name="someone-else"), 60).rule == "alarm_not_ours"
    assert step(state, alarm(-60), 60).rule == "alarm_predates_deployment"


def _succeeded(window: int = 0) -> AppState:
    state = app_state(config=config(bake_seconds=0, rollback_window_seconds=window))
    state = step(state, upload("build-1"), 0).state
    state = step(state, health(GREEN, "Ok", 30, healthy_green(label(state))), 30).state
    assert current(state) == S.BAKING  # never SUCCEEDED in the decision that swaps: EB may refuse the swap
    return step(state, tick(31, healthy_green(label(state), live=GREEN)), 31).state


def test_alarm_after_success_only_notifies_without_a_window() -> None:
    state = _succeeded()
    assert current(state) == S.SUCCEEDED
    decision = step(state, alarm(100), 100)
    assert decision.rule == "note_alarm_after_success" and decision.effects == ()
    assert decision.notifications[0].from_state == decision.notifications[0].to_state == "SUCCEEDED"


def test_alarm_within_the_rollback_window_rolls_back() -> None:
    state = _succeeded(window=600)
    decision = step(state, alarm(100), 100)
    assert decision.rule == "rollback_in_window"
    assert decision.state.live_environment == BLUE and decision.state.last_good_version == "v0"
    assert step(state, alarm(1000), 1000).rule == "note_alarm_after_success"


def test_alarm_with_no_deployment_is_ignored() -> None:
    assert step(app_state(), alarm(1), 1).rule == "alarm_without_deployment"


# ------------------------------------------------------------------ the watchdog


def test_bake_over_succeeds_and_starts_the_queued_artifact() -> None:
    state = step(baking(), upload("build-2", 40), 40).state
    decision = step(state, tick(400), 400)
    assert decision.rule == "finish_bake"
    assert [n.to_state for n in decision.notifications] == ["SUCCEEDED", "DEPLOYING"]
    assert decision.state.last_good_version == label(baking())
    new = decision.state.deployment
    assert new is not None and new.target_environment == BLUE and new.previous_version == label(baking())


def test_watchdog_rolls_back_on_an_alarm_whose_event_was_lost() -> None:
    state = baking()
    obs = observed(alarms=(AlarmObservation(name=ALARM, state="ALARM", since=at(50)),))
    decision = step(state, tick(60, obs), 60)
    assert decision.rule == "rollback_on_firing_alarm"
    old = observed(alarms=(AlarmObservation(name=ALARM, state="ALARM", since=at(-500)),))
    assert step(state, tick(60, old), 60).outcome == "ignored"


def test_watchdog_reconciles_a_lost_health_event() -> None:
    state = deploying()
    decision = step(state, tick(60, healthy_green(label(state))), 60)
    assert decision.rule == "verify_observed_healthy_idle" and current(decision.state) == S.BAKING


def test_watchdog_aborts_an_unhealthy_idle_color() -> None:
    state = deploying()
    obs = observed(env(GREEN, label(state), health="Red", health_status="Severe"), env(BLUE, "v0", live=True))
    graced = step(state, tick(60, obs), 60)
    assert graced.rule == "start_health_grace_on_tick"
    assert step(graced.state, tick(120, obs), 120).rule == "abort_observed_unhealthy_idle"


def test_watchdog_aborts_an_update_that_failed_silently() -> None:
    state = deploying()
    obs = observed(env(GREEN, "v0"), env(BLUE, "v0", live=True))
    assert step(state, tick(30, obs), 30).outcome == "ignored"  # within the grace period
    assert step(state, tick(200, obs), 200).rule == "abort_observed_failed_update"


def test_deploy_and_verify_timeouts_abort() -> None:
    updating = observed(env(GREEN, "v0", status="Updating", health="Grey", health_status="Info"))
    assert step(deploying(), tick(1000, updating), 1000).rule == "abort_deploy_timeout"
    state = verifying(approval_timeout_seconds=600)  # awaiting approval: its own timeout
    assert step(state, tick(700, updating), 700).rule == "abort_verify_timeout"


def test_watchdog_starts_a_queued_artifact_and_corrects_drift() -> None:
    state = app_state(queued=upload("build-9").artifact)
    assert step(state, tick(1), 1).rule == "start_queued"
    drift = observed(env(GREEN, "v0", live=True), env(BLUE, "v0"))
    decision = step(app_state(), tick(1, drift), 1)
    assert decision.rule == "reconcile_live_color" and decision.state.live_environment == GREEN


def test_idle_tick_is_ignored_and_changes_nothing() -> None:
    state = app_state()
    decision = step(state, tick(1), 1)
    assert decision.outcome == "ignored" and decision.state is state


# ------------------------------------------------------------------ overrides


def test_operator_promote_from_verifying() -> None:
    state = deploying(auto_promote=False)
    state = step(state, health(GREEN, "Ok", 30, healthy_green(label(state))), 30).state
    assert current(state) == S.VERIFYING
    decision = step(state, override("promote", 40, healthy_green(label(state))), 40)
    assert decision.rule == "operator_promote" and current(decision.state) == S.BAKING
    assert decision.notifications[-1].cause.actor == "alice (claimed)"


def test_operator_promote_is_refused_when_not_healthy_or_nothing_to_promote() -> None:
    state = deploying(auto_promote=False)
    unhealthy = observed(env(GREEN, label(state), health="Red", health_status="Severe"))
    assert step(state, override("promote", 40, unhealthy), 40).rule == "promote_not_ready"
    assert step(app_state(), override("promote", 40, observed()), 40).outcome == "refused"


def test_promote_during_bake_changes_nothing_and_finish_bake_ends_it() -> None:
    state = baking()
    again = step(state, override("promote", 40), 40)
    assert (again.outcome, again.rule) == ("ignored", "already_promoted") and again.state is state
    decision = step(state, override("finish_bake", 41, healthy_green(label(state), live=GREEN)), 41)
    assert decision.rule == "operator_finish_bake" and current(decision.state) == S.SUCCEEDED


def test_operator_rollback_during_bake_and_after_success() -> None:
    decision = step(baking(), override("rollback", 40), 40)
    assert decision.rule == "operator_rollback" and decision.state.live_environment == BLUE
    done = _succeeded()
    prev_ok = observed(env(BLUE, "v0"), env(GREEN, label(done), live=True))
    after = step(done, override("rollback", 100, prev_ok), 100)
    assert after.rule == "operator_rollback_success"
    assert after.effects == (MakeLive(environment=BLUE, other=GREEN),)
    prev_gone = observed(env(BLUE, "something-else"), env(GREEN, label(done), live=True))
    assert step(done, override("rollback", 100, prev_gone), 100).outcome == "refused"


def test_operator_abort() -> None:
    assert step(deploying(), override("abort", 5), 5).rule == "operator_abort"
    assert step(baking(), override("abort", 40), 40).rule == "abort_after_promotion"
    queued = app_state(queued=upload("x").artifact, paused=True)
    dropped = step(queued, override("abort", 5), 5)
    assert dropped.rule == "operator_drop_queued" and dropped.state.queued is None
    assert step(app_state(), override("abort", 5), 5).outcome == "refused"


def test_pause_and_resume_start_the_queued_artifact() -> None:
    paused = step(app_state(), override("pause", 0), 0).state
    assert step(paused, override("pause", 1), 1).rule == "already_paused"
    queued = step(paused, upload("build-1", 2), 2).state
    resumed = step(queued, override("resume", 3), 3)
    assert resumed.rule == "operator_resume"
    assert [n.to_state for n in resumed.notifications] == [None, "DEPLOYING"]
    assert not resumed.state.paused and resumed.state.queued is None
    assert step(app_state(), override("resume", 1), 1).rule == "not_paused"


def test_pause_holds_auto_promotion() -> None:
    state = deploying(promote_delay_seconds=10)
    paused = step(state, override("pause", 5), 5).state
    verified = step(paused, health(GREEN, "Ok", 30, healthy_green(label(state))), 30).state
    assert current(verified) == S.VERIFYING
    assert step(verified, tick(60, healthy_green(label(state))), 60).outcome == "ignored"


def test_retry_redeploys_the_last_failed_artifact() -> None:
    aborted = step(deploying(), override("abort", 5), 5).state
    decision = step(aborted, override("retry", 10), 10)
    assert decision.rule == "operator_retry"
    assert decision.state.deployment is not None and decision.state.deployment.id == "mybot-2"
    assert decision.state.deployment.artifact.key == "mybot/build-1.zip"
    assert step(deploying(), override("retry", 10), 10).rule == "nothing_to_retry"


def test_override_for_another_deployment_is_refused() -> None:
    decision = step(deploying(), override("abort", 5, deployment_id="mybot-7"), 5)
    assert (decision.outcome, decision.rule) == ("refused", "override_for_other_deployment")


def test_failed_effect_aborts_the_deployment() -> None:
    from bluegreen.models import EffectFailed

    event = EffectFailed(event_id="failed:3", at=at(1), effect="update_environment", error="No Application Version")
    decision = step(deploying(), event, 1)
    assert decision.rule == "abort_after_failed_effect" and decision.notifications[0].cause.type == "effect"


# ------------------------------------------------------------------ the table itself


def test_every_rule_has_a_unique_name_and_the_table_describes_itself() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    assert len(describe_rules()) == len(RULES)


def test_observation_is_only_asked_for_when_a_rule_may_need_it() -> None:
    state = deploying()
    assert observation_needs(state, health(GREEN, "Ok", 1)) == (True, True)  # it may promote: alarms gate it
    assert observation_needs(state, health(BLUE, "Ok", 1)) == (False, False)
    assert observation_needs(app_state(), health(GREEN, "Ok", 1)) == (False, False)
    assert observation_needs(state, alarm(1)) == (True, False)  # a rollback checks the CNAME owner first
    assert observation_needs(app_state(), alarm(1)) == (False, False)  # nothing to act on: no call
    assert observation_needs(state, tick(1)) == (True, True)
    assert observation_needs(app_state(), upload("b", 1)) == (True, False)  # the deploy target is EB's idle


def test_an_alarm_after_a_rollback_is_ignored_not_reported_as_after_success() -> None:
    rolled_back = step(baking(), override("rollback", 40), 40).state
    decision = step(rolled_back, alarm(41), 41)
    assert (decision.outcome, decision.rule) == ("ignored", "alarm_after_deployment_ended")


def test_a_late_failure_of_the_superseded_update_does_not_abort_ours() -> None:
    state = step(deploying(), upload("build-2", 10), 10).state
    state = step(state, updated(GREEN, "failed", 20), 30).state  # build-1's update failed: ours starts now
    assert state.deployment is not None and state.deployment.update_started
    late = updated(GREEN, "failed", 20).model_copy(update={"event_id": "late-copy"})
    assert step(state, late, 30).rule == "update_predates_our_update"
    busy = observed(env(GREEN, "v0", status="Updating", health="Grey", health_status="Info"))
    fresh = updated(GREEN, "failed", 40, busy)
    assert step(state, fresh, 40).outcome == "ignored"  # EB still updating: the report is not about ours


# ------------------------------------------------------------------ consumer lease (polling bots)


def _lease(holder: str | None, version: str) -> Observed:
    return healthy_green(version, live=GREEN).model_copy(update={"lease_read": True, "lease_holder": holder})


def test_promotion_and_rollback_hand_the_consumer_lease_over() -> None:
    from bluegreen.models import HandOver

    state = step(app_state(config=config(consumer_lease=True)), upload("build-1"), 0).state
    promoted = step(state, health(GREEN, "Ok", 30, healthy_green(label(state))), 30)
    assert HandOver(app="mybot", environment=GREEN) in promoted.effects
    rolled = step(promoted.state, alarm(40), 40)
    assert rolled.effects[-1] == HandOver(app="mybot", environment=BLUE)


def test_a_polling_bots_bake_ends_only_once_the_new_color_holds_the_lease() -> None:
    state = step(app_state(config=config(consumer_lease=True, handoff_timeout_seconds=600)), upload("b"), 0).state
    version = label(state)
    state = step(state, health(GREEN, "Ok", 30, healthy_green(version)), 30).state
    held = step(state, tick(400, _lease(BLUE, version)), 400)
    assert held.rule == "hold_bake_end" and "consumer lease" in held.reason
    assert step(held.state, tick(401, _lease(GREEN, version)), 401).rule == "finish_bake"


def test_a_missed_hand_over_rolls_back() -> None:
    state = step(app_state(config=config(consumer_lease=True, handoff_timeout_seconds=60)), upload("b"), 0).state
    version = label(state)
    state = step(state, health(GREEN, "Ok", 30, healthy_green(version)), 30).state
    assert step(state, tick(60, _lease(None, version)), 60).outcome == "ignored"  # within the timeout
    decision = step(state, tick(91, _lease(BLUE, version)), 91)
    assert decision.rule == "rollback_handoff_missed" and decision.state.live_environment == BLUE
