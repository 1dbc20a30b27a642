"""Artifact integrity (SHA-256 recorded, S3 checksum or sidecar verified, version pinned) and the
IAM-authenticated override entry point."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import uuid
from typing import Any

import pytest

from tests.integration.conftest import ROOT, World, bundle


@pytest.fixture
def bot(world: World) -> World:
    assert world.register()["ok"]
    world.notifications()
    return world


def _deliver(world: World, key: str, put: dict[str, Any]) -> dict[str, Any]:
    return world.invoke("artifact", world.object_created(key, put))["results"][0]


def test_sha256_is_recorded_in_the_history_and_the_version_is_pinned(bot: World) -> None:
    body = bundle({"bot.py": "print(1)"})
    put = bot.s3.put_object(Bucket=bot.stack.bucket, Key="mybot/b1.zip", Body=body)
    assert _deliver(bot, "mybot/b1.zip", put)["outcome"] == "accepted"
    status = bot.status()
    artifact = status["deployment"]["artifact"]
    assert artifact["sha256"] == hashlib.sha256(body).hexdigest()
    assert artifact["version_id"] == put["VersionId"]
    assert status["history"][-1]["artifact_sha256"] == artifact["sha256"]
    # A later upload to the same key is a new object version, so a new label: the first stays pinned.
    put2 = bot.s3.put_object(Bucket=bot.stack.bucket, Key="mybot/b1.zip", Body=bundle({"bot.py": "print(2)"}))
    assert put2["VersionId"] != put["VersionId"]
    _deliver(bot, "mybot/b1.zip", put2)
    assert bot.status()["deployment"]["artifact"]["label"] != artifact["label"]


def test_an_upload_with_s3s_own_sha256_checksum_is_verified(bot: World) -> None:
    body = bundle()
    checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
    put = bot.s3.put_object(Bucket=bot.stack.bucket, Key="mybot/c1.zip", Body=body, ChecksumSHA256=checksum)
    assert _deliver(bot, "mybot/c1.zip", put)["outcome"] == "accepted"


def test_a_matching_sidecar_is_accepted_and_a_mismatch_is_rejected_with_a_notification(bot: World) -> None:
    body = bundle()
    good = hashlib.sha256(body).hexdigest()
    bot.s3.put_object(Bucket=bot.stack.bucket, Key="mybot/s1.zip.sha256", Body=f"{good}  s1.zip\n".encode())
    put = bot.s3.put_object(Bucket=bot.stack.bucket, Key="mybot/s1.zip", Body=body)
    assert _deliver(bot, "mybot/s1.zip", put)["outcome"] == "accepted"
    bot.override("abort")
    bot.notifications()

    bot.s3.put_object(Bucket=bot.stack.bucket, Key="mybot/s2.zip.sha256", Body=("0" * 64).encode())
    put = bot.s3.put_object(Bucket=bot.stack.bucket, Key="mybot/s2.zip", Body=body)
    before = bot.status()["revision"]
    result = _deliver(bot, "mybot/s2.zip", put)
    assert result["ok"] is False and result["error"]["code"] == "BadArtifact"
    assert "integrity check" in result["error"]["message"]
    assert bot.status()["revision"] == before, "a rejected artifact changes no state"
    (note,) = bot.notifications()
    assert note["detail"]["reason"].startswith("artifact rejected") and note["detail"]["cause"]["type"] == "artifact"


def test_a_malformed_sidecar_is_rejected(bot: World) -> None:
    bot.s3.put_object(Bucket=bot.stack.bucket, Key="mybot/s3.zip.sha256", Body=b"not a digest")
    put = bot.s3.put_object(Bucket=bot.stack.bucket, Key="mybot/s3.zip", Body=bundle())
    assert _deliver(bot, "mybot/s3.zip", put)["error"]["code"] == "BadArtifact"


def _url_handler() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bluegreen_function_override_url", ROOT / "functions" / "override_url" / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _url_event(body: dict[str, Any], caller: str = "arn:aws:iam::123456789012:user/alice") -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "requestId": str(uuid.uuid4()),
            "authorizer": {
                "iam": {
                    "accessKey": "AKIA",
                    "accountId": "123456789012",
                    "callerId": "AIDA",
                    "userArn": caller,
                    "userId": "AIDA",
                }
            },
            "http": {
                "method": "POST",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "curl",
            },
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def test_the_function_url_override_records_the_verified_caller_not_the_payload(bot: World) -> None:
    handler = _url_handler()
    context = type(
        "Context",
        (),
        {"aws_request_id": "r1", "function_name": "url", "memory_limit_in_mb": 256, "invoked_function_arn": ""},
    )()
    payload = {"action": "pause", "app": "mybot", "reason": "freeze", "requested_by": "someone-else-entirely"}
    response = handler.lambda_handler(_url_event(payload), context)
    assert response["statusCode"] == 200
    history = bot.status()["history"]
    assert history[-1]["cause"]["actor"] == "arn:aws:iam::123456789012:user/alice"
    refused = handler.lambda_handler(_url_event({"action": "pause", "app": "mybot", "reason": "again"}), context)
    assert refused["statusCode"] == 400 and json.loads(refused["body"])["error"]["code"] == "Refused"
    missing = handler.lambda_handler(_url_event({"action": "status", "app": "ghost"}), context)
    assert missing["statusCode"] == 404
    unsigned = {"requestContext": {"http": {"method": "POST"}}, "body": "{}"}
    assert handler.lambda_handler(unsigned, context)["statusCode"] == 400


def test_eb_deploys_the_inspected_object_version_even_if_the_key_is_overwritten(bot: World) -> None:
    first = bundle({"bot.py": "print('first')"})
    put = bot.s3.put_object(Bucket=bot.stack.bucket, Key="mybot/p1.zip", Body=first)
    assert _deliver(bot, "mybot/p1.zip", put)["outcome"] == "accepted"
    bot.s3.put_object(Bucket=bot.stack.bucket, Key="mybot/p1.zip", Body=bundle({"bot.py": "print('second')"}))
    label = bot.status()["deployment"]["artifact"]["label"]
    (version,) = bot.eb.describe_application_versions(ApplicationName="mybot", VersionLabels=[label])[
        "ApplicationVersions"
    ]
    source = version["SourceBundle"]
    assert source["S3Key"] == f"_bluegreen/versions/mybot/{label}" and not source["S3Key"].endswith(".zip")
    assert bot.s3.get_object(Bucket=source["S3Bucket"], Key=source["S3Key"])["Body"].read() == first
