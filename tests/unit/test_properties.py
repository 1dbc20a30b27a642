"""Property-based tests: random histories of uploads, EB updates, health, alarms, overrides and ticks,
each possibly duplicated, reordered, stale or dropped, drive the pure machine against a small model
of Elastic Beanstalk. After every step the invariants of DESIGN.md must hold.

Some histories register release gates (pre and post checks) and upload builds whose bluegreen.json
tightens the policy (`rollback: forbid`, more checks, approval); check results arrive in time, late,
twice, for an earlier deployment, or never (the watchdog fails them at their deadline).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bluegreen.gates import Checks, HttpCheck, LambdaHook
from bluegreen.machine import Decision, decide
from bluegreen.manifest import Policy, ReleaseManifest
from bluegreen.models import (
    AlarmObservation,
    AppState,
    CheckReported,
    CreateVersion,
    Deployment,
    DeploymentState,
    EffectFailed,
    Event,
    InvokeHook,
    MakeLive,
    OverrideIssued,
    RunCheck,
    UpdateEnvironment,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    updated,
    upload,
)

EXAMPLES = int(os.environ.get("BLUEGREEN_PROPERTY_EXAMPLES", "1000"))
S = DeploymentState

# Release gates: short deadlines (an HTTP check's is its worst case plus the queue margin, 125 s here), so
# that a history of 40 steps sees checks pass, fail, report late and go overdue.
HOOK = "mybot-hook"
GATES: dict[str, Checks] = {
    "none": Checks(),
    "pre": Checks(
        pre=(HttpCheck(name="healthz", attempts=1), LambdaHook(name="smoke", function=HOOK, timeout_seconds=120))
    ),
    "both": Checks(
        pre=(LambdaHook(name="smoke", function=HOOK, timeout_seconds=120),),
        post=(HttpCheck(name="after-swap", attempts=1),),
    ),
}
# What a build's bluegreen.json may say (a hook naming another function than the app's is not applied).
MANIFESTS: tuple[ReleaseManifest | None, ...] = (
    None,
    ReleaseManifest(rollback="forbid"),
    ReleaseManifest(
        rollback="forbid", checks=Checks(post=(LambdaHook(name="post-smoke", function=HOOK, timeout_seconds=120),))
    ),
    ReleaseManifest(
        requires_approval=True, bake_seconds=120, checks=Checks(pre=(HttpCheck(name="schema", attempts=1),))
    ),
)
# The rows that act on a check's report: an ignored report must never reach one of them.
CHECK_ACTING_ROWS = {"abort_on_failed_pre_check", "rollback_on_failed_post_check", "record_passed_check"}


@dataclass
class EB:
    """A model of two EB environments: versions, health, status and who holds the production CNAME."""

    holder: str = BLUE
    version: dict[str, str | None] = field(default_factory=lambda: {BLUE: "v0", GREEN: "v0"})
    health: dict[str, str] = field(default_factory=lambda: {BLUE: "Ok", GREEN: "Ok"})
    updating: dict[str, str | None] = field(default_factory=lambda: {BLUE: None, GREEN: None})
    alarm_since: float | None = None
    swaps: int = 0
    known_versions: set[str] = field(default_factory=lambda: {"v0"})
    refuse_swaps: int = 0  # EB refuses the next N swaps (a color not Ready, a managed update)

    def observe(self) -> object:
        def one(name: str):  # type: ignore[no-untyped-def]
            red = self.health[name] in ("Severe", "Degraded")
            return env(
                name,
                self.version[name],
                status="Updating" if self.updating[name] else "Ready",
                health="Red" if red else ("Grey" if self.updating[name] else "Green"),
                health_status=self.health[name],
                live=self.holder == name,
            )

        alarms = None  # quiet
        if self.alarm_since is not None:
            alarms = (AlarmObservation(name=ALARM, state="ALARM", since=at(self.alarm_since)),)
        return observed(one(BLUE), one(GREEN), alarms=alarms)


@dataclass
class Run:
    state: AppState
    eb: EB
    now: float = 0.0
    delivered: list[Event] = field(default_factory=list)
    history_records: int = 0
    upload_count: int = 0
    manifests: bool = False  # uploads carry a bluegreen.json (chosen per upload)
    deployment_ids: list[str] = field(default_factory=list)
    # deployments an operator promoted with force, or a person by a console swap: they may bake without
    # their pre checks; and those an operator rolled back with force (past `rollback: forbid`)
    promoted_by_hand: set[str] = field(default_factory=set)
    rolled_back_by_force: set[str] = field(default_factory=set)
    results: dict[tuple[str, str, datetime], bool] = field(default_factory=dict)  # first result of each run
    failed_checks: set[tuple[str, str]] = field(default_factory=set)


def run_effects(
    run: Run, effects: tuple[object, ...], holders: list[str] | None = None
) -> tuple[int, EffectFailed | None]:
    """Run the effects as the controller does, in order, stopping at a refusal: (done, failure).
    `holders[i]` is who EB routes production to once `i` effects have run."""
    state, eb = run.state, run.eb
    holders = holders if holders is not None else []
    holders.append(eb.holder)
    for done, effect in enumerate(effects):
        if done:
            holders.append(eb.holder)
        if isinstance(effect, CreateVersion):
            eb.known_versions.add(effect.artifact.label)
        elif isinstance(effect, UpdateEnvironment):
            # never update the live color, never two updates at once, only known versions
            assert effect.environment != eb.holder, "an update targeted the live color"
            assert eb.updating[effect.environment] is None, "two updates at once on one environment"
            assert effect.version_label in eb.known_versions
            if eb.version[effect.environment] != effect.version_label:
                eb.updating[effect.environment] = effect.version_label
        elif isinstance(effect, RunCheck | InvokeHook):
            # a check is about the deployment in flight: before the swap its idle color, never production
            deployment = state.deployment
            assert deployment is not None and effect.deployment_id == deployment.id
            host = effect.host if isinstance(effect, RunCheck) else effect.url.removeprefix("http://")
            if effect.phase == "pre":
                assert host != CNAME and host, "a pre-promotion check ran against production"
                assert deployment.target_environment != eb.holder
            else:
                assert host == CNAME and eb.holder == deployment.target_environment, "a post check before the swap"
        elif isinstance(effect, MakeLive):
            deployment = state.deployment
            assert deployment is not None
            if eb.holder != effect.environment and (eb.refuse_swaps or any(eb.updating.values())):
                eb.refuse_swaps = max(eb.refuse_swaps - 1, 0)
                failure = EffectFailed(
                    event_id=f"failed:{state.revision}",
                    at=at(run.now),
                    effect="make_live",
                    error="Environment is in an invalid state for this operation. Must be Ready.",
                    environment=effect.environment,
                )
                return done, failure
            if eb.holder != effect.environment:
                target = effect.environment
                if deployment.state == S.BAKING or (
                    deployment.state == S.SUCCEEDED and target == deployment.target_environment
                ):
                    # a promotion: the target must be healthy on the deployment's version
                    assert eb.health[target] == "Ok" and eb.version[target] == deployment.version, (
                        "swap to an unhealthy or wrong color"
                    )
                else:
                    # a rollback: traffic goes back to the last good version
                    assert eb.version[target] == deployment.previous_version, (
                        "rollback to a color without the last good version"
                    )
                eb.holder = target
                eb.swaps += 1
    if effects:
        holders.append(eb.holder)
    return len(effects), None


def policy_of(state: AppState, deployment: Deployment) -> Policy:
    return deployment.policy if deployment.policy is not None else state.config.policy()


def check_gate_invariants(run: Run, before: AppState, event: Event, decision: Decision) -> None:
    """Release gates: promotion waits for the pre checks, results are final, `rollback: forbid` holds."""
    after = decision.state
    rows = decision.rule.split("+")
    previous = before.deployment
    forced = isinstance(event, OverrideIssued) and event.force
    if previous is not None and previous.state.in_flight:
        if forced and event.action in ("promote", "approve"):  # type: ignore[union-attr]
            run.promoted_by_hand.add(previous.id)
        if forced and event.action == "rollback":  # type: ignore[union-attr]
            run.rolled_back_by_force.add(previous.id)
        if "abort_production_moved_to_target" in rows:
            run.promoted_by_hand.add(previous.id)
    if previous is not None and previous.state == S.FIX_FORWARD and forced:
        run.rolled_back_by_force.add(previous.id)
    # 1. the machine's own promotion only once every pre check of the deployment's policy passed
    for note in decision.notifications:
        if note.to_state != "BAKING" or note.from_state == "BAKING":
            continue
        deployment = after.deployment
        assert deployment is not None and deployment.id == note.deployment_id
        if deployment.id in run.promoted_by_hand:
            continue
        for spec in policy_of(after, deployment).checks.pre:
            result = deployment.check(spec.name)
            assert result is not None and result.passed is True, f"promoted with pre check {spec.name} not passed"
    # 2. a release that forbids rollback never swaps back unless an operator forced it
    for effect in decision.effects:
        if not isinstance(effect, MakeLive) or previous is None:
            continue
        back = effect.environment == previous.previous_environment != previous.target_environment
        if back and policy_of(before, previous).rollback == "forbid":
            assert forced or previous.id in run.rolled_back_by_force, "rolled back a release that forbids it"
    # 3. results are final: the first result of a check run stands; a failed check never passes
    deployment = after.deployment
    if deployment is not None:
        if deployment.id not in run.deployment_ids:
            run.deployment_ids.append(deployment.id)
        for result in deployment.checks:
            if result.passed is None:
                continue
            first = run.results.setdefault((deployment.id, result.name, result.started_at), result.passed)
            assert first == result.passed, f"check {result.name} changed its result"
            if result.passed is False:
                run.failed_checks.add((deployment.id, result.name))
            assert (deployment.id, result.name) not in run.failed_checks or result.passed is False


def deliver(run: Run, event: Event) -> Decision:
    before = run.state
    event = event.model_copy(update={"observed": run.eb.observe()})
    decision = decide(before, event, at(run.now))
    if decision.outcome != "accepted":
        assert decision.state is before, "an ignored or refused event changed the state"
        return decision
    check_gate_invariants(run, before, event, decision)
    assert decision.state.revision == before.revision + 1, "an accepted event leaves exactly one record"
    assert decision.notifications, "an accepted event notifies"
    assert all(n.reason for n in decision.notifications)
    run.history_records += 1
    run.state = decision.state
    run.delivered.append(event)
    holders: list[str] = []
    done, failure = run_effects(run, decision.effects, holders)
    for note, gate in zip(decision.notifications, decision.gates, strict=True):
        if gate <= done and note.to_state in ("BAKING", "ROLLED_BACK", "ROLLBACK_REFUSED", "SWAP_REFUSED"):
            # never report a traffic move (or its absence) other than the one EB made by then
            assert note.live_environment == holders[gate], f"notified {note.to_state} on {note.live_environment}"
    if failure is not None:
        deliver(run, failure)
        return decision
    # the controller's belief matches EB once effects ran
    assert run.state.live_environment == run.eb.holder, "state and EB disagree on the live color"
    deployment = run.state.deployment
    if deployment is not None and deployment.state == S.ROLLED_BACK and deployment.finished_at == at(run.now):
        assert run.eb.version[run.eb.holder] == run.state.last_good_version
    return decision


ACTIONS = st.sampled_from(
    [
        "upload",
        "upload",
        "complete_ok",
        "complete_ok",
        "complete_bad",
        "fail_update",
        "degrade",
        "alarm",
        "alarm_ok",
        "tick",
        "tick",
        "wait",
        "duplicate",
        "stale",
        "promote",
        "rollback",
        "abort",
        "pause",
        "resume",
        "retry",
        "console_swap",
        "refuse_swap",
        "promote_force",
        "rollback_force",
        "check_pass",
        "check_pass",
        "check_fail",
        "check_late",
        "check_again",
        "check_stale",
        "check_deadline",
    ]
)


def seconds(when: datetime) -> float:
    return (when - T0).total_seconds()


def check_report(run: Run, deployment_id: str, check: str, passed: bool, tag: str) -> CheckReported:
    verdict = "pass" if passed else "fail"
    return CheckReported(
        event_id=f"check:{deployment_id}:{check}:{verdict}:{tag}:{run.now}",
        at=at(run.now),
        deployment_id=deployment_id,
        check=check,
        passed=passed,
        reason=f"{check}: {verdict}",
    )


def assert_report_ignored(run: Run, before: AppState, decision: Decision, rule: str) -> None:
    """An ignored report changes nothing: at most the reconcile that any observed event may apply runs."""
    assert not set(decision.rule.split("+")) & CHECK_ACTING_ROWS, f"an ignored report was acted on: {decision.rule}"
    if decision.outcome == "accepted":
        assert (
            before.deployment is None
            or run.state.deployment is None
            or (before.deployment.checks == run.state.deployment.checks)
        )
    else:
        assert decision.rule == rule and decision.state is before


def act_on_checks(run: Run, action: str, lose: bool, pick: int) -> None:
    """Check results: in time, late, again, for an earlier deployment, or never (past the deadline)."""
    current = run.state.in_flight
    waiting = [r for r in current.checks if r.waiting] if current else []
    if action in ("check_pass", "check_fail") and current and waiting and not lose:
        result = waiting[pick % len(waiting)]
        if at(run.now) <= result.deadline:
            deliver(run, check_report(run, current.id, result.name, action == "check_pass", "on-time"))
    elif action == "check_late" and current and waiting and not run.state.paused:
        # (while paused, deadlines do not run: a report after the original deadline is still on time)
        result = waiting[pick % len(waiting)]
        run.now = max(run.now, seconds(result.deadline) + 1 + pick % 30)
        before = run.state
        decision = deliver(run, check_report(run, current.id, result.name, pick % 2 == 0, "late"))
        assert_report_ignored(run, before, decision, "check_reported_late")
    elif action == "check_again" and run.state.deployment is not None:
        last = run.state.deployment
        decided = [r for r in last.checks if not r.waiting]
        if decided:
            result = decided[pick % len(decided)]
            before = run.state
            decision = deliver(run, check_report(run, last.id, result.name, not result.passed, "again"))
            expected = "check_reported_already" if last.state.in_flight else "check_for_another_deployment"
            assert_report_ignored(run, before, decision, expected)
    elif action == "check_stale":
        earlier = [i for i in run.deployment_ids if current is None or i != current.id] or ["mybot-0"]
        names = [n for checks in GATES.values() for n in checks.names] + ["post-smoke", "schema"]
        before = run.state
        stale = check_report(run, earlier[pick % len(earlier)], names[pick % len(names)], pick % 2 == 0, "stale")
        decision = deliver(run, stale)
        assert_report_ignored(run, before, decision, "check_for_another_deployment")
    elif action == "check_deadline" and waiting:
        run.now = max(run.now, max(seconds(r.deadline) for r in waiting) + 1)
        deliver(run, tick(run.now))


def act(run: Run, action: str, lose: bool, pick: int) -> None:
    eb = run.eb
    run.now += 5
    if action == "upload":
        run.upload_count += 1
        uploaded = upload(f"build-{run.upload_count}", run.now)
        manifest = MANIFESTS[pick % len(MANIFESTS)] if run.manifests else None
        if manifest is not None:
            uploaded = uploaded.model_copy(
                update={"artifact": uploaded.artifact.model_copy(update={"manifest": manifest})}
            )
        deliver(run, uploaded)
    elif action.startswith("check_"):
        act_on_checks(run, action, lose, pick)
    elif action in ("complete_ok", "complete_bad", "fail_update"):
        for name, label in list(eb.updating.items()):
            if label is None:
                continue
            eb.updating[name] = None
            if action == "fail_update":
                eb.health[name] = "Degraded"
                event: Event = updated(name, "failed", run.now)
            else:
                eb.version[name] = label
                eb.health[name] = "Ok" if action == "complete_ok" else "Severe"
                event = health(name, eb.health[name], run.now)
            if not lose:  # a lost event: only the watchdog will notice
                deliver(
                    run,
                    updated(name, "succeeded", run.now) if action == "complete_ok" and pick % 2 else event,
                )
    elif action == "degrade":
        target = GREEN if pick % 2 else BLUE
        eb.health[target] = "Severe"
        if not lose:
            deliver(run, health(target, "Severe", run.now))
    elif action == "alarm":
        eb.alarm_since = run.now
        if not lose:
            deliver(run, alarm(run.now))
    elif action == "alarm_ok":
        eb.alarm_since = None
        deliver(run, alarm(run.now, state="OK"))
    elif action == "tick":
        deliver(run, tick(run.now))
    elif action == "wait":
        run.now += 400
        deliver(run, tick(run.now))
    elif action == "duplicate" and run.delivered:
        deliver(run, run.delivered[pick % len(run.delivered)])
    elif action == "stale" and run.delivered:
        old = run.delivered[pick % len(run.delivered)]
        deliver(run, old.model_copy(update={"event_id": f"{old.event_id}:late"}))
    elif action == "console_swap":
        # A person swaps in the EB console; EB refuses unless both colors are Ready. bluegreen is not told:
        # the next event that observes EB must reconcile before it picks a target or moves traffic.
        if not any(eb.updating.values()):
            eb.holder = GREEN if eb.holder == BLUE else BLUE
            eb.swaps += 1
            deliver(run, tick(run.now))
    elif action == "refuse_swap":
        eb.refuse_swaps += 1
    elif action in ("promote", "rollback", "abort", "pause", "resume", "retry"):
        deliver(run, override(action, run.now).model_copy(update={"event_id": f"override:{action}:{run.now}"}))
    elif action in ("promote_force", "rollback_force"):
        name = action.removesuffix("_force")
        deliver(
            run, override(name, run.now, force=True).model_copy(update={"event_id": f"override:{action}:{run.now}"})
        )


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.tuples(ACTIONS, st.booleans(), st.integers(0, 1000)), min_size=1, max_size=40),
    auto_promote=st.booleans(),
    bake=st.sampled_from([0, 60, 300]),
    window=st.sampled_from([0, 600]),
    gates=st.sampled_from(sorted(GATES)),
    manifests=st.booleans(),
)
def test_random_histories_keep_the_invariants(
    steps: list[tuple[str, bool, int]], auto_promote: bool, bake: int, window: int, gates: str, manifests: bool
) -> None:
    state = app_state(
        config=config(auto_promote=auto_promote, bake_seconds=bake, rollback_window_seconds=window, checks=GATES[gates])
    )
    run = Run(state=state, eb=EB(), manifests=manifests)
    for action, lose, pick in steps:
        act(run, action, lose and action not in ("tick", "wait"), pick)
        assert run.state.live_environment in (BLUE, GREEN)
        assert run.state.config.production_cname == CNAME


# Histories that get far enough for the gates: builds verify, checks report, bakes end, releases forbid rollback.
GATED_ACTIONS = st.sampled_from(
    [
        *["upload"] * 3,
        *["complete_ok"] * 5,
        *["check_pass"] * 7,
        *["tick"] * 3,
        *["alarm_ok"] * 2,
        "check_fail",
        "check_late",
        "check_again",
        "check_again",
        "check_stale",
        "check_deadline",
        "wait",
        "alarm",
        "promote",
        "promote_force",
        "rollback",
        "rollback_force",
        "pause",
        "resume",
        "duplicate",
        "stale",
        "console_swap",
        "refuse_swap",
        "degrade",
        "abort",
        "retry",
    ]
)


@settings(max_examples=max(EXAMPLES // 3, 50), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.tuples(GATED_ACTIONS, st.booleans(), st.integers(0, 1000)), min_size=15, max_size=40),
    auto_promote=st.booleans(),
    gates=st.sampled_from(["pre", "both"]),
    manifests=st.booleans(),
)
def test_random_gated_histories_keep_the_invariants(
    steps: list[tuple[str, bool, int]], auto_promote: bool, gates: str, manifests: bool
) -> None:
    """The same invariants, and those of the release gates, with pre and post checks registered."""
    state = app_state(config=config(auto_promote=auto_promote, bake_seconds=120, checks=GATES[gates]))
    run = Run(state=state, eb=EB(), manifests=manifests)
    for action, lose, pick in steps:
        act(run, action, lose and pick % 4 == 0 and action.startswith(("complete", "check_pass", "check_fail")), pick)
        assert run.state.live_environment == run.eb.holder or run.state.pending is not None


@settings(max_examples=max(EXAMPLES // 4, 50), deadline=None)
@given(
    steps=st.lists(st.tuples(ACTIONS, st.booleans(), st.integers(0, 1000)), min_size=1, max_size=30),
    copies=st.integers(2, 5),
)
def test_redelivering_every_event_changes_nothing(steps: list[tuple[str, bool, int]], copies: int) -> None:
    """Each accepted event delivered 2 to 5 times has its effects once."""
    run = Run(state=app_state(), eb=EB())
    for action, lose, pick in steps:
        act(run, action, lose, pick)
        if run.delivered:
            last = run.delivered[-1]
            for _ in range(copies - 1):
                decision = decide(run.state, last, at(run.now))
                assert decision.outcome == "ignored" and decision.state is run.state


def test_a_long_quiet_bake_finishes_with_one_swap() -> None:
    run = Run(state=app_state(), eb=EB())
    act(run, "upload", False, 0)
    act(run, "complete_ok", False, 0)
    assert run.state.deployment is not None and run.state.deployment.state == S.BAKING
    run.now += 400
    deliver(run, tick(run.now))
    assert run.state.deployment.state == S.SUCCEEDED
    assert run.eb.swaps == 1 and run.eb.holder == GREEN
    assert run.state.last_good_version == run.state.deployment.version
    assert run.now - 0 > timedelta(seconds=0).total_seconds()
