"""Pydantic models for every boundary: app config, stored state, domain events, effects, notifications.

Inputs that we own (override commands, app config) forbid extra fields; shapes that AWS sends are
parsed in `bluegreen.parsing` with `extra="ignore"`, then turned into the domain events below.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

APP_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
ENV_NAME = r"^[A-Za-z0-9][A-Za-z0-9-]{2,39}$"  # EB: 4-40 chars, letters, digits and hyphens


class Strict(BaseModel):
    """Our own shapes: unknown fields are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DeploymentState(StrEnum):
    DEPLOYING = "DEPLOYING"
    VERIFYING = "VERIFYING"
    BAKING = "BAKING"
    SUCCEEDED = "SUCCEEDED"
    ABORTED = "ABORTED"
    ROLLED_BACK = "ROLLED_BACK"
    SUPERSEDED = "SUPERSEDED"

    @property
    def in_flight(self) -> bool:
        return self in IN_FLIGHT


IN_FLIGHT = frozenset({DeploymentState.DEPLOYING, DeploymentState.VERIFYING, DeploymentState.BAKING})
BEFORE_PROMOTION = frozenset({DeploymentState.DEPLOYING, DeploymentState.VERIFYING})

# EB health: HealthStatus (enhanced health) and Health (the colour). Either can arrive.
HEALTHY = frozenset({"Ok", "Green"})
UNHEALTHY = frozenset({"Degraded", "Severe", "Red"})


def two_distinct_colors(value: tuple[str, str]) -> tuple[str, str]:
    for name in value:
        if not re.match(ENV_NAME, name):
            raise ValueError(f"invalid Elastic Beanstalk environment name: {name!r}")
    if value[0] == value[1]:
        raise ValueError("the two colors must be different environments")
    return value


def alarm_names(value: tuple[str, ...]) -> tuple[str, ...]:
    for name in value:
        if not 1 <= len(name) <= 255:
            raise ValueError("alarm names are 1 to 255 characters")
    return value


class Tuning(Strict):
    """The settings a team tunes per app; shared by the stored config and the `register` request."""

    alarms: tuple[str, ...] = Field(default=(), max_length=50)
    deploy_timeout_seconds: int = Field(default=1800, ge=30, le=86400)
    verify_timeout_seconds: int = Field(default=900, ge=30, le=86400)
    bake_seconds: int = Field(default=600, ge=0, le=604800)
    auto_promote: bool = True
    promote_delay_seconds: int = Field(default=0, ge=0, le=86400)
    rollback_window_seconds: int = Field(default=0, ge=0, le=604800)

    _alarm_names = field_validator("alarms")(classmethod(lambda cls, v: alarm_names(v)))

    def tuning(self) -> dict[str, Any]:
        return self.model_dump(include=set(Tuning.model_fields))


class AppConfig(Tuning):
    """Per-app settings, stored with the app by `register`."""

    application_name: str = Field(pattern=APP_NAME, description="The Elastic Beanstalk application")
    environments: tuple[str, str] = Field(description="The two colors, e.g. mybot-blue and mybot-green")
    production_cname: str = Field(default="", max_length=255)

    _two_distinct_colors = field_validator("environments")(classmethod(lambda cls, v: two_distinct_colors(v)))

    def other(self, environment: str) -> str:
        first, second = self.environments
        return second if environment == first else first


class Artifact(Strict):
    """One uploaded source bundle, pinned to its S3 object version."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str = ""
    size: int = 0
    sha256: str | None = None
    label: str

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


class Deployment(Strict):
    id: str
    artifact: Artifact
    state: DeploymentState
    target_environment: str
    previous_environment: str
    previous_version: str | None = None
    update_started: bool = True
    update_started_at: datetime | None = None
    started_at: datetime
    state_since: datetime
    promote_at: datetime | None = None
    bake_until: datetime | None = None
    finished_at: datetime | None = None
    reason: str = ""

    @property
    def version(self) -> str:
        return self.artifact.label


# ---------------------------------------------------------------- causes, effects, notifications

CauseType = Literal["artifact", "health", "alarm", "override", "timeout", "reconcile", "effect"]


class Cause(Strict):
    type: CauseType
    id: str
    actor: str | None = None
    reason: str | None = None


class CreateVersion(Strict):
    """Ensure the application version exists (idempotent: the label is deterministic)."""

    kind: Literal["create_version"] = "create_version"
    application_name: str
    artifact: Artifact


class UpdateEnvironment(Strict):
    """Ensure the environment runs the version; skipped when it already does or is updating to it."""

    kind: Literal["update_environment"] = "update_environment"
    application_name: str
    environment: str
    version_label: str


class MakeLive(Strict):
    """Ensure `environment` holds the production CNAME, swapping with `other` only if it does not.

    Expressed as a target, not an action, so that running it twice never swaps back.
    """

    kind: Literal["make_live"] = "make_live"
    environment: str
    other: str


Effect = Annotated[CreateVersion | UpdateEnvironment | MakeLive, Field(discriminator="kind")]


class Notification(Strict):
    """The detail of a "Deployment State Change" event (source `bluegreen`)."""

    app: str
    deployment_id: str | None
    version: str | None
    from_state: str | None
    to_state: str | None
    live_environment: str
    idle_environment: str
    reason: str
    cause: Cause
    at: str
    transition_id: str = Field(description="Deterministic id; consumers dedupe at-least-once delivery on it")


class Pending(Strict):
    """Write-ahead record of effects committed but not yet confirmed done (an outbox)."""

    revision: int
    owner: str
    claimed_at: datetime
    effects: tuple[Effect, ...] = ()
    notifications: tuple[Notification, ...] = ()


class AppState(Strict):
    app: str
    config: AppConfig
    live_environment: str
    last_good_version: str | None = None
    deployment: Deployment | None = None
    queued: Artifact | None = None
    paused: bool = False
    deployment_seq: int = 0
    revision: int = 0
    pending: Pending | None = None
    unsettled_environment: str | None = Field(
        default=None, description="A color whose update may still be running (its deployment ended early)"
    )
    seen_events: tuple[str, ...] = Field(default=(), description="Recent accepted event ids, for dedup")
    registered_at: datetime | None = None

    @property
    def idle_environment(self) -> str:
        return self.config.other(self.live_environment)

    @property
    def in_flight(self) -> Deployment | None:
        if self.deployment is not None and self.deployment.state.in_flight:
            return self.deployment
        return None


# ---------------------------------------------------------------- observations and domain events


class EnvironmentObservation(Strict):
    """What DescribeEnvironments says about one environment."""

    name: str
    status: str = "Ready"
    health: str = "Grey"
    health_status: str | None = None
    version_label: str | None = None
    cname: str = ""

    @property
    def healthy(self) -> bool:
        return self.health in HEALTHY and (self.health_status is None or self.health_status in HEALTHY)

    @property
    def unhealthy(self) -> bool:
        return self.health in UNHEALTHY or self.health_status in UNHEALTHY


class AlarmObservation(Strict):
    """What DescribeAlarms says about one alarm."""

    name: str
    state: str
    since: datetime | None = None


class Observed(Strict):
    environments: tuple[EnvironmentObservation, ...] = ()
    alarms: tuple[AlarmObservation, ...] = ()

    def environment(self, name: str) -> EnvironmentObservation | None:
        return next((e for e in self.environments if e.name == name), None)

    def live_by_cname(self, production_cname: str) -> str | None:
        if not production_cname:
            return None
        return next((e.name for e in self.environments if e.cname == production_cname), None)


class EventBase(Strict):
    event_id: str
    at: datetime
    observed: Observed | None = None


class ArtifactUploaded(EventBase):
    kind: Literal["artifact"] = "artifact"
    artifact: Artifact


class HealthChanged(EventBase):
    kind: Literal["health"] = "health"
    environment: str
    health: str
    previous_health: str | None = None
    message: str = ""


class EnvironmentUpdated(EventBase):
    """EB's "resource status change" for an environment update."""

    kind: Literal["update"] = "update"
    environment: str
    outcome: Literal["started", "succeeded", "failed"]
    message: str = ""


class AlarmChanged(EventBase):
    kind: Literal["alarm"] = "alarm"
    alarm: str
    state: str
    previous_state: str | None = None
    reason: str = ""


OverrideAction = Literal["status", "promote", "rollback", "abort", "pause", "resume", "retry", "register"]
MUTATING_ACTIONS = ("promote", "rollback", "abort", "pause", "resume", "retry")


class OverrideIssued(EventBase):
    kind: Literal["override"] = "override"
    action: OverrideAction
    actor: str
    reason: str
    deployment_id: str | None = None


class Tick(EventBase):
    kind: Literal["tick"] = "tick"


class EffectFailed(EventBase):
    kind: Literal["effect_failed"] = "effect_failed"
    effect: str
    error: str


Event = ArtifactUploaded | HealthChanged | EnvironmentUpdated | AlarmChanged | OverrideIssued | Tick | EffectFailed


# ---------------------------------------------------------------- override API


class RegisterConfig(Tuning):
    """`register` input: the app config plus how to find the live color now."""

    application_name: str | None = Field(default=None, pattern=APP_NAME)
    environments: tuple[str, str]
    live_environment: str | None = None
    production_cname: str | None = Field(default=None, max_length=255)

    _two_distinct_colors = field_validator("environments")(classmethod(lambda cls, v: two_distinct_colors(v)))


class OverrideRequest(Strict):
    action: OverrideAction
    app: str = Field(pattern=APP_NAME)
    reason: str = Field(default="", max_length=1024)
    requested_by: str = Field(default="unknown", min_length=1, max_length=256)
    deployment_id: str | None = Field(default=None, max_length=200)
    config: RegisterConfig | None = None
    history_limit: int = Field(default=20, ge=0, le=200)

    @model_validator(mode="after")
    def _config_only_with_register(self) -> OverrideRequest:
        if self.action == "register" and self.config is None:
            raise ValueError("register needs a config")
        if self.action != "register" and self.config is not None:
            raise ValueError("config is only accepted with register")
        if self.action in (*MUTATING_ACTIONS, "register") and not self.reason.strip():
            raise ValueError(f"{self.action} needs a reason")
        return self


class ErrorBody(Strict):
    code: str
    message: str


def jsonable(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=False)


class HistoryRecord(Strict):
    """One accepted event, stored under its app with the revision it produced."""

    app: str
    revision: int
    at: str
    event_kind: str
    event_id: str
    rule: str
    summary: str
    cause: Cause
    transitions: tuple[Notification, ...] = ()
    artifact_sha256: str | None = None
