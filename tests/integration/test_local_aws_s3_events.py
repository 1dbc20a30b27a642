"""The local AWS emits S3 notifications in AWS's shapes (docs/aws-events.md, section 2)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from bluegreen_local import s3_events
from moto import mock_aws

REGION, BUCKET = "us-east-1", "artifacts"
KEYS = ["mybot/release 1+hotfix (2).zip", "mybot/a=b;c:d,é.zip", "mybot/plain.zip"]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3_events.install()
        try:
            yield boto3.session.Session(region_name=REGION)
        finally:
            s3_events.uninstall()


def _queue(session: Any, name: str) -> tuple[str, str]:
    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _drain(session: Any, url: str) -> list[dict[str, Any]]:
    sqs, found = session.client("sqs"), []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def wired(aws: Any) -> dict[str, Any]:
    """A versioned bucket with a classic SQS notification, EventBridge on, and rules on two buses."""
    s3, events = aws.client("s3"), aws.client("events")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    classic_url, classic_arn = _queue(aws, "classic")
    default_url, default_arn = _queue(aws, "default-bus")
    custom_url, custom_arn = _queue(aws, "custom-bus")
    events.create_event_bus(Name="custom")
    pattern = json.dumps({"source": ["aws.s3"]})
    for bus, arn in (("default", default_arn), ("custom", custom_arn)):
        events.put_rule(Name=f"s3-{bus}", EventBusName=bus, EventPattern=pattern)
        events.put_targets(Rule=f"s3-{bus}", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [{"Id": "bluegreen", "QueueArn": classic_arn, "Events": ["s3:ObjectCreated:*"]}],
            "EventBridgeConfiguration": {},
        },
    )
    return {"session": aws, "classic": classic_url, "default": default_url, "custom": custom_url}


def test_configuring_a_queue_destination_sends_the_test_event(wired: dict[str, Any]) -> None:
    (test,) = _drain(wired["session"], wired["classic"])
    assert set(test) == {"Service", "Event", "Time", "Bucket", "RequestId", "HostId"}
    assert (test["Service"], test["Event"], test["Bucket"]) == ("Amazon S3", "s3:TestEvent", BUCKET)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", test["Time"])
    assert re.fullmatch(r"[0-9A-Z]{16}", test["RequestId"])
    # EventBridge gets no test event.
    assert _drain(wired["session"], wired["default"]) == []


def test_classic_notification_form_encodes_the_key_and_carries_aws_fields(wired: dict[str, Any]) -> None:
    session = wired["session"]
    _drain(session, wired["classic"])
    s3 = session.client("s3")
    versions = {key: s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")["VersionId"] for key in KEYS}
    records = [r for body in _drain(session, wired["classic"]) for r in body["Records"]]
    assert [unquote_plus(r["s3"]["object"]["key"]) for r in records] == KEYS
    first = records[0]
    assert first["s3"]["object"]["key"] == "mybot/release+1%2Bhotfix+%282%29.zip"
    assert records[1]["s3"]["object"]["key"] == "mybot/a%3Db%3Bc%3Ad%2C%C3%A9.zip"
    assert first["eventName"] == "ObjectCreated:Put"
    assert first["eventVersion"] == "2.1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["eventTime"])
    assert first["userIdentity"]["principalId"].startswith("AWS:AIDA")
    assert first["requestParameters"]["sourceIPAddress"]
    assert set(first["responseElements"]) == {"x-amz-request-id", "x-amz-id-2"}
    assert first["s3"]["configurationId"] == "bluegreen"
    assert first["s3"]["bucket"]["ownerIdentity"]["principalId"]
    assert first["s3"]["object"]["versionId"] == versions[KEYS[0]]
    assert re.fullmatch(r"[0-9A-F]{18}", first["s3"]["object"]["sequencer"])


def test_eventbridge_carries_the_raw_key_on_the_default_bus_only(wired: dict[str, Any]) -> None:
    session = wired["session"]
    s3 = session.client("s3")
    for key in KEYS:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"xy")
    events = _drain(session, wired["default"])
    assert [e["detail"]["object"]["key"] for e in events] == KEYS
    assert _drain(session, wired["custom"]) == []
    event = events[0]
    assert (event["source"], event["detail-type"]) == ("aws.s3", "Object Created")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    assert event["resources"] == [f"arn:aws:s3:::{BUCKET}"]
    detail = event["detail"]
    assert set(detail) == {"version", "bucket", "object", "request-id", "requester", "source-ip-address", "reason"}
    assert detail["reason"] == "PutObject"
    assert detail["requester"] == event["account"]
    assert set(detail["object"]) == {"key", "size", "etag", "version-id", "sequencer"}
    assert detail["object"]["size"] == 2
    assert re.fullmatch(r"[0-9a-f]{16}", detail["object"]["sequencer"])


def test_sequencer_increases_per_key_and_both_shapes_agree(wired: dict[str, Any]) -> None:
    session = wired["session"]
    _drain(session, wired["classic"])
    s3 = session.client("s3")
    for body in (b"1", b"2", b"3"):
        s3.put_object(Bucket=BUCKET, Key=KEYS[0], Body=body)
    classic = [int(b["Records"][0]["s3"]["object"]["sequencer"], 16) for b in _drain(session, wired["classic"])]
    bridge = [int(e["detail"]["object"]["sequencer"], 16) for e in _drain(session, wired["default"])]
    assert classic == sorted(set(classic)) and len(classic) == 3
    assert bridge == classic


def test_copy_and_multipart_reasons(wired: dict[str, Any]) -> None:
    session = wired["session"]
    s3 = session.client("s3")
    s3.put_object(Bucket=BUCKET, Key="src.zip", Body=b"x")
    s3.copy_object(Bucket=BUCKET, Key="copy.zip", CopySource={"Bucket": BUCKET, "Key": "src.zip"})
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="big.zip")["UploadId"]
    part = s3.upload_part(Bucket=BUCKET, Key="big.zip", UploadId=upload, PartNumber=1, Body=b"x" * 10)
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key="big.zip",
        UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    reasons = {e["detail"]["object"]["key"]: e["detail"]["reason"] for e in _drain(session, wired["default"])}
    assert reasons == {"src.zip": "PutObject", "copy.zip": "CopyObject", "big.zip": "CompleteMultipartUpload"}
    names = {
        b["Records"][0]["s3"]["object"]["key"]: b["Records"][0]["eventName"]
        for b in _drain(session, wired["classic"])
        if "Records" in b
    }
    assert names == {
        "src.zip": "ObjectCreated:Put",
        "copy.zip": "ObjectCreated:Copy",
        "big.zip": "ObjectCreated:CompleteMultipartUpload",
    }


def test_uninstall_restores_moto() -> None:
    import moto.s3.notifications as notifications

    original = notifications._get_s3_event
    s3_events.install()
    assert notifications._get_s3_event is s3_events.classic_event
    s3_events.uninstall()
    assert notifications._get_s3_event is original
