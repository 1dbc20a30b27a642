"""The pure blue-green state machine: `decide(state, event, now) -> Decision`. No I/O.

The machine is a table (`RULES`): for an event kind and the app's phase (the in-flight deployment's
state, or IDLE), the first row whose guard holds decides. A row names its guard and its step, so the
table reads as sentences and can be printed (`bluegreen rules`) and tested row by row. A row may also
*ignore* the event (with its reason) or *refuse* it (overrides that make no sense now).

What the controller must supply: for health and update events on the target color, and for ticks,
an `Observed` snapshot from EB's describe calls (and, for ticks, the app's alarms). The machine only
trusts the observation for anything that moves traffic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from bluegreen.models import (
    UNHEALTHY,
    AlarmChanged,
    AppState,
    Artifact,
    ArtifactUploaded,
    Cause,
    CauseType,
    CreateVersion,
    Deployment,
    DeploymentState,
    Effect,
    EffectFailed,
    EnvironmentObservation,
    EnvironmentUpdated,
    Event,
    HealthChanged,
    MakeLive,
    Notification,
    OverrideIssued,
    Tick,
    UpdateEnvironment,
)

IDLE = "IDLE"
SEEN_EVENTS_KEPT = 64
# How long after an update was requested an observed "Ready on the old version" counts as a failed update.
UPDATE_FAILED_GRACE = timedelta(seconds=90)
STALE_TOLERANCE = timedelta(seconds=2)

S = DeploymentState
Phase = str  # a DeploymentState value, or IDLE
Outcome = Literal["accepted", "ignored", "refused"]


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    rule: str
    reason: str
    state: AppState
    effects: tuple[Effect, ...] = ()
    notifications: tuple[Notification, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"


@dataclass
class Ctx:
    """A rule's view of one decision: the event, the time, and a draft of the new state."""

    event: Event
    now: datetime
    state: AppState
    cause_type: CauseType
    effects: list[Effect] = field(default_factory=list)
    notes: list[tuple[str | None, str | None, str, Deployment | None]] = field(default_factory=list)

    # ------------------------------------------------------------------ facts guards read
    @property
    def deployment(self) -> Deployment:
        assert self.state.deployment is not None
        return self.state.deployment

    def target(self) -> EnvironmentObservation | None:
        observed = self.event.observed
        if observed is None or self.state.deployment is None:
            return None
        return observed.environment(self.state.deployment.target_environment)

    def target_is_settled(self) -> bool:
        if isinstance(self.event, EnvironmentUpdated) and self.event.outcome in ("succeeded", "failed"):
            return True
        target = self.target()
        return target is not None and target.status == "Ready"

    # ------------------------------------------------------------------ draft changes
    def update(self, **changes: object) -> None:
        self.state = self.state.model_copy(update=changes)

    def move(self, to: DeploymentState, reason: str, **changes: object) -> None:
        before = self.deployment
        if before.state == S.DEPLOYING and before.update_started and not self.target_is_settled():
            # EB may still be updating this color; the next deployment must wait for it to be Ready.
            self.update(unsettled_environment=before.target_environment)
        finished = {"finished_at": self.now} if not to.in_flight else {}
        after = before.model_copy(
            update={"state": to, "state_since": self.now, "reason": reason, **finished, **changes}
        )
        self.update(deployment=after)
        self.notes.append((before.state.value, to.value, reason, after))

    def note(self, reason: str) -> None:
        """An accepted event that changes app facts but not the deployment's state."""
        current = self.state.deployment
        value = current.state.value if current else None
        self.notes.append((value, value, reason, current))


Guard = Callable[[Ctx], bool]
Step = Callable[[Ctx], None]


@dataclass(frozen=True)
class Rule:
    name: str
    on: str
    source: frozenset[Phase]
    guard: Guard
    step: Step | None = None
    reason: str = ""
    outcome: Outcome = "accepted"
    cause: CauseType | None = None


ANY: frozenset[Phase] = frozenset({IDLE, *(s.value for s in (S.DEPLOYING, S.VERIFYING, S.BAKING))})
DEPLOYING = frozenset({S.DEPLOYING.value})
VERIFYING = frozenset({S.VERIFYING.value})
BAKING = frozenset({S.BAKING.value})
PRE_PROMOTION = frozenset({S.DEPLOYING.value, S.VERIFYING.value})
IN_FLIGHT = PRE_PROMOTION | BAKING
IDLE_ONLY = frozenset({IDLE})


# ====================================================================== guards (read as sentences)


def always(ctx: Ctx) -> bool:
    return True


def label_is_known(state: AppState, label: str) -> bool:
    """The version is queued, in flight or live already: a duplicate upload event, or a re-upload."""
    if state.queued is not None and state.queued.label == label:
        return True
    current = state.deployment
    if current is None or current.version != label:
        return False
    return current.state.in_flight or current.state == S.SUCCEEDED


def artifact_is_known(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, ArtifactUploaded)
    return label_is_known(ctx.state, ctx.event.artifact.label)


def app_is_paused(ctx: Ctx) -> bool:
    return ctx.state.paused


def event_is_for_other_color(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, HealthChanged | EnvironmentUpdated)
    return ctx.event.environment != ctx.deployment.target_environment


def event_predates_deployment(ctx: Ctx) -> bool:
    # EventBridge times have one-second precision; a small tolerance keeps same-second events.
    return ctx.state.deployment is not None and ctx.event.at + STALE_TOLERANCE < ctx.deployment.started_at


def event_predates_our_update(ctx: Ctx) -> bool:
    """An EB event from before our update started reports on an earlier update (a superseded one)."""
    started = ctx.deployment.update_started_at
    return started is not None and ctx.event.at + STALE_TOLERANCE < started


def update_is_waiting_and_environment_ready(ctx: Ctx) -> bool:
    if ctx.deployment.update_started:
        return False
    if isinstance(ctx.event, EnvironmentUpdated) and ctx.event.outcome in ("succeeded", "failed"):
        return True
    target = ctx.target()
    return target is not None and target.status == "Ready"


def idle_is_healthy_on_version(ctx: Ctx) -> bool:
    """EB's own describe must agree: Ready, Green/Ok, running the deployment's version."""
    target = ctx.target()
    return (
        ctx.deployment.update_started
        and target is not None
        and target.status == "Ready"
        and target.healthy
        and target.version_label == ctx.deployment.version
    )


def idle_reports_unhealthy(ctx: Ctx) -> bool:
    if not ctx.deployment.update_started:
        return False  # the color is still finishing a superseded update: not ours to judge
    assert isinstance(ctx.event, HealthChanged)
    target = ctx.target()
    confirmed = target is None or not target.healthy
    return ctx.event.health in UNHEALTHY and confirmed


def idle_observed_unhealthy_on_version(ctx: Ctx) -> bool:
    target = ctx.target()
    return (
        ctx.deployment.update_started
        and target is not None
        and target.status == "Ready"
        and target.version_label == ctx.deployment.version
        and target.unhealthy
    )


def update_failed(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, EnvironmentUpdated)
    target = ctx.target()
    on_version = target is not None and target.version_label == ctx.deployment.version and target.healthy
    still_updating = target is not None and target.status == "Updating"  # then the report is about another update
    return ctx.deployment.update_started and ctx.event.outcome == "failed" and not on_version and not still_updating


def update_observed_failed(ctx: Ctx) -> bool:
    """A lost "update failed" event: EB is Ready again but still on another version."""
    target = ctx.target()
    return (
        ctx.deployment.update_started
        and target is not None
        and target.status == "Ready"
        and target.version_label != ctx.deployment.version
        and ctx.now - ctx.deployment.state_since > UPDATE_FAILED_GRACE
    )


def live_reports_unhealthy(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, HealthChanged)
    target = ctx.target()
    return ctx.event.health in UNHEALTHY and (target is None or not target.healthy)


def live_observed_unhealthy(ctx: Ctx) -> bool:
    target = ctx.target()
    return target is not None and target.unhealthy


def alarm_is_not_firing(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, AlarmChanged)
    return ctx.event.state != "ALARM"


def alarm_is_not_ours(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, AlarmChanged)
    return ctx.event.alarm not in ctx.state.config.alarms


def no_deployment_yet(ctx: Ctx) -> bool:
    return ctx.state.deployment is None


def last_deployment_succeeded(ctx: Ctx) -> bool:
    current = ctx.state.deployment
    return current is not None and current.state == S.SUCCEEDED


def within_rollback_window(ctx: Ctx) -> bool:
    current = ctx.state.deployment
    window = ctx.state.config.rollback_window_seconds
    return (
        current is not None
        and current.state == S.SUCCEEDED
        and window > 0
        and current.finished_at is not None
        and ctx.now - current.finished_at <= timedelta(seconds=window)
        and ctx.state.live_environment == current.target_environment
    )


def an_alarm_fired_during_deployment(ctx: Ctx) -> bool:
    return bool(firing_alarms(ctx))


def firing_alarms(ctx: Ctx) -> list[str]:
    observed = ctx.event.observed
    if observed is None or ctx.state.deployment is None:
        return []
    started = ctx.deployment.started_at
    return [
        a.name
        for a in observed.alarms
        if a.state == "ALARM" and a.name in ctx.state.config.alarms and (a.since is None or a.since >= started)
    ]


def bake_is_over(ctx: Ctx) -> bool:
    bake_until = ctx.deployment.bake_until
    return bake_until is not None and ctx.now >= bake_until


def deploy_timed_out(ctx: Ctx) -> bool:
    limit = timedelta(seconds=ctx.state.config.deploy_timeout_seconds)
    return ctx.now - ctx.deployment.started_at > limit


def verify_timed_out(ctx: Ctx) -> bool:
    limit = timedelta(seconds=ctx.state.config.verify_timeout_seconds)
    return ctx.now - ctx.deployment.state_since > limit


def promotion_is_due(ctx: Ctx) -> bool:
    promote_at = ctx.deployment.promote_at
    target = ctx.target()
    return (
        ctx.state.config.auto_promote
        and not ctx.state.paused
        and promote_at is not None
        and ctx.now >= promote_at
        and target is not None
        and target.healthy
        and target.version_label == ctx.deployment.version
    )


def idle_is_healthy_now(ctx: Ctx) -> bool:
    target = ctx.target()
    return target is not None and target.healthy and target.version_label == ctx.deployment.version


def queued_artifact_can_start(ctx: Ctx) -> bool:
    return ctx.state.queued is not None and not ctx.state.paused


def live_color_drifted(ctx: Ctx) -> bool:
    observed = ctx.event.observed
    if observed is None or ctx.state.pending is not None:
        return False
    holder = observed.live_by_cname(ctx.state.config.production_cname)
    return holder is not None and holder != ctx.state.live_environment


def deployment_id_mismatch(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, OverrideIssued)
    wanted = ctx.event.deployment_id
    current = ctx.state.deployment
    return wanted is not None and (current is None or current.id != wanted)


def last_deployment_succeeded_and_previous_is_healthy(ctx: Ctx) -> bool:
    current = ctx.state.deployment
    if current is None or current.state != S.SUCCEEDED or current.previous_version is None:
        return False
    if ctx.state.live_environment != current.target_environment:
        return False
    observed = ctx.event.observed
    previous = observed.environment(current.previous_environment) if observed else None
    return previous is not None and previous.healthy and previous.version_label == current.previous_version


def nothing_queued(ctx: Ctx) -> bool:
    return ctx.state.queued is None


def queued_exists(ctx: Ctx) -> bool:
    return ctx.state.queued is not None


def last_deployment_can_be_retried(ctx: Ctx) -> bool:
    current = ctx.state.deployment
    return current is not None and current.state in (S.ABORTED, S.ROLLED_BACK, S.SUPERSEDED)


def not_paused(ctx: Ctx) -> bool:
    return not ctx.state.paused


def effect_was_a_deploy_step(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, EffectFailed)
    return ctx.event.effect in ("create_version", "update_environment")


# ====================================================================== steps (what a row does)


def start_deployment(ctx: Ctx, artifact_reason: str, artifact: Artifact | None = None) -> None:
    """Deploy an artifact (given, the event's, or the queued one) to the idle color."""
    if artifact is None:
        artifact = ctx.event.artifact if isinstance(ctx.event, ArtifactUploaded) else ctx.state.queued
    assert artifact is not None
    state = ctx.state
    seq = state.deployment_seq + 1
    deployment = Deployment(
        id=f"{state.app}-{seq}",
        artifact=artifact,
        state=S.DEPLOYING,
        target_environment=state.idle_environment,
        previous_environment=state.live_environment,
        previous_version=state.last_good_version,
        started_at=ctx.now,
        state_since=ctx.now,
        reason=artifact_reason,
    )
    keep_queued = state.queued if state.queued is not None and state.queued.label != artifact.label else None
    ctx.update(deployment_seq=seq, queued=keep_queued)
    # EB takes one update at a time: on a color that may still be updating, wait until it is Ready.
    deploy_now = state.unsettled_environment != state.idle_environment
    deployment = deployment.model_copy(
        update={"update_started": deploy_now, "update_started_at": ctx.now if deploy_now else None}
    )
    ctx.update(deployment=deployment)
    ctx.notes.append((None, S.DEPLOYING.value, artifact_reason, deployment))
    ctx.effects.append(CreateVersion(application_name=state.config.application_name, artifact=artifact))
    if deploy_now:
        ctx.effects.append(update_idle(ctx))


def update_idle(ctx: Ctx) -> UpdateEnvironment:
    return UpdateEnvironment(
        application_name=ctx.state.config.application_name,
        environment=ctx.deployment.target_environment,
        version_label=ctx.deployment.version,
    )


def deploy_to_idle(ctx: Ctx) -> None:
    start_deployment(ctx, artifact_reason(ctx))


def artifact_reason(ctx: Ctx) -> str:
    if isinstance(ctx.event, ArtifactUploaded):
        return f"artifact {ctx.event.artifact.key} uploaded; deploying to the idle color"
    return "starting the queued artifact"


def supersede_and_deploy(ctx: Ctx) -> None:
    assert isinstance(ctx.event, ArtifactUploaded)
    ctx.move(S.SUPERSEDED, f"superseded by newer artifact {ctx.event.artifact.key}")
    start_deployment(ctx, artifact_reason(ctx))


def queue_artifact(ctx: Ctx) -> None:
    assert isinstance(ctx.event, ArtifactUploaded)
    replaced = ctx.state.queued
    ctx.update(queued=ctx.event.artifact)
    why = "paused" if ctx.state.paused else "a deployment is baking"
    extra = f", replacing queued {replaced.key}" if replaced else ""
    ctx.note(f"artifact {ctx.event.artifact.key} queued: {why}{extra}")


def start_waiting_update(ctx: Ctx) -> None:
    ctx.update(
        deployment=ctx.deployment.model_copy(
            update={"update_started": True, "update_started_at": ctx.now, "state_since": ctx.now}
        ),
        unsettled_environment=None,
    )
    ctx.effects.append(update_idle(ctx))
    ctx.note("the idle color finished its previous update; deploying the newer version now")


def verify_then_maybe_promote(ctx: Ctx) -> None:
    config = ctx.state.config
    delay = timedelta(seconds=config.promote_delay_seconds)
    ctx.move(S.VERIFYING, "the idle color is Ready and healthy on the new version", promote_at=ctx.now + delay)
    if config.auto_promote and not ctx.state.paused and config.promote_delay_seconds == 0:
        promote(ctx, "auto-promotion: swapping the production CNAME to the verified color")


def promote(ctx: Ctx, reason: str) -> None:
    deployment = ctx.deployment
    bake = timedelta(seconds=ctx.state.config.bake_seconds)
    ctx.update(live_environment=deployment.target_environment)
    ctx.effects.append(MakeLive(environment=deployment.target_environment, other=deployment.previous_environment))
    ctx.move(S.BAKING, reason, bake_until=ctx.now + bake)
    if ctx.state.config.bake_seconds == 0:
        succeed(ctx, "no bake time configured")


def promote_now(ctx: Ctx) -> None:
    promote(ctx, "promotion delay elapsed: swapping the production CNAME to the verified color")


def succeed(ctx: Ctx, reason: str) -> None:
    ctx.move(S.SUCCEEDED, reason)
    ctx.update(last_good_version=ctx.deployment.version)
    if queued_artifact_can_start(ctx):
        start_deployment(ctx, "starting the queued artifact")


def finish_bake(ctx: Ctx) -> None:
    succeed(ctx, "bake time over with no alarm")


def abort(ctx: Ctx, reason: str) -> None:
    ctx.move(S.ABORTED, reason)
    if queued_artifact_can_start(ctx):
        start_deployment(ctx, "starting the queued artifact")


def roll_back(ctx: Ctx, reason: str) -> None:
    deployment = ctx.deployment
    ctx.update(live_environment=deployment.previous_environment, last_good_version=deployment.previous_version)
    ctx.effects.append(MakeLive(environment=deployment.previous_environment, other=deployment.target_environment))
    ctx.move(S.ROLLED_BACK, reason)


def _event_label(ctx: Ctx) -> str:
    event = ctx.event
    if isinstance(event, AlarmChanged):
        return f"alarm {event.alarm} is in ALARM"
    if isinstance(event, HealthChanged):
        return f"{event.environment} health is {event.health}"
    if isinstance(event, EnvironmentUpdated):
        return f"update of {event.environment} failed: {event.message or 'no message'}"
    if isinstance(event, OverrideIssued):
        return f"{event.action} by {event.actor}: {event.reason}"
    if isinstance(event, EffectFailed):
        return f"{event.effect} failed: {event.error}"
    return "watchdog"


def abort_for_event(ctx: Ctx) -> None:
    abort(ctx, f"{_event_label(ctx)} before promotion; traffic never moved")


def rollback_for_event(ctx: Ctx) -> None:
    roll_back(ctx, f"{_event_label(ctx)}; traffic returned to {ctx.deployment.previous_environment}")


def rollback_for_firing_alarm(ctx: Ctx) -> None:
    names = ", ".join(firing_alarms(ctx))
    roll_back(
        ctx,
        f"watchdog found alarm {names} in ALARM; traffic returned to {ctx.deployment.previous_environment}",
    )


def abort_for_firing_alarm(ctx: Ctx) -> None:
    abort(ctx, f"watchdog found alarm {', '.join(firing_alarms(ctx))} in ALARM before promotion")


def rollback_unhealthy_live(ctx: Ctx) -> None:
    target = ctx.target()
    health = target.health_status or target.health if target else "unhealthy"
    roll_back(ctx, f"promoted color {ctx.deployment.target_environment} is {health}; traffic returned")


def abort_observed_unhealthy(ctx: Ctx) -> None:
    target = ctx.target()
    health = target.health_status or target.health if target else "unhealthy"
    abort(ctx, f"watchdog: idle color is {health} on the new version; traffic never moved")


def abort_observed_failed_update(ctx: Ctx) -> None:
    abort(ctx, "watchdog: the idle color is Ready on another version, so its update failed")


def abort_deploy_timeout(ctx: Ctx) -> None:
    abort(ctx, f"deploy timeout ({ctx.state.config.deploy_timeout_seconds}s) before the idle color was healthy")


def abort_verify_timeout(ctx: Ctx) -> None:
    abort(ctx, f"verify timeout ({ctx.state.config.verify_timeout_seconds}s) without promotion")


def start_queued(ctx: Ctx) -> None:
    start_deployment(ctx, "starting the queued artifact")


def correct_live_color(ctx: Ctx) -> None:
    observed = ctx.event.observed
    assert observed is not None
    holder = observed.live_by_cname(ctx.state.config.production_cname)
    ctx.update(live_environment=holder)
    ctx.note(f"reconciled: EB reports the production CNAME on {holder}")


def note_alarm_after_success(ctx: Ctx) -> None:
    assert isinstance(ctx.event, AlarmChanged)
    ctx.note(f"alarm {ctx.event.alarm} is in ALARM after the deployment succeeded; no rollback window, notify only")


def operator_promote(ctx: Ctx) -> None:
    assert isinstance(ctx.event, OverrideIssued)
    reason = f"promoted by {ctx.event.actor}: {ctx.event.reason}"
    if ctx.deployment.state == S.DEPLOYING:
        ctx.move(S.VERIFYING, "the idle color is Ready and healthy on the new version")
    promote(ctx, reason)


def operator_skip_bake(ctx: Ctx) -> None:
    assert isinstance(ctx.event, OverrideIssued)
    succeed(ctx, f"bake ended early by {ctx.event.actor}: {ctx.event.reason}")


def operator_drop_queued(ctx: Ctx) -> None:
    assert ctx.state.queued is not None
    key = ctx.state.queued.key
    ctx.update(queued=None)
    ctx.note(f"queued artifact {key} dropped by abort")


def pause(ctx: Ctx) -> None:
    assert isinstance(ctx.event, OverrideIssued)
    ctx.update(paused=True)
    ctx.note(f"paused by {ctx.event.actor}: {ctx.event.reason}")


def resume(ctx: Ctx) -> None:
    assert isinstance(ctx.event, OverrideIssued)
    ctx.update(paused=False)
    ctx.note(f"resumed by {ctx.event.actor}: {ctx.event.reason}")
    if ctx.state.in_flight is None and ctx.state.queued is not None:
        start_deployment(ctx, "resumed: starting the queued artifact")


def retry(ctx: Ctx) -> None:
    assert isinstance(ctx.event, OverrideIssued)
    reason = f"retry of {ctx.deployment.id} by {ctx.event.actor}: {ctx.event.reason}"
    start_deployment(ctx, reason, ctx.deployment.artifact)


def abort_after_failed_effect(ctx: Ctx) -> None:
    abort_for_event(ctx)


# ====================================================================== the table


def _row(
    name: str,
    on: str,
    source: frozenset[Phase],
    guard: Guard = always,
    step: Step | None = None,
    *,
    reason: str = "",
    outcome: Outcome = "accepted",
    cause: CauseType | None = None,
) -> Rule:
    return Rule(name, on, source, guard, step, reason, outcome, cause)


def _ignore(name: str, on: str, source: frozenset[Phase], guard: Guard, reason: str) -> Rule:
    return _row(name, on, source, guard, reason=reason, outcome="ignored")


def _refuse(name: str, on: str, source: frozenset[Phase], guard: Guard, reason: str) -> Rule:
    return _row(name, on, source, guard, reason=reason, outcome="refused")


# fmt: off
RULES: tuple[Rule, ...] = (
    # -- artifact uploads
    _ignore("artifact_already_known", "artifact", ANY, artifact_is_known, "this artifact version is already deploying, queued or live"),
    _row("queue_while_paused", "artifact", ANY, app_is_paused, queue_artifact),
    _row("queue_during_bake", "artifact", BAKING, always, queue_artifact),
    _row("deploy_to_idle", "artifact", IDLE_ONLY, always, deploy_to_idle),
    _row("supersede_in_flight", "artifact", PRE_PROMOTION, always, supersede_and_deploy),
    # -- EB environment health ("Health status change")
    _ignore("health_for_other_color", "health", IN_FLIGHT, event_is_for_other_color, "event for a color this deployment does not target"),
    _ignore("health_predates_deployment", "health", IN_FLIGHT, event_predates_deployment, "stale event from before this deployment"),
    _row("start_waiting_update_on_health", "health", DEPLOYING, update_is_waiting_and_environment_ready, start_waiting_update),
    _ignore("health_predates_our_update", "health", PRE_PROMOTION, event_predates_our_update, "stale: reports on an update before ours"),
    _row("abort_unhealthy_idle", "health", PRE_PROMOTION, idle_reports_unhealthy, abort_for_event),
    _row("verify_healthy_idle", "health", DEPLOYING, idle_is_healthy_on_version, verify_then_maybe_promote),
    _row("promote_when_due_on_health", "health", VERIFYING, promotion_is_due, promote_now),
    _row("rollback_unhealthy_live", "health", BAKING, live_reports_unhealthy, rollback_for_event),
    # -- EB environment updates ("Elastic Beanstalk resource status change")
    _ignore("update_for_other_color", "update", IN_FLIGHT, event_is_for_other_color, "event for a color this deployment does not target"),
    _ignore("update_predates_deployment", "update", IN_FLIGHT, event_predates_deployment, "stale event from before this deployment"),
    _row("start_waiting_update", "update", DEPLOYING, update_is_waiting_and_environment_ready, start_waiting_update),
    _ignore("update_predates_our_update", "update", DEPLOYING, event_predates_our_update, "stale: reports on an update before ours"),
    _row("abort_failed_update", "update", DEPLOYING, update_failed, abort_for_event),
    _row("verify_updated_idle", "update", DEPLOYING, idle_is_healthy_on_version, verify_then_maybe_promote),
    # -- CloudWatch alarms
    _ignore("alarm_not_firing", "alarm", ANY, alarm_is_not_firing, "alarm left ALARM; nothing to do"),
    _ignore("alarm_not_ours", "alarm", ANY, alarm_is_not_ours, "alarm is not one of this app's alarms"),
    _ignore("alarm_predates_deployment", "alarm", ANY, event_predates_deployment, "alarm fired before this deployment started"),
    _row("rollback_on_alarm", "alarm", BAKING, always, rollback_for_event),
    _row("abort_on_alarm", "alarm", PRE_PROMOTION, always, abort_for_event),
    _row("rollback_in_window", "alarm", IDLE_ONLY, within_rollback_window, rollback_for_event),
    _ignore("alarm_without_deployment", "alarm", IDLE_ONLY, no_deployment_yet, "no deployment to act on"),
    _row("note_alarm_after_success", "alarm", IDLE_ONLY, last_deployment_succeeded, note_alarm_after_success),
    _ignore("alarm_after_deployment_ended", "alarm", IDLE_ONLY, always, "the last deployment already ended without success; nothing left to act on"),
    # -- the watchdog's tick, with what EB and CloudWatch report now
    _row("rollback_on_firing_alarm", "tick", BAKING, an_alarm_fired_during_deployment, rollback_for_firing_alarm, cause="reconcile"),
    _row("rollback_observed_unhealthy_live", "tick", BAKING, live_observed_unhealthy, rollback_unhealthy_live, cause="reconcile"),
    _row("finish_bake", "tick", BAKING, bake_is_over, finish_bake, cause="timeout"),
    _row("abort_on_firing_alarm", "tick", PRE_PROMOTION, an_alarm_fired_during_deployment, abort_for_firing_alarm, cause="reconcile"),
    _row("start_waiting_update_on_tick", "tick", DEPLOYING, update_is_waiting_and_environment_ready, start_waiting_update, cause="reconcile"),
    _row("verify_observed_healthy_idle", "tick", DEPLOYING, idle_is_healthy_on_version, verify_then_maybe_promote, cause="reconcile"),
    _row("abort_observed_unhealthy_idle", "tick", PRE_PROMOTION, idle_observed_unhealthy_on_version, abort_observed_unhealthy, cause="reconcile"),
    _row("abort_observed_failed_update", "tick", DEPLOYING, update_observed_failed, abort_observed_failed_update, cause="reconcile"),
    _row("abort_deploy_timeout", "tick", DEPLOYING, deploy_timed_out, abort_deploy_timeout, cause="timeout"),
    _row("promote_when_due", "tick", VERIFYING, promotion_is_due, promote_now, cause="timeout"),
    _row("abort_verify_timeout", "tick", VERIFYING, verify_timed_out, abort_verify_timeout, cause="timeout"),
    _row("correct_live_color", "tick", IDLE_ONLY, live_color_drifted, correct_live_color, cause="reconcile"),
    _row("start_queued", "tick", IDLE_ONLY, queued_artifact_can_start, start_queued, cause="reconcile"),
    # -- operator overrides
    _refuse("override_for_other_deployment", "override", ANY, deployment_id_mismatch, "deployment_id is not the current deployment"),
    _row("operator_promote", "override:promote", PRE_PROMOTION, idle_is_healthy_now, operator_promote),
    _refuse("promote_unhealthy", "override:promote", PRE_PROMOTION, always, "the idle color is not healthy on the new version yet"),
    _row("operator_skip_bake", "override:promote", BAKING, always, operator_skip_bake),
    _refuse("nothing_to_promote", "override:promote", IDLE_ONLY, always, "nothing to promote: no deployment in flight"),
    _row("operator_rollback", "override:rollback", BAKING, always, rollback_for_event),
    _row("operator_rollback_success", "override:rollback", IDLE_ONLY, last_deployment_succeeded_and_previous_is_healthy, rollback_for_event),
    _refuse("nothing_to_roll_back", "override:rollback", ANY, always, "nothing to roll back: traffic has not moved, or the previous color no longer runs the last good version healthily"),
    _row("operator_abort", "override:abort", PRE_PROMOTION, always, abort_for_event),
    _refuse("abort_after_promotion", "override:abort", BAKING, always, "traffic already moved: use rollback"),
    _row("operator_drop_queued", "override:abort", IDLE_ONLY, queued_exists, operator_drop_queued),
    _refuse("nothing_to_abort", "override:abort", IDLE_ONLY, always, "nothing to abort"),
    _row("operator_pause", "override:pause", ANY, not_paused, pause),
    _refuse("already_paused", "override:pause", ANY, always, "already paused"),
    _row("operator_resume", "override:resume", ANY, app_is_paused, resume),
    _refuse("not_paused", "override:resume", ANY, always, "not paused"),
    _row("operator_retry", "override:retry", IDLE_ONLY, last_deployment_can_be_retried, retry),
    _refuse("nothing_to_retry", "override:retry", ANY, always, "nothing to retry: a deployment is in flight, or the last one did not fail"),
    # -- an effect that AWS rejected for good
    _row("abort_after_failed_effect", "effect_failed", DEPLOYING, effect_was_a_deploy_step, abort_after_failed_effect, cause="effect"),
)
# fmt: on


def observation_needs(state: AppState, event: Event) -> tuple[bool, bool]:
    """Which describe calls the controller must make before deciding: (environments, alarms).

    Only what a rule may need, so an irrelevant event costs no describe call at all.
    """
    current = state.in_flight
    if isinstance(event, HealthChanged | EnvironmentUpdated):
        return current is not None and event.environment == current.target_environment, False
    if isinstance(event, Tick):
        return True, current is not None and bool(state.config.alarms)
    if isinstance(event, OverrideIssued):
        return event.action in ("promote", "rollback"), False
    return False, False


def _event_key(event: Event) -> str:
    if isinstance(event, OverrideIssued):
        return f"override:{event.action}"
    return event.kind


def phase_of(state: AppState) -> Phase:
    current = state.in_flight
    return current.state.value if current else IDLE


def _cause(event: Event, rule: Rule) -> Cause:
    if isinstance(event, ArtifactUploaded):
        artifact = event.artifact
        return Cause(
            type="artifact",
            id=f"s3://{artifact.bucket}/{artifact.key}@{artifact.version_id or artifact.etag}",
        )
    if isinstance(event, HealthChanged | EnvironmentUpdated):
        return Cause(type="health", id=event.event_id)
    if isinstance(event, AlarmChanged):
        return Cause(type="alarm", id=event.alarm, reason=event.reason or None)
    if isinstance(event, OverrideIssued):
        return Cause(type="override", id=event.action, actor=event.actor, reason=event.reason)
    if isinstance(event, EffectFailed):
        return Cause(type="effect", id=event.effect, reason=event.error)
    return Cause(type=rule.cause or "reconcile", id=event.event_id)


def decide(state: AppState, event: Event, now: datetime) -> Decision:
    """Return the new state and the effects for one event. Pure: same input, same output."""
    if event.event_id in state.seen_events:
        return Decision("ignored", "duplicate_event", "duplicate delivery of an accepted event", state)
    key = _event_key(event)
    phase = phase_of(state)
    cause_type: CauseType = "override" if key.startswith("override") else "reconcile"
    for rule in RULES:
        if rule.on not in (key, event.kind) or phase not in rule.source:
            continue
        ctx = Ctx(event=event, now=now, state=state, cause_type=cause_type)
        if not rule.guard(ctx):
            continue
        if rule.outcome != "accepted" or rule.step is None:
            return Decision(rule.outcome, rule.name, rule.reason, state)
        rule.step(ctx)
        return _accept(state, ctx, rule, now)
    if key.startswith("override"):
        return Decision("refused", "no_rule", f"{key.split(':')[-1]} makes no sense while {phase}", state)
    return Decision("ignored", "no_rule", f"nothing to do for a {event.kind} event while {phase}", state)


def _accept(before: AppState, ctx: Ctx, rule: Rule, now: datetime) -> Decision:
    revision = before.revision + 1
    seen = (*before.seen_events, ctx.event.event_id)[-SEEN_EVENTS_KEPT:]
    state = ctx.state.model_copy(update={"revision": revision, "seen_events": seen})
    cause = _cause(ctx.event, rule)
    at = now.isoformat()
    notifications = tuple(
        Notification(
            app=state.app,
            deployment_id=deployment.id if deployment else None,
            version=deployment.version if deployment else None,
            from_state=from_state,
            to_state=to_state,
            live_environment=state.live_environment,
            idle_environment=state.idle_environment,
            reason=reason,
            cause=cause,
            at=at,
            transition_id=f"{state.app}:{revision}:{index}",
        )
        for index, (from_state, to_state, reason, deployment) in enumerate(ctx.notes)
    )
    summary = "; ".join(n.reason for n in notifications) or rule.name
    return Decision("accepted", rule.name, summary, state, tuple(ctx.effects), notifications)


def describe_rules() -> list[dict[str, str]]:
    """The table as rows, for docs and `bluegreen rules`."""
    rows = []
    for rule in RULES:
        action = rule.step.__name__ if rule.step else rule.outcome
        rows.append(
            {
                "rule": rule.name,
                "on": rule.on,
                "when": ",".join(sorted(rule.source)),
                "guard": rule.guard.__name__,
                "then": action,
            }
        )
    return rows
