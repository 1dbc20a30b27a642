"""Moving traffic the way bots need it (issue 12), through the real handlers on moto: the `alb` mode with
weighted steps checked against ELB, the `lease` mode for a bot that only polls, the drain of the old color
and its standby capacity (scaled down after the bake, restored before it serves or is deployed to)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bluegreen.aws.capacity import read_capacity
from bluegreen.aws.elb import percent_to, read_weights
from bluegreen.consumer import ConsumerLease, lease_holders

from tests.integration.conftest import APP, BLUE, GREEN, World, details


class Time:
    """One clock for the controller and EB."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        from bluegreen import service

        self.offset += seconds
        offset = self.offset
        service.controller().clock = lambda: datetime.now(UTC) + timedelta(seconds=offset)
        self.world.eb_backend.clock = lambda: time.time() + offset


# ---------------------------------------------------------------- traffic "alb": weighted steps at a shared ALB


@pytest.fixture
def alb(world: World) -> dict[str, Any]:
    """The bot's production traffic behind a shared ALB (moto, with the local ELBv2 corrections)."""
    from bluegreen_local.alb import create_alb_bot

    return create_alb_bot(world.session, APP)


def shares(world: World, alb: dict[str, Any]) -> dict[str, int]:
    weights = read_weights(world.session.client("elbv2"), alb["rule_arn"])
    return {env: percent_to(weights, arn) for env, arn in alb["target_groups"].items()}


def register_alb(world: World, alb: dict[str, Any], **config: Any) -> dict[str, Any]:
    traffic = {"rule_arn": alb["rule_arn"], "target_groups": alb["target_groups"], **config.pop("steps", {})}
    return world.register(traffic="alb", alb=traffic, bake_seconds=60, **config)


def test_alb_register_reads_the_live_color_from_the_rule(world: World, alb: dict[str, Any]) -> None:
    response = register_alb(world, alb)
    assert response["ok"], response
    assert response["live_environment"] == BLUE and response["config"]["traffic"] == "alb"
    wrong = world.register(
        traffic="alb", alb={"rule_arn": alb["rule_arn"], "target_groups": {BLUE: alb["target_groups"][GREEN]}}
    )
    assert wrong["ok"] is False


def test_alb_weighted_steps_then_an_alarm_at_the_middle_step_sends_everything_back(
    world: World, alb: dict[str, Any]
) -> None:
    assert register_alb(world, alb, steps={"steps": [10, 50, 100], "step_seconds": 60})["ok"]
    clock = Time(world)
    world.upload("build-1")
    world.complete_update(GREEN, health="Ok")
    status = world.status()
    assert status["deployment"]["state"] == "BAKING" and status["deployment"]["weight"] == 10
    assert shares(world, alb) == {BLUE: 90, GREEN: 10}
    assert world.eb_backend.swap_count == 0  # no DNS involved
    world.tick()  # within the step: nothing changes, nothing is written twice
    assert shares(world, alb) == {BLUE: 90, GREEN: 10}
    clock.advance(61)
    world.tick()
    assert shares(world, alb) == {BLUE: 50, GREEN: 50}
    assert world.status()["deployment"]["bake_until"] is None  # the bake starts at 100%
    world.set_alarm("ALARM")
    status = world.status()
    assert status["deployment"]["state"] == "ROLLED_BACK" and status["live_environment"] == BLUE
    assert shares(world, alb) == {BLUE: 100, GREEN: 0}


def test_alb_steps_reach_100_then_the_bake_ends(world: World, alb: dict[str, Any]) -> None:
    assert register_alb(world, alb, steps={"steps": [50, 100], "step_seconds": 30})["ok"]
    clock = Time(world)
    world.upload("build-1")
    world.complete_update(GREEN, health="Ok")
    clock.advance(31)
    world.tick()
    assert shares(world, alb) == {BLUE: 0, GREEN: 100}
    reasons = [d["reason"] for d in details(world)]
    assert any("mybot-green serves 100% (weighted step 2 of 2)" in r for r in reasons), reasons
    clock.advance(61)
    world.tick()
    assert world.deployment_state() == "SUCCEEDED"


def test_alb_a_change_at_the_load_balancer_is_reconciled(world: World, alb: dict[str, Any]) -> None:
    """Someone sends everything to green in the console: ELB's word wins, green is live."""
    from bluegreen.aws.elb import ensure_weights

    assert register_alb(world, alb)["ok"]
    groups = alb["target_groups"]
    ensure_weights(world.session.client("elbv2"), alb["rule_arn"], {groups[GREEN]: 100, groups[BLUE]: 0})
    world.tick()
    assert world.status()["live_environment"] == GREEN
    world.upload("build-1")
    assert world.status()["deployment"]["target_environment"] == BLUE


# ---------------------------------------------------------------- traffic "lease": a bot that only polls


def view(world: World) -> Any:
    return lease_holders(world.session.client("dynamodb"), world.stack.table, [APP])[APP]


def test_lease_mode_promotion_moves_only_the_consumer_lease(world: World) -> None:
    response = world.register(
        traffic="lease", consumer_lease=True, live_environment=BLUE, bake_seconds=60, handoff_timeout_seconds=30
    )
    assert response["ok"], response
    again = world.register(traffic="lease", bake_seconds=60)  # the stored consumer_lease and live color stay
    assert again["ok"], again
    world.upload("build-1")
    world.complete_update(GREEN, health="Ok")
    assert world.deployment_state() == "BAKING"
    assert world.eb_backend.swap_count == 0 and world.live() == BLUE  # no CNAME moved
    assert view(world).desired == GREEN
    green = ConsumerLease(world.stack.table, APP, GREEN, heartbeat_seconds=1.0, client=world.session.client("dynamodb"))
    assert green.try_acquire() is not None
    Time(world).advance(61)
    ConsumerLease(
        world.stack.table,
        APP,
        GREEN,
        heartbeat_seconds=1.0,
        client=world.session.client("dynamodb"),
        clock=lambda: time.time() + 61,
    ).try_acquire()
    world.tick()
    assert world.deployment_state() == "SUCCEEDED" and world.status()["live_environment"] == GREEN


def test_lease_mode_needs_the_lease_and_a_live_color(world: World) -> None:
    no_lease = world.register(traffic="lease", live_environment=BLUE)
    assert no_lease["ok"] is False and "consumer_lease" in no_lease["error"]["message"]
    no_live = world.register(traffic="lease", consumer_lease=True, live_environment=None)
    assert no_live["ok"] is False and "live_environment" in no_live["error"]["message"]


# ---------------------------------------------------------------- drain, then standby


def capacity(world: World, environment: str) -> tuple[int, int]:
    found = read_capacity(world.eb, APP, environment)
    return found.min_size, found.max_size


def test_a_build_for_the_color_traffic_just_left_waits_for_the_drain(world: World) -> None:
    assert world.register(bake_seconds=0, drain_seconds=120)["ok"]
    clock = Time(world)
    world.upload("build-1")
    world.complete_update(GREEN, health="Ok")
    world.tick()
    assert world.deployment_state() == "SUCCEEDED" and world.live() == GREEN
    world.upload("build-2")
    status = world.status()
    assert status["deployment"]["target_environment"] == BLUE
    assert "is draining" in status["deployment"]["held"] and world.version_of(BLUE) == "v0"
    clock.advance(121)
    world.tick()
    assert world.status()["deployment"]["update_started"] is True
    world.complete_update(BLUE, health="Ok")
    assert world.deployment_state() == "BAKING" and world.live() == BLUE


@pytest.fixture
def standby(world: World) -> World:
    assert world.register(bake_seconds=0, drain_seconds=60, standby={"min_size": 1, "max_size": 1})["ok"]
    return world


def promote_build_1_and_go_to_standby(world: World, clock: Time) -> None:
    world.upload("build-1")
    world.complete_update(GREEN, health="Ok")
    world.tick()
    assert world.deployment_state() == "SUCCEEDED"
    assert capacity(world, BLUE) == (1, 4)
    world.tick()  # the drain is not over: blue keeps its capacity
    assert capacity(world, BLUE) == (1, 4)
    clock.advance(61)
    world.tick()
    world.complete_update(BLUE)  # EB finishes the configuration update
    assert capacity(world, BLUE) == (1, 1)
    assert world.status()["config"]["standby"] == {"min_size": 1, "max_size": 1}


def test_the_old_color_goes_to_standby_and_its_capacity_comes_back_before_it_is_deployed_to(standby: World) -> None:
    world = standby
    clock = Time(world)
    promote_build_1_and_go_to_standby(world, clock)
    reasons = [d["reason"] for d in details(world)]
    assert any("mybot-blue goes to standby: MinSize=1 MaxSize=1 (it had MinSize=1 MaxSize=4" in r for r in reasons)
    world.upload("build-2")
    status = world.status()
    assert status["deployment"]["target_environment"] == BLUE
    assert "on standby: restoring MinSize=1 MaxSize=4 first" in status["deployment"]["held"]
    world.complete_update(BLUE)  # the capacity update ends: Ready again
    assert capacity(world, BLUE) == (1, 4) and world.version_of(BLUE) == "v0"
    world.tick()
    world.complete_update(BLUE, health="Ok")
    assert world.deployment_state() == "BAKING" and world.live() == BLUE
    assert world.version_of(BLUE) == status["deployment"]["artifact"]["label"]


def test_a_rollback_to_a_color_on_standby_restores_it_first_then_swaps(standby: World) -> None:
    world = standby
    clock = Time(world)
    promote_build_1_and_go_to_standby(world, clock)
    response = world.override("rollback")
    assert response["ok"], response
    status = world.status()
    assert status["deployment"]["state"] == "ROLLBACK_WARMING" and world.live() == GREEN
    assert "on standby: restoring its capacity (MinSize=1 MaxSize=4) first" in status["deployment"]["reason"]
    world.tick()  # still Updating: traffic stays
    assert world.live() == GREEN
    world.complete_update(BLUE, health="Ok")
    assert capacity(world, BLUE) == (1, 4)
    world.tick()
    status = world.status()
    assert status["deployment"]["state"] == "ROLLED_BACK" and world.live() == BLUE


def test_alb_register_refuses_a_rule_that_did_not_opt_in(world: World, alb: dict[str, Any]) -> None:
    """The controller's role may change only rules tagged bluegreen:managed=true: say so at register."""
    world.session.client("elbv2").remove_tags(ResourceArns=[alb["rule_arn"]], TagKeys=["bluegreen:managed"])
    response = register_alb(world, alb)
    assert response["ok"] is False and "not tagged bluegreen:managed=true" in response["error"]["message"]


def test_a_re_register_may_leave_out_the_environments_a_first_one_may_not(world: World) -> None:
    payload = {"action": "register", "app": APP, "reason": "tune", "requested_by": "alice@example.com"}
    first = world.invoke("register", {**payload, "config": {"live_environment": BLUE}})
    assert first["ok"] is False and "register needs environments" in first["error"]["message"]
    assert world.register(bake_seconds=60)["ok"]
    again = world.invoke("register", {**payload, "config": {"bake_seconds": 900, "drain_seconds": 30}})
    assert again["ok"], again
    assert again["config"]["environments"] == [BLUE, GREEN] and again["config"]["bake_seconds"] == 900
    assert again["live_environment"] == BLUE
