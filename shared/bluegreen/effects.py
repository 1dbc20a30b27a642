"""Effect runners: one small function per effect kind, each a target checked against AWS first.

The controller hands every pending effect to `run_effect`; adding an effect kind means adding a
runner here, not growing the controller. A runner raises `Transient` (AWS busy: retry the whole
record later) or a `BadInput` (AWS refused for good: the machine hears of it as `EffectFailed`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bluegreen.errors import BadInput, BluegreenError, Transient
from bluegreen.models import (
    AppState,
    CreateVersion,
    Effect,
    EnvironmentObservation,
    HandOver,
    InvokeHook,
    MakeLive,
    PruneVersions,
    RunCheck,
    SetCapacity,
    SetWeights,
)
from bluegreen.models import UpdateEnvironment as UpdateEnvironmentEffect

if TYPE_CHECKING:
    from bluegreen.aws.beanstalk import Beanstalk
    from bluegreen.settings import Settings

log = logging.getLogger("bluegreen")


@dataclass
class EffectContext:
    state: AppState
    beanstalk: Beanstalk
    table: str = ""
    # EB as this invocation observed it just before committing the decision (saves a describe on the
    # rollback path); None when the effect runs later (a retry, a take-over).
    fresh: dict[str, EnvironmentObservation] | None = None
    settings: Settings | None = None


QUOTA_ERROR = "TooManyApplicationVersionsException"


def create_version(ctx: EffectContext, effect: Any) -> None:
    """On EB's application-version quota, make room among the versions bluegreen created for this app
    (beyond its retention, none in use), then try once more: a full quota never wedges deployments."""
    assert isinstance(effect, CreateVersion)
    key = ctx.state.config.signing_key_arn
    if key:
        # The app's signing rule now, not when the build arrived: a build queued (or retried) before the
        # app required signatures must carry a good one too.
        from bluegreen.aws.signing import Signatures

        Signatures().verify(key, effect.artifact.sha256, effect.artifact.signature)
    try:
        ctx.beanstalk.ensure_version(effect.application_name, effect.artifact)
    except BluegreenError as error:
        if error.details.get("aws_code") != QUOTA_ERROR:
            raise
        state = ctx.state
        current = state.deployment
        protect = tuple(v for v in (state.last_good_version, current.version if current else None) if v)
        deleted = ctx.beanstalk.prune_versions(
            effect.application_name, state.app, state.config.version_retention, protect
        )
        log.warning("%s: EB's version quota is full; deleted %d old versions", state.app, len(deleted))
        ctx.beanstalk.ensure_version(effect.application_name, effect.artifact)


def update_environment(ctx: EffectContext, effect: Any) -> None:
    """Skipped when the color already runs the version; EB refuses an update unless Ready (Transient)."""
    assert isinstance(effect, UpdateEnvironmentEffect)
    ctx.beanstalk.ensure_running(effect.application_name, effect.environment, effect.version_label, ctx.fresh)


def make_live(ctx: EffectContext, effect: Any) -> None:
    """The target is "environment holds the production CNAME": checked before, so a retry never swaps back."""
    assert isinstance(effect, MakeLive)
    config = ctx.state.config
    swapped = ctx.beanstalk.ensure_live(
        config.application_name, effect.environment, effect.other, config.production_cname, ctx.fresh
    )
    log.info("%s: %s is live (%s)", ctx.state.app, effect.environment, "swapped" if swapped else "already")


def prune_versions(ctx: EffectContext, effect: Any) -> None:
    """Housekeeping after a success: never fails a deployment, never blocks anything after it."""
    assert isinstance(effect, PruneVersions)
    try:
        deleted = ctx.beanstalk.prune_versions(effect.application_name, effect.app, effect.keep, effect.protect)
    except BluegreenError as error:
        log.warning("%s: version clean-up skipped: %s", ctx.state.app, error.message)
        return
    if deleted:
        log.info("%s: deleted %d old application versions: %s", ctx.state.app, len(deleted), ", ".join(deleted))


def hand_over(ctx: EffectContext, effect: Any) -> None:
    """The target "the lease's desired holder is X" (idempotent); the bots do the hand-over itself."""
    assert isinstance(effect, HandOver)
    from bluegreen.aws.clients import client
    from bluegreen.consumer import hand_over as set_desired

    try:
        set_desired(client("dynamodb"), ctx.table, effect.app, effect.environment)
    except Transient:
        raise
    except Exception as error:
        raise BadInput(f"consumer lease hand-over to {effect.environment}: {error}") from error


def run_check(ctx: EffectContext, effect: Any) -> None:
    """Queue the HTTP check in the stack's check function (it may take minutes; no handler waits for it).
    A second run of the same check (a retried effect) reports twice; the machine keeps the first."""
    assert isinstance(effect, RunCheck)
    from bluegreen.aws.hooks import queue_check

    assert ctx.settings is not None
    queue_check(ctx.settings, effect.model_dump(mode="json"))


def invoke_hook(ctx: EffectContext, effect: Any) -> None:
    """Queue the user's hook with a callback token that names this deployment and check."""
    assert isinstance(effect, InvokeHook)
    from bluegreen.aws.hooks import callback_secret
    from bluegreen.aws.hooks import invoke_hook as invoke
    from bluegreen.gates import CallbackToken, HookInvocation

    assert ctx.settings is not None
    expires = int(effect.deadline.timestamp()) + 86400  # a late report is decided (ignored), not refused
    token = CallbackToken.issue(effect.deployment_id, effect.hook.name, callback_secret(ctx.settings), expires=expires)
    payload = HookInvocation(
        app=effect.app,
        deployment_id=effect.deployment_id,
        version=effect.version,
        environment=effect.environment,
        url=effect.url,
        phase=effect.phase,
        check=effect.hook.name,
        token=token,
        deadline=effect.deadline,
    ).payload()
    invoke(None, effect.hook, payload)


def set_weights(ctx: EffectContext, effect: Any) -> None:
    """The target "the rule forwards N% to this color", read back from ELB before and after."""
    assert isinstance(effect, SetWeights)
    from bluegreen.aws.elb import ensure_weights

    weights = {
        effect.target_groups[effect.environment]: effect.percent,
        effect.target_groups[effect.other]: 100 - effect.percent,
    }
    if ensure_weights(None, effect.rule_arn, weights):
        log.info("%s: %s serves %d%% at the load balancer", ctx.state.app, effect.environment, effect.percent)


def set_capacity(ctx: EffectContext, effect: Any) -> None:
    """The target "the color's Auto Scaling bounds are these" (standby, or the capacity restored)."""
    assert isinstance(effect, SetCapacity)
    from bluegreen.aws.capacity import Capacity, ensure_capacity

    wanted = Capacity(effect.capacity.min_size, effect.capacity.max_size)
    ensure_capacity(ctx.beanstalk.eb, effect.application_name, effect.environment, wanted)


RUNNERS: dict[str, Callable[[EffectContext, Any], None]] = {
    "set_weights": set_weights,
    "set_capacity": set_capacity,
    "run_check": run_check,
    "invoke_hook": invoke_hook,
    "hand_over": hand_over,
    "create_version": create_version,
    "update_environment": update_environment,
    "make_live": make_live,
    "prune_versions": prune_versions,
}


def run_effect(ctx: EffectContext, effect: Effect) -> None:
    RUNNERS[effect.kind](ctx, effect)
