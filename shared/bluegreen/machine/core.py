"""The machine's vocabulary: a decision, a rule, the context a rule reads and drafts, the phases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from bluegreen.manifest import Policy
from bluegreen.models import (
    AppState,
    CauseType,
    Deployment,
    DeploymentState,
    Effect,
    EnvironmentObservation,
    EnvironmentUpdated,
    Event,
    Notification,
    Observed,
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
        """The color AWS reports serving production, if it was observed: the one holding the production
        CNAME (traffic "cname"), the one the ALB rule forwards everything to ("alb"; during weighted steps
        none does). A polling bot's traffic ("lease") has no outside owner to compare with."""
        observed = self.observed
        if observed is None:
            return None
        traffic = self.state.config.traffic
        if traffic == "alb":
            weights = observed.weights or {}
            return next((env for env, percent in weights.items() if percent == 100), None)
        if traffic == "lease":
            return None
        return observed.live_by_cname(self.state.config.production_cname)

    def target_is_settled(self) -> bool:
        if isinstance(self.event, EnvironmentUpdated) and self.event.outcome in ("succeeded", "failed"):
            return True
        target = self.target()
        return target is not None and target.ready

    def policy(self) -> Policy:
        """The policy the deployment runs under: the app's, tightened by its release's manifest."""
        current = self.state.deployment
        if current is not None and current.policy is not None:
            return current.policy
        return self.state.config.policy()

    def auto_promote(self) -> bool:
        """Promotion needs no person: the app auto-promotes and the release does not ask for approval."""
        return not self.policy().requires_approval

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
ROLLBACK_WARMING = frozenset({S.ROLLBACK_WARMING.value})
ROLLING_BACK = ROLLBACK_REFUSED | ROLLBACK_WARMING  # traffic is still on the new build; the rollback is under way
PRE_PROMOTION = frozenset({S.DEPLOYING.value, S.VERIFYING.value, S.SWAP_REFUSED.value})
AWAITING_PROMOTION = frozenset({S.VERIFYING.value, S.SWAP_REFUSED.value})
IN_FLIGHT = PRE_PROMOTION | BAKING | ROLLING_BACK
IDLE_ONLY = frozenset({IDLE})
