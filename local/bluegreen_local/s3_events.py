"""S3 event notifications in the shapes AWS sends them, for moto (dev-only; never shipped).

moto 5 emits S3 notifications, but not quite as S3 does (see docs/aws-events.md, section 2):

- classic notifications (SQS/SNS/Lambda, `Records[]`): the key is form-encoded like S3 does it
  (`quote_plus` with `/` kept: "red flower.jpg" -> "red+flower.jpg", "+" -> "%2B", "(" -> "%28");
  moto also encodes "/". `eventTime` is UTC with milliseconds and a `Z` (moto: local time, no zone);
  `userIdentity`, `requestParameters`, `responseElements`, `ownerIdentity`, `versionId` and an
  increasing `sequencer` are present (moto leaves them out).
- EventBridge "Object Created" (`detail`): the key is the raw key (not encoded), `etag` in lower
  case (moto: `eTag`), `reason` the API (`PutObject`, `POST Object`, `CopyObject`,
  `CompleteMultipartUpload`, `DeleteObject`; moto: "ObjectCreated"), a `sequencer` that increases
  (moto: a constant), a fresh `request-id`, and delivery to the **default** bus only (moto: every
  bus).
- `s3:TestEvent` (sent when SQS/SNS destinations are configured) carries `RequestId` and `HostId`
  and a UTC `Time` with milliseconds, like AWS's sample.

The sequencer is one value per object version (both shapes carry the same one, formatted as AWS
formats each: 18 upper-case hex digits in `Records[]`, 16 lower-case in EventBridge), strictly
increasing across the process, so it increases per key as AWS guarantees.

`install()` swaps the functions in `moto.s3.notifications` (moto calls them through the module);
`uninstall()` restores moto's. Idempotent.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import string
import threading
import time
import uuid
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from urllib.parse import quote_plus

from moto.moto_api._internal import mock_random as random

REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "POST Object",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete": "DeleteObject",
    "s3:ObjectRemoved:DeleteMarkerCreated": "DeleteObject",
}

_lock = threading.Lock()
_last_sequence = 0
_originals: dict[str, Any] = {}


def encode_key(key: str) -> str:
    """A key as S3 writes it in a classic notification: form encoding, "/" kept."""
    return quote_plus(key, safe="/")


def next_sequence() -> int:
    """Strictly increasing across the process (nanoseconds since the epoch, bumped on ties)."""
    global _last_sequence
    with _lock:
        _last_sequence = max(_last_sequence + 1, time.time_ns())
        return _last_sequence


def sequence_of(key: Any) -> int:
    """The sequencer of one object version: fixed the first time an event for it is built."""
    value = getattr(key, "_bluegreen_sequence", None)
    if value is None:
        value = next_sequence()
        with contextlib.suppress(AttributeError):  # a key that takes no attributes: still increasing
            key._bluegreen_sequence = value
    return int(value)


def classic_sequencer(sequence: int) -> str:
    return f"{sequence:018X}"


def eventbridge_sequencer(sequence: int) -> str:
    return f"{sequence:016x}"[-16:]


def _request_id() -> str:
    return "".join(random.choice(string.ascii_uppercase + string.digits) for _ in range(16))


def _host_id() -> str:
    raw = "".join(random.choice(string.ascii_letters + string.digits + "+/") for _ in range(76))
    return raw


def principal_id(account_id: str) -> str:
    """A stable IAM unique id for the caller (moto's default credentials are one IAM user)."""
    digest = hashlib.sha256(account_id.encode()).hexdigest().upper()
    return f"AWS:AIDA{digest[:17]}"


def _now_ms() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def classic_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
    """`Records[]` as S3 sends it to SQS, SNS and Lambda."""
    obj: dict[str, Any] = {
        "key": encode_key(key.name),
        "size": key.size,
        "eTag": key.etag.replace('"', ""),
    }
    if getattr(key, "version_id", None) and key.version_id != "null":
        obj["versionId"] = key.version_id
    obj["sequencer"] = classic_sequencer(sequence_of(key))
    account = getattr(bucket, "account_id", "123456789012")
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": bucket.region_name,
                "eventTime": _now_ms(),
                "eventName": event_name[3:] if event_name.startswith("s3:") else event_name,
                "userIdentity": {"principalId": principal_id(account)},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": _request_id(), "x-amz-id-2": _host_id()},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": notification_id,
                    "bucket": {
                        "name": bucket.name,
                        "ownerIdentity": {"principalId": principal_id(account)[4:]},
                        "arn": bucket.arn,
                    },
                    "object": obj,
                },
            }
        ]
    }


def eventbridge_event(account_id: str, bucket: Any, event_name: str, key: Any) -> dict[str, Any]:
    """The EventBridge event S3 puts on the default bus (`time` as moto's buses expect it: epoch)."""
    from moto.s3.notifications import _detail_type

    obj: dict[str, Any] = {"key": key.name}
    if "ObjectCreated" in event_name:
        obj["size"] = key.size
    obj["etag"] = key.etag.replace('"', "")
    if getattr(key, "version_id", None) and key.version_id != "null":
        obj["version-id"] = key.version_id
    obj["sequencer"] = eventbridge_sequencer(sequence_of(key))
    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket.name},
        "object": obj,
        "request-id": _request_id(),
        "requester": account_id,
        "source-ip-address": "127.0.0.1",
    }
    reason = REASONS.get(event_name)
    if reason:
        detail["reason"] = reason
    if event_name == "s3:ObjectRemoved:DeleteMarkerCreated":
        detail["deletion-type"] = "Delete Marker Created"
    elif event_name == "s3:ObjectRemoved:Delete":
        detail["deletion-type"] = "Permanently Deleted"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": _detail_type(event_name),
        "source": "aws.s3",
        "account": account_id,
        "time": int(time.time()),  # whole seconds, as AWS's "2021-11-12T00:00:00Z"
        "region": bucket.region_name,
        "resources": [bucket.arn],
        "detail": detail,
    }


def s3_test_event(bucket_name: str) -> dict[str, Any]:
    return {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": _now_ms(),
        "Bucket": bucket_name,
        "RequestId": _request_id(),
        "HostId": _host_id(),
    }


def _send_event_bridge_message(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
    """S3 puts its events on the account's default bus only; best effort, like moto's."""
    try:
        from moto.events.models import events_backends

        event = eventbridge_event(account_id, bucket, event_name, key)
        bus = events_backends[account_id][bucket.region_name].event_buses.get("default")
        if bus is None:
            return
        for rule in list(bus.rules.values()):
            rule.send_to_targets(copy.deepcopy(event), transform_input=False)
    except Exception:  # noqa: BLE001, S110 - asynchronous in AWS: never fails the PutObject
        pass


def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
    """moto's dispatch, minus the "Object Tags Added" moto sends for every PutObject/CopyObject
    (it stores the request's tags through PutObjectTagging); S3 sends tag events only for the
    tagging APIs."""
    name = str(getattr(event_name, "value", event_name))  # moto passes a str Enum
    if name.startswith("s3:ObjectCreated"):
        with contextlib.suppress(AttributeError):
            key._bluegreen_just_created = True
    elif name == "s3:ObjectTagging:Put" and getattr(key, "_bluegreen_just_created", False):
        key._bluegreen_just_created = False
        return
    _originals["send_event"](account_id, event_name, bucket, key)


def _module() -> ModuleType:
    import moto.s3.notifications as notifications

    return notifications


def install() -> None:
    """Make moto's S3 emit notifications in AWS's shapes. Idempotent."""
    notifications = _module()
    with _lock:
        if _originals:
            return
        for name in ("send_event", "_get_s3_event", "_send_event_bridge_message", "_get_test_event"):
            _originals[name] = getattr(notifications, name)
        notifications.send_event = send_event  # type: ignore[assignment]
        notifications._get_s3_event = classic_event  # type: ignore[assignment]
        notifications._send_event_bridge_message = _send_event_bridge_message  # type: ignore[assignment]
        notifications._get_test_event = s3_test_event  # type: ignore[assignment]


def uninstall() -> None:
    notifications = _module()
    with _lock:
        for name, original in _originals.items():
            setattr(notifications, name, original)
        _originals.clear()
