"""Adversarial review of issue 9 (outside reviewer): real-shaped AWS behaviour the lead's change gets wrong.

Each test names the bug it pins in a `# BUG:` comment; every test here fails on the reviewed tree.
They run through the real handlers on moto with bluegreen's EB extension, like tests/integration/test_aws_truth.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.integration.conftest import APP, BLUE, GREEN, PRODUCTION_CNAME, REGION, Clock, World, console_swap, details


@pytest.fixture
def bot(world: World) -> Iterator[World]:
    assert world.register(bake_seconds=300)["ok"]
    world.notifications()
    yield world


@pytest.fixture
def clock(bot: World) -> Clock:
    return Clock(bot)


def hook(operation: str, action: Any) -> None:
    """Run `action(params)` just before the controller's boto3 client sends `operation`; a non-None return
    value short-circuits the call (botocore's before-call contract: `(http_response, parsed)`)."""
    from bluegreen.aws import clients

    service = {
        "SwapEnvironmentCNAMEs": "elasticbeanstalk",
        "CreateApplicationVersion": "elasticbeanstalk",
        "DescribeAlarms": "cloudwatch",
    }[operation]
    clients.client(service).meta.events.register(f"before-call.*.{operation}", lambda params, **_: action(params))


def client_error(code: str, message: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message}}, "Injected")


def env(world: World, name: str) -> Any:
    return world.eb_backend.environment(name)


# ====================================================================== 1. an accepted swap EB applies later


def test_review_swap_accepted_but_applied_later_is_not_read_as_a_console_rollback(bot: World) -> None:
    # BUG: SwapEnvironmentCNAMEs is asynchronous in EB (the call returns at once; EB logs "Swapping CNAMEs
    # for environments ..." and later "Completed swapping CNAMEs ...", which is what `eb swap` waits for).
    # Any observation in between still shows the old CNAME owner, and the `record_rollback_outside` reconcile
    # row reads our own in-progress promotion as "traffic was moved outside bluegreen": BAKING -> ROLLED_BACK
    # with a false "traffic returned" story; when EB finishes the swap the IDLE reconcile then adopts the new
    # build as live ("someone swapped outside bluegreen") with no bake and no alarm-based rollback armed.
    deferred: list[dict[str, Any]] = []

    def accept_and_apply_later(params: dict[str, Any]) -> Any:
        deferred.append(params)
        for name in (BLUE, GREEN):
            env(bot, name).status = "Updating"  # EB is swapping: both colors busy, CNAMEs not moved yet
        return SimpleNamespace(status_code=200, headers={}), {"ResponseMetadata": {"HTTPStatusCode": 200}}

    hook("SwapEnvironmentCNAMEs", accept_and_apply_later)
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    assert deferred, "the promotion called SwapEnvironmentCNAMEs"
    # complete_update's own trailing health event already observes EB mid-swap and flips it to ROLLED_BACK
    assert bot.deployment_state() == "BAKING", "our own accepted swap is not a person's rollback"
    bot.notifications()

    bot.tick()  # the watchdog looks while EB is still applying the swap
    assert bot.deployment_state() == "BAKING", "our own accepted swap is not a person's rollback"

    blue, green = env(bot, BLUE), env(bot, GREEN)
    blue.cname, green.cname = green.cname, blue.cname  # EB completes the swap
    blue.status = green.status = "Ready"
    bot.tick()
    status = bot.status()
    assert status["deployment"]["state"] == "BAKING" and status["live_environment"] == GREEN
    assert not any(d["to_state"] == "ROLLED_BACK" for d in details(bot)), "no false 'traffic returned' notice"


# ====================================================================== 2. the watchdog's batch observation reused as "fresh"


def test_review_watchdog_batch_observation_is_not_reused_as_fresh_for_the_swap(
    bot: World, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BUG: `Controller._observe` stamps a prebuilt (watchdog batch) observation with `time.monotonic()` at
    # decide time, so `Observation.fresh()` hands the batch's DescribeEnvironments to `ensure_live` as "a
    # moment ago" however old it is (the batch describes the region once, then ticks app after app; with many
    # apps in flight that is tens of seconds). `ensure_live` skips its own describe and swaps on the stale
    # picture. A person who promotes in the console meanwhile gets production swapped BACK to the old build.
    from bluegreen import controller as controller_module

    monkeypatch.setattr(controller_module, "FRESH_SECONDS", 0.2)
    assert bot.register(promote_delay_seconds=60)["ok"]
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    assert bot.deployment_state() == "VERIFYING"
    clock.advance(61)  # promotion is due on the next tick

    swapped: list[bool] = []

    def console_swap_after_the_batch_describe(params: dict[str, Any]) -> None:
        # DescribeAlarms runs after the watchdog's DescribeEnvironments and before the per-app ticks.
        if not swapped:
            swapped.append(True)
            console_swap(bot)  # a person promotes green by hand: production -> green (build-1)
            time.sleep(0.3)  # the batch is now older than FRESH_SECONDS

    hook("DescribeAlarms", console_swap_after_the_batch_describe)
    bot.tick()
    assert swapped
    assert bot.live() == GREEN, "bluegreen swapped production back to the old build on a stale observation"
    assert bot.eb_backend.swap_count == 1, "only the person's swap happened"


# ====================================================================== 3. bake_seconds = 0 and a refused swap


def test_review_refused_promotion_swap_with_no_bake_is_not_recorded_as_succeeded(bot: World) -> None:
    # BUG: with bake_seconds=0 `promote` moves to BAKING and at once to SUCCEEDED (IDLE) in the same decision.
    # When EB refuses the swap ("... Must be Ready", e.g. a managed platform update on the live color), the
    # EffectFailed arrives in IDLE where no effect_failed row matches (promotion_swap_refused only covers
    # BAKING): the refusal is silently ignored, the stored deployment says SUCCEEDED with live=green, the
    # promotion is never retried, and the next tick's reconcile blames "someone swapped outside bluegreen".
    assert bot.register(bake_seconds=0)["ok"]
    bot.notifications()
    bot.upload("build-1")
    bot.eb_backend.start_managed_update(BLUE)  # EB takes the live color into a platform update
    bot.complete_update(GREEN, health="Ok")
    assert bot.live() == BLUE
    status = bot.status()
    assert status["deployment"]["state"] == "SWAP_REFUSED", status["deployment"]["state"]
    assert status["live_environment"] == BLUE
    bot.complete_update(BLUE)  # the platform update ends
    bot.tick()
    assert bot.live() == GREEN, "the refused promotion is retried once both colors are Ready"
    reasons = [d["reason"] for d in details(bot)]
    assert not any("someone swapped outside bluegreen" in r for r in reasons)


# ====================================================================== 4. abort starts the queued build blind


def test_review_operator_abort_does_not_start_the_queued_build_onto_production(bot: World) -> None:
    # BUG: `observation_needs` does not observe EB for `override:abort`, yet `operator_abort` -> `abort()`
    # starts the queued artifact (`start_deployment`), which picks its target from the STORED live color and,
    # with no observation, does not even hold for readiness. After a console swap (here: a person promotes
    # the verified color by hand), the queued, unverified build is deployed in place onto production.
    assert bot.register(auto_promote=False)["ok"]
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    assert bot.deployment_state() == "VERIFYING"  # awaiting approval
    assert bot.override("pause")["ok"]
    bot.upload("build-2")  # queued while paused
    assert bot.status()["queued"] is not None
    assert bot.override("resume")["ok"]  # build-1 still awaits approval; build-2 stays queued
    console_swap(bot)  # a person promotes green (build-1) in the EB console instead of `bluegreen approve`
    production_version = bot.version_of(GREEN)
    bot.override("abort")
    assert bot.live() == GREEN
    assert env(bot, GREEN).status == "Ready" and bot.version_of(GREEN) == production_version, (
        "the queued build was deployed in place onto the color serving production"
    )


# ====================================================================== 5. a permanently refused swap loops forever


def test_review_permanently_refused_promotion_swap_ends_at_the_verify_timeout(bot: World, clock: Clock) -> None:
    # BUG: two things keep SWAP_REFUSED alive forever when EB (or the pre-check) refuses the swap for good
    # while both colors are Ready -- e.g. production CNAME moved to a third environment, or AccessDenied:
    # (a) `retry_refused_swap` precedes `abort_verify_timeout` in the table, so the timeout never wins while
    # both colors are Ready; (b) every refused retry goes BAKING -> SWAP_REFUSED again via `ctx.move`, which
    # resets `state_since`, the verify timeout's base. Result: a swap attempt and a SWAP_REFUSED
    # notification every minute, forever, and the deployment never ends.
    from bluegreen_local.bots import SOLUTION_STACK

    bot.eb.create_environment(
        ApplicationName=APP,
        EnvironmentName="mybot-hotfix",
        CNAMEPrefix="mybot-hotfix",
        VersionLabel="v0",
        SolutionStackName=SOLUTION_STACK,
    )
    # A person serves production from a third environment (console "Swap environment URLs" with it).
    bot.eb.swap_environment_cnames(SourceEnvironmentName=BLUE, DestinationEnvironmentName="mybot-hotfix")
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    assert bot.deployment_state() == "SWAP_REFUSED"
    bot.notifications()
    for _ in range(6):  # 30 minutes, twice the 900 s verify timeout
        clock.advance(300)
        bot.tick()
    assert bot.deployment_state() == "ABORTED"
    refusals = [d for d in details(bot) if d["to_state"] == "SWAP_REFUSED"]
    assert len(refusals) <= 2, f"{len(refusals)} SWAP_REFUSED notifications in 30 minutes"


# ====================================================================== 6. EB's application-version quota


def test_review_version_quota_does_not_abort_every_deployment_forever(bot: World) -> None:
    # BUG: versions bluegreen created are pruned only after a SUCCESS (`succeed` -> PruneVersions). EB's
    # quota (1,000 application versions per region, all applications together) is then hit by aborted
    # builds' versions (or by many apps x version_retention 30); CreateApplicationVersion fails with
    # TooManyApplicationVersionsException, `abort_after_failed_effect` aborts, nothing prunes, and every
    # later deployment of every app in the region aborts the same way -- a wedge no success can clear.
    assert bot.register(version_retention=2)["ok"]
    for n in range(1, 5):  # four bad builds: each one aborts and leaves its application version behind
        bot.upload(f"bad-{n}")
        bot.complete_update(GREEN, fail=True)
        assert bot.deployment_state() == "ABORTED"
    quota = len(bot.eb_backend.versions)  # the region is now full

    def quota_hit(params: dict[str, Any]) -> None:
        if len(bot.eb_backend.versions) >= quota:
            raise client_error(
                "TooManyApplicationVersionsException",
                "You cannot have more than 1000 Application Versions.",
            )

    hook("CreateApplicationVersion", quota_hit)
    bot.upload("fix-1")
    state = bot.deployment_state()
    assert state == "DEPLOYING", (
        f"{state}: bluegreen's own unused versions (aborted builds, beyond version_retention) were not "
        "freed to make room"
    )


# ====================================================================== 7. live color health during a platform update


def test_review_health_dip_of_the_live_color_during_a_managed_update_does_not_roll_back(bot: World) -> None:
    # BUG: the grace and "judge only once Ready" rules exist for the idle color only. During the bake a
    # managed platform update (or any EB update) on the LIVE color makes its health dip (Info -> Degraded ->
    # brief Severe while instances restart; docs/aws-events.md 1.4: "normal, must not abort"), and
    # `rollback_unhealthy_live` rolls back at once on the first Severe while EB reports the color Updating.
    # The swap is then refused (Updating), so it becomes ROLLBACK_REFUSED and is retried until it moves a
    # perfectly healthy build off production once the platform update ends.
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    assert bot.deployment_state() == "BAKING" and bot.live() == GREEN
    for event in bot.eb_backend.start_managed_update(GREEN):
        bot.invoke("health", event)
    for event in bot.eb_backend.set_health(GREEN, "Severe"):  # instances restarting mid-update
        bot.invoke("health", event)
    assert bot.deployment_state() == "BAKING", "a dip while EB reports the live color Updating is not a failure"
    bot.complete_update(GREEN)  # the platform update ends, Ok
    bot.tick()
    assert bot.live() == GREEN and bot.deployment_state() == "BAKING"


# ====================================================================== 8. register's CNAME-shape heuristic


def test_review_register_does_not_guess_production_from_the_cname_shape(world: World) -> None:
    # BUG: `_live_color` without live_environment/production_cname guesses that the one CNAME not named after
    # an environment is production. A common layout is the reverse: production keeps the first color's
    # default URL (mybot-blue.<region>...) and the second color got a custom "staging" prefix. register then
    # silently records the staging color as live and its CNAME as production, and the next build is
    # deployed in place onto the color that really serves production. Nothing AWS reports says which CNAME
    # is production: register must ask (refuse), not guess.
    blue, green = env(world, BLUE), env(world, GREEN)
    blue.cname = f"{BLUE}.{REGION}.elasticbeanstalk.com"  # production users hit the default URL of blue
    green.cname = f"{APP}-staging.{REGION}.elasticbeanstalk.com"  # testers hit green through a custom prefix
    assert PRODUCTION_CNAME not in (blue.cname, green.cname)
    from tests.integration.conftest import sample

    payload = sample("override/register.json")
    payload["config"].pop("live_environment")
    registered = world.invoke("register", payload)
    assert registered["ok"] is False or registered["live_environment"] == BLUE, (
        f"register guessed {registered.get('live_environment')} ({registered.get('production_cname')}) as live"
    )
