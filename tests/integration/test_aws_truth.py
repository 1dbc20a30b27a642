"""Issue 9: every decision that picks a target or moves traffic rests on what AWS reports at that moment.

Each test is a situation the round-1 core got wrong (the docstring says how), played through the real
handlers on moto with bluegreen's EB and CloudWatch extensions: a human swapping CNAMEs behind
bluegreen's back, EB refusing a swap, S3 delivering late or out of order, alarms already firing, EB's
real update messages, and the keys S3 really sends.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import pytest
from bluegreen_local.bots import bundle, create_bot

from tests.integration.conftest import (
    ACCOUNT,
    ALARM,
    APP,
    BLUE,
    GREEN,
    PRODUCTION_CNAME,
    REGION,
    Clock,
    World,
    console_swap,
    details,
    sample,
)


@pytest.fixture
def bot(world: World) -> Iterator[World]:
    assert world.register(bake_seconds=300)["ok"]
    world.notifications()
    yield world


@pytest.fixture
def clock(bot: World) -> Clock:
    return Clock(bot)


def reasons(world: World) -> list[str]:
    return [n["detail"]["reason"] for n in world.notifications()]


def hook(world: World, operation: str, action: Any) -> None:
    """Run `action(params)` just before boto3 sends `operation` (botocore's before-call event)."""
    from bluegreen.aws import clients

    service = {"SwapEnvironmentCNAMEs": "elasticbeanstalk", "PutEvents": "events", "DescribeAlarms": "cloudwatch"}
    client = clients.client(service[operation])
    client.meta.events.register(f"before-call.*.{operation}", lambda params, **_: action(params))


def fail_with(code: str) -> Any:
    from botocore.exceptions import ClientError

    def raise_it(params: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": f"{code} (injected)"}}, "Injected")

    return raise_it


def upload_event(
    world: World, name: str, *, at: datetime, sequencer: str, body: bytes | None = None, key: str | None = None
) -> dict[str, Any]:
    """Put an object version and build S3's EventBridge event for it, with the upload's own time and
    sequencer (delivered whenever, and in whatever order, the test says)."""
    key = key or f"{APP}/{name}.zip"
    response = world.s3.put_object(Bucket=world.stack.bucket, Key=key, Body=body or bundle({"bot.py": name}))
    event = world.object_created(key, response)
    event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    event["detail"]["object"]["sequencer"] = sequencer
    return event


def alarm_event(state: str, at: datetime, alarm: str = ALARM) -> dict[str, Any]:
    event = sample("alarm/alarm-eventbridge.json")
    event["id"] = str(uuid.uuid4())
    event["detail"]["alarmName"] = alarm
    event["detail"]["state"]["value"] = state
    event["detail"]["state"]["timestamp"] = at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    event["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


def succeed(world: World, clock: Clock, name: str = "build-1") -> str:
    """Upload, deploy, promote and finish the bake; returns the new live color."""
    world.upload(name)
    target = world.status()["deployment"]["target_environment"]
    world.complete_update(target, health="Ok")
    assert world.deployment_state() == "BAKING"
    clock.advance(400)
    world.tick()
    assert world.deployment_state() == "SUCCEEDED"
    return str(target)


# ====================================================================== 1. drift


def test_a_console_swap_while_idle_is_reconciled_and_the_next_build_goes_to_the_real_idle(bot: World) -> None:
    """Round 1: the watchdog never visited idle apps; the next build went in place onto production."""
    console_swap(bot)
    result = bot.tick()
    assert result["reconciled"] == [APP]
    status = bot.status()
    assert status["live_environment"] == GREEN and status["last_good_version"] == "v0"
    assert any("reconciled: EB reports the production CNAME on mybot-green" in r for r in reasons(bot))
    bot.upload("build-1")
    assert bot.status()["deployment"]["target_environment"] == BLUE
    bot.complete_update(BLUE, health="Ok")
    assert bot.live() == BLUE and bot.version_of(GREEN) == "v0"  # production was never updated in place


def test_a_build_uploaded_right_after_a_console_swap_goes_to_the_real_idle(bot: World) -> None:
    """Round 1: the deploy step did not look at EB, so a build seconds after a swap hit production."""
    console_swap(bot)
    bot.upload("build-1")  # no watchdog tick in between
    deployment = bot.status()["deployment"]
    assert deployment["target_environment"] == BLUE and deployment["previous_environment"] == GREEN
    assert bot.status()["live_environment"] == GREEN
    found = [r for r in reasons(bot) if "reconciled" in r]
    assert found, "the reconcile is said in a notification"


def test_a_console_swap_back_during_the_bake_is_rolled_back_not_succeeded(bot: World, clock: Clock) -> None:
    """Round 1: recorded SUCCEEDED with the wrong live color; the next build targeted production."""
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    assert bot.deployment_state() == "BAKING" and bot.live() == GREEN
    console_swap(bot)  # a person sends traffic back to blue
    bot.tick()
    status = bot.status()
    assert status["deployment"]["state"] == "ROLLED_BACK" and status["live_environment"] == BLUE
    assert status["last_good_version"] == "v0"
    clock.advance(400)
    bot.tick()
    assert bot.deployment_state() == "ROLLED_BACK", "a bake that EB says ended is never reported as a success"
    bot.upload("build-2")
    assert bot.status()["deployment"]["target_environment"] == GREEN


def test_a_console_promotion_of_the_verified_color_is_adopted_and_baked(bot: World) -> None:
    assert bot.register(auto_promote=False)["ok"]
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    assert bot.deployment_state() == "VERIFYING"
    console_swap(bot)  # a person promotes in the console instead of `bluegreen approve`
    bot.tick()
    status = bot.status()
    assert status["deployment"]["state"] == "BAKING" and status["live_environment"] == GREEN
    assert "promoted outside bluegreen" in status["deployment"]["reason"]
    assert bot.eb_backend.swap_count == 1, "bluegreen did not swap again"


def test_a_console_swap_onto_a_color_not_yet_on_the_new_version_stops_the_deployment(bot: World) -> None:
    bot.upload("build-1")
    bot.upload("build-2")  # waits for green's first update: green is Ready on v0 in between
    bot.complete_update(GREEN, health="Ok", deliver=False)
    console_swap(bot)  # production now points at the color bluegreen is about to update
    bot.tick()
    status = bot.status()
    assert status["deployment"]["state"] == "ABORTED" and status["live_environment"] == GREEN
    assert "moved outside bluegreen" in status["deployment"]["reason"]
    assert bot.status()["deployment"]["update_started"] is False, "production was never updated in place"


def test_a_paused_app_reconciles_the_last_good_version_with_the_live_color(bot: World, clock: Clock) -> None:
    """Round 1 corrected the live color on reconcile but left last_good_version naming the old color's build."""
    succeed(bot, clock)  # green live on build-1, blue on v0
    console_swap(bot)
    bot.tick()
    status = bot.status()
    assert status["live_environment"] == BLUE and status["last_good_version"] == "v0"


def test_register_refuses_a_live_color_that_eb_contradicts(world: World) -> None:
    """Round 1 accepted `--live-environment mybot-green` while blue held the production CNAME."""
    refused = world.register(live_environment=GREEN)
    assert refused["ok"] is False and refused["error"]["code"] == "Refused"
    assert "looks like the production CNAME" in refused["error"]["message"]
    explicit = world.register(live_environment=GREEN, production_cname=PRODUCTION_CNAME)
    assert explicit["ok"] is False and "EB reports the production CNAME" in explicit["error"]["message"]
    assert world.register(live_environment=BLUE)["live_environment"] == BLUE


def test_register_asks_which_cname_is_production_rather_than_guess(world: World) -> None:
    """Nothing EB reports says which CNAME is production: register asks, and then verifies the answer."""
    payload = sample("override/register.json")
    payload["config"].pop("live_environment", None)
    asked = world.invoke("register", payload)
    assert asked["ok"] is False and "production_cname" in asked["error"]["message"]
    assert PRODUCTION_CNAME in asked["error"]["message"]
    payload["config"]["production_cname"] = PRODUCTION_CNAME
    registered = world.invoke("register", payload)
    assert registered["ok"] and registered["live_environment"] == BLUE


def test_polling_bots_read_the_reconciled_live_color(bot: World) -> None:
    from bluegreen.lease import LiveColor

    lease = LiveColor(bot.stack.table, APP, max_age=0)
    assert lease.is_live(BLUE)
    console_swap(bot)
    bot.tick()
    assert lease.is_live(GREEN) and not lease.is_live(BLUE)


def test_the_idle_reconcile_costs_the_same_calls_for_one_app_or_many(world: World) -> None:
    from tests.integration.faults import Injector

    assert world.register()["ok"]
    injector = Injector().attach()
    world.tick()
    one = dict(injector.calls)
    for n in range(4):
        name = f"bot{n}"
        create_bot(world.session, name)
        payload = sample("override/register.json")
        payload["app"] = name
        payload["config"].update(
            {"environments": [f"{name}-blue", f"{name}-green"], "live_environment": f"{name}-blue"}
        )
        payload["config"]["alarms"] = [f"{name}-errors"]
        payload["config"]["application_name"] = name
        registered = world.invoke("register", payload)
        assert registered["ok"], registered
    injector.reset_counts()
    world.tick()
    assert dict(injector.calls) == one, "the watchdog pages the region and the Apps index, never one call per app"
    assert one.get("elastic-beanstalk.DescribeEnvironments") == 1


# ====================================================================== 2. swaps EB refuses


def test_a_promotion_swap_eb_refuses_is_never_reported_and_is_retried(bot: World) -> None:
    """Round 1: EffectFailed had no row outside DEPLOYING; state and notification said BAKING, EB did not swap."""
    bot.upload("build-1")
    bot.eb_backend.start_managed_update(BLUE)  # EB takes the live color into a platform update
    bot.notifications()
    bot.complete_update(GREEN, health="Ok")
    status = bot.status()
    assert status["deployment"]["state"] == "SWAP_REFUSED" and status["live_environment"] == BLUE
    assert bot.live() == BLUE and bot.eb_backend.swap_count == 0
    sent = details(bot)
    assert not any(d["to_state"] == "BAKING" for d in sent), "never report a traffic move EB did not make"
    refused = [d for d in sent if d["to_state"] == "SWAP_REFUSED"]
    assert refused and "traffic stays on mybot-blue" in refused[0]["reason"]
    bot.tick()  # still Updating: nothing to retry yet
    assert bot.deployment_state() == "SWAP_REFUSED"
    bot.complete_update(BLUE)  # the platform update ends
    bot.tick()
    assert bot.deployment_state() == "BAKING" and bot.live() == GREEN and bot.eb_backend.swap_count == 1


def test_a_rollback_eb_refuses_says_so_is_retried_and_escalated(bot: World, clock: Clock) -> None:
    """Round 1: the notification said "traffic returned" while production still ran the bad build."""
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    assert bot.live() == GREEN
    # EB's own refusal: blue goes into a platform update just before the swap call reaches EB.
    started: list[bool] = []

    def managed_update(params: Any) -> None:
        if not started:
            started.append(True)
            bot.eb_backend.start_managed_update(BLUE)

    hook(bot, "SwapEnvironmentCNAMEs", managed_update)
    bot.notifications()
    bot.set_alarm("ALARM")
    status = bot.status()
    assert status["deployment"]["state"] == "ROLLBACK_REFUSED" and status["live_environment"] == GREEN
    assert bot.live() == GREEN
    sent = details(bot)
    assert not any(d["to_state"] == "ROLLED_BACK" for d in sent)
    (refused,) = [d for d in sent if d["to_state"] == "ROLLBACK_REFUSED"]
    assert "ROLLBACK REFUSED" in refused["reason"] and "still on mybot-green" in refused["reason"]
    assert "Must be Ready" in refused["reason"]
    bot.tick()
    assert bot.deployment_state() == "ROLLBACK_REFUSED"
    clock.advance(11 * 60)
    bot.tick()
    assert any("ESCALATION" in r for r in reasons(bot))
    bot.complete_update(BLUE)
    bot.tick()
    assert bot.deployment_state() == "ROLLED_BACK" and bot.live() == BLUE


# ====================================================================== 3. which build is newest


def test_a_late_event_for_an_older_build_is_ignored_with_a_notification(bot: World, clock: Clock) -> None:
    """Round 1: recency was arrival order; build-1's late event after build-2 succeeded deployed build-1."""
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    old = upload_event(bot, "build-1", at=t0, sequencer="0062A1")
    new = upload_event(bot, "build-2", at=t0 + timedelta(minutes=1), sequencer="0062A2")
    bot.invoke("artifact", new)
    bot.complete_update(GREEN, health="Ok")
    clock.advance(400)
    bot.tick()
    assert bot.deployment_state() == "SUCCEEDED"
    bot.notifications()
    late = bot.invoke("artifact", old)["results"][0]
    assert late["outcome"] == "ignored" and late["rule"] == "older_upload"
    assert bot.status()["deployment"]["artifact"]["key"] == f"{APP}/build-2.zip"
    (notice,) = reasons(bot)
    assert "uploaded before mybot/build-2.zip" in notice


def test_two_versions_of_one_key_arriving_newest_first_keep_the_newest(bot: World) -> None:
    """Round 1: v2 then v1 superseded the newer with the older. S3's sequencer orders one key's events."""
    at = datetime.now(UTC)
    first = upload_event(bot, "build", at=at, sequencer="0055AED6DCD90281E5", body=bundle({"v": "1"}))
    second = upload_event(bot, "build", at=at, sequencer="0055AED6DCD90281F0", body=bundle({"v": "2"}))
    bot.invoke("artifact", second)
    label = bot.status()["deployment"]["artifact"]["label"]
    result = bot.invoke("artifact", first)["results"][0]
    assert result["rule"] == "older_upload"
    assert bot.status()["deployment"]["artifact"]["label"] == label


def test_an_old_event_redelivered_after_many_accepted_events_is_still_ignored(bot: World) -> None:
    """Round 1 remembered the last 64 event ids only: the 65th accepted event let a redelivery through."""
    event = upload_event(bot, "build-1", at=datetime.now(UTC), sequencer="01")
    bot.invoke("artifact", event)
    assert bot.override("abort")["ok"]
    for n in range(35):
        assert bot.override("pause")["ok"] and bot.override("resume")["ok"], n
    again = bot.invoke("artifact", {**event, "id": str(uuid.uuid4())})["results"][0]
    assert again["outcome"] == "ignored" and again["rule"] == "artifact_redelivered"
    assert bot.deployment_state() == "ABORTED"


def test_uploading_an_old_build_again_deploys_it(bot: World, clock: Clock) -> None:
    succeed(bot, clock, "build-1")
    succeed(bot, clock, "build-2")
    bot.upload("build-1")  # a new object version of the old build, on purpose
    deployment = bot.status()["deployment"]
    assert deployment["state"] == "DEPLOYING" and deployment["artifact"]["key"] == f"{APP}/build-1.zip"


# ====================================================================== 4. notifications off the critical path


def test_a_permanent_putevents_failure_never_blocks_a_rollback(bot: World) -> None:
    """Round 1: a permanent PutEvents error kept the pending record forever; an alarm could not roll back."""
    hook(bot, "PutEvents", fail_with("AccessDeniedException"))
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    assert bot.live() == GREEN
    bot.set_alarm("ALARM")
    status = bot.status()
    assert status["deployment"]["state"] == "ROLLED_BACK" and bot.live() == BLUE
    assert status["pending_effects"] == []
    assert status["outbox"]["failed"] >= 4 and "AccessDenied" in status["outbox"]["last_error"]
    assert status["outbox"]["waiting"] == 0, "a permanent error is not retried forever"


# ====================================================================== 5. alarm state, not only transitions


def test_an_alarm_already_firing_holds_promotion_until_an_operator_forces_it(bot: World, clock: Clock) -> None:
    """Round 1: an alarm in ALARM before the deployment never gated it; the bake ended "with no alarm"."""
    bot.cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="the old build is failing")
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    status = bot.status()
    assert status["deployment"]["state"] == "VERIFYING" and bot.live() == BLUE
    assert "since before this deployment" in status["deployment"]["held"]
    assert "since before this deployment" in status["waiting_for"]["what"]
    bot.tick()
    assert bot.deployment_state() == "VERIFYING"
    refused = bot.override("promote")
    assert refused["ok"] is False and "force" in refused["error"]["message"]
    forced = bot.override("promote", force=True)
    assert forced["ok"] and bot.live() == GREEN
    assert "forced past alarm mybot-errors" in forced["state"]["deployment"]["reason"]
    clock.advance(400)
    bot.tick()
    assert bot.deployment_state() == "SUCCEEDED", "the hotfix's bake is not held by the alarm it was forced past"


def test_retry_after_an_alarm_rollback_waits_while_the_alarm_still_fires(bot: World) -> None:
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    bot.set_alarm("ALARM")
    assert bot.deployment_state() == "ROLLED_BACK"
    assert bot.override("retry")["ok"]  # green still runs build-1: no update, the watchdog verifies it
    bot.tick()
    status = bot.status()
    assert status["deployment"]["state"] == "VERIFYING" and bot.live() == BLUE
    assert "promotion held" in status["deployment"]["held"]


def test_a_late_alarm_whose_own_time_is_inside_the_bake_rolls_back(bot: World, clock: Clock) -> None:
    """Round 1: an alarm event arriving after the watchdog ended the bake was only noted."""
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    fired_at = datetime.now(UTC) + timedelta(seconds=1)
    clock.advance(400)
    bot.tick()
    assert bot.deployment_state() == "SUCCEEDED"
    result = bot.invoke("alarm", alarm_event("ALARM", fired_at))
    assert result["rule"] == "rollback_late_alarm"
    assert bot.deployment_state() == "ROLLED_BACK" and bot.live() == BLUE


def test_the_watchdog_uses_the_state_transition_time_not_the_last_update(bot: World) -> None:
    """Round 1 read StateUpdatedTimestamp, which CloudWatch moves without a state change."""
    bot.cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="before the deployment")
    bot.upload("build-1")
    bot.cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="still failing")
    bot.tick()
    assert bot.deployment_state() == "DEPLOYING", "an alarm firing since before the deployment does not abort it"


def test_a_composite_alarm_rolls_back_a_bake(world: World) -> None:
    world.cloudwatch.put_composite_alarm(AlarmName="mybot-health", AlarmRule=f"ALARM({ALARM})")
    assert world.register(alarms=["mybot-health"], bake_seconds=300)["ok"]
    world.upload("build-1")
    world.complete_update(GREEN, health="Ok")
    assert world.live() == GREEN
    world.cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="errors")
    world.tick()
    assert world.deployment_state() == "ROLLED_BACK" and world.live() == BLUE


def test_register_refuses_an_alarm_that_does_not_exist(world: World) -> None:
    refused = world.register(alarms=["mybot-erorrs"])
    assert refused["ok"] is False and "mybot-erorrs does not exist" in refused["error"]["message"]


def test_alarms_that_cannot_be_read_hold_promotion(bot: World) -> None:
    """Round 1 skipped the app when alarms could not be read (fail open)."""
    hook(bot, "DescribeAlarms", fail_with("AccessDenied"))
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    status = bot.status()
    assert status["deployment"]["state"] == "VERIFYING" and bot.live() == BLUE
    assert "cannot be read" in status["deployment"]["held"] and "fails closed" in status["deployment"]["held"]


# ====================================================================== 6. overrides and configuration


def test_promote_twice_does_not_skip_the_bake(bot: World) -> None:
    assert bot.register(auto_promote=False)["ok"]
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    assert bot.override("promote")["ok"]
    again = bot.override("promote")
    assert again["ok"] and again["outcome"] == "ignored" and bot.deployment_state() == "BAKING"
    assert bot.override("finish_bake")["ok"] and bot.deployment_state() == "SUCCEEDED"


def test_approve_is_promote_and_the_approval_wait_says_until_when(bot: World, clock: Clock) -> None:
    assert bot.register(auto_promote=False, approval_timeout_seconds=7200)["ok"]
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    waiting = bot.status()["waiting_for"]
    assert "awaiting approval until" in waiting["what"] and waiting["until"]
    until = datetime.fromisoformat(waiting["until"])
    assert timedelta(seconds=7100) < until - datetime.now(UTC) <= timedelta(seconds=7200)
    assert bot.override("approve")["ok"] and bot.deployment_state() == "BAKING"


def test_a_deployment_not_approved_in_time_aborts(bot: World, clock: Clock) -> None:
    assert bot.register(auto_promote=False, approval_timeout_seconds=600)["ok"]
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    clock.advance(601)
    bot.tick()
    status = bot.status()
    assert status["deployment"]["state"] == "ABORTED" and "not approved within" in status["deployment"]["reason"]
    assert bot.live() == BLUE


def test_a_queued_build_waits_for_the_rollback_window(bot: World, clock: Clock) -> None:
    """Round 1 started it the moment the bake ended, onto the previous color: the window was gone."""
    assert bot.register(rollback_window_seconds=600)["ok"]
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    bot.upload("build-2")  # queued during the bake
    clock.advance(400)
    bot.tick()
    status = bot.status()
    assert status["deployment"]["state"] == "SUCCEEDED" and status["queued"]["key"] == f"{APP}/build-2.zip"
    assert "rollback window" in status["waiting_for"]["what"]
    clock.advance(601)
    bot.tick()
    deployment = bot.status()["deployment"]
    assert deployment["state"] == "DEPLOYING" and deployment["artifact"]["key"] == f"{APP}/build-2.zip"


def test_deadlines_do_not_run_while_paused(bot: World, clock: Clock) -> None:
    assert bot.register(auto_promote=False, approval_timeout_seconds=60)["ok"]
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    assert bot.override("pause")["ok"]
    clock.advance(120)
    bot.tick()
    assert bot.deployment_state() == "VERIFYING"
    assert bot.override("resume")["ok"]
    bot.tick()
    assert bot.deployment_state() == "VERIFYING", "the paused time does not count"
    clock.advance(61)
    bot.tick()
    assert bot.deployment_state() == "ABORTED"


def test_register_validates_strictly_and_keeps_settings_not_passed(world: World) -> None:
    impossible = world.register(promote_delay_seconds=900, verify_timeout_seconds=900)
    assert impossible["ok"] is False
    assert "promote_delay_seconds" in impossible["error"]["message"]
    assert "verify_timeout_seconds" in impossible["error"]["message"]
    for bad in (True, "300", 1.5):
        assert world.register(bake_seconds=bad)["ok"] is False, bad
    assert world.register(bake_seconds=42, rollback_window_seconds=120)["ok"]
    payload = sample("override/register.json")
    for name in ("bake_seconds", "rollback_window_seconds"):
        payload["config"].pop(name, None)
    assert world.invoke("register", payload)["ok"]
    config = world.status()["config"]
    assert config["bake_seconds"] == 42 and config["rollback_window_seconds"] == 120


def test_operator_promote_is_refused_while_eb_still_updates_the_idle_color(bot: World) -> None:
    assert bot.register(auto_promote=False)["ok"]
    bot.upload("build-1")  # green is Updating
    refused = bot.override("promote")
    assert refused["ok"] is False and "not Ready" in refused["error"]["message"]


def test_two_manual_watchdog_runs_are_two_ticks(bot: World) -> None:
    """Round 1 gave every manual invoke the id "manual": the second was a duplicate."""
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok", deliver=False)
    bot.invoke("watchdog", {})
    assert bot.deployment_state() == "BAKING"
    bot.cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="never delivered")
    bot.invoke("watchdog", {})
    assert bot.deployment_state() == "ROLLED_BACK"


def test_two_registers_cannot_claim_one_environment(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 1 wrote the look-up rows without a condition: concurrent registers could both claim a color."""
    from bluegreen import service

    assert world.register()["ok"]
    store = service.controller().store
    monkeypatch.setattr(store, "app_for_environment", lambda name: None)  # as if both read before either wrote
    monkeypatch.setattr(store, "app_for_alarm", lambda name: None)
    payload = sample("override/register.json")
    payload["app"] = "otherbot"
    payload["config"]["application_name"] = APP
    refused = world.invoke("register", payload)
    assert refused["ok"] is False and refused["error"]["code"] == "Refused"


# ====================================================================== 7. Elastic Beanstalk's real events


def marked(**behaviour: Any) -> bytes:
    return bundle({"bot.py": "print('bot')\n", "bluegreen-simulate.json": json.dumps(behaviour)})


def test_health_dips_during_a_rolling_update_do_not_abort(bot: World) -> None:
    """Round 1 aborted on a Severe event while EB still reported the idle color Updating."""
    backend = bot.eb_backend
    backend.update_seconds = 100.0  # an update that takes a while, so its dips come before its end
    bot.upload("build-1", marked(rolling=True, severe_during_update=True, instances=4))
    dips = backend.advance(now=backend.clock() + backend.update_seconds * 0.9)
    messages = [e["detail"]["Message"] for e in dips]
    assert any("Incorrect application version" in m for m in messages) and any("to Severe" in m for m in messages)
    for event in dips:
        bot.invoke("health", event)
    assert bot.deployment_state() == "DEPLOYING"
    bot.complete_update(GREEN)
    assert bot.deployment_state() == "BAKING" and bot.live() == GREEN


def test_sustained_bad_health_on_the_new_version_aborts_after_the_grace(bot: World, clock: Clock) -> None:
    bot.upload("build-1", marked(health="Severe"))
    bot.complete_update(GREEN)
    assert bot.deployment_state() == "DEPLOYING", "one bad reading starts the grace"
    clock.advance(61)
    bot.tick()
    assert bot.deployment_state() == "ABORTED" and bot.live() == BLUE


def test_complete_but_with_errors_aborts(bot: World) -> None:
    bot.upload("build-1", marked(result="errors"))
    bot.complete_update(GREEN)
    assert bot.deployment_state() == "ABORTED" and bot.live() == BLUE


def test_an_update_that_kept_the_old_version_aborts(bot: World) -> None:
    bot.upload("build-1", marked(result="old_version"))
    bot.complete_update(GREEN)
    status = bot.status()
    assert status["deployment"]["state"] == "ABORTED" and "still runs v0" in status["deployment"]["reason"]


def test_a_managed_update_defers_the_deployment_which_then_starts_by_itself(bot: World) -> None:
    for event in bot.eb_backend.start_managed_update(GREEN):
        bot.invoke("health", event)
    assert any("managed platform update" in r for r in reasons(bot))
    bot.upload("build-1")
    deployment = bot.status()["deployment"]
    assert deployment["update_started"] is False and "Updating" in deployment["held"]
    bot.complete_update(GREEN)  # the platform update ends; the deployment's update starts
    assert bot.status()["deployment"]["update_started"] is True
    bot.complete_update(GREEN, health="Ok")
    assert bot.deployment_state() == "BAKING" and bot.live() == GREEN


def test_register_refuses_a_worker_environment(world: World) -> None:
    world.eb.create_application(ApplicationName="jobs")
    for color in ("blue", "green"):
        world.eb.create_environment(
            ApplicationName="jobs",
            EnvironmentName=f"jobs-{color}",
            SolutionStackName="64bit Amazon Linux 2023 v4.6.0 running Python 3.11",
            Tier={"Name": "Worker", "Type": "SQS/HTTP", "Version": "1.0"},
            Tags=[{"Key": "bluegreen:managed", "Value": "true"}],
        )
    payload = sample("override/register.json")
    payload.update(app="jobs")
    payload["config"].update(
        application_name="jobs", environments=["jobs-blue", "jobs-green"], live_environment="jobs-blue", alarms=[]
    )
    refused = world.invoke("register", payload)
    assert refused["ok"] is False and "Worker" in refused["error"]["message"]


def test_old_application_versions_beyond_the_retention_are_deleted(bot: World, clock: Clock) -> None:
    assert bot.register(version_retention=2)["ok"]
    labels = []
    for n in range(4):
        succeed(bot, clock, f"build-{n}")
        labels.append(bot.status()["last_good_version"])
    kept = {v["VersionLabel"] for v in bot.eb.describe_application_versions(ApplicationName=APP)["ApplicationVersions"]}
    assert "v0" in kept, "a version bluegreen did not create is never deleted"
    assert labels[0] not in kept and labels[-1] in kept and labels[-2] in kept
    pinned = bot.s3.list_objects_v2(Bucket=bot.stack.bucket, Prefix=f"_bluegreen/versions/{APP}/")
    assert {o["Key"].rsplit("/", 1)[-1] for o in pinned.get("Contents", [])} <= kept


# ====================================================================== 8. S3's real event shapes


def test_special_character_keys_deploy_from_both_event_shapes(bot: World) -> None:
    """Round 1 decoded the EventBridge key too: `release+2026.11.20+(hotfix).zip` was "does not exist"."""
    key = f"{APP}/release+2026.11.20 (hotfix).zip"
    response = bot.s3.put_object(Bucket=bot.stack.bucket, Key=key, Body=bundle())
    bridge = bot.object_created(key, response)  # EventBridge carries the key as it is
    assert bot.invoke("artifact", bridge)["results"][0]["outcome"] == "accepted"
    assert bot.status()["deployment"]["artifact"]["key"] == key
    records = sample("artifact/s3-notification.json")
    record = records["Records"][0]
    record["s3"]["bucket"]["name"] = bot.stack.bucket
    record["s3"]["object"].update(
        key=quote_plus(key, safe="/"), eTag=response["ETag"].strip('"'), versionId=response["VersionId"]
    )
    again = bot.invoke("artifact", records)["results"][0]  # the same object, form-encoded
    assert again["outcome"] == "ignored" and again["rule"] == "artifact_already_known"


def test_s3s_test_event_is_ignored_not_an_error(world: World) -> None:
    response = world.invoke("artifact", sample("artifact/s3-test-event.json"))
    assert response["ok"] is True and response["ignored"] is True


def test_an_upload_no_app_accepts_is_told_on_the_bus(bot: World) -> None:
    response = bot.s3.put_object(Bucket=bot.stack.bucket, Key="nobot/build.zip", Body=bundle())
    answer = bot.invoke("artifact", bot.object_created("nobot/build.zip", response))
    assert answer["results"][0]["ok"] is False
    (notice,) = details(bot)
    assert notice["app"] == "nobot" and "not deployed" in notice["reason"] and notice["cause"]["type"] == "artifact"
    assert notice["cause"]["actor"] == ACCOUNT and REGION


def test_ticks_between_reconciles_describe_only_the_environments_in_flight(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14's budget: a tick with deployments in flight is a handful of calls; the region-wide page
    comes only every `reconcile_every_minutes` (and on a manual invoke)."""
    from bluegreen import service

    from tests.integration.faults import Injector

    monkeypatch.setenv("BLUEGREEN_RECONCILE_EVERY_MINUTES", "5")
    service.reset()
    assert world.register()["ok"]
    world.upload("build-1")
    injector = Injector().attach()
    quiet = service.controller().watchdog("t1", datetime(2026, 11, 30, 12, 3, tzinfo=UTC))
    assert quiet["registered"] == 0
    assert dict(injector.calls) == {
        "dynamodb.Query": 1,  # the InFlight index
        "dynamodb.BatchGetItem": 1,
        "elastic-beanstalk.DescribeEnvironments": 1,  # by name: the colors in flight only
        "cloudwatch.DescribeAlarms": 1,
    }
    injector.reset_counts()
    full = service.controller().watchdog("t2", datetime(2026, 11, 30, 12, 5, tzinfo=UTC))
    assert full["registered"] == 1 and injector.calls["dynamodb.Query"] == 2  # InFlight and Apps


# ====================================================================== issue 11: alarms per color


def _color_alarm(world: World, name: str) -> None:
    world.cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="5xx",
        Namespace="Bot",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )


def test_alarms_per_color_judge_only_the_color_deployed_to(world: World) -> None:
    for name in ("mybot-green-5xx", "mybot-blue-5xx"):
        _color_alarm(world, name)
    registered = world.register(bake_seconds=300, color_alarms={GREEN: ["mybot-green-5xx"], BLUE: ["mybot-blue-5xx"]})
    assert registered["ok"], registered
    world.upload("build-1")
    world.complete_update(GREEN, health="Ok")
    assert world.deployment_state() == "BAKING" and world.live() == GREEN
    noted = world.set_alarm("ALARM", alarm="mybot-blue-5xx")  # the old color's alarm: noted only
    assert noted["rule"] == "note_other_color_alarm" and world.deployment_state() == "BAKING"
    rolled = world.set_alarm("ALARM", alarm="mybot-green-5xx")  # the new color's alarm: roll back
    assert rolled["rule"] == "rollback_on_alarm" and world.live() == BLUE


def test_color_alarms_must_name_the_apps_colors_and_exist(world: World) -> None:
    wrong = world.register(color_alarms={"someone-else": ["mybot-errors"]})
    assert wrong["ok"] is False and "not one of the app's environments" in wrong["error"]["message"]
    missing = world.register(color_alarms={GREEN: ["mybot-green-typo"]})
    assert missing["ok"] is False and "mybot-green-typo does not exist" in missing["error"]["message"]
