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

The package keeps each room small: `core` (decision, rule, context), `guards`, `steps`, `table` (the
rows), and here the loop that runs them.
"""

from __future__ import annotations

from datetime import datetime

from bluegreen.machine.core import (
    IDLE,
    PRE_PROMOTION,
    SEEN_EVENTS_KEPT,
    UPLOADS_KEPT,
    Ctx,
    Decision,
    Phase,
    Rule,
    S,
)
from bluegreen.machine.guards import label_is_known
from bluegreen.machine.table import (
    IGNORED_NOTICE_REASONS,
    RULES,
)
from bluegreen.models import (
    AlarmChanged,
    AppState,
    ArtifactUploaded,
    Cause,
    CauseType,
    CheckReported,
    DeploymentState,
    EffectFailed,
    EnvironmentUpdated,
    Event,
    HealthChanged,
    Notification,
    OverrideIssued,
    Tick,
)

__all__ = [
    "IDLE",
    "RULES",
    "Ctx",
    "Decision",
    "DeploymentState",
    "Rule",
    "decide",
    "describe_rules",
    "label_is_known",
    "observation_needs",
    "phase_of",
]


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
        # A release that forbids rollback acknowledges every alarm firing when it goes to FIX_FORWARD.
        forbids = current is not None and current.policy is not None and current.policy.rollback == "forbid"
        return current is not None or (last is not None and last.state == S.SUCCEEDED), forbids and has_alarms
    if isinstance(event, Tick):
        return True, has_alarms and (current is not None)
    if isinstance(event, OverrideIssued):
        environments = event.action in ("promote", "approve", "finish_bake", "rollback", "retry", "resume", "abort")
        return environments, has_alarms and event.action in ("promote", "approve", "finish_bake") and may_promote
    if isinstance(event, EffectFailed):
        return True, False
    if isinstance(event, CheckReported):
        return True, has_alarms and phase in PRE_PROMOTION
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
    if isinstance(event, CheckReported):
        return Cause(type="check", id=event.check, actor=event.actor, reason=event.reason or None)
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
