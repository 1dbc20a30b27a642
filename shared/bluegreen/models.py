"""Pydantic models for every boundary: app config, stored state, domain events, effects, notifications.

Inputs that we own (override commands, app config) forbid extra fields; shapes that AWS sends are
parsed in `bluegreen.parsing` with `extra="ignore"`, then turned into the domain events below.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

from bluegreen.gates import Checks, HttpCheck, LambdaHook
from bluegreen.manifest import Policy, ReleaseManifest

APP_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
ENV_NAME = r"^[A-Za-z0-9][A-Za-z0-9-]{2,39}$"  # EB: 4-40 chars, letters, digits and hyphens


class Strict(BaseModel):
    """Our own shapes: unknown fields are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # schema built on first use


class DeploymentState(StrEnum):
    DEPLOYING = "DEPLOYING"
    VERIFYING = "VERIFYING"
    BAKING = "BAKING"
    SUCCEEDED = "SUCCEEDED"
    ABORTED = "ABORTED"
    ROLLED_BACK = "ROLLED_BACK"
    SUPERSEDED = "SUPERSEDED"
    # EB refused the promotion swap: traffic never moved; retried when both colors are Ready.
    SWAP_REFUSED = "SWAP_REFUSED"
    # EB refused the swap back: production still runs the new build; retried and escalated.
    ROLLBACK_REFUSED = "ROLLBACK_REFUSED"
    # The release forbids rollback (bluegreen.json) and something called for one: production keeps the
    # new build, people are told loudly, and the next upload deploys even while the alarm fires.
    FIX_FORWARD = "FIX_FORWARD"
    # A rollback to a color on standby (scaled down): its capacity is restored first; traffic moves when
    # it is Ready again.
    ROLLBACK_WARMING = "ROLLBACK_WARMING"

    @property
    def in_flight(self) -> bool:
        return self in IN_FLIGHT


IN_FLIGHT = frozenset(
    {
        DeploymentState.DEPLOYING,
        DeploymentState.VERIFYING,
        DeploymentState.BAKING,
        DeploymentState.SWAP_REFUSED,
        DeploymentState.ROLLBACK_REFUSED,
        DeploymentState.ROLLBACK_WARMING,
    }
)
BEFORE_PROMOTION = frozenset({DeploymentState.DEPLOYING, DeploymentState.VERIFYING, DeploymentState.SWAP_REFUSED})

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


class StandbySize(Strict):
    """A color's Auto Scaling bounds (`aws:autoscaling:asg` MinSize/MaxSize)."""

    min_size: StrictInt = Field(ge=0, le=10000)
    max_size: StrictInt = Field(ge=0, le=10000)

    @model_validator(mode="after")
    def _ordered(self) -> StandbySize:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) must not exceed max_size ({self.max_size})")
        return self

    def as_text(self) -> str:
        return f"MinSize={self.min_size} MaxSize={self.max_size}"


class AlbTraffic(Strict):
    """Traffic mode `alb`: the production listener rule of a shared ALB and each color's target group."""

    rule_arn: str = Field(
        pattern=r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener(-rule)?/app/.+$",
        max_length=2048,
        description="The listener rule that forwards production traffic (or the listener, for its default action)",
    )
    target_groups: dict[str, str] = Field(description="Each color's environment name -> its target group ARN")
    steps: tuple[StrictInt, ...] = Field(
        default=(100,),
        min_length=1,
        max_length=10,
        description="Percent of traffic to the new color, step by step, e.g. [10, 50, 100]; the last is 100",
    )
    step_seconds: StrictInt = Field(default=300, ge=10, le=86400, description="How long each step lasts")

    @model_validator(mode="after")
    def _steps_rise_to_100(self) -> AlbTraffic:
        if list(self.steps) != sorted(set(self.steps)) or self.steps[-1] != 100 or self.steps[0] < 1:
            raise ValueError(
                f"steps must rise strictly from at least 1 to 100, e.g. [10, 50, 100]; got {list(self.steps)}"
            )
        return self


TrafficMode = Literal["cname", "alb", "lease"]


class Tuning(Strict):
    """The settings a team tunes per app; shared by the stored config and the `register` request.

    Numbers must be JSON numbers and flags JSON booleans: `true` is not 1 and `"300"` is not 300."""

    alarms: tuple[str, ...] = Field(default=(), max_length=50)
    color_alarms: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description='Alarms that watch one color, e.g. {"mybot-green": ["mybot-green-5xx"]}: a deployment is '
        "gated and rolled back by the app-wide alarms plus those of the color it deploys to",
    )
    deploy_timeout_seconds: StrictInt = Field(default=1800, ge=30, le=86400)
    verify_timeout_seconds: StrictInt = Field(default=900, ge=30, le=86400)
    bake_seconds: StrictInt = Field(default=600, ge=0, le=604800)
    auto_promote: StrictBool = True
    promote_delay_seconds: StrictInt = Field(default=0, ge=0, le=86400)
    rollback_window_seconds: StrictInt = Field(default=0, ge=0, le=604800)
    health_grace_seconds: StrictInt = Field(
        default=60,
        ge=0,
        le=3600,
        description="How long the idle color may stay unhealthy on the new version before the deployment aborts",
    )
    version_retention: StrictInt = Field(
        default=30, ge=2, le=1000, description="Application versions bluegreen created that are kept per app"
    )
    signing_key_arn: str | None = Field(
        default=None, max_length=2048, description="KMS key whose signature every artifact must carry"
    )
    approval_timeout_seconds: StrictInt = Field(
        default=3600,
        ge=60,
        le=604800,
        description="With auto_promote false: how long a verified deployment awaits approval before it aborts",
    )
    consumer_lease: StrictBool = Field(
        default=False,
        description="A polling or gateway bot: promotion and rollback hand the consumer lease over "
        "(bluegreen.consumer), and a promotion is verified by the new color taking it",
    )
    handoff_timeout_seconds: StrictInt = Field(
        default=120, ge=10, le=3600, description="How long the new color has to take the consumer lease"
    )
    traffic: TrafficMode = Field(
        default="cname",
        description='How promotion moves traffic: "cname" (swap the environment CNAMEs), "alb" (the forward '
        'weights of a shared load balancer\'s rule), "lease" (a polling bot: only the consumer lease moves). '
        "cname and alb combine with consumer_lease",
    )
    alb: AlbTraffic | None = Field(default=None, description='Traffic mode "alb": the rule and target groups')
    drain_seconds: StrictInt = Field(
        default=120,
        ge=0,
        le=86400,
        description="How long the old color is left untouched after a swap (DNS TTL 60 s + draining 20 s, "
        "with margin: docs/traffic.md); a build for that color waits for the drain to end",
    )
    standby: StandbySize | None = Field(
        default=None,
        description="After the bake and rollback window, scale the old color down to this (e.g. 1/1, or 0/0 for "
        "a polling bot); its capacity is restored before it is deployed to or takes traffic back",
    )
    checks: Checks = Field(
        default_factory=Checks,
        description="Release gates: `pre` checks on the idle color before the swap, `post` checks right after "
        "it (docs/gates.md); all must pass",
    )

    _alarm_names = field_validator("alarms")(classmethod(lambda cls, v: alarm_names(v)))

    def tuning(self) -> dict[str, Any]:
        return self.model_dump(include=set(Tuning.model_fields))


class AppConfig(Tuning):
    """Per-app settings, stored with the app by `register`."""

    application_name: str = Field(pattern=APP_NAME, description="The Elastic Beanstalk application")
    environments: tuple[str, str] = Field(description="The two colors, e.g. mybot-blue and mybot-green")
    production_cname: str = Field(default="", max_length=255)

    _two_distinct_colors = field_validator("environments")(classmethod(lambda cls, v: two_distinct_colors(v)))

    @model_validator(mode="after")
    def _possible(self) -> AppConfig:
        """Combinations that would make every deployment fail are refused, naming both fields."""
        if self.traffic == "alb":
            if self.alb is None:
                raise ValueError('traffic "alb" needs alb: the listener rule and each color\'s target group')
            if set(self.alb.target_groups) != set(self.environments):
                raise ValueError(
                    f"alb.target_groups must name exactly the two colors {list(self.environments)}, "
                    f"not {sorted(self.alb.target_groups)}"
                )
        elif self.alb is not None:
            raise ValueError(f'alb is only used with traffic "alb", not "{self.traffic}"')
        if self.traffic == "lease" and not self.consumer_lease:
            raise ValueError('traffic "lease" moves only the consumer lease: set consumer_lease true')
        strangers = sorted(set(self.color_alarms) - set(self.environments))
        if strangers:
            raise ValueError(f"color_alarms names {', '.join(strangers)}, not one of the app's environments")
        for names in self.color_alarms.values():
            alarm_names(names)
        if self.promote_delay_seconds >= self.verify_timeout_seconds:
            raise ValueError(
                f"promote_delay_seconds ({self.promote_delay_seconds}) must be less than verify_timeout_seconds "
                f"({self.verify_timeout_seconds}), or every deployment times out before it is promoted"
            )
        for check in self.checks.pre:
            waits = check.timeout_seconds if check.type == "lambda" else check.worst_case_seconds
            if waits >= self.verify_timeout_seconds:
                raise ValueError(
                    f"pre-promotion check {check.name!r} may take {waits}s, not less than verify_timeout_seconds "
                    f"({self.verify_timeout_seconds}): the deployment would time out before its result"
                )
        if self.health_grace_seconds >= self.deploy_timeout_seconds:
            raise ValueError(
                f"health_grace_seconds ({self.health_grace_seconds}) must be less than deploy_timeout_seconds "
                f"({self.deploy_timeout_seconds})"
            )
        return self

    def policy(self) -> Policy:
        """The app's own release policy; a release's manifest may only tighten it (`manifest.tighten`)."""
        return Policy(bake_seconds=self.bake_seconds, requires_approval=not self.auto_promote, checks=self.checks)

    def other(self, environment: str) -> str:
        first, second = self.environments
        return second if environment == first else first

    def all_alarms(self) -> tuple[str, ...]:
        """Every alarm the app registered, app-wide and per color."""
        names = dict.fromkeys(self.alarms)
        for per_color in self.color_alarms.values():
            names.update(dict.fromkeys(per_color))
        return tuple(names)

    def alarms_for(self, environment: str | None) -> tuple[str, ...]:
        """The alarms that judge a deployment to `environment`: the app-wide ones and that color's."""
        return tuple(dict.fromkeys((*self.alarms, *self.color_alarms.get(environment or "", ()))))


class Artifact(Strict):
    """One uploaded source bundle, pinned to its S3 object version."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str = ""
    size: int = 0
    sha256: str | None = None
    label: str
    uploaded_at: datetime | None = Field(default=None, description="When S3 stored this object version")
    sequencer: str | None = Field(default=None, description="S3's per-key event order (hex)")
    uploaded_by: str | None = Field(default=None, description="The upload's principal, as S3 reports it")
    signature: str | None = Field(default=None, description="base64 KMS signature of the SHA-256 digest")
    manifest: ReleaseManifest | None = Field(default=None, description="The build's bluegreen.json, if it has one")

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    def is_older_than(self, other: Artifact) -> bool:
        """Recency from the upload itself, never from arrival order.

        The same key: S3's `sequencer` (right-pad the shorter with zeros, then compare, as S3's docs
        say), else the upload time. Different keys: the upload time (one-second precision at worst;
        a tie is not "older")."""
        mine, theirs = _sequencer(self.sequencer), _sequencer(other.sequencer)
        if self.key == other.key and mine and theirs and (mine[0] == theirs[0] or "" in (mine[0], theirs[0])):
            width = max(len(mine[1]), len(theirs[1]))
            return mine[1].ljust(width, "0") < theirs[1].ljust(width, "0")
        if self.uploaded_at is None or other.uploaded_at is None:
            return False
        return self.uploaded_at < other.uploaded_at


def _sequencer(value: str | None) -> tuple[str, str] | None:
    """(shape, upper-case hex). The two S3 event shapes format sequencers differently (Records: upper
    case, 18 digits; EventBridge: lower case, 16), so only sequencers of one shape are compared. The
    parsers tag the shape (`r:`/`e:`); an untagged value's case says it."""
    if not value:
        return None
    shape, _, digits = value.rpartition(":")
    if not shape:
        lower, upper = any(c in "abcdef" for c in digits), any(c in "ABCDEF" for c in digits)
        shape = "e" if lower and not upper else "r" if upper and not lower else ""
    return shape, digits.upper()


class ArtifactRef(Strict):
    """Enough of an artifact to judge recency and to name it, kept after its deployment ends."""

    key: str
    label: str
    uploaded_at: datetime | None = None
    sequencer: str | None = None

    def as_artifact(self) -> Artifact:
        return Artifact(
            bucket="", key=self.key, label=self.label, uploaded_at=self.uploaded_at, sequencer=self.sequencer
        )

    @classmethod
    def of(cls, artifact: Artifact) -> ArtifactRef:
        return cls(
            key=artifact.key, label=artifact.label, uploaded_at=artifact.uploaded_at, sequencer=artifact.sequencer
        )


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
    promoted_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str = ""
    unhealthy_since: datetime | None = Field(
        default=None, description="When the idle color was first seen unhealthy on the new version (grace)"
    )
    paused_seconds: float = Field(default=0, description="Time spent paused; deadlines do not run while paused")
    acknowledged_alarms: tuple[str, ...] = Field(
        default=(), description="`name@transition time` of alarms an operator promoted past (a hotfix)"
    )
    held: str | None = Field(default=None, description="What the deployment waits for, in words")
    refused_since: datetime | None = Field(default=None, description="When EB first refused the swap")
    refusal_retryable: bool = Field(default=True, description="The refusal was one EB lifts by itself (not Ready)")
    escalated: bool = False
    policy: Policy | None = Field(
        default=None, description="The app's policy tightened by the release's manifest (None: the app's)"
    )
    checks: tuple[CheckRun, ...] = Field(default=(), description="The release gates run so far, with results")
    weight: StrictInt | None = Field(
        default=None, description='Traffic mode "alb": the percent the new color serves now (a step)'
    )
    step_since: datetime | None = Field(default=None, description="When the current weighted step began")
    rollback_forced: bool = Field(
        default=False, description="An operator forced the rollback of a release that forbids it (kept across retries)"
    )

    @property
    def version(self) -> str:
        return self.artifact.label

    def check(self, name: str) -> CheckRun | None:
        return next((c for c in self.checks if c.name == name), None)

    def checks_of(self, phase: str) -> tuple[CheckRun, ...]:
        return tuple(c for c in self.checks if c.phase == phase)


class CheckRun(Strict):
    """One release gate of one deployment: started, then passed or failed (once: a late or second report
    is ignored)."""

    name: str
    phase: Literal["pre", "post"]
    type: Literal["http", "lambda"]
    started_at: datetime
    deadline: datetime
    passed: bool | None = None
    reason: str = ""
    reported_at: datetime | None = None
    host: str = Field(default="", description="What an HTTP check GETs (the check function reads it from here)")

    @property
    def waiting(self) -> bool:
        return self.passed is None


# ---------------------------------------------------------------- causes, effects, notifications

CauseType = Literal["artifact", "health", "alarm", "override", "timeout", "reconcile", "effect", "check"]


class Cause(Strict):
    type: CauseType
    id: str
    actor: str | None = None
    reason: str | None = None
    actor_verified: bool = Field(
        default=False,
        description="True when AWS verified the actor (SigV4 on the Function URL); otherwise it is as claimed",
    )


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


class PruneVersions(Strict):
    """Keep at most `keep` of the application versions bluegreen created for the app (EB has a quota),
    never one that either color runs or that `protect` names; their pinned S3 copies go with them."""

    kind: Literal["prune_versions"] = "prune_versions"
    application_name: str
    app: str
    keep: int
    protect: tuple[str, ...] = ()


class HandOver(Strict):
    """Ensure the consumer lease's desired holder is `environment` (the holder releases, then it acquires)."""

    kind: Literal["hand_over"] = "hand_over"
    app: str
    environment: str


class SetWeights(Strict):
    """Ensure the ALB rule forwards `percent` to `environment`'s target group and the rest to `other`'s."""

    kind: Literal["set_weights"] = "set_weights"
    rule_arn: str
    environment: str
    other: str
    target_groups: dict[str, str]
    percent: int = Field(ge=0, le=100)


class SetCapacity(Strict):
    """Ensure the environment's Auto Scaling bounds (standby, or the capacity it had before)."""

    kind: Literal["set_capacity"] = "set_capacity"
    application_name: str
    environment: str
    capacity: StandbySize


class RunCheck(Strict):
    """Run an HTTP check against `host` (the color's own CNAME); its result comes back as `CheckReported`."""

    kind: Literal["run_check"] = "run_check"
    app: str
    deployment_id: str
    phase: Literal["pre", "post"]
    check: HttpCheck
    host: str


class InvokeHook(Strict):
    """Queue one asynchronous run of a user's hook with a callback token; it reports with `report_check`."""

    kind: Literal["invoke_hook"] = "invoke_hook"
    app: str
    deployment_id: str
    phase: Literal["pre", "post"]
    hook: LambdaHook
    environment: str
    url: str
    version: str
    deadline: datetime


Effect = Annotated[
    CreateVersion
    | UpdateEnvironment
    | MakeLive
    | PruneVersions
    | HandOver
    | RunCheck
    | InvokeHook
    | SetWeights
    | SetCapacity,
    Field(discriminator="kind"),
]


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
    """Write-ahead record of effects committed but not yet confirmed done.

    `gates[i]` is how many effects must have run before `notifications[i]` may be published, so a
    notification never reports a swap that EB refused."""

    revision: int
    owner: str
    claimed_at: datetime
    effects: tuple[Effect, ...] = ()
    notifications: tuple[Notification, ...] = ()
    gates: tuple[int, ...] = ()

    def publishable(self, effects_done: int) -> tuple[Notification, ...]:
        gates = self.gates or (0,) * len(self.notifications)
        return tuple(n for n, gate in zip(self.notifications, gates, strict=False) if gate <= effects_done)


class Outbox(Strict):
    """Notifications not yet delivered. Kept apart from effects, so a bus problem never blocks a rollback."""

    notifications: tuple[Notification, ...] = ()
    attempts: int = 0
    last_error: str | None = None
    failed: int = Field(default=0, description="Notifications dropped after a permanent error (kept in history)")


class Drain(Strict):
    environment: str
    until: datetime


class Standby(Strict):
    environment: str
    restore: StandbySize = Field(description="The capacity it had, restored before it serves or is deployed to")


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
    paused_at: datetime | None = None
    last_succeeded: ArtifactRef | None = Field(default=None, description="The newest build that went live for good")
    accepted_uploads: tuple[str, ...] = Field(
        default=(), description="Labels (one per S3 object version) of the last uploads accepted, for redeliveries"
    )
    outbox: Outbox = Field(default_factory=Outbox)
    drain: Drain | None = Field(default=None, description="The color left untouched after the last swap, until when")
    standby_due: datetime | None = Field(
        default=None, description="When the old color may go to standby (after the bake, the window and the drain)"
    )
    standby: Standby | None = Field(default=None, description="The color on standby and the capacity it had")
    forward_acknowledged: tuple[str, ...] = Field(
        default=(),
        description="`name@since` of alarms a release that forbids rollback fired: its fixes deploy past them, "
        "until one succeeds",
    )

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
    endpoint_url: str = Field(default="", description="The environment's load balancer (a swap does not move it)")
    tier: str = "WebServer"

    @property
    def ready(self) -> bool:
        return self.status == "Ready"

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
    alarms_read: bool = Field(default=False, description="DescribeAlarms was called for this decision")
    alarms_error: str | None = Field(default=None, description="Why the alarms could not be read (fail closed)")
    lease_read: bool = Field(default=False, description="The consumer lease was read for this decision")
    lease_holder: str | None = Field(default=None, description="The color holding the consumer lease now")
    weights: dict[str, int] | None = Field(
        default=None, description='Traffic mode "alb": percent per color that the rule forwards now'
    )
    capacities: dict[str, StandbySize] = Field(default_factory=dict, description="Capacity per color, when read")

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
    outcome: Literal["started", "succeeded", "failed", "managed"] = Field(
        description='"managed": EB\'s "Managed update status change" (a platform update, not ours)'
    )
    message: str = ""


class AlarmChanged(EventBase):
    kind: Literal["alarm"] = "alarm"
    alarm: str
    state: str
    previous_state: str | None = None
    reason: str = ""


OverrideAction = Literal[
    "status",
    "apps",
    "promote",
    "approve",
    "finish_bake",
    "rollback",
    "abort",
    "pause",
    "resume",
    "retry",
    "register",
    "report_check",
]
READ_ONLY_ACTIONS = ("status", "apps")
MUTATING_ACTIONS = ("promote", "approve", "finish_bake", "rollback", "abort", "pause", "resume", "retry")


class OverrideIssued(EventBase):
    kind: Literal["override"] = "override"
    action: OverrideAction
    actor: str
    reason: str
    deployment_id: str | None = None
    force: bool = False
    actor_verified: bool = False


class Tick(EventBase):
    kind: Literal["tick"] = "tick"


class EffectFailed(EventBase):
    kind: Literal["effect_failed"] = "effect_failed"
    effect: str
    error: str
    environment: str | None = Field(default=None, description="For make_live: the color that was to be live")
    retryable: bool = Field(default=False, description="EB may accept it later by itself (a color not Ready)")


class CheckReported(EventBase):
    """A release gate's result: an HTTP check the controller ran, or a hook's `report_check`."""

    kind: Literal["check"] = "check"
    deployment_id: str
    check: str
    passed: bool
    reason: str = ""
    source: Literal["http", "hook"] = "http"
    actor: str | None = None


Event = (
    ArtifactUploaded
    | HealthChanged
    | EnvironmentUpdated
    | AlarmChanged
    | OverrideIssued
    | Tick
    | EffectFailed
    | CheckReported
)


# ---------------------------------------------------------------- override API


class RegisterConfig(Tuning):
    """`register` input: the app config plus how to find the live color now."""

    application_name: str | None = Field(default=None, pattern=APP_NAME)
    environments: tuple[str, str] | None = Field(
        default=None, description="The two colors; needed for a new app, kept from the stored config otherwise"
    )
    live_environment: str | None = None
    production_cname: str | None = Field(default=None, max_length=255)

    _two_distinct_colors = field_validator("environments")(
        classmethod(lambda cls, v: None if v is None else two_distinct_colors(v))
    )


class OverrideRequest(Strict):
    action: OverrideAction
    app: str = Field(default="-", pattern=r"^(-|[A-Za-z0-9][A-Za-z0-9_.-]{0,99})$", description='"-" with apps')
    reason: str = Field(default="", max_length=1024)
    requested_by: str = Field(default="unknown", min_length=1, max_length=256)
    deployment_id: str | None = Field(default=None, max_length=200)
    config: RegisterConfig | None = None
    history_limit: StrictInt = Field(default=20, ge=0, le=200)
    force: StrictBool = Field(
        default=False,
        description="promote/approve past a firing alarm or unfinished checks (a hotfix), or roll back a release "
        "that forbids rollback; said in the notification",
    )
    token: str | None = Field(default=None, max_length=1024, description="report_check: the hook's callback token")
    result: Literal["pass", "fail"] | None = Field(default=None, description="report_check: the hook's verdict")

    @model_validator(mode="after")
    def _config_only_with_register(self) -> OverrideRequest:
        if self.action == "register" and self.config is None:
            raise ValueError("register needs a config")
        if self.action != "register" and self.config is not None:
            raise ValueError("config is only accepted with register")
        if self.app == "-" and self.action != "apps":
            raise ValueError(f"{self.action} needs an app")
        if self.action in (*MUTATING_ACTIONS, "register") and not self.reason.strip():
            raise ValueError(f"{self.action} needs a reason")
        if (self.action == "report_check") != (self.token is not None and self.result is not None):
            raise ValueError("report_check needs token and result (pass or fail); other actions take neither")
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
    manifest: dict[str, Any] | None = Field(default=None, description="The release's bluegreen.json, as validated")
    check: dict[str, Any] | None = Field(default=None, description="A release gate's result: name, passed, reason")
