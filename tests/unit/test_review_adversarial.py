"""Adversarial review of issue 9 (outside reviewer): pure pins of bugs found in the machine and the models.

Each test names its bug in a `# BUG:` comment and fails on the reviewed tree.
"""

from __future__ import annotations

from datetime import timedelta

from bluegreen.machine import decide, observation_needs
from bluegreen.models import Artifact, DeploymentState

from tests.factories import BLUE, GREEN, app_state, at, env, healthy_green, observed, override, tick, upload

S = DeploymentState


def test_review_sequencers_of_the_two_s3_shapes_are_not_compared_as_one_scale() -> None:
    # BUG: `Artifact.is_older_than` right-pads and compares sequencers whatever shape they came from. The
    # classic `Records[]` sequencer is 18 upper-case hex digits (`0055AED6DCD90281E5`), EventBridge's 16
    # lower-case (`617f08299329d189`); bluegreen's own local S3 (s3_events.py) formats ONE value both ways.
    # Right-padding then makes every classic-shape version of a key "older" than any EventBridge-shape one
    # (a bucket moved from one shape to the other, or both wired): a fixed-key build (`mybot/bot.zip`
    # overwritten each release) is ignored as "older" forever, and uploading it again does not help.
    value = 0x17F08299329D189
    via_eventbridge_v1 = Artifact(
        bucket="b", key="mybot/bot.zip", label="v1", sequencer=f"{value:016x}", uploaded_at=at(0)
    )
    via_records_v2 = Artifact(
        bucket="b", key="mybot/bot.zip", label="v2", sequencer=f"{value + 0x1000:018X}", uploaded_at=at(60)
    )
    assert not via_records_v2.is_older_than(via_eventbridge_v1), "the later upload is judged older"


def test_review_operator_abort_observes_eb_when_it_may_start_the_queued_build() -> None:
    # BUG: `operator_abort` (PRE_PROMOTION) calls `abort()`, which starts the queued artifact onto the idle
    # color, yet `observation_needs` answers (False, ...) for `abort`: the target comes from the stored
    # live color, unchecked against EB (see the integration twin in tests/integration/test_review_adversarial.py).
    state = decide(app_state(), upload("build-1"), at(0)).state
    state = state.model_copy(update={"queued": upload("build-2", version="2").artifact})
    environments, _ = observation_needs(state, override("abort", 10))
    assert environments, "abort may start the queued build: EB must be observed first"


def test_review_retry_while_paused_does_not_postpone_promotion_by_the_whole_pause() -> None:
    # BUG: `operator_retry` is accepted while the app is paused (no pause guard), so a deployment runs while
    # paused; `resume` then shifts state_since/promote_at/bake_until and paused_seconds by the WHOLE pause,
    # counted from `paused_at` (before the deployment existed). Paused a day, retried, resumed: the verified
    # build waits another day to be promoted and its deploy/verify timeouts are a day late.
    state = decide(app_state(), upload("build-1"), at(0)).state
    state = decide(state, override("abort", 10), at(10)).state
    assert state.deployment is not None and state.deployment.state == S.ABORTED
    state = decide(state, override("pause", 20), at(20)).state
    day = 86400
    obs = observed(env(GREEN, "v0"), env(BLUE, "v0", live=True))
    retried = decide(state, override("retry", day, obs), at(day))
    if retried.outcome != "accepted":
        return  # refusing a retry while paused is a fine fix too
    state = retried.state
    version = state.deployment.version if state.deployment else ""
    for n in range(3):  # EB finishes the update (a first tick may start the update that waited for green)
        if state.deployment is not None and state.deployment.state == S.DEPLOYING:
            state = decide(state, tick(day + 10 + n, healthy_green(version)), at(day + 10 + n)).state
    assert state.deployment is not None and state.deployment.state == S.VERIFYING
    state = decide(state, override("resume", day + 60), at(day + 60)).state
    promoted = decide(state, tick(day + 120, healthy_green(version)), at(day + 120))
    assert promoted.state.deployment is not None
    assert promoted.state.deployment.state == S.BAKING, (
        f"promote_at moved to {promoted.state.deployment.promote_at} "
        f"({(promoted.state.deployment.promote_at or at(0)) - at(day + 120)} from now)"
    )
    assert timedelta(seconds=promoted.state.deployment.paused_seconds) < timedelta(minutes=5)
