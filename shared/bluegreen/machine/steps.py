"""Steps: what a row does to the draft state, its effects and its notes. Each is named for its decision."""

from __future__ import annotations

from datetime import timedelta

from bluegreen.errors import BadArtifact
from bluegreen.gates import HttpCheck
from bluegreen.machine.core import (
    ESCALATE_REFUSED_ROLLBACK,
    Ctx,
    Note,
    S,
)
from bluegreen.machine.guards import (
    alarm_verdict,
    checks_passed,
    is_draining,
    judged_color,
    newer_upload_than,
    overdue_check,
    queued_artifact_can_start,
)
from bluegreen.manifest import Policy, tighten
from bluegreen.models import (
    AlarmChanged,
    Artifact,
    ArtifactRef,
    ArtifactUploaded,
    CheckReported,
    CheckRun,
    CreateVersion,
    Deployment,
    EffectFailed,
    EnvironmentUpdated,
    HandOver,
    HealthChanged,
    InvokeHook,
    MakeLive,
    OverrideIssued,
    PruneVersions,
    RunCheck,
    SetCapacity,
    SetWeights,
    UpdateEnvironment,
)
from bluegreen.models import Drain as DrainRecord
from bluegreen.models import Standby as StandbyRecord

# An HTTP check runs in the stack's check function, queued asynchronously: its result may take this long
# beyond the check's own worst case (the queue, a cold start) before the check counts as failed.
CHECK_QUEUE_MARGIN = timedelta(seconds=120)

# ====================================================================== steps (what a row does)


def start_deployment(ctx: Ctx, artifact_reason: str, artifact: Artifact | None = None) -> None:
    """Deploy an artifact (given, the event's, or the queued one) to the idle color EB reports."""
    if artifact is None:
        artifact = ctx.event.artifact if isinstance(ctx.event, ArtifactUploaded) else ctx.state.queued
    assert artifact is not None
    state = ctx.state
    seq = state.deployment_seq + 1
    idle = state.idle_environment
    policy, policy_text = release_policy(ctx, artifact)
    inherited = state.forward_acknowledged
    if inherited:
        # rolling forward: the alarms the release that forbids rollback fired do not stop its fixes
        artifact_reason += f" (a fix rolled forward past alarm {', '.join(inherited)})"
    artifact_reason += policy_text
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
        policy=policy if artifact.manifest is not None else None,
        acknowledged_alarms=inherited,
    )
    keep_queued = state.queued if state.queued is not None and state.queued.label != artifact.label else None
    ctx.update(deployment_seq=seq, queued=keep_queued, standby_due=None)
    # EB takes one update at a time and refuses one unless the color is Ready: wait for it.
    observed_idle = ctx.env(idle)
    busy = state.unsettled_environment == idle or (observed_idle is not None and not observed_idle.ready)
    held = None
    if observed_idle is not None and not observed_idle.ready:
        held = f"EB reports {idle} {observed_idle.status}; the update starts when it is Ready"
    restore = state.standby if state.standby is not None and state.standby.environment == idle else None
    if restore is not None:
        # its capacity comes back first (a configuration update); the version follows once it is Ready
        busy = True
        held = f"{idle} is on standby: restoring {restore.restore.as_text()} first; the update starts when it is Ready"
        restore_capacity(ctx, restore)
    elif is_draining(ctx, idle) and (observed_idle is None or observed_idle.version_label != artifact.label):
        # (a color that already runs this version gets no update: there is nothing to wait for)
        assert state.drain is not None
        busy = True
        held = (
            f"{idle} is draining (traffic left it at the last swap) until {state.drain.until.isoformat()}; "
            "the update starts then"
        )
    deployment = deployment.model_copy(
        update={"update_started": not busy, "update_started_at": None if busy else ctx.now, "held": held}
    )
    ctx.update(deployment=deployment)
    reason = f"{artifact_reason} ({held})" if held else artifact_reason
    ctx.notes.append(Note(None, S.DEPLOYING.value, reason, deployment, len(ctx.effects), state.live_environment))
    ctx.effects.append(CreateVersion(application_name=state.config.application_name, artifact=artifact))
    if not busy:
        ctx.effects.append(update_idle(ctx))


def release_policy(ctx: Ctx, artifact: Artifact) -> tuple[Policy, str]:
    """The app's policy tightened by the build's bluegreen.json, and how to say so in the notification.
    (The controller refuses a manifest that does not fit the app when the build is uploaded; one that no
    longer fits after a re-register is not applied, and the notification says so.)"""
    app_policy = ctx.state.config.policy()
    manifest = artifact.manifest
    if manifest is None:
        return app_policy, ""
    try:
        policy = tighten(app_policy, manifest)
    except BadArtifact as error:
        # Its checks no longer fit the app's (a re-register since the upload): they are dropped, but what
        # the release says of itself (a one-way migration, approval, a longer bake) still holds.
        kept = tighten(app_policy, manifest.model_copy(update={"checks": None}))
        return kept, f"; its bluegreen.json checks were not applied ({error.message}); its other policy was"
    said = []
    if policy.rollback == "forbid":
        said.append("rollback forbidden by this release")
    if policy.bake_seconds != app_policy.bake_seconds:
        said.append(f"bake {policy.bake_seconds}s")
    if policy.requires_approval and not app_policy.requires_approval:
        said.append("requires approval")
    added = [c.name for c in (*policy.checks.pre, *policy.checks.post) if c.name not in app_policy.checks.names]
    if added:
        said.append(f"adds checks {', '.join(added)}")
    if manifest.notes:
        said.append(f"notes: {manifest.notes[:200]}")
    return policy, f"; release policy: {'; '.join(said) or 'as the app'}"


def plan_checks(ctx: Ctx, phase: str) -> tuple[list[CheckRun], list[RunCheck | InvokeHook], str]:
    """The release gates of `phase` for the deployment: their records, the effects that start them, and
    their description. Pre-promotion checks are about the idle color (its own CNAME); post-promotion
    checks run right after the swap, when the production CNAME is the new color's."""
    current = ctx.deployment
    specs = ctx.policy().checks.phase("pre" if phase == "pre" else "post")
    target = ctx.target()
    if phase == "post" and ctx.state.config.traffic == "cname":
        # After the swap the production CNAME is the new color's, but DNS caches still answer with the old
        # color's load balancer for a while: the check goes to the new color's own load balancer, which a
        # swap does not move.
        host = (target.endpoint_url if target is not None else "") or ctx.state.config.production_cname
    else:
        host = target.cname if target is not None else ""  # the color's own URL
    runs: list[CheckRun] = []
    effects: list[RunCheck | InvokeHook] = []
    names: list[str] = []
    when = "pre" if phase == "pre" else "post"
    for spec in specs:
        if isinstance(spec, HttpCheck):
            deadline = ctx.now + timedelta(seconds=spec.worst_case_seconds) + CHECK_QUEUE_MARGIN
            effects.append(RunCheck(app=ctx.state.app, deployment_id=current.id, phase=when, check=spec, host=host))
            names.append(f"{spec.name} (GET {spec.path})")
        else:
            deadline = ctx.now + timedelta(seconds=spec.timeout_seconds)
            effects.append(
                InvokeHook(
                    app=ctx.state.app,
                    deployment_id=current.id,
                    phase=when,
                    hook=spec,
                    environment=current.target_environment,
                    url=f"http://{host}",
                    version=current.version,
                    deadline=deadline,
                )
            )
            names.append(f"{spec.name} (hook, report by {deadline.isoformat()})")
        runs.append(
            CheckRun(name=spec.name, phase=when, type=spec.type, started_at=ctx.now, deadline=deadline, host=host)
        )
    return runs, effects, ", ".join(names)


def start_checks(ctx: Ctx, phase: str, then: str) -> bool:
    """Record and start the release gates of `phase`; say so (before they run). False: there are none."""
    runs, effects, names = plan_checks(ctx, phase)
    if not runs:
        return False
    kept = tuple(run for run in ctx.deployment.checks if run.phase != phase)
    ctx.update_deployment(checks=(*kept, *runs))
    what = "pre-promotion" if phase == "pre" else "post-promotion"
    ctx.hold(f"running {what} checks on {ctx.deployment.target_environment}: {names}; {then}")
    ctx.effects.extend(effects)
    return True


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
    restore_if_on_standby(ctx, holder)
    ctx.note(
        f"reconciled: EB reports the production CNAME on {holder} (running {version}), not {believed}; "
        f"someone swapped outside bluegreen, so {ctx.state.idle_environment} is now the idle color"
    )


def restore_capacity(ctx: Ctx, standby: StandbyRecord) -> None:
    """The effect that gives a color on standby back the capacity it had (a target: a retry is harmless)."""
    ctx.effects.append(
        SetCapacity(
            application_name=ctx.state.config.application_name,
            environment=standby.environment,
            capacity=standby.restore,
        )
    )


def restore_if_on_standby(ctx: Ctx, environment: str) -> None:
    """Traffic moved (outside bluegreen) to a color on standby: give it back its capacity at once."""
    standby = ctx.state.standby
    if standby is None or standby.environment != environment:
        return
    # the record stays: if EB refuses the restore, it still says what the color had
    restore_capacity(ctx, standby)
    ctx.note(f"{environment} serves production but was on standby: restoring {standby.restore.as_text()} now")


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
            bake_until=ctx.now + timedelta(seconds=ctx.policy().bake_seconds),
            promoted_at=ctx.now,
        )
        start_checks(ctx, "post", "a failure rolls back like an alarm; the bake ends only once all have passed")
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
    restore_if_on_standby(ctx, holder)
    ctx.move(
        S.ROLLED_BACK,
        f"reconciled: EB reports the production CNAME back on {holder}; traffic was moved outside bluegreen",
    )


def start_waiting_update(ctx: Ctx) -> None:
    standby = ctx.state.standby
    if standby is not None and standby.environment == ctx.deployment.target_environment:
        ctx.update(standby=None)  # Ready again after its capacity came back
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
    approval = ""
    if not ctx.auto_promote():
        deadline = ctx.now + timedelta(seconds=config.approval_timeout_seconds)
        approval = (
            f"awaiting approval until {deadline.isoformat()} (then it aborts): "
            f"`bluegreen approve {ctx.state.app}` lets it through"
        )
    if start_checks(ctx, "pre", f"then {approval}" if approval else "promotion waits for all of them to pass"):
        return
    if approval:
        ctx.hold(approval)
        return
    if ctx.state.paused or config.promote_delay_seconds != 0:
        return
    verdict = alarm_verdict(ctx)
    if verdict.clear:
        promote(ctx, f"auto-promotion: {moving_words(ctx)}")
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
    if not checks_passed(ctx, "post"):
        waiting = [r.name for r in ctx.deployment.checks_of("post") if r.waiting]
        what = f"post-promotion check {', '.join(waiting) or '(not started)'} has not reported yet"
    elif verdict.clear:
        what = f"{ctx.deployment.target_environment} does not hold the consumer lease yet"
    else:
        what = verdict.unreadable or f"alarm {', '.join(verdict.old)} is in ALARM"
    ctx.hold(f"bake time is over but {what}; the deployment succeeds once that clears")


def move_traffic(ctx: Ctx, to: str, other: str, percent: int = 100) -> None:
    """The effect that makes `to` serve production, by the app's traffic mode: the CNAME swap, the ALB
    rule's weights (`percent` to `to`), or nothing but the consumer lease (a polling bot)."""
    config = ctx.state.config
    if config.traffic == "alb":
        assert config.alb is not None
        ctx.effects.append(
            SetWeights(
                rule_arn=config.alb.rule_arn,
                environment=to,
                other=other,
                target_groups=config.alb.target_groups,
                percent=percent,
            )
        )
    elif config.traffic == "cname":
        ctx.effects.append(MakeLive(environment=to, other=other))


def moving_words(ctx: Ctx) -> str:
    """How this app's promotion moves traffic, in words, for the notification."""
    traffic = ctx.state.config.traffic
    if traffic == "alb":
        return "shifting the load balancer's traffic to the verified color"
    if traffic == "lease":
        return "handing the consumer lease to the verified color"
    return "swapping the production CNAME to the verified color"


def drain(ctx: Ctx, environment: str) -> None:
    """The color traffic just left is left untouched for drain_seconds (DNS caches, connections in flight)."""
    seconds = ctx.state.config.drain_seconds
    if seconds and ctx.state.config.traffic != "lease":
        ctx.update(drain=DrainRecord(environment=environment, until=ctx.now + timedelta(seconds=seconds)))


def promote(ctx: Ctx, reason: str, acknowledged: tuple[str, ...] = ()) -> None:
    deployment = ctx.deployment
    bake = timedelta(seconds=ctx.policy().bake_seconds)
    alb = ctx.state.config.alb if ctx.state.config.traffic == "alb" else None
    first = alb.steps[0] if alb is not None else 100
    ctx.update(live_environment=deployment.target_environment)
    move_traffic(ctx, deployment.target_environment, deployment.previous_environment, first)
    if first >= 100:
        drain(ctx, deployment.previous_environment)  # weighted steps: once the old color stops serving
    if first < 100:
        reason += (
            f"; {deployment.target_environment} serves {first}% (weighted step 1 of {len(alb.steps) if alb else 1})"
        )
    ctx.move(
        S.BAKING,
        reason,
        bake_until=ctx.now + bake if first >= 100 else None,
        promoted_at=ctx.now,
        acknowledged_alarms=(*deployment.acknowledged_alarms, *acknowledged),
        weight=first if alb is not None else None,
        step_since=ctx.now if alb is not None else None,
    )
    hand_over(ctx, deployment.target_environment)  # after the note: the swap's news never waits on the lease
    start_checks(ctx, "post", "a failure rolls back like an alarm; the bake ends only once all have passed")


def promote_now(ctx: Ctx) -> None:
    promote(ctx, f"promotion delay elapsed: {moving_words(ctx)}")


def retry_refused_swap(ctx: Ctx) -> None:
    promote(ctx, "both colors are Ready again: retrying the swap EB refused")


def succeed(ctx: Ctx, reason: str) -> None:
    ctx.move(S.SUCCEEDED, reason)
    deployment = ctx.deployment
    ctx.update(
        last_good_version=deployment.version,
        last_succeeded=ArtifactRef.of(deployment.artifact),
        forward_acknowledged=(),
    )
    if ctx.state.config.standby is not None:
        window = ctx.now + timedelta(seconds=ctx.state.config.rollback_window_seconds)
        drained = ctx.state.drain.until if ctx.state.drain is not None else ctx.now
        ctx.update(standby_due=max(window, drained))
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
    forced = (isinstance(ctx.event, OverrideIssued) and ctx.event.force) or deployment.rollback_forced
    if ctx.policy().rollback == "forbid" and not forced:
        fix_forward(ctx, reason)
        return
    standby = ctx.state.standby
    if standby is not None and standby.environment == deployment.previous_environment:
        warm_before_rollback(ctx, reason, standby, forced=forced)
        return
    ctx.update(live_environment=deployment.previous_environment, last_good_version=deployment.previous_version)
    move_traffic(ctx, deployment.previous_environment, deployment.target_environment)
    drain(ctx, deployment.target_environment)
    ctx.move(
        S.ROLLED_BACK,
        reason,
        weight=0 if deployment.weight is not None else None,
        rollback_forced=forced,
    )
    hand_over(ctx, deployment.previous_environment)


def warm_before_rollback(ctx: Ctx, reason: str, standby: StandbyRecord, *, forced: bool = False) -> None:
    """A rollback to a color on standby: restore its capacity first, swap once EB reports it Ready.
    (The standby record stays until then: if EB refuses the restore, it still says what to restore.)"""
    restore_capacity(ctx, standby)
    cause = reason.split("; traffic returned", 1)[0]
    ctx.move(
        S.ROLLBACK_WARMING,
        f"{cause}; rolling back to {standby.environment}, which is on standby: restoring its capacity "
        f"({standby.restore.as_text()}) first, traffic moves when it is Ready and healthy",
        finished_at=None,
        refused_since=ctx.now,
        rollback_forced=forced,
    )


def finish_warm_rollback(ctx: Ctx) -> None:
    deployment = ctx.deployment
    ctx.update(standby=None)
    roll_back(
        ctx,
        f"{deployment.previous_environment} is Ready and healthy again at its restored capacity; traffic returned "
        f"to it",
    )


def advance_weight_step(ctx: Ctx) -> None:
    """Traffic "alb": the next weighted step; at 100% the bake proper starts."""
    deployment = ctx.deployment
    alb = ctx.state.config.alb
    assert alb is not None and deployment.weight is not None
    # from what ELB reports (someone may have moved the rule by hand), never below the recorded step
    serves = (ctx.observed.weights or {}).get(deployment.target_environment, 0) if ctx.observed else 0
    current = max(deployment.weight, serves)
    following = [step for step in alb.steps if step > current]
    percent = following[0] if following else 100
    if percent > serves:
        move_traffic(ctx, deployment.target_environment, deployment.previous_environment, percent)
    if percent >= 100:
        drain(ctx, deployment.previous_environment)
    bake = timedelta(seconds=ctx.policy().bake_seconds)
    ctx.update_deployment(
        weight=percent,
        step_since=ctx.now,
        bake_until=ctx.now + bake if percent >= 100 else None,
    )
    index = list(alb.steps).index(percent) + 1 if percent in alb.steps else len(alb.steps)
    then = f"baking until {(ctx.now + bake).isoformat()}" if percent >= 100 else f"next step in {alb.step_seconds}s"
    ctx.note(
        f"no alarm for {alb.step_seconds}s: {deployment.target_environment} serves {percent}% "
        f"(weighted step {index} of {len(alb.steps)}); {then}"
    )


def scale_down_standby(ctx: Ctx) -> None:
    """The old color goes to standby; the capacity it has now is recorded and comes back before it serves."""
    config = ctx.state.config
    assert config.standby is not None and ctx.observed is not None
    idle = ctx.state.idle_environment
    current = ctx.observed.capacities[idle]
    recorded = ctx.state.standby
    # already on standby (a retried effect): keep what it had before
    restore = recorded.restore if recorded is not None and recorded.environment == idle else current
    ctx.update(standby=StandbyRecord(environment=idle, restore=restore), standby_due=None)
    ctx.effects.append(SetCapacity(application_name=config.application_name, environment=idle, capacity=config.standby))
    ctx.note(
        f"{idle} goes to standby: {config.standby.as_text()} (it had {restore.as_text()}, restored before it is "
        "deployed to or takes traffic back)"
    )


def fix_forward(ctx: Ctx, why: str) -> None:
    """The release forbids rollback (it migrated data one way): traffic stays, people are told loudly, and
    the next upload deploys even though the alarm still fires: the fix is rolled forward."""
    deployment = ctx.deployment
    firing = alarm_verdict(ctx).new_keys
    if isinstance(ctx.event, AlarmChanged):
        firing = (*firing, f"{ctx.event.alarm}@{ctx.event.at.isoformat()}")
    cause = why.split("; traffic returned", 1)[0]
    ctx.update(
        last_good_version=deployment.version,
        live_environment=deployment.target_environment,
        forward_acknowledged=tuple(dict.fromkeys((*ctx.state.forward_acknowledged, *firing))),
    )
    if deployment.weight is not None and deployment.weight < 100:
        # a weighted step: the old build must not keep serving part of production against what the
        # release migrated, and the color it runs on is where the fix deploys
        move_traffic(ctx, deployment.target_environment, deployment.previous_environment, 100)
        ctx.update_deployment(weight=100)
    ctx.move(
        S.FIX_FORWARD,
        f"ACTION NEEDED: {cause}; rollback forbidden by this release (bluegreen.json); {deployment.version} stays "
        f"live on {deployment.target_environment}: deploy a fix (the next upload deploys even while the alarm "
        f"fires), or `bluegreen rollback {ctx.state.app} --force` if the previous build can run after all",
        acknowledged_alarms=tuple(dict.fromkeys((*deployment.acknowledged_alarms, *firing))),
    )
    if queued_artifact_can_start(ctx):
        start_deployment(ctx, "starting the queued artifact (a fix)")


def hand_over(ctx: Ctx, environment: str) -> None:
    """Polling bots: the consumer lease follows traffic, after the swap (the old holder finishes its poll,
    commits its progress and releases; only then can the new color acquire it)."""
    if not ctx.state.config.consumer_lease:
        return
    # One desired holder per decision: a reconcile and the event's own row may both move traffic; only the
    # last owner gets the lease (an earlier hand-over is dropped, and the notes it gated wait one effect less).
    for index, effect in enumerate(ctx.effects):
        if isinstance(effect, HandOver):
            del ctx.effects[index]
            for note in ctx.notes:
                if note.gate > index:
                    note.gate -= 1
            break
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
        f"{ctx.deployment.target_environment} health is {_health_of(ctx)}{lasted} before promotion; "
        "traffic never moved",
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
    if ctx.deployment.state == S.VERIFYING and not ctx.auto_promote():
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
            for name in ("state_since", "promote_at", "bake_until", "refused_since", "promoted_at", "step_since")
            if (value := getattr(current, name)) is not None
        }
        checks = tuple(
            run.model_copy(update={"deadline": run.deadline + paused}) if run.waiting else run for run in current.checks
        )
        ctx.update_deployment(paused_seconds=current.paused_seconds + paused.total_seconds(), checks=checks, **shifted)
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
        checks=tuple(run for run in current.checks if run.phase != "post"),  # they start again with the swap
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
    minutes = int(ESCALATE_REFUSED_ROLLBACK.total_seconds() // 60)
    if current.state == S.ROLLBACK_WARMING:
        ctx.note(
            f"ESCALATION: {current.previous_environment} has not come back from standby in {minutes} minutes; "
            f"production still runs {current.version} on {current.target_environment}. Check it in the EB console; "
            f"`bluegreen rollback {ctx.state.app}` restores its capacity again, `--force` swaps now at the capacity "
            "it has"
        )
        return
    ctx.note(
        f"ESCALATION: the rollback has been refused by EB for {minutes} "
        f"minutes; production still runs {current.version} on {current.target_environment}. "
        f"Check both environments in the EB console, then `bluegreen rollback {ctx.state.app}`"
    )


# ---------------------------------------------------------------------- release gates (checks)


def _record_check(ctx: Ctx, name: str, passed: bool, reason: str) -> CheckRun:
    current = ctx.deployment
    run = current.check(name)
    assert run is not None
    done = run.model_copy(update={"passed": passed, "reason": reason, "reported_at": ctx.now})
    ctx.update_deployment(checks=tuple(done if r.name == name else r for r in current.checks))
    return done


def _reporter(ctx: Ctx) -> str:
    assert isinstance(ctx.event, CheckReported)
    return f" (reported by {ctx.event.actor})" if ctx.event.actor else ""


def record_passed_check(ctx: Ctx) -> None:
    """A check passed: recorded; once every pre-promotion check has passed, promotion may go ahead."""
    assert isinstance(ctx.event, CheckReported)
    run = _record_check(ctx, ctx.event.check, True, ctx.event.reason)
    what = "pre-promotion" if run.phase == "pre" else "post-promotion"
    if run.phase == "pre" and checks_passed(ctx, "pre"):
        ctx.update_deployment(held=None)
    ctx.note(f"{what} check {run.name} passed{_reporter(ctx)}: {run.reason or 'ok'}")
    if run.phase != "pre" or not checks_passed(ctx, "pre") or ctx.deployment.state != S.VERIFYING:
        return
    from bluegreen.machine.guards import promotion_is_due

    if not ctx.auto_promote():
        config = ctx.state.config
        deadline = ctx.deployment.state_since + timedelta(seconds=config.approval_timeout_seconds)
        ctx.hold(
            f"all pre-promotion checks passed; awaiting approval until {deadline.isoformat()} (then it aborts): "
            f"`bluegreen approve {ctx.state.app}` lets it through"
        )
    elif promotion_is_due(ctx):
        if alarm_verdict(ctx).clear:
            promote(ctx, f"all pre-promotion checks passed: {moving_words(ctx)}")
        else:
            hold_for_alarms(ctx)


def abort_for_failed_check(ctx: Ctx) -> None:
    assert isinstance(ctx.event, CheckReported)
    run = _record_check(ctx, ctx.event.check, False, ctx.event.reason)
    abort(ctx, f"pre-promotion check {run.name} failed{_reporter(ctx)}: {run.reason}; traffic never moved")


def rollback_for_failed_check(ctx: Ctx) -> None:
    assert isinstance(ctx.event, CheckReported)
    run = _record_check(ctx, ctx.event.check, False, ctx.event.reason)
    roll_back(
        ctx,
        f"post-promotion check {run.name} failed{_reporter(ctx)}: {run.reason}; traffic returned to "
        f"{ctx.deployment.previous_environment}",
    )


def _fail_overdue(ctx: Ctx) -> CheckRun:
    run = overdue_check(ctx)
    assert run is not None
    waited = int((run.deadline - run.started_at).total_seconds())
    what = "no report from the hook" if run.type == "lambda" else "no result from the HTTP check"
    return _record_check(ctx, run.name, False, f"{what} within {waited}s (deadline {run.deadline.isoformat()})")


def abort_for_overdue_check(ctx: Ctx) -> None:
    run = _fail_overdue(ctx)
    abort(ctx, f"pre-promotion check {run.name} failed: {run.reason}; traffic never moved")


def rollback_for_overdue_check(ctx: Ctx) -> None:
    run = _fail_overdue(ctx)
    roll_back(
        ctx,
        f"post-promotion check {run.name} failed: {run.reason}; traffic returned to "
        f"{ctx.deployment.previous_environment}",
    )


# ---------------------------------------------------------------------- refusals of capacity and weights


def note_restore_refused(ctx: Ctx) -> None:
    """EB refused to restore the capacity of the color a rollback waits for: traffic stays; say what to do."""
    assert isinstance(ctx.event, EffectFailed)
    current = ctx.deployment
    ctx.note(
        f"ACTION NEEDED: EB refused to restore the capacity of {current.previous_environment} ({ctx.event.error}); "
        f"traffic stays on {current.target_environment}. Fix it, then `bluegreen rollback {ctx.state.app}` retries; "
        f"`bluegreen rollback {ctx.state.app} --force` swaps now at the capacity it has"
    )


def operator_retry_warm_rollback(ctx: Ctx) -> None:
    """rollback while warming: retry the restore, or (force) swap now at the capacity the color has."""
    assert isinstance(ctx.event, OverrideIssued)
    current = ctx.deployment
    standby = ctx.state.standby
    if ctx.event.force or standby is None or standby.environment != current.previous_environment:
        ctx.update(standby=None)
        roll_back(
            ctx,
            f"rollback forced by {ctx.event.actor} before {current.previous_environment}'s capacity came back: "
            f"{ctx.event.reason}; traffic returned to {current.previous_environment}",
        )
        return
    restore_capacity(ctx, standby)
    ctx.note(f"restoring {standby.environment} to {standby.restore.as_text()} again ({ctx.event.actor})")


def note_standby_refused(ctx: Ctx) -> None:
    """EB refused a capacity change while no deployment is in flight: a scale-down (the color keeps its
    capacity: nothing to restore later), or the restore of a color on standby that now serves production
    (moved there outside bluegreen): then the record stays, and people must act."""
    assert isinstance(ctx.event, EffectFailed)
    standby = ctx.state.standby
    if standby is not None and standby.environment == ctx.state.live_environment:
        ctx.note(
            f"ACTION NEEDED: {standby.environment} serves production but EB refused to restore its capacity "
            f"({standby.restore.as_text()}): {ctx.event.error}. Restore it in the EB console (or fix what EB "
            "refused); bluegreen restores it before any deployment to it"
        )
        return
    environment = standby.environment if standby is not None else ctx.state.idle_environment
    ctx.update(standby=None)
    ctx.note(
        f"standby of {environment} failed ({ctx.event.error}); it keeps its capacity. Check EnableStandbyCapacity "
        "and the environment's rolling-update settings (docs/traffic.md)"
    )


def rollback_after_refused_step(ctx: Ctx) -> None:
    assert isinstance(ctx.event, EffectFailed)
    current = ctx.deployment
    roll_back(
        ctx,
        f"the load balancer refused a weighted step ({ctx.event.error}) while {current.target_environment} served "
        f"part of production; traffic returned to {current.previous_environment}",
    )


def acknowledge_alarm_while_fixing_forward(ctx: Ctx) -> None:
    assert isinstance(ctx.event, AlarmChanged)
    key = f"{ctx.event.alarm}@{ctx.event.at.isoformat()}"
    ctx.update(forward_acknowledged=tuple(dict.fromkeys((*ctx.state.forward_acknowledged, key))))
    ctx.note(f"alarm {ctx.event.alarm} is in ALARM on a release that forbids rollback: noted; the fix deploys past it")
