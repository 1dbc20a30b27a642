"""The operator's view of an app: `status` (both colors as EB reports them, what the deployment waits for
and until when). Used by the override and status functions and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bluegreen.models import AppState, DeploymentState, EnvironmentObservation

S = DeploymentState


def utcnow() -> datetime:
    return datetime.now(UTC)


def describe_state(
    state: AppState, colors: tuple[EnvironmentObservation, ...] | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The operator's view of an app (the override's and the CLI's `status`): both colors as EB reports
    them (when observed), what the deployment waits for and until when."""
    current = state.deployment
    body: dict[str, Any] = {
        "app": state.app,
        "revision": state.revision,
        "live_environment": state.live_environment,
        "idle_environment": state.idle_environment,
        "production_cname": state.config.production_cname,
        "last_good_version": state.last_good_version,
        "paused": state.paused,
        "queued": state.queued.model_dump(mode="json") if state.queued else None,
        "pending_effects": [e.kind for e in state.pending.effects] if state.pending else [],
        "deployment": current.model_dump(mode="json") if current else None,
        "config": state.config.model_dump(mode="json"),
        "waiting_for": waiting_for(state, now or utcnow()),
        "outbox": {
            "waiting": len(state.outbox.notifications),
            "failed": state.outbox.failed,
            "last_error": state.outbox.last_error,
        },
    }
    if colors is not None:
        cname = state.config.production_cname
        body["colors"] = [
            {
                "name": c.name,
                "status": c.status,
                "health": c.health,
                "health_status": c.health_status,
                "version_label": c.version_label,
                "cname": c.cname,
                # cname: EB's word (the CNAME owner); alb and lease: the color bluegreen reconciled as live
                "live": (bool(cname) and c.cname == cname)
                if state.config.traffic == "cname"
                else c.name == state.live_environment,
            }
            for c in colors
        ]
    return body


def waiting_for(state: AppState, now: datetime) -> dict[str, Any] | None:
    """What the app waits for, in words, and the deadline that ends the wait (None: no deadline)."""
    current = state.deployment
    config = state.config
    if state.paused:
        return {"what": "resume: the app is paused (deadlines do not run)", "until": None}
    if current is None:
        return None

    def at(value: datetime | None, seconds: float = 0) -> str | None:
        return (value + timedelta(seconds=seconds)).isoformat() if value is not None else None

    held = current.held
    if current.state == S.DEPLOYING:
        until = at(current.started_at, config.deploy_timeout_seconds + current.paused_seconds)
        what = held or f"EB to finish updating {current.target_environment} to {current.version}, Ready and healthy"
        return {"what": what, "until": until}
    if current.state == S.VERIFYING:
        what = held or f"promotion at {at(current.promote_at)}"
        approval = (current.policy or config.policy()).requires_approval
        timeout = config.approval_timeout_seconds if approval else config.verify_timeout_seconds
        return {"what": what, "until": at(current.state_since, timeout)}
    if current.state == S.SWAP_REFUSED:
        return {
            "what": "both colors Ready, to retry the swap EB refused",
            "until": at(current.state_since, config.verify_timeout_seconds),
        }
    if current.state == S.BAKING and current.weight is not None and current.weight < 100 and config.alb:
        what = (
            f"{current.target_environment} serves {current.weight}%: the next weighted step if no alarm fires "
            f"(every {config.alb.step_seconds}s)"
        )
        return {"what": held or what, "until": at(current.step_since, config.alb.step_seconds)}
    if current.state == S.BAKING:
        return {"what": held or "the bake to end with no alarm", "until": at(current.bake_until)}
    if current.state == S.ROLLBACK_REFUSED:
        return {"what": "both colors Ready, to retry the rollback EB refused", "until": None}
    if current.state == S.ROLLBACK_WARMING:
        return {
            "what": f"{current.previous_environment} Ready and healthy at its restored capacity, then traffic moves",
            "until": None,
        }
    if current.state == S.FIX_FORWARD:
        return {"what": "a fix: the next upload deploys even while the alarm fires", "until": None}
    if state.queued is not None and current.state == S.SUCCEEDED and config.rollback_window_seconds:
        end = at(current.finished_at, config.rollback_window_seconds)
        return {"what": f"the rollback window to close before starting {state.queued.key}", "until": end}
    return None
