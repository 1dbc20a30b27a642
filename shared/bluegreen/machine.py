"""The pure blue-green state machine: `decide(state, event, now) -> Decision`. No I/O.

The machine is a table (`RULES`): for an event kind and the app's phase (the in-flight deployment's
state, or IDLE), the first row whose guard holds decides. A row names its guard and its step, so the
table reads as sentences and can be printed (`bluegreen rules`) and tested row by row. A row may also
*ignore* the event (with its reason) or *refuse* it (overrides that make no sense now).

What the controller must supply (`observation_needs` says which): an `Observed` snapshot from EB's
describe calls, and the app's alarms, for every event that may pick a target or move traffic. AWS is
the source of truth: before any row runs, the `observed` rows compare EB's CNAME owner with the stored
live color and reconcile a mismatch (a console swap) in the same decision, so the row that follows
acts on what EB reports. Alarms gate promotion and the end of a bake by their state now, not only by
their transitions; an alarm that cannot be read holds (fails closed).
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
    ArtifactRef,
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
    HandOver,
    HealthChanged,
    MakeLive,
    Notification,
    Observed,
    OverrideIssued,
    PruneVersions,
    Tick,
    UpdateEnvironment,
)

IDLE = "IDLE"
SEEN_EVENTS_KEPT = 64
UPLOADS_KEPT = 256  # a label names one S3 object version: a redelivery, however late, is recognised
# How long after an update was requested an observed "Ready on the old version" counts as a failed update.
UPDATE_FAILED_GRACE = timedelta(seconds=90)
STALE_TOLERANCE = timedelta(seconds=2)
# A refused rollback is retried every tick; after this long it is escalated (once) in a notification.
ESCALATE_REFUSED_ROLLBACK = timedelta(minutes=10)

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
    gates: tuple[int, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"


@dataclass
class Note:
    from_state: str | None
    to_state: str | None
    reason: str
    deployment: Deployment | None
    gate: int  # effects that must have run before this notification may be published
    live: str = ""  # the live color as of this note (a decision can move it more than once)


@dataclass
class Ctx:
    """A rule's view of one decision: the event, the time, and a draft of the new state."""

    event: Event
    now: datetime
    state: AppState
    cause_type: CauseType
    effects: list[Effect] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    # ------------------------------------------------------------------ facts guards read
    @property
    def deployment(self) -> Deployment:
        assert self.state.deployment is not None
        return self.state.deployment

    @property
    def observed(self) -> Observed | None:
        return self.event.observed

    def env(self, name: str) -> EnvironmentObservation | None:
        return self.observed.environment(name) if self.observed else None

    def target(self) -> EnvironmentObservation | None:
        if self.state.deployment is None:
            return None
        return self.env(self.state.deployment.target_environment)

    def holder(self) -> str | None:
        """The color EB reports holding the production CNAME, if EB was observed."""
        if self.observed is None:
            return None
        return self.observed.live_by_cname(self.state.config.production_cname)

    def target_is_settled(self) -> bool:
        if isinstance(self.event, EnvironmentUpdated) and self.event.outcome in ("succeeded", "failed"):
            return True
        target = self.target()
        return target is not None and target.ready

    def paused_for(self) -> timedelta:
        """How long the app has been paused now (deadlines do not run while paused)."""
        if self.state.paused and self.state.paused_at is not None:
            return max(self.now - self.state.paused_at, timedelta(0))
        return timedelta(0)

    # ------------------------------------------------------------------ draft changes
    def update(self, **changes: object) -> None:
        self.state = self.state.model_copy(update=changes)

    def update_deployment(self, **changes: object) -> None:
        self.update(deployment=self.deployment.model_copy(update=changes))

    def move(self, to: DeploymentState, reason: str, **changes: object) -> None:
        before = self.deployment
        if before.state == S.DEPLOYING and before.update_started and not self.target_is_settled():
            # EB may still be updating this color; the next deployment must wait for it to be Ready.
            self.update(unsettled_environment=before.target_environment)
        finished = {"finished_at": self.now} if not to.in_flight else {}
        after = before.model_copy(
            update={"state": to, "state_since": self.now, "reason": reason, "held": None, **finished, **changes}
        )
        self.update(deployment=after)
        self.notes.append(
            Note(before.state.value, to.value, reason, after, len(self.effects), self.state.live_environment)
        )

    def note(self, reason: str) -> None:
        """An accepted event that changes app facts but not the deployment's state."""
        current = self.state.deployment
        value = current.state.value if current else None
        self.notes.append(Note(value, value, reason, current, len(self.effects), self.state.live_environment))

    def hold(self, reason: str) -> None:
        """Say once what the deployment waits for; repeating the same hold is not news."""
        if self.deployment.held != reason:
            self.update_deployment(held=reason)
            self.note(reason)


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
    notify: bool = False  # an ignored event that people must still hear about


ANY: frozenset[Phase] = frozenset({IDLE, *(s.value for s in S if s.in_flight)})
DEPLOYING = frozenset({S.DEPLOYING.value})
VERIFYING = frozenset({S.VERIFYING.value})
BAKING = frozenset({S.BAKING.value})
SWAP_REFUSED = frozenset({S.SWAP_REFUSED.value})
ROLLBACK_REFUSED = frozenset({S.ROLLBACK_REFUSED.value})
PRE_PROMOTION = frozenset({S.DEPLOYING.value, S.VERIFYING.value, S.SWAP_REFUSED.value})
AWAITING_PROMOTION = frozenset({S.VERIFYING.value, S.SWAP_REFUSED.value})
IN_FLIGHT = PRE_PROMOTION | BAKING | ROLLBACK_REFUSED
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


def upload_was_accepted_before(ctx: Ctx) -> bool:
    """The same object version was accepted already (S3 delivers at least once, sometimes much later).
    Uploading the same build again makes a new object version, so a new label: that one deploys."""
    assert isinstance(ctx.event, ArtifactUploaded)
    return ctx.event.artifact.label in ctx.state.accepted_uploads


def newer_upload_than(state: AppState, artifact: Artifact) -> ArtifactRef | None:
    """The upload in flight, queued or last succeeded that is newer than `artifact`, if any."""
    current = state.in_flight
    candidates = [
        ArtifactRef.of(current.artifact) if current else None,
        ArtifactRef.of(state.queued) if state.queued else None,
        state.last_succeeded,
    ]
    for ref in candidates:
        if ref is not None and ref.label != artifact.label and artifact.is_older_than(ref.as_artifact()):
            return ref
    return None


def upload_is_older(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, ArtifactUploaded)
    return newer_upload_than(ctx.state, ctx.event.artifact) is not None


def app_is_paused(ctx: Ctx) -> bool:
    return ctx.state.paused


def live_color_drifted(ctx: Ctx) -> bool:
    """EB says another color holds the production CNAME than the one we believe live. (After a swap EB
    refused, the mismatch is ours, not a person's: the effect_failed rows say what happened.)"""
    if isinstance(ctx.event, EffectFailed):
        return False
    holder = ctx.holder()
    if holder is None or holder == ctx.state.live_environment:
        return False
    # EB applies SwapEnvironmentCNAMEs asynchronously ("Swapping CNAMEs ..." then "Completed swapping"),
    # both colors busy meanwhile: a swap still in progress (ours, or a person's) is judged once both are Ready.
    return all((e := ctx.env(name)) is not None and e.ready for name in ctx.state.config.environments)


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
    target = ctx.target()
    if target is not None:
        return target.ready  # EB's word beats the event's
    return isinstance(ctx.event, EnvironmentUpdated) and ctx.event.outcome in ("succeeded", "failed")


def idle_is_still_updating(ctx: Ctx) -> bool:
    """Health dips while EB rolls the new version out are normal ("Application update in progress",
    "Incorrect application version found"); the idle color is judged once EB reports it Ready."""
    target = ctx.target()
    return ctx.deployment.update_started and target is not None and not target.ready


def idle_is_healthy_on_version(ctx: Ctx) -> bool:
    """EB's own describe must agree: Ready, Green/Ok, running the deployment's version."""
    target = ctx.target()
    return (
        ctx.deployment.update_started
        and target is not None
        and target.ready
        and target.healthy
        and target.version_label == ctx.deployment.version
    )


def idle_is_unhealthy_on_version(ctx: Ctx) -> bool:
    target = ctx.target()
    if not ctx.deployment.update_started or target is None:
        return False
    if isinstance(ctx.event, HealthChanged) and ctx.event.health not in UNHEALTHY and not target.unhealthy:
        return False
    return target.ready and target.version_label == ctx.deployment.version and target.unhealthy


def health_grace_is_over(ctx: Ctx) -> bool:
    grace = timedelta(seconds=ctx.state.config.health_grace_seconds)
    since = ctx.deployment.unhealthy_since
    if grace == timedelta(0):
        return True
    return since is not None and ctx.now - since >= grace


def idle_unhealthy_past_grace(ctx: Ctx) -> bool:
    return idle_is_unhealthy_on_version(ctx) and health_grace_is_over(ctx)


def idle_unhealthy_within_grace(ctx: Ctx) -> bool:
    return idle_is_unhealthy_on_version(ctx) and ctx.deployment.unhealthy_since is None


def idle_recovered_within_grace(ctx: Ctx) -> bool:
    return ctx.deployment.unhealthy_since is not None and idle_is_healthy_on_version(ctx)


def is_managed_update(ctx: Ctx) -> bool:
    return isinstance(ctx.event, EnvironmentUpdated) and ctx.event.outcome == "managed"


def update_failed(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, EnvironmentUpdated)
    target = ctx.target()
    on_version = target is not None and target.version_label == ctx.deployment.version and target.healthy
    still_updating = target is not None and not target.ready  # then the report is about another update
    return ctx.deployment.update_started and ctx.event.outcome == "failed" and not on_version and not still_updating


def update_kept_old_version(ctx: Ctx) -> bool:
    """EB said "update completed" but the color still runs another version: the update failed."""
    assert isinstance(ctx.event, EnvironmentUpdated)
    target = ctx.target()
    return (
        ctx.event.outcome == "succeeded"
        and ctx.deployment.update_started
        and target is not None
        and target.ready
        and target.version_label != ctx.deployment.version
    )


def update_observed_failed(ctx: Ctx) -> bool:
    """A lost "update failed" event: EB is Ready again but still on another version."""
    target = ctx.target()
    return (
        ctx.deployment.update_started
        and target is not None
        and target.ready
        and target.version_label != ctx.deployment.version
        and ctx.now - ctx.deployment.state_since > UPDATE_FAILED_GRACE
    )


def live_reports_unhealthy(ctx: Ctx) -> bool:
    """Health dips while EB updates the live color (a managed platform update) are normal (see
    docs/aws-events.md 1.4): the promoted color is judged only while EB reports it Ready."""
    assert isinstance(ctx.event, HealthChanged)
    target = ctx.target()
    return ctx.event.health in UNHEALTHY and (target is None or (target.ready and not target.healthy))


def live_observed_unhealthy(ctx: Ctx) -> bool:
    target = ctx.target()
    return target is not None and target.ready and target.unhealthy


def alarm_is_not_firing(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, AlarmChanged)
    return ctx.event.state != "ALARM"


def alarm_is_not_ours(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, AlarmChanged)
    return ctx.event.alarm not in ctx.state.config.all_alarms()


def alarm_watches_the_other_color(ctx: Ctx) -> bool:
    """A per-color alarm of the color this deployment does not deploy to: noted, never acted on."""
    assert isinstance(ctx.event, AlarmChanged)
    return ctx.event.alarm not in ctx.state.config.alarms_for(judged_color(ctx))


def judged_color(ctx: Ctx) -> str | None:
    """The color whose alarms judge now: the in-flight deployment's target, else the last one's."""
    current = ctx.state.deployment
    return current.target_environment if current is not None else None


def alarm_was_acknowledged(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, AlarmChanged)
    return f"{ctx.event.alarm}@{ctx.event.at.isoformat()}" in ctx.deployment.acknowledged_alarms


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


def previous_color_still_runs_previous_version(ctx: Ctx) -> bool:
    current = ctx.state.deployment
    if current is None or current.previous_version is None:
        return False
    previous = ctx.env(current.previous_environment)
    return (
        previous is not None
        and previous.ready
        and previous.healthy
        and previous.version_label == current.previous_version
    )


def alarm_fired_during_the_bake(ctx: Ctx) -> bool:
    """A late event: the alarm's own timestamp is inside the bake that already ended."""
    assert isinstance(ctx.event, AlarmChanged)
    current = ctx.state.deployment
    if current is None or current.state != S.SUCCEEDED or current.promoted_at is None or current.finished_at is None:
        return False
    return current.promoted_at <= ctx.event.at + STALE_TOLERANCE and ctx.event.at <= current.finished_at


def late_alarm_and_previous_is_healthy(ctx: Ctx) -> bool:
    return (
        alarm_fired_during_the_bake(ctx)
        and ctx.state.live_environment == ctx.deployment.target_environment
        and previous_color_still_runs_previous_version(ctx)
    )


def rollback_in_window_possible(ctx: Ctx) -> bool:
    return within_rollback_window(ctx) and (ctx.observed is None or previous_color_still_runs_previous_version(ctx))


@dataclass(frozen=True)
class AlarmVerdict:
    """The app's alarms as CloudWatch reports them now, split by when they started firing."""

    new: tuple[str, ...] = ()  # firing since this deployment started: act on them
    old: tuple[str, ...] = ()  # firing since before it: they gate, they do not abort
    old_keys: tuple[str, ...] = ()
    unreadable: str | None = None

    @property
    def clear(self) -> bool:
        return not self.new and not self.old and self.unreadable is None


def alarm_verdict(ctx: Ctx) -> AlarmVerdict:
    names = ctx.state.config.alarms_for(judged_color(ctx))
    if not names:
        return AlarmVerdict()
    observed = ctx.observed
    if observed is None or not observed.alarms_read:
        return AlarmVerdict(unreadable="the app's alarms were not read")
    if observed.alarms_error:
        return AlarmVerdict(unreadable=f"the app's alarms cannot be read: {observed.alarms_error}")
    current = ctx.state.deployment
    started = current.started_at if current else None
    acknowledged = current.acknowledged_alarms if current else ()
    by_name = {a.name: a for a in observed.alarms}
    new: list[str] = []
    old: list[str] = []
    old_keys: list[str] = []
    missing = [name for name in names if name not in by_name]
    if missing:
        return AlarmVerdict(unreadable=f"alarm {', '.join(missing)} does not exist or cannot be read")
    for name in names:
        alarm = by_name[name]
        if alarm.state != "ALARM":
            continue
        key = f"{name}@{alarm.since.isoformat() if alarm.since else ''}"
        if key in acknowledged:
            continue
        # CloudWatch's transition time has millisecond precision: no tolerance needed (unlike events).
        if started is not None and (alarm.since is None or alarm.since >= started):
            new.append(name)
        else:
            old.append(name)
            old_keys.append(key)
    return AlarmVerdict(tuple(new), tuple(old), tuple(old_keys))


def an_alarm_fired_during_deployment(ctx: Ctx) -> bool:
    return bool(alarm_verdict(ctx).new)


def alarms_are_clear(ctx: Ctx) -> bool:
    return alarm_verdict(ctx).clear


def alarms_hold(ctx: Ctx) -> bool:
    return not alarm_verdict(ctx).clear


def bake_is_over(ctx: Ctx) -> bool:
    bake_until = ctx.deployment.bake_until
    return not ctx.state.paused and bake_until is not None and ctx.now >= bake_until


def bake_is_over_and_alarms_clear(ctx: Ctx) -> bool:
    return bake_is_over(ctx) and alarms_are_clear(ctx) and handoff_is_done(ctx)


def handoff_is_done(ctx: Ctx) -> bool:
    """A polling bot's promotion is verified by the new color holding the consumer lease."""
    if not ctx.state.config.consumer_lease:
        return True
    observed = ctx.observed
    return observed is not None and observed.lease_read and observed.lease_holder == ctx.deployment.target_environment


def handoff_was_missed(ctx: Ctx) -> bool:
    promoted = ctx.deployment.promoted_at
    if not ctx.state.config.consumer_lease or promoted is None or handoff_is_done(ctx):
        return False
    observed = ctx.observed
    timeout = timedelta(seconds=ctx.state.config.handoff_timeout_seconds)
    return observed is not None and observed.lease_read and ctx.now - promoted >= timeout


def deploy_timed_out(ctx: Ctx) -> bool:
    if ctx.state.paused:
        return False
    limit = timedelta(seconds=ctx.state.config.deploy_timeout_seconds + ctx.deployment.paused_seconds)
    return ctx.now - ctx.deployment.started_at > limit


def verify_timed_out(ctx: Ctx) -> bool:
    """From VERIFYING's start; for a refused swap, from the first refusal (each retry re-enters the state)."""
    if ctx.state.paused:
        return False
    config = ctx.state.config
    awaiting_approval = ctx.deployment.state == S.VERIFYING and not config.auto_promote
    limit = timedelta(seconds=config.approval_timeout_seconds if awaiting_approval else config.verify_timeout_seconds)
    since = ctx.deployment.refused_since if ctx.deployment.state == S.SWAP_REFUSED else None
    return ctx.now - (since or ctx.deployment.state_since) > limit


def idle_is_ready_and_healthy_now(ctx: Ctx) -> bool:
    target = ctx.target()
    return target is not None and target.ready and target.healthy and target.version_label == ctx.deployment.version


def both_colors_ready(ctx: Ctx) -> bool:
    current = ctx.deployment
    return all(
        (observation := ctx.env(name)) is not None and observation.ready
        for name in (current.target_environment, current.previous_environment)
    )


def promotion_is_due(ctx: Ctx) -> bool:
    promote_at = ctx.deployment.promote_at
    return (
        ctx.state.config.auto_promote
        and not ctx.state.paused
        and promote_at is not None
        and ctx.now >= promote_at
        and idle_is_ready_and_healthy_now(ctx)
    )


def promotion_is_due_and_alarms_clear(ctx: Ctx) -> bool:
    return promotion_is_due(ctx) and alarms_are_clear(ctx)


def refused_swap_can_be_retried(ctx: Ctx) -> bool:
    """Only a refusal EB may lift by itself (a color not Ready); any other waits for a person or the timeout."""
    return (
        ctx.deployment.refusal_retryable
        and not ctx.state.paused
        and both_colors_ready(ctx)
        and idle_is_ready_and_healthy_now(ctx)
        and alarms_are_clear(ctx)
    )


def refused_rollback_can_be_retried(ctx: Ctx) -> bool:
    return both_colors_ready(ctx)


def refused_rollback_is_overdue(ctx: Ctx) -> bool:
    since = ctx.deployment.refused_since or ctx.deployment.state_since
    return not ctx.deployment.escalated and ctx.now - since >= ESCALATE_REFUSED_ROLLBACK


def queued_artifact_can_start(ctx: Ctx) -> bool:
    """A queued build waits while paused and through the rollback window of the last success."""
    return ctx.state.queued is not None and not ctx.state.paused and not within_rollback_window(ctx)


def deployment_id_mismatch(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, OverrideIssued)
    wanted = ctx.event.deployment_id
    current = ctx.state.deployment
    return wanted is not None and (current is None or current.id != wanted)


def operator_may_promote(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, OverrideIssued)
    return idle_is_ready_and_healthy_now(ctx) and (ctx.event.force or alarms_are_clear(ctx))


def idle_not_ready_for_promotion(ctx: Ctx) -> bool:
    return not idle_is_ready_and_healthy_now(ctx)


def operator_may_finish_bake(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, OverrideIssued)
    return ctx.event.force or not alarm_verdict(ctx).new


def last_deployment_succeeded_and_previous_is_healthy(ctx: Ctx) -> bool:
    current = ctx.state.deployment
    if current is None or current.state != S.SUCCEEDED or current.previous_version is None:
        return False
    if ctx.state.live_environment != current.target_environment:
        return False
    return previous_color_still_runs_previous_version(ctx)


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


def swap_did_not_happen(ctx: Ctx, wanted: str) -> bool:
    """EB's word: the color the refused swap was for does not hold the production CNAME (if EB applied
    the swap after all, or a late copy of the failure arrives, nothing was refused)."""
    holder = ctx.holder()
    return holder is None or holder != wanted


def promotion_swap_was_refused(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, EffectFailed)
    target = ctx.deployment.target_environment
    return ctx.event.effect == "make_live" and ctx.event.environment == target and swap_did_not_happen(ctx, target)


def rollback_swap_was_refused(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, EffectFailed)
    current = ctx.state.deployment
    return (
        ctx.event.effect == "make_live"
        and current is not None
        and current.state == S.ROLLED_BACK
        and ctx.event.environment == current.previous_environment
        and swap_did_not_happen(ctx, current.previous_environment)
    )


def retried_swap_was_refused(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, EffectFailed)
    return ctx.event.effect == "make_live"


# ====================================================================== steps (what a row does)


def start_deployment(ctx: Ctx, artifact_reason: str, artifact: Artifact | None = None) -> None:
    """Deploy an artifact (given, the event's, or the queued one) to the idle color EB reports."""
    if artifact is None:
        artifact = ctx.event.artifact if isinstance(ctx.event, ArtifactUploaded) else ctx.state.queued
    assert artifact is not None
    state = ctx.state
    seq = state.deployment_seq + 1
    idle = state.idle_environment
    deployment = Deployment(
        id=f"{state.app}-{seq}",
        artifact=artifact,
        state=S.DEPLOYING,
        target_environment=idle,
        previous_environment=state.live_environment,
        previous_version=state.last_good_version,
        started_at=ctx.now,
        state_since=ctx.now,
        reason=artifact_reason,
    )
    keep_queued = state.queued if state.queued is not None and state.queued.label != artifact.label else None
    ctx.update(deployment_seq=seq, queued=keep_queued)
    # EB takes one update at a time and refuses one unless the color is Ready: wait for it.
    observed_idle = ctx.env(idle)
    busy = state.unsettled_environment == idle or (observed_idle is not None and not observed_idle.ready)
    held = None
    if observed_idle is not None and not observed_idle.ready:
        held = f"EB reports {idle} {observed_idle.status}; the update starts when it is Ready"
    deployment = deployment.model_copy(
        update={"update_started": not busy, "update_started_at": None if busy else ctx.now, "held": held}
    )
    ctx.update(deployment=deployment)
    reason = f"{artifact_reason} ({held})" if held else artifact_reason
    ctx.notes.append(Note(None, S.DEPLOYING.value, reason, deployment, len(ctx.effects), state.live_environment))
    ctx.effects.append(CreateVersion(application_name=state.config.application_name, artifact=artifact))
    if not busy:
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
    if ctx.state.paused:
        why = "paused"
    elif ctx.state.in_flight is not None:
        why = f"a deployment is {ctx.deployment.state.value}"
    else:
        why = "the last deployment's rollback window is open"
    extra = f", replacing queued {replaced.key}" if replaced else ""
    ctx.note(f"artifact {ctx.event.artifact.key} queued: {why}{extra}")


def skip_older_upload(ctx: Ctx) -> None:
    """Not a step: `_ignore(..., notify=True)` uses the reason below for its notification."""


def older_upload_reason(ctx: Ctx) -> str:
    assert isinstance(ctx.event, ArtifactUploaded)
    newer = newer_upload_than(ctx.state, ctx.event.artifact)
    assert newer is not None
    return (
        f"artifact {ctx.event.artifact.key} ignored: it was uploaded before {newer.key} "
        f"({newer.label}), which is in flight, queued or already live; upload it again to deploy it"
    )


def correct_live_color(ctx: Ctx) -> None:
    """A console swap, `eb swap`, or a swap we did not record: take EB's word for the live color."""
    holder = ctx.holder()
    assert holder is not None
    believed = ctx.state.live_environment
    observation = ctx.env(holder)
    version = observation.version_label if observation else None
    ctx.update(live_environment=holder, last_good_version=version)
    hand_over(ctx, holder)  # the consumer lease follows traffic, whoever moved it
    ctx.note(
        f"reconciled: EB reports the production CNAME on {holder} (running {version}), not {believed}; "
        f"someone swapped outside bluegreen, so {ctx.state.idle_environment} is now the idle color"
    )


def abort_production_moved(ctx: Ctx) -> None:
    """Someone moved production onto the color this deployment updates. If that color already runs the
    new version (Ready), it was a promotion by hand: bake it, alarms armed. Otherwise stop touching it."""
    holder = ctx.holder()
    assert holder is not None
    observation = ctx.env(holder)
    version = observation.version_label if observation else None
    current = ctx.deployment
    if observation is not None and observation.ready and version == current.version:
        ctx.update(live_environment=holder)
        hand_over(ctx, holder)
        ctx.move(
            S.BAKING,
            f"reconciled: EB reports the production CNAME on {holder}, promoted outside bluegreen; "
            f"baking it with the app's alarms armed",
            bake_until=ctx.now + timedelta(seconds=ctx.state.config.bake_seconds),
            promoted_at=ctx.now,
        )
        return
    ctx.update(live_environment=holder, last_good_version=version)
    hand_over(ctx, holder)
    abort(
        ctx,
        f"reconciled: EB reports the production CNAME on {holder} (running {version}), moved outside bluegreen "
        f"while it was being deployed to; deployment stopped",
        start_next=False,
    )


def record_outside_rollback(ctx: Ctx) -> None:
    """Traffic is back on the previous color although we did not move it (a console swap back)."""
    holder = ctx.holder()
    assert holder is not None
    observation = ctx.env(holder)
    ctx.update(live_environment=holder, last_good_version=observation.version_label if observation else None)
    hand_over(ctx, holder)
    ctx.move(
        S.ROLLED_BACK,
        f"reconciled: EB reports the production CNAME back on {holder}; traffic was moved outside bluegreen",
    )


def start_waiting_update(ctx: Ctx) -> None:
    ctx.update(
        deployment=ctx.deployment.model_copy(
            update={"update_started": True, "update_started_at": ctx.now, "state_since": ctx.now, "held": None}
        ),
        unsettled_environment=None,
    )
    ctx.effects.append(update_idle(ctx))
    ctx.note(f"{ctx.deployment.target_environment} is Ready; deploying the new version now")


def verify_then_maybe_promote(ctx: Ctx) -> None:
    config = ctx.state.config
    delay = timedelta(seconds=config.promote_delay_seconds)
    ctx.move(
        S.VERIFYING,
        "the idle color is Ready and healthy on the new version",
        promote_at=ctx.now + delay,
        unhealthy_since=None,
    )
    if not config.auto_promote:
        deadline = ctx.now + timedelta(seconds=config.approval_timeout_seconds)
        ctx.hold(
            f"awaiting approval until {deadline.isoformat()} (then it aborts): "
            f"`bluegreen approve {ctx.state.app}` lets it through"
        )
        return
    if ctx.state.paused or config.promote_delay_seconds != 0:
        return
    verdict = alarm_verdict(ctx)
    if verdict.clear:
        promote(ctx, "auto-promotion: swapping the production CNAME to the verified color")
    else:
        hold_for_alarms(ctx)


def hold_for_alarms(ctx: Ctx) -> None:
    verdict = alarm_verdict(ctx)
    if verdict.unreadable:
        ctx.hold(f"promotion held: {verdict.unreadable} (fails closed)")
    elif verdict.old:
        ctx.hold(
            f"promotion held: alarm {', '.join(verdict.old)} has been in ALARM since before this deployment; "
            f"it promotes when the alarm clears, or `promote --force` for a hotfix"
        )
    else:
        ctx.hold(f"promotion held: alarm {', '.join(verdict.new)} is in ALARM")


def hold_bake_end(ctx: Ctx) -> None:
    verdict = alarm_verdict(ctx)
    if verdict.clear:
        what = f"{ctx.deployment.target_environment} does not hold the consumer lease yet"
    else:
        what = verdict.unreadable or f"alarm {', '.join(verdict.old)} is in ALARM"
    ctx.hold(f"bake time is over but {what}; the deployment succeeds once that clears")


def promote(ctx: Ctx, reason: str, acknowledged: tuple[str, ...] = ()) -> None:
    deployment = ctx.deployment
    bake = timedelta(seconds=ctx.state.config.bake_seconds)
    ctx.update(live_environment=deployment.target_environment)
    ctx.effects.append(MakeLive(environment=deployment.target_environment, other=deployment.previous_environment))
    ctx.move(
        S.BAKING,
        reason,
        bake_until=ctx.now + bake,
        promoted_at=ctx.now,
        acknowledged_alarms=(*deployment.acknowledged_alarms, *acknowledged),
    )
    hand_over(ctx, deployment.target_environment)  # after the note: the swap's news never waits on the lease


def promote_now(ctx: Ctx) -> None:
    promote(ctx, "promotion delay elapsed: swapping the production CNAME to the verified color")


def retry_refused_swap(ctx: Ctx) -> None:
    promote(ctx, "both colors are Ready again: retrying the swap EB refused")


def succeed(ctx: Ctx, reason: str) -> None:
    ctx.move(S.SUCCEEDED, reason)
    deployment = ctx.deployment
    ctx.update(last_good_version=deployment.version, last_succeeded=ArtifactRef.of(deployment.artifact))
    ctx.effects.append(
        PruneVersions(
            application_name=ctx.state.config.application_name,
            app=ctx.state.app,
            keep=ctx.state.config.version_retention,
            protect=tuple(v for v in (deployment.version, deployment.previous_version) if v),
        )
    )
    if queued_artifact_can_start(ctx):
        start_deployment(ctx, "starting the queued artifact")


def finish_bake(ctx: Ctx) -> None:
    succeed(ctx, "bake time over with no alarm")


def abort(ctx: Ctx, reason: str, *, start_next: bool = True) -> None:
    ctx.move(S.ABORTED, reason)
    if start_next and queued_artifact_can_start(ctx):
        start_deployment(ctx, "starting the queued artifact")


def roll_back(ctx: Ctx, reason: str) -> None:
    deployment = ctx.deployment
    ctx.update(live_environment=deployment.previous_environment, last_good_version=deployment.previous_version)
    ctx.effects.append(MakeLive(environment=deployment.previous_environment, other=deployment.target_environment))
    ctx.move(S.ROLLED_BACK, reason)
    hand_over(ctx, deployment.previous_environment)


def hand_over(ctx: Ctx, environment: str) -> None:
    """Polling bots: the consumer lease follows traffic, after the swap (the old holder finishes its poll,
    commits its progress and releases; only then can the new color acquire it)."""
    if ctx.state.config.consumer_lease:
        ctx.effects.append(HandOver(app=ctx.state.app, environment=environment))


def rollback_for_missed_handoff(ctx: Ctx) -> None:
    holder = ctx.observed.lease_holder if ctx.observed else None
    roll_back(
        ctx,
        f"{ctx.deployment.target_environment} did not take the consumer lease within "
        f"{ctx.state.config.handoff_timeout_seconds}s of promotion (held by {holder or 'nobody'}); "
        f"traffic and the lease returned to {ctx.deployment.previous_environment}",
    )


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


def rollback_for_late_alarm(ctx: Ctx) -> None:
    assert isinstance(ctx.event, AlarmChanged)
    roll_back(
        ctx,
        f"alarm {ctx.event.alarm} went to ALARM at {ctx.event.at.isoformat()}, during the bake (its event arrived "
        f"after the bake ended); traffic returned to {ctx.deployment.previous_environment}",
    )


def note_late_alarm_without_rollback(ctx: Ctx) -> None:
    assert isinstance(ctx.event, AlarmChanged)
    ctx.note(
        f"ACTION NEEDED: alarm {ctx.event.alarm} went to ALARM during the bake of {ctx.deployment.version}, but "
        f"{ctx.deployment.previous_environment} no longer runs {ctx.deployment.previous_version} healthily, so "
        f"bluegreen cannot roll back; deploy a fix"
    )


def rollback_for_firing_alarm(ctx: Ctx) -> None:
    names = ", ".join(alarm_verdict(ctx).new)
    roll_back(
        ctx,
        f"watchdog found alarm {names} in ALARM; traffic returned to {ctx.deployment.previous_environment}",
    )


def abort_for_firing_alarm(ctx: Ctx) -> None:
    abort(ctx, f"watchdog found alarm {', '.join(alarm_verdict(ctx).new)} in ALARM before promotion")


def rollback_unhealthy_live(ctx: Ctx) -> None:
    target = ctx.target()
    health = target.health_status or target.health if target else "unhealthy"
    roll_back(ctx, f"promoted color {ctx.deployment.target_environment} is {health}; traffic returned")


def _health_of(ctx: Ctx) -> str:
    target = ctx.target()
    if target is not None:
        return target.health_status or target.health
    return ctx.event.health if isinstance(ctx.event, HealthChanged) else "unhealthy"


def start_health_grace(ctx: Ctx) -> None:
    grace = ctx.state.config.health_grace_seconds
    ctx.update_deployment(unhealthy_since=ctx.now)
    ctx.note(
        f"{ctx.deployment.target_environment} is {_health_of(ctx)} on the new version; "
        f"the deployment aborts if it lasts {grace}s"
    )


def clear_health_grace(ctx: Ctx) -> None:
    ctx.update_deployment(unhealthy_since=None)
    ctx.note(f"{ctx.deployment.target_environment} recovered: healthy on the new version again")


def abort_unhealthy_idle(ctx: Ctx) -> None:
    grace = ctx.state.config.health_grace_seconds
    lasted = f" for {grace}s" if grace else ""
    abort(
        ctx,
        f"{ctx.deployment.target_environment} health is {_health_of(ctx)}{lasted} before promotion; traffic never moved",
    )


def abort_update_kept_old_version(ctx: Ctx) -> None:
    target = ctx.target()
    running = target.version_label if target else None
    abort(
        ctx,
        f"EB reports the update of {ctx.deployment.target_environment} complete but it still runs {running}, "
        f"not {ctx.deployment.version}: the update failed; traffic never moved",
    )


def note_managed_update(ctx: Ctx) -> None:
    """A managed platform update is EB's, not ours: deployments and swaps wait for the color to be Ready
    (a deployment waits to start; a refused swap is retried), and people hear why."""
    assert isinstance(ctx.event, EnvironmentUpdated)
    ctx.note(
        f"EB managed platform update on {ctx.event.environment} ({ctx.event.message}); "
        "deployments and swaps wait until both colors are Ready"
    )


def abort_observed_failed_update(ctx: Ctx) -> None:
    abort(ctx, "watchdog: the idle color is Ready on another version, so its update failed")


def abort_deploy_timeout(ctx: Ctx) -> None:
    abort(ctx, f"deploy timeout ({ctx.state.config.deploy_timeout_seconds}s) before the idle color was healthy")


def abort_verify_timeout(ctx: Ctx) -> None:
    config = ctx.state.config
    if ctx.deployment.state == S.VERIFYING and not config.auto_promote:
        abort(
            ctx,
            f"not approved within approval_timeout_seconds ({config.approval_timeout_seconds}s); traffic never moved",
        )
        return
    held = f" ({ctx.deployment.held})" if ctx.deployment.held else ""
    abort(ctx, f"verify timeout ({config.verify_timeout_seconds}s) without promotion{held}")


def start_queued(ctx: Ctx) -> None:
    start_deployment(ctx, "starting the queued artifact")


def note_other_color_alarm(ctx: Ctx) -> None:
    assert isinstance(ctx.event, AlarmChanged)
    ctx.note(
        f"alarm {ctx.event.alarm} is in ALARM; it watches another color than "
        f"{judged_color(ctx) or 'the one deployed to'}, so it is noted, not acted on"
    )


def note_alarm_after_success(ctx: Ctx) -> None:
    assert isinstance(ctx.event, AlarmChanged)
    ctx.note(f"alarm {ctx.event.alarm} is in ALARM after the deployment succeeded; no rollback window, notify only")


def operator_promote(ctx: Ctx) -> None:
    assert isinstance(ctx.event, OverrideIssued)
    verdict = alarm_verdict(ctx)
    acknowledged: tuple[str, ...] = ()
    reason = f"{ctx.event.action}d by {ctx.event.actor}: {ctx.event.reason}"
    if not verdict.clear:
        firing = ", ".join((*verdict.new, *verdict.old)) or "unreadable"
        reason += f" (forced past alarm {firing}: {verdict.unreadable or 'in ALARM'})"
        acknowledged = verdict.old_keys + tuple(
            f"{a.name}@{a.since.isoformat() if a.since else ''}"
            for a in (ctx.observed.alarms if ctx.observed else ())
            if a.name in verdict.new
        )
    if ctx.deployment.state == S.DEPLOYING:
        ctx.move(S.VERIFYING, "the idle color is Ready and healthy on the new version")
    promote(ctx, reason, acknowledged)


def operator_finish_bake(ctx: Ctx) -> None:
    assert isinstance(ctx.event, OverrideIssued)
    succeed(ctx, f"bake ended early by {ctx.event.actor}: {ctx.event.reason}")


def operator_drop_queued(ctx: Ctx) -> None:
    assert ctx.state.queued is not None
    key = ctx.state.queued.key
    ctx.update(queued=None)
    ctx.note(f"queued artifact {key} dropped by abort")


def pause(ctx: Ctx) -> None:
    assert isinstance(ctx.event, OverrideIssued)
    ctx.update(paused=True, paused_at=ctx.now)
    ctx.note(f"paused by {ctx.event.actor}: {ctx.event.reason}")


def resume(ctx: Ctx) -> None:
    """Deadlines did not run while paused: move them by the time spent paused."""
    assert isinstance(ctx.event, OverrideIssued)
    current = ctx.state.in_flight
    paused = ctx.paused_for()
    if current is not None and ctx.state.paused_at is not None and current.started_at > ctx.state.paused_at:
        paused = max(ctx.now - current.started_at, timedelta(0))  # it started during the pause
    ctx.update(paused=False, paused_at=None)
    if current is not None and paused > timedelta(0):
        shifted = {
            name: value + paused
            for name in ("state_since", "promote_at", "bake_until", "refused_since", "promoted_at")
            if (value := getattr(current, name)) is not None
        }
        ctx.update_deployment(paused_seconds=current.paused_seconds + paused.total_seconds(), **shifted)
    ctx.note(f"resumed by {ctx.event.actor}: {ctx.event.reason}")
    if ctx.state.in_flight is None and queued_artifact_can_start(ctx):
        start_deployment(ctx, "resumed: starting the queued artifact")


def retry(ctx: Ctx) -> None:
    assert isinstance(ctx.event, OverrideIssued)
    reason = f"retry of {ctx.deployment.id} by {ctx.event.actor}: {ctx.event.reason}"
    start_deployment(ctx, reason, ctx.deployment.artifact)


def abort_after_failed_effect(ctx: Ctx) -> None:
    abort_for_event(ctx)


def record_refused_promotion(ctx: Ctx) -> None:
    """EB refused the promotion swap: traffic never moved. Say so, and retry when both colors are Ready."""
    assert isinstance(ctx.event, EffectFailed)
    current = ctx.deployment
    ctx.update(live_environment=current.previous_environment)
    then = (
        "retrying when both colors are Ready, until the verify timeout"
        if ctx.event.retryable
        else "EB will not accept it as things are: fix it and promote again, or it aborts at the verify timeout"
    )
    ctx.move(
        S.SWAP_REFUSED,
        f"EB refused the swap ({ctx.event.error}); traffic stays on {current.previous_environment}; {then}",
        bake_until=None,
        promoted_at=None,
        refused_since=current.refused_since or ctx.now,
        refusal_retryable=ctx.event.retryable,
    )


def record_refused_rollback(ctx: Ctx) -> None:
    """EB refused the swap back: production still runs the new build. Never report otherwise."""
    assert isinstance(ctx.event, EffectFailed)
    current = ctx.deployment
    ctx.update(live_environment=current.target_environment)
    ctx.move(
        S.ROLLBACK_REFUSED,
        f"ROLLBACK REFUSED by EB ({ctx.event.error}): traffic is still on {current.target_environment} "
        f"({current.version}); retrying every minute while both colors are Ready",
        finished_at=None,
        refused_since=current.refused_since or ctx.now,
    )


def note_swap_refused_again(ctx: Ctx) -> None:
    assert isinstance(ctx.event, EffectFailed)
    ctx.note(f"EB refused the swap again: {ctx.event.error}")


def retry_refused_rollback(ctx: Ctx) -> None:
    roll_back(
        ctx,
        f"both colors are Ready: retried the refused rollback; traffic returned to "
        f"{ctx.deployment.previous_environment}",
    )


def operator_retry_rollback(ctx: Ctx) -> None:
    assert isinstance(ctx.event, OverrideIssued)
    roll_back(
        ctx,
        f"rollback retried by {ctx.event.actor}: {ctx.event.reason}; traffic returned to "
        f"{ctx.deployment.previous_environment}",
    )


def escalate_refused_rollback(ctx: Ctx) -> None:
    current = ctx.deployment
    ctx.update_deployment(escalated=True)
    ctx.note(
        f"ESCALATION: the rollback has been refused by EB for {int(ESCALATE_REFUSED_ROLLBACK.total_seconds() // 60)} "
        f"minutes; production still runs {current.version} on {current.target_environment}. "
        f"Check both environments in the EB console, then `bluegreen rollback {ctx.state.app}`"
    )


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


def _ignore(
    name: str, on: str, source: frozenset[Phase], guard: Guard, reason: str, *, notify: Step | None = None
) -> Rule:
    rule = _row(name, on, source, guard, notify, reason=reason, outcome="ignored")
    return Rule(
        rule.name, rule.on, rule.source, rule.guard, rule.step, rule.reason, rule.outcome, notify=notify is not None
    )


def _refuse(name: str, on: str, source: frozenset[Phase], guard: Guard, reason: str) -> Rule:
    return _row(name, on, source, guard, reason=reason, outcome="refused")


RECONCILE_ROWS: tuple[Rule, ...] = (
    # -- before any other row: EB's CNAME owner against the stored live color (a console swap, `eb swap`)
    _row("reconcile_live_color", "observed", IDLE_ONLY, live_color_drifted, correct_live_color, cause="reconcile"),
    _row(
        "abort_production_moved_to_target",
        "observed",
        PRE_PROMOTION,
        live_color_drifted,
        abort_production_moved,
        cause="reconcile",
    ),
    _row(
        "record_rollback_outside",
        "observed",
        BAKING | ROLLBACK_REFUSED,
        live_color_drifted,
        record_outside_rollback,
        cause="reconcile",
    ),
)

# fmt: off
RULES: tuple[Rule, ...] = (
    *RECONCILE_ROWS,
    # -- artifact uploads (recency from the upload itself: S3's sequencer and upload time, never arrival)
    _ignore("artifact_already_known", "artifact", ANY, artifact_is_known, "this artifact version is already deploying, queued or live"),
    _ignore("artifact_redelivered", "artifact", ANY, upload_was_accepted_before, "this S3 object version was accepted before (a redelivered event); upload the build again to deploy it again"),
    _ignore("older_upload", "artifact", ANY, upload_is_older, "an older upload than one in flight, queued or live", notify=skip_older_upload),
    _row("queue_while_paused", "artifact", ANY, app_is_paused, queue_artifact),
    _row("queue_during_bake", "artifact", BAKING | ROLLBACK_REFUSED, always, queue_artifact),
    _row("queue_in_rollback_window", "artifact", IDLE_ONLY, within_rollback_window, queue_artifact),
    _row("deploy_to_idle", "artifact", IDLE_ONLY, always, deploy_to_idle),
    _row("supersede_in_flight", "artifact", PRE_PROMOTION, always, supersede_and_deploy),
    # -- EB environment health ("Health status change")
    _ignore("health_for_other_color", "health", IN_FLIGHT, event_is_for_other_color, "event for a color this deployment does not target"),
    _ignore("health_predates_deployment", "health", IN_FLIGHT, event_predates_deployment, "stale event from before this deployment"),
    _row("start_waiting_update_on_health", "health", DEPLOYING, update_is_waiting_and_environment_ready, start_waiting_update),
    _ignore("health_predates_our_update", "health", PRE_PROMOTION, event_predates_our_update, "stale: reports on an update before ours"),
    _ignore("health_while_updating", "health", PRE_PROMOTION, idle_is_still_updating, "EB is still updating the idle color; its health is judged once it is Ready on the new version"),
    _row("abort_unhealthy_idle", "health", PRE_PROMOTION, idle_unhealthy_past_grace, abort_unhealthy_idle),
    _row("start_health_grace", "health", PRE_PROMOTION, idle_unhealthy_within_grace, start_health_grace),
    _row("verify_healthy_idle", "health", DEPLOYING, idle_is_healthy_on_version, verify_then_maybe_promote),
    _row("clear_health_grace", "health", AWAITING_PROMOTION, idle_recovered_within_grace, clear_health_grace),
    _row("promote_when_due_on_health", "health", VERIFYING, promotion_is_due_and_alarms_clear, promote_now),
    _row("rollback_unhealthy_live", "health", BAKING, live_reports_unhealthy, rollback_for_event),
    # -- EB environment updates ("Elastic Beanstalk resource status change", "Managed update status change")
    _row("note_managed_update", "update", ANY, is_managed_update, note_managed_update),
    _ignore("update_for_other_color", "update", IN_FLIGHT, event_is_for_other_color, "event for a color this deployment does not target"),
    _ignore("update_predates_deployment", "update", IN_FLIGHT, event_predates_deployment, "stale event from before this deployment"),
    _row("start_waiting_update", "update", DEPLOYING, update_is_waiting_and_environment_ready, start_waiting_update),
    _ignore("update_predates_our_update", "update", DEPLOYING, event_predates_our_update, "stale: reports on an update before ours"),
    _row("abort_failed_update", "update", DEPLOYING, update_failed, abort_for_event),
    _row("abort_update_kept_old_version", "update", DEPLOYING, update_kept_old_version, abort_update_kept_old_version),
    _row("verify_updated_idle", "update", DEPLOYING, idle_is_healthy_on_version, verify_then_maybe_promote),
    # -- CloudWatch alarms (the event's own state timestamp, not its arrival, says when it fired)
    _ignore("alarm_not_firing", "alarm", ANY, alarm_is_not_firing, "alarm left ALARM; nothing to do"),
    _ignore("alarm_not_ours", "alarm", ANY, alarm_is_not_ours, "alarm is not one of this app's alarms"),
    _row("note_other_color_alarm", "alarm", ANY, alarm_watches_the_other_color, note_other_color_alarm),
    _ignore("alarm_predates_deployment", "alarm", IN_FLIGHT, event_predates_deployment, "alarm fired before this deployment started: it holds promotion, it does not abort"),
    _ignore("alarm_acknowledged", "alarm", IN_FLIGHT, alarm_was_acknowledged, "an operator promoted past this alarm transition"),
    _row("rollback_on_alarm", "alarm", BAKING, always, rollback_for_event),
    _row("abort_on_alarm", "alarm", PRE_PROMOTION, always, abort_for_event),
    _ignore("alarm_while_rollback_refused", "alarm", ROLLBACK_REFUSED, always, "the rollback is already being retried"),
    _row("rollback_in_window", "alarm", IDLE_ONLY, rollback_in_window_possible, rollback_for_event),
    _row("rollback_late_alarm", "alarm", IDLE_ONLY, late_alarm_and_previous_is_healthy, rollback_for_late_alarm),
    _row("note_late_alarm_without_rollback", "alarm", IDLE_ONLY, alarm_fired_during_the_bake, note_late_alarm_without_rollback),
    _ignore("alarm_without_deployment", "alarm", IDLE_ONLY, no_deployment_yet, "no deployment to act on"),
    _row("note_alarm_after_success", "alarm", IDLE_ONLY, last_deployment_succeeded, note_alarm_after_success),
    _ignore("alarm_after_deployment_ended", "alarm", IDLE_ONLY, always, "the last deployment already ended without success; nothing left to act on"),
    # -- the watchdog's tick, with what EB and CloudWatch report now
    _row("rollback_on_firing_alarm", "tick", BAKING, an_alarm_fired_during_deployment, rollback_for_firing_alarm, cause="reconcile"),
    _row("rollback_observed_unhealthy_live", "tick", BAKING, live_observed_unhealthy, rollback_unhealthy_live, cause="reconcile"),
    _row("rollback_handoff_missed", "tick", BAKING, handoff_was_missed, rollback_for_missed_handoff, cause="reconcile"),
    _row("finish_bake", "tick", BAKING, bake_is_over_and_alarms_clear, finish_bake, cause="timeout"),
    _row("hold_bake_end", "tick", BAKING, bake_is_over, hold_bake_end, cause="reconcile"),
    _row("retry_refused_rollback", "tick", ROLLBACK_REFUSED, refused_rollback_can_be_retried, retry_refused_rollback, cause="reconcile"),
    _row("escalate_refused_rollback", "tick", ROLLBACK_REFUSED, refused_rollback_is_overdue, escalate_refused_rollback, cause="timeout"),
    _row("abort_on_firing_alarm", "tick", PRE_PROMOTION, an_alarm_fired_during_deployment, abort_for_firing_alarm, cause="reconcile"),
    _row("start_waiting_update_on_tick", "tick", DEPLOYING, update_is_waiting_and_environment_ready, start_waiting_update, cause="reconcile"),
    _row("abort_observed_unhealthy_idle", "tick", PRE_PROMOTION, idle_unhealthy_past_grace, abort_unhealthy_idle, cause="reconcile"),
    _row("start_health_grace_on_tick", "tick", PRE_PROMOTION, idle_unhealthy_within_grace, start_health_grace, cause="reconcile"),
    _row("verify_observed_healthy_idle", "tick", DEPLOYING, idle_is_healthy_on_version, verify_then_maybe_promote, cause="reconcile"),
    _row("clear_health_grace_on_tick", "tick", AWAITING_PROMOTION, idle_recovered_within_grace, clear_health_grace, cause="reconcile"),
    _row("abort_observed_failed_update", "tick", DEPLOYING, update_observed_failed, abort_observed_failed_update, cause="reconcile"),
    _row("abort_deploy_timeout", "tick", DEPLOYING, deploy_timed_out, abort_deploy_timeout, cause="timeout"),
    _row("promote_when_due", "tick", VERIFYING, promotion_is_due_and_alarms_clear, promote_now, cause="timeout"),
    _row("abort_verify_timeout", "tick", AWAITING_PROMOTION, verify_timed_out, abort_verify_timeout, cause="timeout"),
    _row("retry_refused_swap", "tick", SWAP_REFUSED, refused_swap_can_be_retried, retry_refused_swap, cause="reconcile"),
    _row("hold_promotion_for_alarms", "tick", VERIFYING, promotion_is_due, hold_for_alarms, cause="reconcile"),
    _row("start_queued", "tick", IDLE_ONLY, queued_artifact_can_start, start_queued, cause="reconcile"),
    # -- operator overrides (approve is promote's alias)
    _refuse("override_for_other_deployment", "override", ANY, deployment_id_mismatch, "deployment_id is not the current deployment"),
    _row("operator_promote", "override:promote", PRE_PROMOTION, operator_may_promote, operator_promote),
    _refuse("promote_not_ready", "override:promote", PRE_PROMOTION, idle_not_ready_for_promotion, "the idle color is not Ready and healthy on the new version yet"),
    _refuse("promote_alarm_firing", "override:promote", PRE_PROMOTION, always, "an alarm is in ALARM or cannot be read: add force to promote a hotfix past it"),
    _ignore("already_promoted", "override:promote", BAKING, always, "already promoted and baking; use finish_bake to end the bake early"),
    _refuse("nothing_to_promote", "override:promote", IDLE_ONLY | ROLLBACK_REFUSED, always, "nothing to promote: no deployment awaiting promotion"),
    _row("operator_finish_bake", "override:finish_bake", BAKING, operator_may_finish_bake, operator_finish_bake),
    _refuse("finish_bake_alarm_firing", "override:finish_bake", BAKING, always, "an alarm fired during this bake: roll back, or add force"),
    _refuse("nothing_to_finish", "override:finish_bake", ANY, always, "nothing to finish: no deployment is baking"),
    _row("operator_rollback", "override:rollback", BAKING, always, rollback_for_event),
    _row("operator_retry_rollback", "override:rollback", ROLLBACK_REFUSED, always, operator_retry_rollback),
    _row("operator_rollback_success", "override:rollback", IDLE_ONLY, last_deployment_succeeded_and_previous_is_healthy, rollback_for_event),
    _refuse("nothing_to_roll_back", "override:rollback", ANY, always, "nothing to roll back: traffic has not moved, or the previous color no longer runs the last good version healthily"),
    _row("operator_abort", "override:abort", PRE_PROMOTION, always, abort_for_event),
    _refuse("abort_after_promotion", "override:abort", BAKING | ROLLBACK_REFUSED, always, "traffic already moved: use rollback"),
    _row("operator_drop_queued", "override:abort", IDLE_ONLY, queued_exists, operator_drop_queued),
    _refuse("nothing_to_abort", "override:abort", IDLE_ONLY, always, "nothing to abort"),
    _row("operator_pause", "override:pause", ANY, not_paused, pause),
    _refuse("already_paused", "override:pause", ANY, always, "already paused"),
    _row("operator_resume", "override:resume", ANY, app_is_paused, resume),
    _refuse("not_paused", "override:resume", ANY, always, "not paused"),
    _row("operator_retry", "override:retry", IDLE_ONLY, last_deployment_can_be_retried, retry),
    _refuse("nothing_to_retry", "override:retry", ANY, always, "nothing to retry: a deployment is in flight, or the last one did not fail"),
    # -- an effect that AWS rejected for good (a swap EB refused is never reported as done)
    _row("abort_after_failed_effect", "effect_failed", DEPLOYING, effect_was_a_deploy_step, abort_after_failed_effect, cause="effect"),
    _row("promotion_swap_refused", "effect_failed", BAKING, promotion_swap_was_refused, record_refused_promotion, cause="effect"),
    _row("rollback_swap_refused", "effect_failed", IDLE_ONLY, rollback_swap_was_refused, record_refused_rollback, cause="effect"),
    _row("swap_refused_again", "effect_failed", SWAP_REFUSED | ROLLBACK_REFUSED, retried_swap_was_refused, note_swap_refused_again, cause="effect"),
)
# fmt: on

IGNORED_NOTICE_REASONS: dict[str, Callable[[Ctx], str]] = {"older_upload": older_upload_reason}


def observation_needs(state: AppState, event: Event) -> tuple[bool, bool]:
    """Which describe calls the controller must make before deciding: (environments, alarms).

    Every event that may pick a target or move traffic observes EB first (the CNAME owner); the
    alarms are read where a rule may promote or end a bake. An irrelevant event costs no call."""
    current = state.in_flight
    phase = phase_of(state)
    has_alarms = bool(state.config.alarms_for(current.target_environment if current else None))
    may_promote = phase in PRE_PROMOTION or phase == S.BAKING.value
    if isinstance(event, ArtifactUploaded):
        return True, False
    if isinstance(event, HealthChanged | EnvironmentUpdated):
        targeted = current is not None and event.environment == current.target_environment
        return targeted, targeted and has_alarms and phase in PRE_PROMOTION
    if isinstance(event, AlarmChanged):
        last = state.deployment
        return current is not None or (last is not None and last.state == S.SUCCEEDED), False
    if isinstance(event, Tick):
        return True, has_alarms and (current is not None)
    if isinstance(event, OverrideIssued):
        environments = event.action in ("promote", "approve", "finish_bake", "rollback", "retry", "resume", "abort")
        return environments, has_alarms and event.action in ("promote", "approve", "finish_bake") and may_promote
    if isinstance(event, EffectFailed):
        return True, False
    return False, False


def _event_key(event: Event) -> str:
    if isinstance(event, OverrideIssued):
        action = "promote" if event.action == "approve" else event.action
        return f"override:{action}"
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
            actor=artifact.uploaded_by,
        )
    if isinstance(event, HealthChanged | EnvironmentUpdated):
        return Cause(type="health", id=event.event_id)
    if isinstance(event, AlarmChanged):
        return Cause(type="alarm", id=event.alarm, reason=event.reason or None)
    if isinstance(event, OverrideIssued):
        actor = event.actor if event.actor_verified else f"{event.actor} (claimed)"
        return Cause(
            type="override", id=event.action, actor=actor, reason=event.reason, actor_verified=event.actor_verified
        )
    if isinstance(event, EffectFailed):
        return Cause(type="effect", id=event.effect, reason=event.error)
    return Cause(type=rule.cause or "reconcile", id=event.event_id)


def _first_rule(ctx: Ctx, keys: tuple[str, ...]) -> Rule | None:
    phase = phase_of(ctx.state)
    for rule in RULES:
        if rule.on in keys and phase in rule.source and rule.guard(ctx):
            return rule
    return None


def decide(state: AppState, event: Event, now: datetime) -> Decision:
    """Return the new state and the effects for one event. Pure: same input, same output."""
    if event.event_id in state.seen_events:
        return Decision("ignored", "duplicate_event", "duplicate delivery of an accepted event", state)
    key = _event_key(event)
    cause_type: CauseType = "override" if key.startswith("override") else "reconcile"
    ctx = Ctx(event=event, now=now, state=state, cause_type=cause_type)
    applied: list[Rule] = []
    reconcile = _first_rule(ctx, ("observed",))
    if reconcile is not None and reconcile.step is not None:
        reconcile.step(ctx)
        applied.append(reconcile)
    phase = phase_of(ctx.state)
    rule = _first_rule(ctx, (key, event.kind))
    if rule is not None and rule.outcome == "accepted" and rule.step is not None:
        rule.step(ctx)
        if not applied and not ctx.notes and not ctx.effects and ctx.state == state:
            return Decision("ignored", rule.name, "nothing new: already recorded", state)
        applied.append(rule)
    elif applied:
        pass  # the reconcile stands on its own; what the event asked for is ignored or refused below
    elif rule is not None:
        return _unaccepted(state, ctx, rule, now)
    elif key.startswith("override"):
        return Decision("refused", "no_rule", f"{key.split(':')[-1]} makes no sense while {phase}", state)
    else:
        return Decision("ignored", "no_rule", f"nothing to do for a {event.kind} event while {phase}", state)
    if rule is not None and rule.outcome == "refused" and applied:
        ctx.note(f"{key.split(':')[-1]} refused: {rule.reason}")
    return _accept(state, ctx, applied, now)


def _unaccepted(state: AppState, ctx: Ctx, rule: Rule, now: datetime) -> Decision:
    if not rule.notify:
        return Decision(rule.outcome, rule.name, rule.reason, state)
    reason = IGNORED_NOTICE_REASONS[rule.name](ctx) if rule.name in IGNORED_NOTICE_REASONS else rule.reason
    current = state.deployment
    value = current.state.value if current else None
    notification = Notification(
        app=state.app,
        deployment_id=current.id if current else None,
        version=current.version if current else None,
        from_state=value,
        to_state=value,
        live_environment=state.live_environment,
        idle_environment=state.idle_environment,
        reason=reason,
        cause=_cause(ctx.event, rule),
        at=now.isoformat(),
        transition_id=f"{state.app}:{rule.name}:{ctx.event.event_id}",
    )
    return Decision(rule.outcome, rule.name, reason, state, (), (notification,), (0,))


def _accept(before: AppState, ctx: Ctx, rules: list[Rule], now: datetime) -> Decision:
    revision = before.revision + 1
    seen = (*before.seen_events, ctx.event.event_id)[-SEEN_EVENTS_KEPT:]
    changes: dict[str, object] = {"revision": revision, "seen_events": seen}
    if isinstance(ctx.event, ArtifactUploaded) and ctx.event.artifact.label not in before.accepted_uploads:
        changes["accepted_uploads"] = (*before.accepted_uploads, ctx.event.artifact.label)[-UPLOADS_KEPT:]
    state = ctx.state.model_copy(update=changes)
    cause = _cause(ctx.event, rules[-1])
    at = now.isoformat()
    notifications = tuple(
        Notification(
            app=state.app,
            deployment_id=note.deployment.id if note.deployment else None,
            version=note.deployment.version if note.deployment else None,
            from_state=note.from_state,
            to_state=note.to_state,
            live_environment=note.live or state.live_environment,
            idle_environment=state.config.other(note.live or state.live_environment),
            reason=note.reason,
            cause=cause,
            at=at,
            transition_id=f"{state.app}:{revision}:{index}",
        )
        for index, note in enumerate(ctx.notes)
    )
    summary = "; ".join(n.reason for n in notifications) or rules[-1].name
    name = "+".join(rule.name for rule in rules)
    gates = tuple(note.gate for note in ctx.notes)
    return Decision("accepted", name, summary, state, tuple(ctx.effects), notifications, gates)


def describe_rules() -> list[dict[str, str]]:
    """The table as rows, for docs and `bluegreen rules`."""
    rows = []
    for rule in RULES:
        action = rule.step.__name__ if rule.step and rule.outcome == "accepted" else rule.outcome
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
