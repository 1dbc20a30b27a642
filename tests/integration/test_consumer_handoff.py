"""Issue 12.1 through the handlers: a polling bot's promotion hands the consumer lease over, and is
verified by the new color taking it; a color that never takes it is rolled back, lease included."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from bluegreen.consumer import ConsumerLease, lease_holders

from tests.integration.conftest import APP, BLUE, GREEN, World


@pytest.fixture
def bot(world: World) -> Iterator[World]:
    assert world.register(consumer_lease=True, bake_seconds=60, handoff_timeout_seconds=30)["ok"]
    yield world


def advance(world: World, seconds: float) -> None:
    import time

    from bluegreen import service

    service.controller().clock = lambda: datetime.now(UTC) + timedelta(seconds=seconds)
    world.eb_backend.clock = lambda: time.time() + seconds


def lease(world: World, environment: str, offset: float = 0.0) -> ConsumerLease:
    import time

    client = world.session.client("dynamodb")
    return ConsumerLease(
        world.stack.table, APP, environment, heartbeat_seconds=1.0, client=client, clock=lambda: time.time() + offset
    )


def view(world: World) -> object:
    return lease_holders(world.session.client("dynamodb"), world.stack.table, [APP])[APP]


def test_promotion_hands_the_lease_over_and_the_bake_ends_only_once_the_new_color_holds_it(bot: World) -> None:
    blue = lease(bot, BLUE)
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    assert bot.deployment_state() == "BAKING" and bot.live() == GREEN
    assert view(bot).desired == GREEN  # type: ignore[attr-defined]
    assert blue.try_acquire() is None, "the old color may not take the lease once green is desired"
    green = lease(bot, GREEN)
    assert green.try_acquire() is not None
    advance(bot, 61)
    assert lease(bot, GREEN, offset=61).try_acquire() is not None  # green is alive: a fresh heartbeat
    bot.tick()
    assert bot.deployment_state() == "SUCCEEDED"


def test_a_new_color_that_takes_the_lease_then_dies_is_rolled_back(bot: World) -> None:
    """Only a holder with a fresh heartbeat verifies the hand-over: a crashed bot's name does not."""
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    assert lease(bot, GREEN).try_acquire() is not None
    advance(bot, 61)  # green stopped heartbeating a minute ago
    bot.tick()
    assert bot.deployment_state() == "ROLLED_BACK" and bot.live() == BLUE


def test_a_new_color_that_never_takes_the_lease_is_rolled_back_with_the_lease(bot: World) -> None:
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    assert bot.deployment_state() == "BAKING"
    advance(bot, 31)
    bot.tick()
    status = bot.status()
    assert status["deployment"]["state"] == "ROLLED_BACK" and bot.live() == BLUE
    assert "did not take the consumer lease within 30s" in status["deployment"]["reason"]
    assert view(bot).desired == BLUE  # type: ignore[attr-defined]
    assert lease(bot, BLUE).try_acquire() is not None, "the old color takes the lease back"


def test_register_makes_the_live_color_the_desired_holder(bot: World) -> None:
    assert view(bot).desired == BLUE  # type: ignore[attr-defined]
    assert lease(bot, BLUE).try_acquire() is not None, "a polling bot can start before any deployment"


def test_a_console_swap_hands_the_lease_to_the_color_serving_production(bot: World) -> None:
    bot.eb.swap_environment_cnames(SourceEnvironmentName=BLUE, DestinationEnvironmentName=GREEN)
    bot.tick()
    assert bot.status()["live_environment"] == GREEN and view(bot).desired == GREEN  # type: ignore[attr-defined]
