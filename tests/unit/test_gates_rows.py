"""Release gates (issue 11) in the pure machine, row by row: the check rows, the rows that wait for checks,
the release's manifest (tightened policy, `rollback: forbid` and FIX_FORWARD), with `decide` called directly.

Times are seconds after T0. Unless a test says otherwise: the upload is at 0, EB reports the idle color
(green) Ready and healthy on the new version at 30, so the pre-promotion checks start at 30."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bluegreen.gates import Checks, HttpCheck, LambdaHook
from bluegreen.machine import Decision, decide, observation_needs
from bluegreen.machine.steps import CHECK_QUEUE_MARGIN
from bluegreen.manifest import Policy, ReleaseManifest
from bluegreen.models import (
    AlarmObservation,
    AppState,
    ArtifactUploaded,
    CheckReported,
    CreateVersion,
    Deployment,
    DeploymentState,
    EffectFailed,
    InvokeHook,
    MakeLive,
    Observed,
    RunCheck,
    UpdateEnvironment,
)

from tests.factories import (
    ALARM,
    BLUE,
    CNAME,
    GREEN,
    T0,
    alarm,
    app_state,
    at,
    config,
    env,
    health,
    observed,
    override,
    tick,
    upload,
)

S = DeploymentState

HEALTHZ = HttpCheck(name="healthz", path="/healthz", expect_body="ok")  # worst case 3 x 5 + 2 x 2 = 19 s
SMOKE = LambdaHook(name="smoke", function="mybot-hook", timeout_seconds=60)
AFTER = HttpCheck(name="after-swap", path="/ready")
POST_HOOK = LambdaHook(name="post-smoke", function="mybot-hook", timeout_seconds=90)

GREEN_HOST = f"{GREEN}.us-east-1.elasticbeanstalk.com"  # green's own CNAME (tests.factories.env)
HTTP_DEADLINE = timedelta(seconds=HEALTHZ.worst_case_seconds) + CHECK_QUEUE_MARGIN


# ------------------------------------------------------------------ builders


def step(state: AppState, event: Any, when: float) -> Decision:
    return decide(state, event, at(when))


def gated(*, pre: tuple[Any, ...] = (HEALTHZ, SMOKE), post: tuple[Any, ...] = (), **changes: Any) -> AppState:
    return app_state(config=config(checks=Checks(pre=pre, post=post), **changes))


def ship(name: str = "build-1", when: float = 0, manifest: ReleaseManifest | None = None) -> ArtifactUploaded:
    event = upload(name, when)
    if manifest is None:
        return event
    return event.model_copy(update={"artifact": event.artifact.model_copy(update={"manifest": manifest})})


def dep(state: AppState) -> Deployment:
    assert state.deployment is not None
    return state.deployment


def current(state: AppState) -> DeploymentState:
    return dep(state).state


def green_ok(state: AppState, *, live: str = BLUE, alarms: tuple[AlarmObservation, ...] | None = None) -> Observed:
    """EB: green Ready and healthy on the deployment's version; blue on v0; the alarms quiet unless given."""
    return observed(
        env(GREEN, dep(state).version, live=live == GREEN), env(BLUE, "v0", live=live == BLUE), alarms=alarms
    )


def firing(since: float) -> tuple[AlarmObservation, ...]:
    return (AlarmObservation(name=ALARM, state="ALARM", since=at(since)),)


def report(
    state: AppState,
    check: str,
    passed: bool,
    when: float,
    *,
    obs: Observed | None = None,
    deployment_id: str | None = None,
    eid: str | None = None,
    reason: str = "",
) -> CheckReported:
    """A check's result as the controller hands it to the machine: EB (and the alarms) observed."""
    verdict = "pass" if passed else "fail"
    return CheckReported(
        event_id=eid or f"check:{check}:{verdict}:{when}",
        at=at(when),
        deployment_id=deployment_id or dep(state).id,
        check=check,
        passed=passed,
        reason=reason or ("ok" if passed else "GET /healthz: 503 (expected 200)"),
        source="http",
        observed=obs if obs is not None else green_ok(state, live=state.live_environment),
    )


def verified(state: AppState, *, manifest: ReleaseManifest | None = None) -> Decision:
    """Upload at 0, EB reports green healthy on the version at 30."""
    deploying = step(state, ship(manifest=manifest), 0).state
    return step(deploying, health(GREEN, "Ok", 30, green_ok(deploying)), 30)


def verifying(**kwargs: Any) -> AppState:
    state = verified(gated(**kwargs)).state
    assert current(state) == S.VERIFYING
    return state


def pass_all_pre(state: AppState, when: float = 40) -> Decision:
    decision = None
    for run in dep(state).checks_of("pre"):
        decision = step(state, report(state, run.name, True, when), when)
        state = decision.state
        when += 1
    assert decision is not None
    return decision


def baking_with_post(*, post: tuple[Any, ...] = (AFTER,), **changes: Any) -> AppState:
    """No pre checks: green verifies at 30 and auto-promotes at once, the post checks start."""
    state = verified(gated(pre=(), post=post, **changes)).state
    assert current(state) == S.BAKING
    return state


def forbidding_baking(*, post: tuple[Any, ...] = ()) -> AppState:
    """A release with `rollback: forbid`, promoted at 30."""
    state = verified(gated(pre=(), post=post), manifest=ReleaseManifest(rollback="forbid")).state
    assert current(state) == S.BAKING and dep(state).policy is not None
    return state


# ------------------------------------------------------------------ pre-promotion checks start at VERIFYING


def test_pre_checks_start_when_the_idle_color_verifies_with_their_effects() -> None:
    decision = verified(gated())
    assert decision.rule == "verify_healthy_idle"
    state = decision.state
    deployment = dep(state)
    assert deployment.state == S.VERIFYING and state.live_environment == BLUE
    assert not any(isinstance(e, MakeLive) for e in decision.effects)
    run_check, invoke = decision.effects
    assert run_check == RunCheck(app="mybot", deployment_id=deployment.id, phase="pre", check=HEALTHZ, host=GREEN_HOST)
    assert invoke == InvokeHook(
        app="mybot",
        deployment_id=deployment.id,
        phase="pre",
        hook=SMOKE,
        environment=GREEN,
        url=f"http://{GREEN_HOST}",
        version=deployment.version,
        deadline=at(30 + 60),
    )
    assert [(r.name, r.phase, r.type, r.waiting) for r in deployment.checks] == [
        ("healthz", "pre", "http", True),
        ("smoke", "pre", "lambda", True),
    ]
    assert deployment.check("healthz").deadline == at(30) + HTTP_DEADLINE  # type: ignore[union-attr]
    assert deployment.check("smoke").deadline == at(90)  # type: ignore[union-attr]
    assert deployment.held is not None and "running pre-promotion checks" in deployment.held
    assert "healthz (GET /healthz)" in decision.reason and "smoke (hook" in decision.reason


def test_the_pre_check_host_is_the_idle_colors_observed_cname_when_blue_is_the_idle_one() -> None:
    state = gated().model_copy(update={"live_environment": GREEN})
    deploying = step(state, ship(), 0).state
    obs = observed(env(BLUE, dep(deploying).version, health="Green"), env(GREEN, "v0", live=True))
    obs = obs.model_copy(
        update={
            "environments": (obs.environments[0].model_copy(update={"cname": "blue-own.example"}), obs.environments[1])
        }
    )
    decision = step(deploying, health(BLUE, "Ok", 30, obs), 30)
    run_check = decision.effects[0]
    assert isinstance(run_check, RunCheck) and run_check.host == "blue-own.example"
    invoke = decision.effects[1]
    assert isinstance(invoke, InvokeHook) and invoke.url == "http://blue-own.example" and invoke.environment == BLUE


def test_without_checks_nothing_changes_verification_still_promotes_at_once() -> None:
    decision = verified(gated(pre=()))
    assert current(decision.state) == S.BAKING
    assert decision.effects == (MakeLive(environment=GREEN, other=BLUE),)
    assert dep(decision.state).checks == ()


# ------------------------------------------------------------------ passing, waiting, promoting


def test_promotion_waits_for_every_pre_check_then_promotes_with_the_last_pass() -> None:
    state = verifying()
    first = step(state, report(state, "healthz", True, 40), 40)
    assert (first.outcome, first.rule) == ("accepted", "record_passed_check")
    assert current(first.state) == S.VERIFYING and first.effects == ()
    assert dep(first.state).check("healthz").passed is True  # type: ignore[union-attr]
    assert first.notifications[0].cause.type == "check" and "healthz passed" in first.reason
    # the watchdog does not promote while a pre check is still waiting
    waiting = step(first.state, tick(45, green_ok(state)), 45)
    assert not waiting.accepted or current(waiting.state) == S.VERIFYING
    assert not any(isinstance(e, MakeLive) for e in waiting.effects)
    # the operator cannot promote either (without force)
    refused = step(first.state, override("promote", 46, green_ok(state)), 46)
    assert (refused.outcome, refused.rule) == ("refused", "promote_checks_not_passed")
    last = step(first.state, report(first.state, "smoke", True, 50), 50)
    assert last.rule == "record_passed_check"
    assert current(last.state) == S.BAKING and last.state.live_environment == GREEN
    assert last.effects == (MakeLive(environment=GREEN, other=BLUE),)
    assert [n.to_state for n in last.notifications][-1] == "BAKING"


def test_a_pass_before_the_promotion_delay_is_over_waits_for_the_watchdog() -> None:
    state = verifying(promote_delay_seconds=60)
    passed = pass_all_pre(state, 40).state
    assert current(passed) == S.VERIFYING and dep(passed).held is None
    early = step(passed, tick(60, green_ok(state)), 60)
    assert not any(isinstance(e, MakeLive) for e in early.effects)
    due = step(passed, tick(95, green_ok(state)), 95)
    assert due.rule == "promote_when_due" and current(due.state) == S.BAKING


def test_a_pass_while_an_alarm_fires_holds_promotion_until_it_clears() -> None:
    state = verifying()
    state = step(state, report(state, "healthz", True, 40), 40).state
    obs = green_ok(state, alarms=firing(-3600))  # firing since before the deployment: it holds, it does not abort
    held = step(state, report(state, "smoke", True, 50, obs=obs), 50)
    assert held.rule == "record_passed_check"
    assert current(held.state) == S.VERIFYING and held.state.live_environment == BLUE
    assert not any(isinstance(e, MakeLive) for e in held.effects)
    assert dep(held.state).held is not None and "promotion held" in dep(held.state).held  # type: ignore[operator]
    cleared = step(held.state, tick(60, green_ok(state)), 60)
    assert cleared.rule == "promote_when_due" and current(cleared.state) == S.BAKING


def test_a_pass_when_the_alarms_cannot_be_read_holds() -> None:
    state = verifying(pre=(HEALTHZ,))
    obs = observed(env(GREEN, dep(state).version), env(BLUE, "v0", live=True), alarms_error="AccessDenied")
    decision = step(state, report(state, "healthz", True, 40, obs=obs), 40)
    assert current(decision.state) == S.VERIFYING and decision.effects == ()
    assert "fails closed" in (dep(decision.state).held or "")


def test_a_pass_while_paused_does_not_promote() -> None:
    state = verifying(pre=(HEALTHZ,))
    paused = step(state, override("pause", 35), 35).state
    decision = step(paused, report(paused, "healthz", True, 40), 40)
    assert decision.rule == "record_passed_check" and current(decision.state) == S.VERIFYING
    assert decision.effects == ()


# ------------------------------------------------------------------ approval with checks


def test_approval_with_checks_refused_while_pending_unless_forced() -> None:
    state = verifying(auto_promote=False)
    assert "awaiting approval" in (dep(state).held or "") and "running pre-promotion checks" in (dep(state).held or "")
    refused = step(state, override("approve", 35, green_ok(state)), 35)
    assert (refused.outcome, refused.rule) == ("refused", "promote_checks_not_passed")
    assert refused.state is state
    forced = step(state, override("approve", 36, green_ok(state), force=True), 36)
    assert forced.rule == "operator_promote" and current(forced.state) == S.BAKING
    assert forced.effects[0] == MakeLive(environment=GREEN, other=BLUE)


def test_approval_with_checks_all_passed_waits_for_the_approval_then_promotes() -> None:
    state = verifying(auto_promote=False)
    passed = pass_all_pre(state)
    assert current(passed.state) == S.VERIFYING and passed.effects == ()
    assert "all pre-promotion checks passed; awaiting approval" in (dep(passed.state).held or "")
    # the watchdog does not promote a deployment that awaits approval
    idle_tick = step(passed.state, tick(60, green_ok(state)), 60)
    assert not any(isinstance(e, MakeLive) for e in idle_tick.effects)
    approved = step(passed.state, override("approve", 70, green_ok(state)), 70)
    assert approved.rule == "operator_promote" and current(approved.state) == S.BAKING


# ------------------------------------------------------------------ failing


def test_a_failed_pre_check_aborts_with_its_name_and_reason_and_never_moves_traffic() -> None:
    state = verifying()
    decision = step(state, report(state, "healthz", False, 40, reason="GET /healthz: 503 (expected 200)"), 40)
    assert decision.rule == "abort_on_failed_pre_check"
    assert current(decision.state) == S.ABORTED and decision.state.live_environment == BLUE
    assert decision.effects == ()
    run = dep(decision.state).check("healthz")
    assert run is not None and run.passed is False and run.reason == "GET /healthz: 503 (expected 200)"
    (note,) = decision.notifications
    assert note.to_state == "ABORTED" and note.cause.type == "check"
    assert "pre-promotion check healthz failed" in note.reason and "503 (expected 200)" in note.reason
    assert "traffic never moved" in note.reason


def test_a_failed_pre_check_with_another_still_passing_aborts_too() -> None:
    state = verifying()
    state = step(state, report(state, "healthz", True, 40), 40).state
    decision = step(state, report(state, "smoke", False, 45), 45)
    assert decision.rule == "abort_on_failed_pre_check" and current(decision.state) == S.ABORTED
    assert not any(isinstance(e, MakeLive) for e in decision.effects)


def test_a_hooks_failed_report_names_its_reporter() -> None:
    state = verifying()
    event = report(state, "smoke", False, 40, reason="getMe failed").model_copy(
        update={"source": "hook", "actor": "arn:aws:lambda:us-east-1:123456789012:function:mybot-hook"}
    )
    decision = step(state, event, 40)
    assert "smoke failed (reported by arn:aws:lambda" in decision.reason and "getMe failed" in decision.reason
    assert decision.notifications[0].cause.actor == event.actor


# ------------------------------------------------------------------ post-promotion checks


def test_post_checks_start_right_after_the_swap_against_the_production_cname() -> None:
    decision = verified(gated(pre=(), post=(AFTER, POST_HOOK)))
    deployment = dep(decision.state)
    assert deployment.state == S.BAKING
    make_live, run_check, invoke = decision.effects
    assert make_live == MakeLive(environment=GREEN, other=BLUE)  # the swap first: the checks are about production
    assert run_check == RunCheck(app="mybot", deployment_id=deployment.id, phase="post", check=AFTER, host=CNAME)
    assert isinstance(invoke, InvokeHook) and invoke.phase == "post" and invoke.url == f"http://{CNAME}"
    assert invoke.deadline == at(30 + 90) and invoke.environment == GREEN
    assert [(r.name, r.phase) for r in deployment.checks_of("post")] == [("after-swap", "post"), ("post-smoke", "post")]
    # the BAKING notification is published after the swap, before the checks' effects
    baking_note = next(n for n in decision.notifications if n.to_state == "BAKING")
    gate = decision.gates[decision.notifications.index(baking_note)]
    assert gate == 1


def test_post_checks_start_after_pre_checks_pass_with_make_live_first() -> None:
    state = verifying(pre=(HEALTHZ,), post=(AFTER,))
    decision = step(state, report(state, "healthz", True, 40), 40)
    assert [type(e) for e in decision.effects] == [MakeLive, RunCheck]
    run_check = decision.effects[1]
    assert isinstance(run_check, RunCheck) and run_check.host == CNAME and run_check.phase == "post"
    # the pre runs are kept next to the post runs
    assert [(r.name, r.phase, r.passed) for r in dep(decision.state).checks] == [
        ("healthz", "pre", True),
        ("after-swap", "post", None),
    ]


def test_a_failed_post_check_rolls_back() -> None:
    state = baking_with_post()
    decision = step(state, report(state, "after-swap", False, 60), 60)
    assert decision.rule == "rollback_on_failed_post_check"
    assert current(decision.state) == S.ROLLED_BACK
    assert decision.effects == (MakeLive(environment=BLUE, other=GREEN),)
    assert decision.state.live_environment == BLUE and decision.state.last_good_version == "v0"
    assert "post-promotion check after-swap failed" in decision.reason
    assert dep(decision.state).check("after-swap").passed is False  # type: ignore[union-attr]


def test_the_bake_ends_only_once_every_post_check_passed() -> None:
    state = baking_with_post(bake_seconds=60)
    over = step(state, tick(100, green_ok(state, live=GREEN)), 100)
    assert over.rule == "hold_bake_end" and current(over.state) == S.BAKING
    assert "post-promotion check after-swap has not reported yet" in over.reason
    passed = step(over.state, report(over.state, "after-swap", True, 110), 110)
    assert passed.rule == "record_passed_check" and current(passed.state) == S.BAKING and passed.effects == ()
    finished = step(passed.state, tick(120, green_ok(state, live=GREEN)), 120)
    assert finished.rule == "finish_bake" and current(finished.state) == S.SUCCEEDED
    assert finished.state.last_good_version == dep(state).version


# ------------------------------------------------------------------ overdue checks (the watchdog)


def test_an_overdue_pre_check_aborts_on_the_tick() -> None:
    state = verifying()
    on_time = step(state, tick(90, green_ok(state)), 90)  # the hook's deadline itself: not overdue yet
    assert on_time.rule != "abort_on_overdue_pre_check"
    decision = step(state, tick(91, green_ok(state)), 91)
    assert decision.rule == "abort_on_overdue_pre_check"
    assert current(decision.state) == S.ABORTED and decision.effects == ()
    assert decision.notifications[0].cause.type == "timeout"
    assert "pre-promotion check smoke failed: no report from the hook within 60s" in decision.reason
    assert dep(decision.state).check("smoke").passed is False  # type: ignore[union-attr]


def test_an_overdue_post_check_rolls_back_on_the_tick() -> None:
    state = baking_with_post()
    deadline = dep(state).check("after-swap").deadline  # type: ignore[union-attr]
    seconds = (deadline - T0).total_seconds() + 1
    decision = step(state, tick(seconds, green_ok(state, live=GREEN)), seconds)
    assert decision.rule == "rollback_on_overdue_post_check"
    assert current(decision.state) == S.ROLLED_BACK
    assert decision.effects == (MakeLive(environment=BLUE, other=GREEN),)
    assert "no result from the HTTP check" in decision.reason


def test_a_check_that_passed_is_never_overdue() -> None:
    state = verifying(pre=(SMOKE,), auto_promote=False)
    passed = step(state, report(state, "smoke", True, 40), 40).state
    decision = step(passed, tick(200, green_ok(state)), 200)
    assert decision.rule != "abort_on_overdue_pre_check" and current(decision.state) == S.VERIFYING


# ------------------------------------------------------------------ reports that are ignored


def test_a_late_report_is_ignored_and_the_check_fails_at_its_deadline() -> None:
    state = verifying()
    for passed in (True, False):
        late = step(state, report(state, "smoke", passed, 91), 91)
        assert (late.outcome, late.rule) == ("ignored", "check_reported_late")
        assert late.state is state and late.effects == ()
    # a report stamped at the deadline is in time
    assert step(state, report(state, "smoke", True, 90), 92).rule == "record_passed_check"


def test_a_second_report_is_ignored_the_first_result_wins() -> None:
    state = verifying(auto_promote=False)
    first = step(state, report(state, "healthz", True, 40), 40).state
    again = step(first, report(first, "healthz", False, 41), 41)
    assert (again.outcome, again.rule) == ("ignored", "check_reported_already")
    assert again.state is first and dep(again.state).check("healthz").passed is True  # type: ignore[union-attr]
    # the very same delivery again is a duplicate event
    same = step(first, report(state, "healthz", True, 40), 42)
    assert (same.outcome, same.rule) == ("ignored", "duplicate_event")


def test_a_second_report_after_a_failed_post_check_does_not_pass_it() -> None:
    state = baking_with_post(post=(AFTER, POST_HOOK))
    failed = step(state, report(state, "post-smoke", False, 60), 60).state
    assert current(failed) == S.ROLLED_BACK
    again = step(failed, report(failed, "post-smoke", True, 61), 61)
    assert again.outcome == "ignored" and again.state is failed


def test_a_report_for_an_earlier_deployment_is_ignored() -> None:
    state = verifying()
    earlier = dep(state).id
    superseded = step(state, ship("build-2", 35), 35).state
    assert dep(superseded).id != earlier
    stale = report(superseded, "healthz", False, 40, deployment_id=earlier)
    decision = step(superseded, stale, 40)
    assert (decision.outcome, decision.rule) == ("ignored", "check_for_another_deployment")
    assert decision.state is superseded


def test_a_report_with_no_deployment_in_flight_or_for_an_unknown_check_is_ignored() -> None:
    aborted = step(verifying(), tick(91, green_ok(verifying())), 91).state
    assert current(aborted) == S.ABORTED
    assert step(aborted, report(aborted, "healthz", True, 95), 95).rule == "check_for_another_deployment"
    state = verifying()
    assert step(state, report(state, "no-such-check", False, 40), 40).rule == "check_for_another_deployment"
    assert step(app_state(), report(state, "healthz", False, 40), 40).rule == "check_for_another_deployment"


def test_a_report_for_a_pre_check_after_a_forced_promotion_is_ignored() -> None:
    state = verifying()
    forced = step(state, override("promote", 35, green_ok(state), force=True), 35).state
    assert current(forced) == S.BAKING
    decision = step(forced, report(forced, "healthz", False, 40), 40)
    assert (decision.outcome, decision.rule) == ("ignored", "check_phase_is_over")
    assert decision.state is forced and decision.effects == ()
    # nor does it fail at its deadline: only the phase's own checks are watched
    watched = step(forced, tick(200, green_ok(state, live=GREEN)), 200)
    assert watched.rule != "rollback_on_overdue_post_check" and current(watched.state) != S.ROLLED_BACK


def test_a_report_for_a_post_check_after_the_rollback_is_ignored() -> None:
    state = baking_with_post(post=(AFTER, POST_HOOK))
    rolled = step(state, alarm(50), 50).state
    assert current(rolled) == S.ROLLED_BACK
    decision = step(rolled, report(rolled, "after-swap", False, 55), 55)
    assert decision.outcome == "ignored" and decision.rule == "check_for_another_deployment"


# ------------------------------------------------------------------ pause and resume


def test_paused_no_check_is_overdue_and_resume_shifts_the_waiting_deadlines() -> None:
    state = verifying(auto_promote=False)
    state = step(state, report(state, "healthz", True, 40), 40).state
    paused = step(state, override("pause", 50), 50).state
    quiet = step(paused, tick(500, green_ok(state)), 500)
    assert quiet.rule != "abort_on_overdue_pre_check" and current(quiet.state) == S.VERIFYING
    resumed = step(paused, override("resume", 250), 250)
    assert resumed.rule == "operator_resume"
    smoke = dep(resumed.state).check("smoke")
    healthz = dep(resumed.state).check("healthz")
    assert smoke is not None and smoke.deadline == at(90 + 200)  # paused 200 s
    assert healthz is not None and healthz.deadline == dep(state).check("healthz").deadline  # type: ignore[union-attr]
    assert step(resumed.state, tick(289, green_ok(state)), 289).rule != "abort_on_overdue_pre_check"
    assert step(resumed.state, tick(291, green_ok(state)), 291).rule == "abort_on_overdue_pre_check"
    # a report within the shifted deadline counts
    assert step(resumed.state, report(state, "smoke", True, 280), 280).rule == "record_passed_check"


def test_resume_shifts_the_post_check_deadlines_with_the_bake() -> None:
    state = baking_with_post()
    before = dep(state).check("after-swap")
    assert before is not None
    paused = step(state, override("pause", 40), 40).state
    resumed = step(paused, override("resume", 140), 140).state
    after = dep(resumed).check("after-swap")
    assert after is not None and after.deadline == before.deadline + timedelta(seconds=100)
    assert dep(resumed).bake_until == dep(state).bake_until + timedelta(seconds=100)  # type: ignore[operator]


# ------------------------------------------------------------------ the release's manifest tightens


def test_a_manifest_lengthens_the_bake_and_never_shortens_it() -> None:
    longer = verified(gated(pre=()), manifest=ReleaseManifest(bake_seconds=1800))
    assert dep(longer.state).bake_until == at(30 + 1800)
    assert dep(longer.state).policy == Policy(bake_seconds=1800)
    said = step(gated(pre=()), ship(manifest=ReleaseManifest(bake_seconds=1800, notes="new /stats")), 0).reason
    assert "release policy: bake 1800s; notes: new /stats" in said
    shorter = verified(gated(pre=()), manifest=ReleaseManifest(bake_seconds=10))
    assert dep(shorter.state).bake_until == at(30 + 300)


def test_a_manifest_that_requires_approval_holds_an_auto_promoting_app() -> None:
    decision = verified(gated(pre=()), manifest=ReleaseManifest(requires_approval=True))
    assert current(decision.state) == S.VERIFYING and decision.effects == ()
    assert "awaiting approval" in (dep(decision.state).held or "")
    no_tick = step(decision.state, tick(60, green_ok(decision.state)), 60)
    assert not any(isinstance(e, MakeLive) for e in no_tick.effects)
    approved = step(decision.state, override("approve", 70, green_ok(decision.state)), 70)
    assert approved.rule == "operator_promote" and current(approved.state) == S.BAKING


def test_a_manifests_checks_run_after_the_apps() -> None:
    schema = HttpCheck(name="schema-v2", path="/schema", expect_body="v2")
    decision = verified(gated(pre=(HEALTHZ,)), manifest=ReleaseManifest(checks=Checks(pre=(schema,))))
    assert [e.check.name for e in decision.effects if isinstance(e, RunCheck)] == ["healthz", "schema-v2"]
    state = decision.state
    state = step(state, report(state, "healthz", True, 40), 40).state
    assert current(state) == S.VERIFYING  # the release's own check still waits
    promoted = step(state, report(state, "schema-v2", True, 41), 41)
    assert current(promoted.state) == S.BAKING


def test_an_empty_manifest_keeps_the_apps_policy() -> None:
    decision = verified(gated(pre=()), manifest=ReleaseManifest())
    assert current(decision.state) == S.BAKING
    assert dep(decision.state).bake_until == at(30 + 300)


def test_a_manifest_whose_checks_no_longer_fit_the_app_does_not_add_them_and_says_so() -> None:
    clash = ReleaseManifest(checks=Checks(pre=(HttpCheck(name="healthz", path="/other"),)))
    deploying = step(gated(pre=(HEALTHZ,)), ship(manifest=clash), 0)
    assert "bluegreen.json" in deploying.reason and "not applied" in deploying.reason
    policy = dep(deploying.state).policy
    assert policy is not None and policy.checks == Checks(pre=(HEALTHZ,))  # the app's check, not replaced


# ------------------------------------------------------------------ rollback: forbid -> FIX_FORWARD


def test_an_alarm_during_the_bake_of_a_release_that_forbids_rollback_fixes_forward() -> None:
    state = forbidding_baking()
    version = dep(state).version
    decision = step(state, alarm(60), 60)
    assert decision.rule == "rollback_on_alarm"
    assert current(decision.state) == S.FIX_FORWARD
    assert not any(isinstance(e, MakeLive) for e in decision.effects)
    assert decision.state.live_environment == GREEN and decision.state.last_good_version == version
    (note,) = decision.notifications
    assert note.to_state == "FIX_FORWARD" and note.reason.startswith("ACTION NEEDED")
    assert "rollback forbidden by this release" in note.reason and "deploy a fix" in note.reason
    assert "traffic returned" not in note.reason
    assert f"{ALARM}@{at(60).isoformat()}" in dep(decision.state).acknowledged_alarms
    assert dep(decision.state).finished_at == at(60)


def test_the_watchdog_finding_an_alarm_on_a_forbidding_release_fixes_forward() -> None:
    state = forbidding_baking()
    decision = step(state, tick(60, green_ok(state, live=GREEN, alarms=firing(55))), 60)
    assert decision.rule == "rollback_on_firing_alarm" and current(decision.state) == S.FIX_FORWARD
    assert decision.effects == () and decision.state.live_environment == GREEN
    assert f"{ALARM}@{at(55).isoformat()}" in dep(decision.state).acknowledged_alarms


def test_a_failed_or_overdue_post_check_of_a_forbidding_release_fixes_forward() -> None:
    state = forbidding_baking(post=(AFTER,))
    failed = step(state, report(state, "after-swap", False, 60), 60)
    assert failed.rule == "rollback_on_failed_post_check" and current(failed.state) == S.FIX_FORWARD
    assert failed.effects == () and failed.state.live_environment == GREEN
    seconds = (dep(state).check("after-swap").deadline - T0).total_seconds() + 1  # type: ignore[union-attr]
    overdue = step(state, tick(seconds, green_ok(state, live=GREEN)), seconds)
    assert overdue.rule == "rollback_on_overdue_post_check" and current(overdue.state) == S.FIX_FORWARD
    assert overdue.effects == ()


def test_operator_rollback_of_a_forbidding_release_is_refused_without_force() -> None:
    state = forbidding_baking()
    refused = step(state, override("rollback", 60, green_ok(state, live=GREEN)), 60)
    assert (refused.outcome, refused.rule) == ("refused", "rollback_forbidden_by_release")
    assert refused.state is state and "add force" in refused.reason
    forced = step(state, override("rollback", 61, green_ok(state, live=GREEN), force=True), 61)
    assert forced.rule == "operator_rollback" and current(forced.state) == S.ROLLED_BACK
    assert forced.effects == (MakeLive(environment=BLUE, other=GREEN),)
    assert forced.state.live_environment == BLUE and forced.state.last_good_version == "v0"


def test_operator_rollback_out_of_fix_forward_needs_force_and_a_healthy_previous_color() -> None:
    state = step(forbidding_baking(), alarm(60), 60).state
    assert current(state) == S.FIX_FORWARD
    obs = green_ok(state, live=GREEN)
    refused = step(state, override("rollback", 70, obs), 70)
    assert (refused.outcome, refused.rule) == ("refused", "rollback_forbidden_by_release")
    forced = step(state, override("rollback", 71, obs, force=True), 71)
    assert forced.rule == "operator_rollback_fix_forward" and current(forced.state) == S.ROLLED_BACK
    assert forced.effects == (MakeLive(environment=BLUE, other=GREEN),)
    assert forced.state.live_environment == BLUE and forced.state.last_good_version == "v0"
    gone = observed(env(GREEN, dep(state).version, live=True), env(BLUE, "something-else"))
    nothing = step(state, override("rollback", 72, gone, force=True), 72)
    assert (nothing.outcome, nothing.rule) == ("refused", "nothing_to_roll_back")


def test_after_fix_forward_the_next_upload_deploys_to_the_other_color_past_the_alarm() -> None:
    state = step(forbidding_baking(), alarm(60), 60).state
    broken = dep(state).version
    # blue, which traffic left at 30, drains until 150 (drain_seconds 120): the fix comes after that
    deploying = step(state, ship("build-2", 200), 200)
    assert deploying.rule == "deploy_to_idle"
    fix = dep(deploying.state)
    assert fix.state == S.DEPLOYING and fix.target_environment == BLUE and fix.previous_environment == GREEN
    assert fix.previous_version == broken
    assert fix.acknowledged_alarms == dep(state).acknowledged_alarms
    assert "rolled forward past alarm" in fix.reason
    assert [type(e) for e in deploying.effects] == [CreateVersion, UpdateEnvironment]
    # the alarm still fires (since 60, before the fix started): acknowledged, it neither holds nor aborts
    still = firing(60)
    obs = observed(env(BLUE, fix.version), env(GREEN, broken, live=True), alarms=still)
    promoted = step(deploying.state, health(BLUE, "Ok", 230, obs), 230)
    assert current(promoted.state) == S.BAKING
    assert promoted.effects == (MakeLive(environment=BLUE, other=GREEN),)
    swapped = observed(env(BLUE, fix.version, live=True), env(GREEN, broken), alarms=still)
    assert step(promoted.state, tick(300, swapped), 300).rule != "rollback_on_firing_alarm"
    finished = step(promoted.state, tick(600, swapped), 600)
    assert finished.rule == "finish_bake"


def test_after_fix_forward_a_fix_uploaded_at_once_waits_for_the_drain_not_for_the_alarm() -> None:
    state = step(forbidding_baking(), alarm(60), 60).state
    deploying = step(state, ship("build-2", 100), 100)
    assert deploying.rule == "deploy_to_idle" and dep(deploying.state).target_environment == BLUE
    assert [type(e) for e in deploying.effects] == [CreateVersion]
    assert "draining" in (dep(deploying.state).held or "")


def test_a_queued_fix_starts_in_the_fix_forward_decision() -> None:
    state = step(forbidding_baking(), ship("build-2", 40), 40).state
    assert state.queued is not None
    decision = step(state, alarm(60), 60)
    assert [n.to_state for n in decision.notifications] == ["FIX_FORWARD", "DEPLOYING"]
    assert dep(decision.state).target_environment == BLUE
    assert dep(decision.state).acknowledged_alarms == (f"{ALARM}@{at(60).isoformat()}",)
    assert not any(isinstance(e, MakeLive) for e in decision.effects)


def test_an_alarm_in_the_rollback_window_of_a_forbidding_release_fixes_forward() -> None:
    state = app_state(config=config(bake_seconds=0, rollback_window_seconds=600))
    state = step(state, ship(manifest=ReleaseManifest(rollback="forbid")), 0).state
    state = step(state, health(GREEN, "Ok", 30, green_ok(state)), 30).state
    state = step(state, tick(31, green_ok(state, live=GREEN)), 31).state
    assert current(state) == S.SUCCEEDED
    decision = step(state, alarm(100), 100)
    assert current(decision.state) == S.FIX_FORWARD and decision.effects == ()
    assert decision.state.live_environment == GREEN


# ------------------------------------------------------------------ a refused promotion swap


def test_a_refused_promotion_swap_drops_the_post_check_runs_and_restarts_them_with_the_retry() -> None:
    state = verifying(pre=(HEALTHZ,), post=(AFTER,))
    state = step(state, report(state, "healthz", True, 40), 40).state
    assert current(state) == S.BAKING and [r.phase for r in dep(state).checks] == ["pre", "post"]
    refused = EffectFailed(
        event_id="failed:swap",
        at=at(41),
        effect="make_live",
        error="Environment is in an invalid state for this operation. Must be Ready.",
        environment=GREEN,
        retryable=True,
        observed=green_ok(state, live=BLUE),
    )
    decision = step(state, refused, 41)
    assert decision.rule == "promotion_swap_refused" and current(decision.state) == S.SWAP_REFUSED
    assert [(r.name, r.phase) for r in dep(decision.state).checks] == [("healthz", "pre")]
    ignored = step(decision.state, report(decision.state, "after-swap", False, 42), 42)
    assert (ignored.outcome, ignored.rule) == ("ignored", "check_for_another_deployment")
    retried = step(decision.state, tick(60, green_ok(state)), 60)
    assert retried.rule == "retry_refused_swap"
    assert [type(e) for e in retried.effects] == [MakeLive, RunCheck]
    (post,) = dep(retried.state).checks_of("post")
    assert post.started_at == at(60) and post.waiting


# ------------------------------------------------------------------ what the controller must observe


def test_a_check_report_observes_eb_and_before_promotion_the_alarms() -> None:
    state = verifying()
    assert observation_needs(state, report(state, "healthz", True, 40)) == (True, True)
    baking = baking_with_post()
    assert observation_needs(baking, report(baking, "after-swap", True, 40)) == (True, False)


def test_the_check_rows_are_in_the_table_in_order() -> None:
    from bluegreen.machine import RULES

    names = [rule.name for rule in RULES if rule.on == "check"]
    assert names == [
        "check_for_another_deployment",
        "check_reported_already",
        "check_reported_late",
        "check_phase_is_over",
        "abort_on_failed_pre_check",
        "rollback_on_failed_post_check",
        "record_passed_check",
    ]


# ------------------------------------------------------------------ bugs the tests found (fixed)


def test_a_console_promotion_starts_the_post_checks() -> None:
    state = verifying(pre=(), post=(AFTER,), auto_promote=False)
    assert current(state) == S.VERIFYING
    swapped = observed(env(GREEN, dep(state).version, live=True), env(BLUE, "v0"))
    decision = step(state, tick(40, swapped), 40)
    assert decision.rule.startswith("abort_production_moved_to_target")
    assert current(decision.state) == S.BAKING
    ended = step(decision.state, tick(40 + 300 + 200, swapped), 540)
    # either the post check was started (and then fails as overdue) or the bake ends: never stuck
    assert dep(decision.state).checks_of("post") or ended.rule == "finish_bake"


def test_a_console_promotion_bakes_for_the_releases_bake_seconds() -> None:
    state = gated(pre=(), auto_promote=False)
    state = verified(state, manifest=ReleaseManifest(bake_seconds=1800)).state
    assert current(state) == S.VERIFYING
    swapped = observed(env(GREEN, dep(state).version, live=True), env(BLUE, "v0"))
    decision = step(state, tick(40, swapped), 40)
    assert current(decision.state) == S.BAKING
    assert dep(decision.state).bake_until == at(40 + 1800)


def test_a_forced_rollback_refused_by_eb_is_retried_not_turned_into_fix_forward() -> None:
    state = forbidding_baking()
    forced = step(state, override("rollback", 60, green_ok(state, live=GREEN), force=True), 60)
    assert current(forced.state) == S.ROLLED_BACK
    refusal = EffectFailed(
        event_id="failed:rollback",
        at=at(61),
        effect="make_live",
        error="Environment is in an invalid state for this operation. Must be Ready.",
        environment=BLUE,
        retryable=True,
        observed=green_ok(state, live=GREEN),
    )
    refused = step(forced.state, refusal, 61)
    assert current(refused.state) == S.ROLLBACK_REFUSED and "retrying" in refused.reason
    retried = step(refused.state, tick(120, green_ok(state, live=GREEN)), 120)
    assert retried.rule == "retry_refused_rollback"
    assert retried.effects == (MakeLive(environment=BLUE, other=GREEN),)
    assert current(retried.state) == S.ROLLED_BACK


def test_a_release_that_requires_approval_aborts_saying_it_was_not_approved() -> None:
    state = verified(gated(pre=()), manifest=ReleaseManifest(requires_approval=True)).state
    assert current(state) == S.VERIFYING
    early = step(state, tick(30 + 601, green_ok(state)), 631)
    assert current(early.state) == S.VERIFYING  # approval_timeout_seconds (3600), not verify_timeout (600)
    decision = step(state, tick(30 + 3601, green_ok(state)), 3631)
    assert current(decision.state) == S.ABORTED
    assert "not approved within approval_timeout_seconds" in decision.reason


def test_a_pre_check_that_cannot_finish_before_the_verify_timeout_is_refused_at_register() -> None:
    import pytest
    from pydantic import ValidationError

    slow = LambdaHook(name="smoke", function="bluegreen-hook-smoke", timeout_seconds=900)
    with pytest.raises(ValidationError, match="may take 900s, not less than verify_timeout_seconds"):
        config(verify_timeout_seconds=600, checks=Checks(pre=(slow,)))
    assert config(verify_timeout_seconds=1200, checks=Checks(pre=(slow,))).checks.pre == (slow,)


def test_a_hook_report_during_a_pause_is_on_time_even_after_the_original_deadline() -> None:
    """Deadlines do not run while paused: resume moves them, and a report in between is not late."""
    hook = LambdaHook(name="smoke", function="bluegreen-hook-smoke", timeout_seconds=60)
    state = app_state(config=config(checks=Checks(pre=(hook,))))
    state = decide(state, upload(), at(0)).state
    label = state.deployment.version if state.deployment else ""
    seen = observed(env(GREEN, label), env(BLUE, "v0", live=True))
    state = decide(state, tick(30, seen), at(30)).state
    assert state.deployment is not None and state.deployment.check("smoke") is not None
    paused = decide(state, override("pause", 40), at(40)).state
    report = CheckReported(
        event_id="report:1",
        at=at(200),
        deployment_id="mybot-1",
        check="smoke",
        passed=False,
        reason="no",
        source="hook",
    )
    decision = decide(paused, report.model_copy(update={"observed": seen}), at(200))
    assert decision.rule == "abort_on_failed_pre_check"
