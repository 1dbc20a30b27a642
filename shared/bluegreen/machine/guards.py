"""Guards: what a row asks of the event, the state and what AWS reports. Each reads as a sentence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bluegreen.machine.core import (
    ESCALATE_REFUSED_ROLLBACK,
    STALE_TOLERANCE,
    UPDATE_FAILED_GRACE,
    Ctx,
    S,
)
from bluegreen.models import (
    UNHEALTHY,
    AlarmChanged,
    AppState,
    Artifact,
    ArtifactRef,
    ArtifactUploaded,
    CheckReported,
    CheckRun,
    EffectFailed,
    EnvironmentUpdated,
    HealthChanged,
    OverrideIssued,
)

# ====================================================================== guards (read as sentences)

TRAFFIC_EFFECTS = ("make_live", "set_weights")  # the effects that move production traffic


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


def is_draining(ctx: Ctx, environment: str) -> bool:
    """The color traffic left at the last swap is left untouched until its drain ends."""
    drain = ctx.state.drain
    return drain is not None and drain.environment == environment and ctx.now < drain.until


def update_is_waiting_and_environment_ready(ctx: Ctx) -> bool:
    if ctx.deployment.update_started:
        return False
    target = ctx.target()
    if is_draining(ctx, ctx.deployment.target_environment) and (
        target is None or target.version_label != ctx.deployment.version
    ):
        return False
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
    standby = ctx.state.standby
    on_standby = standby is not None and standby.environment == current.previous_environment
    return (
        previous is not None
        and previous.ready
        and (previous.healthy or on_standby)  # a color on standby (maybe no instances) is warmed up first
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
    new_keys: tuple[str, ...] = ()  # `name@since` of those (a fix rolled forward acknowledges them)
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
    new_keys: list[str] = []
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
        if key in acknowledged or _acknowledged(name, alarm.since, acknowledged):
            continue
        # CloudWatch's transition time has millisecond precision: no tolerance needed (unlike events).
        if started is not None and (alarm.since is None or alarm.since >= started):
            new.append(name)
            new_keys.append(key)
        else:
            old.append(name)
            old_keys.append(key)
    return AlarmVerdict(tuple(new), tuple(new_keys), tuple(old), tuple(old_keys))


def _acknowledged(name: str, since: datetime | None, keys: tuple[str, ...]) -> bool:
    """The same transition, acknowledged through its event: the event's state timestamp and DescribeAlarms'
    StateTransitionedTimestamp may differ in precision, never by seconds (an alarm period is 10 s or more)."""
    if since is None:
        return False
    for key in keys:
        acked_name, _, when = key.rpartition("@")
        if acked_name != name or not when:
            continue
        try:
            at = datetime.fromisoformat(when)
        except ValueError:
            continue
        if at.tzinfo is not None and since.tzinfo is not None and abs(at - since) <= STALE_TOLERANCE:
            return True
    return False


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
    return bake_is_over(ctx) and alarms_are_clear(ctx) and handoff_is_done(ctx) and checks_passed(ctx, "post")


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
    awaiting_approval = ctx.deployment.state == S.VERIFYING and not ctx.auto_promote()
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
        ctx.auto_promote()
        and not ctx.state.paused
        and promote_at is not None
        and ctx.now >= promote_at
        and idle_is_ready_and_healthy_now(ctx)
        and checks_passed(ctx, "pre")
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
    forced = ctx.event.force
    return (
        idle_is_ready_and_healthy_now(ctx)
        and (forced or alarms_are_clear(ctx))
        and (forced or checks_passed(ctx, "pre"))
    )


def pre_checks_not_passed(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, OverrideIssued)
    return not ctx.event.force and not checks_passed(ctx, "pre")


def idle_not_ready_for_promotion(ctx: Ctx) -> bool:
    return not idle_is_ready_and_healthy_now(ctx)


def operator_may_finish_bake(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, OverrideIssued)
    return ctx.event.force or not alarm_verdict(ctx).new


def release_forbids_rollback(ctx: Ctx) -> bool:
    """The release's manifest says `rollback: forbid` and the operator did not add force."""
    assert isinstance(ctx.event, OverrideIssued)
    current = ctx.state.deployment
    if current is None or ctx.event.force or current.state not in (S.BAKING, S.SUCCEEDED, S.FIX_FORWARD):
        return False
    return ctx.policy().rollback == "forbid"


def fix_forward_and_previous_is_healthy(ctx: Ctx) -> bool:
    """An operator may still roll back a release that forbids it (with force), while the previous color
    runs the previous version healthily."""
    current = ctx.state.deployment
    return (
        current is not None
        and current.state == S.FIX_FORWARD
        and ctx.state.live_environment == current.target_environment
        and previous_color_still_runs_previous_version(ctx)
    )


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
    """Creating the version, updating the color, or restoring its capacity first (it was on standby)."""
    assert isinstance(ctx.event, EffectFailed)
    return ctx.event.effect in ("create_version", "update_environment", "set_capacity")


def swap_did_not_happen(ctx: Ctx, wanted: str) -> bool:
    """EB's word: the color the refused swap was for does not hold the production CNAME (if EB applied
    the swap after all, or a late copy of the failure arrives, nothing was refused)."""
    holder = ctx.holder()
    return holder is None or holder != wanted


def promotion_swap_was_refused(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, EffectFailed)
    target = ctx.deployment.target_environment
    return ctx.event.effect in TRAFFIC_EFFECTS and ctx.event.environment == target and swap_did_not_happen(ctx, target)


def rollback_swap_was_refused(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, EffectFailed)
    current = ctx.state.deployment
    return (
        ctx.event.effect in TRAFFIC_EFFECTS
        and current is not None
        and current.state == S.ROLLED_BACK
        and ctx.event.environment == current.previous_environment
        and swap_did_not_happen(ctx, current.previous_environment)
    )


def retried_swap_was_refused(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, EffectFailed)
    return ctx.event.effect in TRAFFIC_EFFECTS


# ---------------------------------------------------------------------- release gates (checks)


def checks_passed(ctx: Ctx, phase: str) -> bool:
    """Every check of `phase` the deployment's policy names has run and passed."""
    current = ctx.deployment
    wanted = [check.name for check in ctx.policy().checks.phase("pre" if phase == "pre" else "post")]
    runs = {run.name: run for run in current.checks_of(phase)}
    return all(name in runs and runs[name].passed is True for name in wanted)


def _reported(ctx: Ctx) -> CheckRun | None:
    assert isinstance(ctx.event, CheckReported)
    current = ctx.state.in_flight
    return current.check(ctx.event.check) if current is not None else None


def check_is_for_another_deployment(ctx: Ctx) -> bool:
    """A report for a deployment that is not the one in flight (an earlier one, or none)."""
    assert isinstance(ctx.event, CheckReported)
    current = ctx.state.in_flight
    return current is None or current.id != ctx.event.deployment_id or _reported(ctx) is None


def check_was_reported_already(ctx: Ctx) -> bool:
    run = _reported(ctx)
    return run is not None and not run.waiting


def check_report_is_late(ctx: Ctx) -> bool:
    """After the check's deadline (deadlines do not run while paused: resume moves them)."""
    run = _reported(ctx)
    return run is not None and ctx.event.at > run.deadline + ctx.paused_for()


def check_phase_is_over(ctx: Ctx) -> bool:
    """Pre-promotion checks report before the swap; post-promotion checks while baking."""
    run = _reported(ctx)
    if run is None:
        return False
    if run.phase == "pre":
        return ctx.deployment.state not in (S.DEPLOYING, S.VERIFYING, S.SWAP_REFUSED)
    return ctx.deployment.state != S.BAKING


def check_failed(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, CheckReported)
    return not ctx.event.passed


def overdue_check(ctx: Ctx) -> CheckRun | None:
    """A check of the deployment's current phase still waiting for its result past its deadline."""
    if ctx.state.paused:
        return None
    phase = "post" if ctx.deployment.state == S.BAKING else "pre"
    return next((r for r in ctx.deployment.checks_of(phase) if r.waiting and ctx.now > r.deadline), None)


def a_check_is_overdue(ctx: Ctx) -> bool:
    return overdue_check(ctx) is not None


# ---------------------------------------------------------------------- traffic: weighted steps, standby


def weight_step_is_due(ctx: Ctx) -> bool:
    """Traffic "alb": the current step has lasted its time with no alarm and the post checks passed."""
    current = ctx.deployment
    alb = ctx.state.config.alb
    if alb is None or current.weight is None or current.weight >= 100 or current.step_since is None:
        return False
    due = ctx.now - current.step_since >= timedelta(seconds=alb.step_seconds)
    return due and not ctx.state.paused and alarms_are_clear(ctx) and checks_passed(ctx, "post")


def standby_is_due(ctx: Ctx) -> bool:
    """After the bake, the rollback window and the drain, the idle color may go to standby (once)."""
    config = ctx.state.config
    due = ctx.state.standby_due
    if config.standby is None or due is None or ctx.now < due or ctx.state.paused or ctx.state.queued:
        return False
    idle = ctx.env(ctx.state.idle_environment)
    observed = ctx.observed
    return (
        idle is not None and idle.ready and observed is not None and ctx.state.idle_environment in observed.capacities
    )


def previous_color_is_warm_again(ctx: Ctx) -> bool:
    """A rollback to a color that was on standby: its capacity is back, EB reports it Ready and healthy."""
    current = ctx.deployment
    previous = ctx.env(current.previous_environment)
    # The restore is a configuration update: EB reports the color Updating until it is done.
    return both_colors_ready(ctx) and previous is not None and previous.healthy


def capacity_change_was_refused(ctx: Ctx) -> bool:
    assert isinstance(ctx.event, EffectFailed)
    return ctx.event.effect == "set_capacity"


def weighted_step_was_refused(ctx: Ctx) -> bool:
    """Traffic "alb": the load balancer refused a step while the new color serves part of production (ELB's
    word; unknown counts as serving): that is no refused promotion, traffic must go back."""
    assert isinstance(ctx.event, EffectFailed)
    if ctx.event.effect != "set_weights" or ctx.deployment.weight is None:
        return False
    weights = ctx.observed.weights if ctx.observed is not None else None
    return weights is None or weights.get(ctx.deployment.target_environment, 0) > 0


def fixing_forward(ctx: Ctx) -> bool:
    """The last deployment's release forbids rollback and an alarm fired: its fix has not succeeded yet."""
    current = ctx.state.deployment
    return current is not None and current.state == S.FIX_FORWARD
