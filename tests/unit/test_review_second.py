"""Second adversarial review: pure pins of bugs in the machine. Each test names its bug in a `# BUG:` comment
and fails on the reviewed tree."""

from __future__ import annotations

from bluegreen.machine import decide
from bluegreen.models import DeploymentState, EffectFailed

from tests.factories import BLUE, GREEN, app_state, at, env, healthy_green, observed, override, tick, upload

S = DeploymentState


def test_review2_pause_stops_the_swap_refused_deadline_too() -> None:
    # BUG: README: "Paused: nothing starts and no deadline runs (they move by the time spent paused)".
    # `verify_timed_out` measures SWAP_REFUSED from `refused_since`, but `resume` shifts only
    # state_since/promote_at/bake_until. EB refuses the swap (e.g. the live color in a managed platform
    # update: "... invalid state for this operation. Must be Ready."), an operator pauses to investigate
    # for longer than verify_timeout_seconds, resumes, and the very next tick aborts the verified build
    # with "verify timeout" although the deadline never ran while the app was paused.
    state = app_state()
    state = decide(state, upload("build-1"), at(0)).state
    version = state.deployment.version if state.deployment else ""
    state = decide(state, tick(30, healthy_green(version)), at(30)).state
    assert state.deployment is not None and state.deployment.state == S.BAKING
    refused = EffectFailed(
        event_id="failed:x",
        at=at(31),
        effect="make_live",
        error="Environment named mybot-blue is in an invalid state for this operation. Must be Ready.",
        environment=GREEN,
        retryable=True,
        observed=observed(env(GREEN, version), env(BLUE, "v0", live=True, status="Updating")),
    )
    state = decide(state, refused, at(31)).state
    assert state.deployment is not None and state.deployment.state == S.SWAP_REFUSED
    state = decide(state, override("pause", 40), at(40)).state
    hour = 3600  # verify_timeout_seconds is 600 in the factories
    ready = observed(env(GREEN, version), env(BLUE, "v0", live=True))
    state = decide(state, override("resume", 40 + hour, ready), at(40 + hour)).state
    assert not state.paused
    still_busy = observed(env(GREEN, version), env(BLUE, "v0", live=True, status="Updating"))
    after = decide(state, tick(100 + hour, still_busy), at(100 + hour))
    assert after.state.deployment is not None
    assert after.state.deployment.state == S.SWAP_REFUSED, (
        f"{after.rule}: the refused swap's verify deadline ran while the app was paused"
    )
