"""CloudWatch metrics of every transition, in embedded metric format (EMF) on stdout.

Lambda sends stdout to CloudWatch Logs, which extracts EMF records into metrics: no AWS call, no
IAM permission, nothing on the critical path of a rollback. Namespace `bluegreen`, one dimension
`app` (and no `service` dimension, so the dashboard's `SEARCH('{bluegreen,app} ...')` finds them).

| metric                      | unit    | when                                                             |
| --------------------------- | ------- | ---------------------------------------------------------------- |
| `DeploymentStarted`         | Count   | a deployment enters DEPLOYING                                    |
| `DeploymentSucceeded`       | Count   | ... enters SUCCEEDED                                             |
| `DeploymentAborted`         | Count   | ... enters ABORTED                                               |
| `DeploymentRolledBack`      | Count   | ... enters ROLLED_BACK                                           |
| `DeploymentSuperseded`      | Count   | ... enters SUPERSEDED                                            |
| `UploadToLiveSeconds`       | Seconds | artifact upload -> the transition to BAKING (traffic moved)      |
| `UploadToSuccessSeconds`    | Seconds | artifact upload -> SUCCEEDED                                     |
| `AlarmToTrafficBackSeconds` | Seconds | the alarm's own time -> ROLLED_BACK (from BAKING, SUCCEEDED or   |
|                             |         | ROLLBACK_REFUSED)                                                |
| `NotificationFailures`      | Count   | notifications dropped after a permanent bus error                |

The upload time is `artifact.uploaded_at` (S3's), else the deployment's `started_at`.

Metrics never break a deployment: every function here logs and swallows its errors. Powertools'
metrics module is imported on the first transition only, never at import time (cold start).
Set `POWERTOOLS_METRICS_DISABLED=true` to silence them (powertools' own switch), e.g. locally.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bluegreen.models import AppState, Deployment, Notification

log = logging.getLogger("bluegreen.metrics")

NAMESPACE = "bluegreen"
DIMENSION = "app"
COUNT, SECONDS = "Count", "Seconds"

# to_state -> the counter it increments
COUNTERS = {
    "DEPLOYING": "DeploymentStarted",
    "SUCCEEDED": "DeploymentSucceeded",
    "ABORTED": "DeploymentAborted",
    "ROLLED_BACK": "DeploymentRolledBack",
    "SUPERSEDED": "DeploymentSuperseded",
}
# A deployment "starts" when it enters DEPLOYING from outside the in-flight states (new or retried).
_IN_FLIGHT = frozenset({"DEPLOYING", "VERIFYING", "BAKING", "SWAP_REFUSED", "ROLLBACK_REFUSED", "ROLLBACK_WARMING"})
METRIC_NAMES = (
    *COUNTERS.values(),
    "UploadToLiveSeconds",
    "UploadToSuccessSeconds",
    "AlarmToTrafficBackSeconds",
    "NotificationFailures",
)


class Datum:
    """One metric value (a plain class: a dataclass would cost a millisecond of cold start)."""

    __slots__ = ("name", "unit", "value")

    def __init__(self, name: str, unit: str, value: float) -> None:
        self.name, self.unit, self.value = name, unit, value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Datum) and (self.name, self.unit, self.value) == (other.name, other.unit, other.value)

    def __hash__(self) -> int:
        return hash((self.name, self.unit, self.value))

    def __repr__(self) -> str:
        return f"Datum({self.name!r}, {self.unit!r}, {self.value!r})"


def record_transitions(state: AppState, notifications: Sequence[Notification], event_at: datetime | None) -> None:
    """Emit the metrics of the transitions just committed for `state.app`. Never raises.

    `event_at`: the triggering event's own time (for an alarm, when CloudWatch changed its state)."""
    try:
        data = transition_metrics(state, notifications, event_at)
        if data:
            _emit(state.app, data)
    except Exception:
        log.warning("metrics: could not record the transitions of %s", getattr(state, "app", "?"), exc_info=True)


def record_notification_failures(app: str, count: int) -> None:
    """Emit `NotificationFailures` (notifications dropped after a permanent error). Never raises."""
    try:
        if count > 0:
            _emit(app, [Datum("NotificationFailures", COUNT, float(count))])
    except Exception:
        log.warning("metrics: could not record notification failures of %s", app, exc_info=True)


def transition_metrics(
    state: AppState, notifications: Sequence[Notification], event_at: datetime | None
) -> list[Datum]:
    """The metrics of the transitions (pure; what `record_transitions` emits)."""
    data: list[Datum] = []
    for note in notifications:
        to_state, from_state = note.to_state, note.from_state
        if to_state is None or to_state == from_state:
            continue  # a registration or an event that is not a transition (pause, resume, ...)
        at = _parse(note.at)
        deployment = _deployment_of(state, note)
        counter = COUNTERS.get(to_state)
        if counter and not (to_state == "DEPLOYING" and from_state in _IN_FLIGHT):
            data.append(Datum(counter, COUNT, 1.0))
        if to_state == "BAKING" and deployment is not None and at is not None:
            _append_duration(data, "UploadToLiveSeconds", _uploaded(deployment), at)
        if to_state == "SUCCEEDED" and deployment is not None and at is not None:
            _append_duration(data, "UploadToSuccessSeconds", _uploaded(deployment), at)
        if to_state == "ROLLED_BACK" and at is not None:
            alarm_at = _alarm_time(note, deployment, event_at)
            if alarm_at is not None:
                _append_duration(data, "AlarmToTrafficBackSeconds", alarm_at, at)
    return data


def _alarm_time(note: Notification, deployment: Deployment | None, event_at: datetime | None) -> datetime | None:
    """When the alarm that sent traffic back fired, if an alarm did.

    A rollback caused by an alarm: the event's own time. A refused rollback that later succeeds
    (ROLLBACK_REFUSED -> ROLLED_BACK, caused by a retry): the alarm time the deployment kept, if
    the core keeps one (`alarm_at`), else the event time when the event is still the alarm."""
    if note.from_state == "ROLLBACK_REFUSED":
        kept = getattr(deployment, "alarm_at", None) if deployment is not None else None
        if isinstance(kept, datetime):
            return kept
    if note.cause.type == "alarm" and event_at is not None:
        return event_at
    return None


def _append_duration(data: list[Datum], name: str, start: datetime, end: datetime) -> None:
    seconds = (_aware(end) - _aware(start)).total_seconds()
    if seconds >= 0:
        data.append(Datum(name, SECONDS, round(seconds, 3)))
    else:
        log.warning("metrics: %s would be negative (%.3fs): clock skew; not emitted", name, seconds)


def _deployment_of(state: AppState, note: Notification) -> Deployment | None:
    deployment = state.deployment
    if deployment is not None and note.deployment_id == deployment.id:
        return deployment
    return None


def _uploaded(deployment: Deployment) -> datetime:
    return deployment.artifact.uploaded_at or deployment.started_at


def _parse(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _emit(app: str, data: Sequence[Datum]) -> None:
    """One EMF record for the app on stdout, through powertools (imported here, on first use)."""
    from aws_lambda_powertools.metrics import EphemeralMetrics

    # EphemeralMetrics: no state shared with other Metrics instances of the process; service=""
    # keeps powertools from adding a `service` dimension from POWERTOOLS_SERVICE_NAME.
    metrics: Any = EphemeralMetrics(namespace=NAMESPACE, service="")
    metrics.add_dimension(name=DIMENSION, value=app)
    for datum in data:
        metrics.add_metric(name=datum.name, unit=datum.unit, value=datum.value)
    metrics.flush_metrics()
