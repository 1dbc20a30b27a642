"""Parse the AWS event shapes each trigger receives into domain events.

AWS may add fields at any time, so these models ignore extras; what we read is validated strictly.
Validation errors become `BadInput` here, in one place. Irrelevant but well-formed events (another
account, a non-zip key, an EB creation event) become `Ignored` with the reason.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bluegreen.errors import BadInput
from bluegreen.models import AlarmChanged, EnvironmentUpdated, HealthChanged, OverrideRequest

MAX_KEY_BYTES = 1024  # S3's own limit on key length
_HEALTH = re.compile(r"Environment health has transitioned (?:from (?P<old>[A-Za-z]+) )?to (?P<new>[A-Za-z]+)")
_UPDATE_OUTCOMES: dict[str, Literal["started", "succeeded", "failed"]] = {
    "Environment update started": "started",
    "Environment update successful": "succeeded",
    "Environment update failed": "failed",
}
# EB's texts that end an update badly whatever its Status says (docs/aws-events.md, 1.3 and 1.6).
_FAILED_UPDATE_TEXTS = (
    "but with errors",
    "Failed to deploy application",
    "Failed to deploy configuration",
    "reverted to the previous configuration",
    "However, there were issues during launch",
)
MANAGED_UPDATE = "Managed update status change"


class Ignored(Exception):
    """A well-formed event that is not ours to act on; logged with its reason, never retried."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, defer_build=True)


def _validate(model: type[Loose], raw: Any, what: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}" for e in error.errors()[:5])
        raise BadInput(f"malformed {what}: {problems}") from None


def as_object(event: Any) -> dict[str, Any]:
    """Direct invokes may pass a JSON string; everything else must be a JSON object."""
    if isinstance(event, str | bytes):
        try:
            event = json.loads(event)
        except ValueError:
            raise BadInput("the payload is not valid JSON") from None
    if not isinstance(event, dict):
        raise BadInput(f"the payload must be a JSON object, not {type(event).__name__}")
    return event


# ---------------------------------------------------------------- origin


def check_origin(account: str | None, region: str | None, context: Any = None) -> None:
    """Ignore events from another account or region than the function's own."""
    own_region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region and own_region and region != own_region:
        raise Ignored(f"event from region {region}, this controller runs in {own_region}")
    arn = getattr(context, "invoked_function_arn", "") or ""
    parts = arn.split(":")
    own_account = parts[4] if len(parts) > 4 and parts[4].isdigit() else None
    if account and own_account and account != own_account:
        raise Ignored(f"event from account {account}, this controller runs in {own_account}")


# ---------------------------------------------------------------- S3 artifact uploads


class ArtifactNotice(Loose):
    bucket: str
    key: str
    version_id: str | None = None
    etag: str = ""
    size: int | None = None
    at: datetime
    event_id: str
    sequencer: str | None = None
    requester: str | None = None


class _S3Bucket(Loose):
    name: str = Field(min_length=3, max_length=63)


class _EbS3Object(Loose):
    key: str = Field(min_length=1)
    size: int | None = None
    etag: str = ""
    version_id: str | None = Field(default=None, alias="version-id")
    sequencer: str | None = None


class _EbS3Detail(Loose):
    bucket: _S3Bucket
    object: _EbS3Object
    requester: str | None = None


class _EbS3Event(Loose):
    id: str
    time: datetime
    account: str | None = None
    region: str | None = None
    detail: _EbS3Detail


class _RecordObject(Loose):
    key: str = Field(min_length=1)
    size: int | None = None
    e_tag: str = Field(default="", alias="eTag")
    version_id: str | None = Field(default=None, alias="versionId")
    sequencer: str | None = None


class _UserIdentity(Loose):
    principal_id: str | None = Field(default=None, alias="principalId")


class _RecordS3(Loose):
    bucket: _S3Bucket
    object: _RecordObject


class _Record(Loose):
    event_source: str = Field(alias="eventSource")
    event_name: str = Field(alias="eventName")
    event_time: datetime = Field(alias="eventTime")
    aws_region: str | None = Field(default=None, alias="awsRegion")
    user_identity: _UserIdentity | None = Field(default=None, alias="userIdentity")
    s3: _RecordS3


class _Records(Loose):
    records: list[_Record] = Field(alias="Records", min_length=1, max_length=100)


def _notice(
    bucket: str,
    key: str,
    version_id: str | None,
    etag: str,
    size: int | None,
    at: datetime,
    sequencer: str | None,
    requester: str | None,
) -> ArtifactNotice:
    etag = etag.strip('"')
    if version_id == "null":
        version_id = None  # S3's id for every object of an unversioned (or suspended) bucket: not an identity
    return ArtifactNotice(
        bucket=bucket,
        key=key,
        version_id=version_id,
        etag=etag,
        size=size,
        at=at,
        event_id=f"s3:{bucket}/{key}@{version_id or etag}",
        sequencer=sequencer,
        requester=requester,
    )


def parse_artifact_event(raw: Any, context: Any = None) -> list[ArtifactNotice]:
    """Both shapes: EventBridge "Object Created" and the classic bucket notification `Records[]`.

    The key is encoded differently by each (docs/aws-events.md, 2.1 and 2.2): `Records[]` carries it
    form-encoded ("red flower+1.zip" arrives as "red+flower%2B1.zip"), EventBridge carries it raw.
    Decoding the raw one would turn a literal "+" into a space."""
    event = as_object(raw)
    if event.get("Event") == "s3:TestEvent":
        raise Ignored("S3's test event for a new notification destination")
    if "Records" in event:
        records = _validate(_Records, event, "S3 notification")
        notices = []
        for record in records.records:
            if record.event_source != "aws:s3" or not record.event_name.startswith("ObjectCreated:"):
                continue
            check_origin(None, record.aws_region, context)
            obj = record.s3.object
            principal = record.user_identity.principal_id if record.user_identity else None
            notices.append(
                _notice(
                    record.s3.bucket.name,
                    unquote_plus(obj.key),
                    obj.version_id,
                    obj.e_tag,
                    obj.size,
                    record.event_time,
                    f"r:{obj.sequencer}" if obj.sequencer else None,
                    principal,
                )
            )
        if not notices:
            raise Ignored("no ObjectCreated record from S3 in the notification")
        return notices
    if event.get("source") != "aws.s3" or event.get("detail-type") != "Object Created":
        raise BadInput("not an S3 Object Created event (EventBridge) nor an S3 notification (Records)")
    parsed = _validate(_EbS3Event, event, "S3 Object Created event")
    check_origin(parsed.account, parsed.region, context)
    obj = parsed.detail.object
    return [
        _notice(
            parsed.detail.bucket.name,
            obj.key,
            obj.version_id,
            obj.etag,
            obj.size,
            parsed.time,
            f"e:{obj.sequencer}" if obj.sequencer else None,
            parsed.detail.requester,
        )
    ]


def app_from_key(key: str) -> str:
    """`<app>/<name>.zip` → app. Rejects keys we must never act on."""
    if len(key.encode()) > MAX_KEY_BYTES:
        raise BadInput("object key is longer than S3 allows")
    if not key.isascii():
        raise BadInput("object key must be ASCII: artifact names become Elastic Beanstalk version labels")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise BadInput(f"object key {key!r} has an empty, '.' or '..' segment")
    if len(parts) < 2:
        raise Ignored(f"key {key!r} is outside any app prefix (expected <app>/<name>.zip)")
    if not key.lower().endswith(".zip"):
        raise Ignored(f"key {key!r} is not a .zip source bundle")
    return parts[0]


# ---------------------------------------------------------------- Elastic Beanstalk events


class _EbDetail(Loose):
    status: str = Field(alias="Status")
    application_name: str | None = Field(default=None, alias="ApplicationName")
    environment_name: str | None = Field(default=None, alias="EnvironmentName")
    message: str = Field(default="", alias="Message")
    severity: str | None = Field(default=None, alias="Severity")


class _EbEvent(Loose):
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    time: datetime
    account: str | None = None
    region: str | None = None
    detail: _EbDetail


def parse_environment_event(raw: Any, context: Any = None) -> HealthChanged | EnvironmentUpdated:
    event = as_object(raw)
    if event.get("source") != "aws.elasticbeanstalk":
        raise BadInput("not an Elastic Beanstalk event (source aws.elasticbeanstalk)")
    parsed = _validate(_EbEvent, event, "Elastic Beanstalk event")
    check_origin(parsed.account, parsed.region, context)
    detail = parsed.detail
    if not detail.environment_name:
        raise Ignored("Elastic Beanstalk event names no environment")
    if parsed.detail_type == "Health status change":
        # EB puts the new health only in the free-text message.
        match = _HEALTH.search(detail.message)
        if match is None:
            raise Ignored(f"health message not understood: {detail.message[:200]!r}")
        return HealthChanged(
            event_id=parsed.id,
            at=parsed.time,
            environment=detail.environment_name,
            health=match["new"],
            previous_health=match["old"],
            message=detail.message[:500],
        )
    if parsed.detail_type == MANAGED_UPDATE:
        return EnvironmentUpdated(
            event_id=parsed.id,
            at=parsed.time,
            environment=detail.environment_name,
            outcome="managed",
            message=f"{detail.status}: {detail.message}"[:500],
        )
    if parsed.detail_type == "Elastic Beanstalk resource status change":
        outcome = _UPDATE_OUTCOMES.get(detail.status)
        if outcome is None:
            raise Ignored(f"Elastic Beanstalk status {detail.status!r} is not an environment update")
        if outcome == "succeeded" and any(text in detail.message for text in _FAILED_UPDATE_TEXTS):
            outcome = "failed"  # "complete, but with errors" is not a success
        return EnvironmentUpdated(
            event_id=parsed.id,
            at=parsed.time,
            environment=detail.environment_name,
            outcome=outcome,
            message=detail.message[:500],
        )
    raise Ignored(f"Elastic Beanstalk detail-type {parsed.detail_type!r} is not handled")


# ---------------------------------------------------------------- CloudWatch alarms


class _AlarmState(Loose):
    value: str
    reason: str = ""
    timestamp: datetime | None = None


class _AlarmDetail(Loose):
    alarm_name: str = Field(alias="alarmName", min_length=1, max_length=255)
    state: _AlarmState
    previous_state: _AlarmState | None = Field(default=None, alias="previousState")


class _AlarmEventBridge(Loose):
    id: str
    time: datetime
    account: str | None = None
    region: str | None = None
    detail: _AlarmDetail


class _AlarmAction(Loose):
    alarm_arn: str = Field(alias="alarmArn")
    account_id: str | None = Field(default=None, alias="accountId")
    region: str | None = None
    time: datetime
    alarm_data: _AlarmDetail = Field(alias="alarmData")


def parse_alarm_event(raw: Any, context: Any = None) -> AlarmChanged:
    """EventBridge "CloudWatch Alarm State Change", or the payload of an alarm's direct Lambda action."""
    event = as_object(raw)
    if "alarmData" in event:
        action = _validate(_AlarmAction, event, "CloudWatch alarm action payload")
        check_origin(action.account_id, action.region, context)
        detail, at = action.alarm_data, action.time
    elif event.get("detail-type") == "CloudWatch Alarm State Change":
        bridge = _validate(_AlarmEventBridge, event, "CloudWatch Alarm State Change event")
        check_origin(bridge.account, bridge.region, context)
        detail, at = bridge.detail, bridge.time
    else:
        raise BadInput("not a CloudWatch alarm event (EventBridge) nor an alarm action payload (alarmData)")
    changed_at = detail.state.timestamp or at
    return AlarmChanged(
        # Both delivery paths carry the same alarm transition: one id, so a second path is a duplicate.
        event_id=f"alarm:{detail.alarm_name}:{detail.state.value}:{changed_at.isoformat()}",
        at=changed_at,
        alarm=detail.alarm_name,
        state=detail.state.value,
        previous_state=detail.previous_state.value if detail.previous_state else None,
        reason=detail.state.reason[:500],
    )


# ---------------------------------------------------------------- override and schedule


MAX_OVERRIDE_BYTES = 64 * 1024


def parse_override(raw: Any) -> OverrideRequest:
    if isinstance(raw, str | bytes) and len(raw) > MAX_OVERRIDE_BYTES:
        raise BadInput(f"the payload is larger than {MAX_OVERRIDE_BYTES} bytes")
    event = as_object(raw)
    if len(json.dumps(event, default=str)) > MAX_OVERRIDE_BYTES:
        raise BadInput(f"the payload is larger than {MAX_OVERRIDE_BYTES} bytes")
    try:
        return OverrideRequest.model_validate(event)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in error.errors()[:5])
        raise BadInput(f"invalid override request: {problems}") from None


class _Scheduled(Loose):
    id: str | None = None
    time: datetime | None = None


def parse_schedule(raw: Any, context: Any = None) -> tuple[str, datetime]:
    """EventBridge's scheduled event; a manual invoke (no id) is identified by its request id, so two
    manual runs are two ticks, not one tick delivered twice."""
    event = as_object(raw) if raw else {}
    parsed = _validate(_Scheduled, event, "scheduled event")
    tick_id = parsed.id or f"manual:{getattr(context, 'aws_request_id', None) or datetime.now(UTC).isoformat()}"
    return tick_id, parsed.time or datetime.now(UTC)


# ---------------------------------------------------------------- override over an IAM-authenticated Function URL


class _IamIdentity(Loose):
    user_arn: str = Field(alias="userArn", min_length=20)


class _Authorizer(Loose):
    iam: _IamIdentity


class _UrlRequestContext(Loose):
    authorizer: _Authorizer
    request_id: str = Field(default="url", alias="requestId")


class _FunctionUrlEvent(Loose):
    request_context: _UrlRequestContext = Field(alias="requestContext")
    body: str | None = None
    is_base64_encoded: bool = Field(default=False, alias="isBase64Encoded")


def parse_function_url_override(raw: Any) -> tuple[OverrideRequest, str]:
    """A Function URL request with AuthType AWS_IAM: Lambda has verified the SigV4 signature, and the
    caller's ARN comes from the request context. It replaces whatever `requested_by` the body claims."""
    event = _validate(_FunctionUrlEvent, as_object(raw), "Function URL request")
    body = event.body or ""
    if event.is_base64_encoded:
        import base64

        try:
            body = base64.b64decode(body).decode()
        except ValueError:
            raise BadInput("the request body is not valid base64") from None
    payload = as_object(body)
    caller = event.request_context.authorizer.iam.user_arn
    payload["requested_by"] = caller[:256]
    return parse_override(payload), event.request_context.request_id
