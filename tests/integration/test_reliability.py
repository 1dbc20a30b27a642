"""Reliability through the real handlers on moto: duplicates, injected faults at every call site, crashes
between an effect and its commit, lost events, and random delivery orders.

The invariant checked after every scenario: the state agrees with EB on the live color, no effect is
left pending, and EB saw exactly one CNAME swap per promotion or rollback in the history.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import BLUE, GREEN, World, bundle, sample
from tests.integration.faults import Crash, Injector


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard retry sleeps with jittered backoff; the attempts stay, the waiting goes."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


@pytest.fixture
def bot(world: World) -> Iterator[World]:
    assert world.register(bake_seconds=300)["ok"]
    world.notifications()
    yield world


@pytest.fixture
def injector(bot: World) -> Injector:
    return Injector().attach()


def advance(seconds: float) -> None:
    from bluegreen import service

    controller = service.controller()
    base = controller.clock()
    controller.clock = lambda: base + timedelta(seconds=seconds) + (datetime.now(UTC) - now_at_patch)
    now_at_patch = datetime.now(UTC)


def alarm_event(world: World) -> dict[str, Any]:
    world.cloudwatch.set_alarm_state(AlarmName="mybot-errors", StateValue="ALARM", StateReason="test")
    event = sample("alarm/alarm-eventbridge.json")
    event["id"] = str(uuid.uuid4())
    stamp = datetime.now(UTC).isoformat()
    event["time"] = stamp
    event["detail"]["state"]["timestamp"] = stamp
    return event


def upload_event(world: World, name: str = "build-1") -> dict[str, Any]:
    key = f"mybot/{name}.zip"
    return world.object_created(key, world.s3.put_object(Bucket=world.stack.bucket, Key=key, Body=bundle()))


def assert_consistent(world: World) -> dict[str, Any]:
    status = world.status()
    assert status["pending_effects"] == [], "an effect was left pending"
    assert status["live_environment"] == world.live(), "the state and EB disagree on the live color"
    moves = [t for h in status["history"] for t in h["transitions"] if t["to_state"] in ("BAKING", "ROLLED_BACK")]
    assert world.eb_backend.swap_count == len(moves), "a swap without a transition, or a double swap"
    return status


class Driver:
    """Delivers events as AWS would: a failed invocation is retried later (here: after faults clear)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.failed: list[tuple[str, Any]] = []
        self.raised = 0

    def deliver(self, handler: str, event: Any) -> None:
        try:
            self.world.invoke(handler, event)
        except Crash:
            self.raised += 1  # the invocation died; AWS does not know why and retries it
            self.failed.append((handler, event))
        except Exception:
            self.raised += 1
            self.failed.append((handler, event))

    def lifecycle(self) -> None:
        self.deliver("artifact", upload_event(self.world))
        for event in self.world.eb_backend.complete_update(GREEN, health="Ok"):
            self.deliver("health", event)
        self.deliver("alarm", alarm_event(self.world))

    def recover(self, injector: Injector) -> None:
        """Faults clear; AWS retries what failed; the watchdog runs after the lease expired."""
        injector.clear()
        for round_ in range(3):
            pending, self.failed = self.failed, []
            for handler, event in pending:
                self.deliver(handler, event)
            advance(120 * (round_ + 1))
            self.world.tick()
            for event in self.world.eb_backend.advance():
                self.deliver("health", event)


# Every AWS call site of the three main paths (artifact, health, alarm), as botocore names them.
SITES = [
    "dynamodb.GetItem",
    "dynamodb.TransactWriteItems",
    "dynamodb.PutItem",
    "s3.GetObject",
    "elastic-beanstalk.CreateApplicationVersion",
    "elastic-beanstalk.DescribeEnvironments",
    "elastic-beanstalk.UpdateEnvironment",
    "elastic-beanstalk.SwapEnvironmentCNAMEs",
    "eventbridge.PutEvents",
]
FAULTS = ["throttle", "http500", "timeout"]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("site", SITES)
def test_transient_faults_are_retried_by_botocore(bot: World, injector: Injector, site: str, fault: str) -> None:
    """Two failures in a row at a call site: botocore's bounded retries absorb them; nothing changes."""
    injector.inject(site, fault, times=2)
    driver = Driver(bot)
    driver.lifecycle()
    assert driver.raised == 0
    assert injector.faults[0].injected == 2, "the fault was hit and retried"
    status = assert_consistent(bot)
    assert status["deployment"]["state"] == "ROLLED_BACK" and bot.live() == BLUE and bot.eb_backend.swap_count == 2


@pytest.mark.parametrize("site", SITES)
def test_exhausted_retries_leave_a_consistent_state_that_later_completes(
    bot: World, injector: Injector, site: str
) -> None:
    """The fault outlasts botocore's retries: the handler raises (so AWS retries it), the state stays
    consistent, and AWS's retry or the watchdog finishes the work once the fault is gone."""
    injector.inject(site, "throttle", times=None)
    driver = Driver(bot)
    driver.lifecycle()
    if site == "eventbridge.PutEvents":
        # Notifications are a side channel: they wait in the outbox and never hold up a decision,
        # so the whole lifecycle, rollback included, went through while the bus was throttling.
        assert driver.raised == 0
        assert bot.live() == BLUE and bot.eb_backend.swap_count == 2
        assert bot.status()["outbox"]["waiting"] > 0
    else:
        assert driver.raised >= 1, "a transient failure must raise, so that AWS retries"
    driver.recover(injector)
    status = assert_consistent(bot)
    deployment = status["deployment"]
    if deployment["state"] == "VERIFYING":
        # The upload was accepted only after the alarm fired: an alarm from before a deployment holds it.
        assert "promotion held: alarm" in deployment["held"]
    else:
        assert deployment["state"] in ("ROLLED_BACK", "ABORTED", "BAKING", "SUCCEEDED")
    assert status["outbox"]["waiting"] == 0, "the watchdog delivered what waited in the outbox"


@pytest.mark.parametrize(
    "crash_after",
    [
        "elastic-beanstalk.SwapEnvironmentCNAMEs",
        "dynamodb.TransactWriteItems",
        "eventbridge.PutEvents",
        "elastic-beanstalk.UpdateEnvironment",
    ],
)
def test_a_crash_between_an_effect_and_its_commit_is_finished_without_repeating_it(
    bot: World, injector: Injector, crash_after: str
) -> None:
    driver = Driver(bot)
    injector.crash_after = crash_after
    driver.deliver("artifact", upload_event(bot))
    for event in bot.eb_backend.complete_update(GREEN, health="Ok"):
        driver.deliver("health", event)
    assert driver.raised == 1
    driver.recover(injector)
    status = assert_consistent(bot)
    assert status["deployment"]["state"] == "SUCCEEDED" and bot.live() == GREEN  # recovery outlasted the bake
    assert bot.eb_backend.swap_count == 1, "the swap ran once"
    assert bot.override("rollback")["ok"]
    assert_consistent(bot)
    assert bot.live() == BLUE and bot.eb_backend.swap_count == 2


def test_a_lost_health_event_is_reconciled_by_the_watchdog(bot: World, injector: Injector) -> None:
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok", deliver=False)  # EventBridge never delivers it
    assert bot.deployment_state() == "DEPLOYING"
    injector.reset_counts()
    result = bot.tick()
    # one describe serves every app this tick; the swap asks EB again (a batch observation may be many apps old)
    assert injector.calls["elastic-beanstalk.DescribeEnvironments"] == 2
    assert result["apps"] == 1
    assert bot.deployment_state() == "BAKING" and bot.live() == GREEN


def test_a_lost_alarm_event_is_caught_with_one_describe_alarms_per_app(bot: World, injector: Injector) -> None:
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    bot.cloudwatch.set_alarm_state(AlarmName="mybot-errors", StateValue="ALARM", StateReason="never delivered")
    injector.reset_counts()
    bot.tick()
    assert bot.deployment_state() == "ROLLED_BACK" and bot.live() == BLUE
    assert injector.calls["cloudwatch.DescribeAlarms"] == 1
    assert_consistent(bot)


@pytest.mark.parametrize("copies", [2, 3, 5])
def test_every_event_delivered_several_times_has_its_effects_once(bot: World, injector: Injector, copies: int) -> None:
    upload = upload_event(bot)
    for _ in range(copies):
        bot.invoke("artifact", upload)
    emitted = bot.eb_backend.complete_update(GREEN, health="Ok")
    for _ in range(copies):
        for event in emitted:
            bot.invoke("health", event)
    alarm = alarm_event(bot)
    for _ in range(copies):
        bot.invoke("alarm", alarm)
    # the Lambda-action payload of the same alarm transition is the same event: a duplicate too
    action = sample("alarm/alarm-lambda-action.json")
    action["alarmData"]["state"]["timestamp"] = alarm["detail"]["state"]["timestamp"]
    bot.invoke("alarm", action)
    assert injector.calls["elastic-beanstalk.CreateApplicationVersion"] == 1
    assert injector.calls["elastic-beanstalk.UpdateEnvironment"] == 1
    assert injector.calls["elastic-beanstalk.SwapEnvironmentCNAMEs"] == 2
    status = assert_consistent(bot)
    assert [h["rule"] for h in status["history"]][-3:] in (
        ["deploy_to_idle", "verify_updated_idle", "rollback_on_alarm"],
        ["deploy_to_idle", "verify_healthy_idle", "rollback_on_alarm"],
    )
    notes = bot.notifications()
    assert len(notes) == len({n["detail"]["transition_id"] for n in notes}) == 4


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_delivery_orders_through_the_handlers(world: World, seed: int) -> None:
    """The smaller handler-level profile: a random interleaving of two uploads, EB's events, an alarm,
    ticks and an override, with duplicates, drops and reordering, keeps the invariants."""
    from bluegreen import service

    service.reset()
    rng = random.Random(seed)
    app = f"bot{seed % 100000}"
    _fresh_app(world, app)
    events: list[tuple[str, Any]] = [("artifact", _upload(world, app, "b1")), ("artifact", _upload(world, app, "b2"))]
    rng.shuffle(events)
    delivered: list[tuple[str, Any]] = []
    for _ in range(12):
        roll = rng.random()
        if events and roll < 0.35:
            item = events.pop(0)
        elif delivered and roll < 0.5:
            item = rng.choice(delivered)  # a duplicate, possibly stale by now
        elif roll < 0.7:
            for name in (f"{app}-blue", f"{app}-green"):
                for emitted in world.eb_backend.complete_update(name, health=rng.choice(["Ok", "Ok", "Severe"])):
                    if rng.random() > 0.2:  # some EB events are lost
                        events.insert(rng.randrange(len(events) + 1), ("health", emitted))
            continue
        elif roll < 0.8:
            item = ("alarm", _alarm(world, app))
        elif roll < 0.9:
            item = (
                "override",
                {
                    "action": rng.choice(["promote", "rollback", "abort", "pause", "resume", "retry"]),
                    "app": app,
                    "reason": "random",
                    "requested_by": "hypothesis",
                },
            )
        else:
            item = ("watchdog", sample("watchdog/scheduled.json") | {"id": str(uuid.uuid4())})
        world.invoke(*item)
        delivered.append(item)
    status = (
        world.override("status", app=app)
        if False
        else world.invoke("override", {"action": "status", "app": app, "history_limit": 100})
    )
    assert status["pending_effects"] == []
    environments = world.eb.describe_environments(ApplicationName=app)["Environments"]
    live = next(e["EnvironmentName"] for e in environments if e["CNAME"] == status["production_cname"])
    assert status["live_environment"] == live
    deployment = status["deployment"]
    if deployment and deployment["state"] == "ROLLED_BACK":
        assert status["last_good_version"] == deployment["previous_version"]


def _fresh_app(world: World, app: str) -> None:
    from bluegreen_local.bots import create_bot

    create_bot(world.session, app, blue_cname_prefix=f"{app}-blue-x")
    config = {
        "environments": [f"{app}-blue", f"{app}-green"],
        "live_environment": f"{app}-blue",
        "alarms": [f"{app}-errors"],
        "bake_seconds": 600,
    }
    response = world.invoke(
        "register", {"action": "register", "app": app, "reason": "r", "requested_by": "t", "config": config}
    )
    assert response["ok"], response


def _upload(world: World, app: str, name: str) -> dict[str, Any]:
    key = f"{app}/{name}.zip"
    return world.object_created(key, world.s3.put_object(Bucket=world.stack.bucket, Key=key, Body=bundle()))


def _alarm(world: World, app: str) -> dict[str, Any]:
    event = alarm_event(world)
    event["detail"]["alarmName"] = f"{app}-errors"
    return event


@pytest.mark.parametrize(
    "site",
    [
        "dynamodb.TransactWriteItems",
        "dynamodb.PutItem",
        "elastic-beanstalk.CreateApplicationVersion",
        "elastic-beanstalk.UpdateEnvironment",
        "elastic-beanstalk.SwapEnvironmentCNAMEs",
        "eventbridge.PutEvents",
    ],
)
def test_a_lost_response_after_aws_applied_the_call_is_safe(bot: World, injector: Injector, site: str) -> None:
    """The ambiguous failure: AWS did it, the caller timed out reading the answer, the retry repeats it."""
    injector.inject(site, "lost", times=1)
    driver = Driver(bot)
    driver.lifecycle()
    driver.recover(injector)
    status = assert_consistent(bot)
    assert status["deployment"]["state"] in ("ROLLED_BACK", "ABORTED", "BAKING", "SUCCEEDED")


def test_the_polling_lease_moves_before_the_swap_so_two_colors_never_poll_at_once(
    bot: World, injector: Injector
) -> None:
    from bluegreen.lease import LiveColor

    lease = LiveColor(bot.stack.table, "mybot", max_age=0)
    assert lease.is_live(BLUE) and not lease.is_live(GREEN)
    bot.upload("build-1")
    injector.crash_after = "dynamodb.TransactWriteItems"  # the promotion is decided, the swap not yet run
    with pytest.raises(Crash):
        for event in bot.eb_backend.complete_update(GREEN, health="Ok", **{}):
            bot.invoke("health", event)
    assert bot.live() == BLUE, "EB has not swapped yet"
    assert lease.is_live(GREEN) and not lease.is_live(BLUE), "the old color already stopped polling"
    assert not LiveColor(bot.stack.table, "ghost", max_age=0).is_live(GREEN)
