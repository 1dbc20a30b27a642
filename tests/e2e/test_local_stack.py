"""End to end on the local stack: moto's server, the template's routing, the real handlers, simulated EB.

Everything here goes through the public APIs a user has: S3 PutObject, CloudWatch SetAlarmState,
Lambda Invoke, and EventBridge rules delivering to the functions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bluegreen_local.demo import Demo, bundle

from tests.e2e.conftest import running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    with running_stack(app="mybot", update_seconds=0.3, tick_seconds=0.5) as local:
        yield local


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


class Bot:
    """A second app on the same stack, driven through the public APIs."""

    def __init__(self, stack: Any, name: str) -> None:
        import boto3

        self.stack, self.name = stack, name
        stack.create_demo_app(name)
        session = boto3.session.Session(region_name="us-east-1")
        self.s3, self.lambda_, self.sqs, self.cloudwatch = (
            session.client(s) for s in ("s3", "lambda", "sqs", "cloudwatch")
        )
        self.bucket = stack.describe()["bucket"]
        registered = self.invoke(
            {
                "action": "register",
                "app": name,
                "reason": "e2e",
                "requested_by": "pytest",
                "config": {
                    "environments": [f"{name}-blue", f"{name}-green"],
                    "live_environment": f"{name}-blue",
                    "alarms": [f"{name}-errors"],
                    "bake_seconds": 600,
                },
            }
        )
        assert registered["ok"], registered

    def invoke(self, payload: dict[str, Any]) -> dict[str, Any]:
        info = self.stack.describe()
        function = info["register_function"] if payload.get("action") == "register" else info["override_function"]
        response = self.lambda_.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
        return dict(json.loads(response["Payload"].read()))

    def status(self) -> dict[str, Any]:
        return self.invoke({"action": "status", "app": self.name, "history_limit": 50})

    def state(self) -> str | None:
        deployment = self.status().get("deployment")
        return deployment["state"] if deployment else None

    def queue_of(self, function: str) -> str:
        rule = next(r for r in self.stack.stack.rules if r.function == function)
        return str(self.sqs.get_queue_url(QueueName=f"{rule.name}-target")["QueueUrl"])


def test_the_demo_scenario_passes(stack: Any) -> None:
    assert Demo(stack).run() == 0


def test_the_same_events_delivered_twice_act_once(stack: Any) -> None:
    bot = Bot(stack, "twice")
    put = bot.s3.put_object(Bucket=bot.bucket, Key="twice/build-1.zip", Body=bundle("build-1"))
    wait_for(lambda: bot.state() in ("DEPLOYING", "VERIFYING", "BAKING"))
    first = bot.status()["deployment"]
    # S3 (via EventBridge) delivers the same Object Created again, twice.
    duplicate = {
        "version": "0",
        "id": "dup-1",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-28T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "bucket": {"name": bot.bucket},
            "object": {
                "key": "twice/build-1.zip",
                "size": 10,
                "etag": put["ETag"].strip('"'),
                "version-id": put["VersionId"],
            },
        },
    }
    for _ in range(2):
        bot.sqs.send_message(QueueUrl=bot.queue_of("ArtifactFunction"), MessageBody=json.dumps(duplicate))
    wait_for(lambda: bot.state() == "BAKING")
    assert bot.status()["deployment"]["id"] == first["id"]
    swaps_before = stack.eb.swap_count

    bot.cloudwatch.set_alarm_state(AlarmName="twice-errors", StateValue="ALARM", StateReason="e2e")
    wait_for(lambda: bot.state() == "ROLLED_BACK")
    history = bot.status()["history"]
    alarm_event = {
        "version": "0",
        "id": "dup-alarm",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2026-11-28T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "alarmName": "twice-errors",
            "state": {"value": "ALARM", "reason": "again", "timestamp": history[-1]["at"]},
        },
    }
    for _ in range(2):
        bot.sqs.send_message(QueueUrl=bot.queue_of("AlarmFunction"), MessageBody=json.dumps(alarm_event))
    time.sleep(2.0)
    assert stack.eb.swap_count == swaps_before + 1, "the rollback swapped exactly once"
    assert bot.state() == "ROLLED_BACK"
    deployments = {n["deployment_id"] for h in bot.status()["history"] for n in h["transitions"] if n["deployment_id"]}
    assert deployments == {first["id"]}


def test_plain_api_calls_drive_the_controller(stack: Any) -> None:
    """What the README tells a newcomer to do with the AWS CLI: upload, set an alarm, invoke the override."""
    bot = Bot(stack, "plain")
    bot.invoke({"action": "pause", "app": "plain", "reason": "e2e", "requested_by": "pytest"})
    bot.s3.put_object(Bucket=bot.bucket, Key="plain/build-1.zip", Body=bundle("build-1"))
    wait_for(lambda: bool(bot.status().get("queued")))
    assert bot.invoke({"action": "resume", "app": "plain", "reason": "e2e", "requested_by": "pytest"})["ok"]
    wait_for(lambda: bot.state() == "BAKING")
    bot.cloudwatch.set_alarm_state(AlarmName="plain-errors", StateValue="ALARM", StateReason="e2e")
    wait_for(lambda: bot.state() == "ROLLED_BACK")
    assert bot.status()["live_environment"] == "plain-blue"


def test_a_permanently_failing_invocation_is_dead_lettered(stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(event: Any, context: Any) -> Any:
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(stack.functions["WatchdogFunction"], "lambda_handler", broken)
    stack.invoke_async("WatchdogFunction", {"id": "doomed", "detail-type": "Scheduled Event", "source": "aws.events"})
    sqs = stack.session.client("sqs")
    messages = sqs.receive_message(QueueUrl=stack.failure_queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get(
        "Messages", []
    )
    records = [json.loads(m["Body"]) for m in messages]
    doomed = [r for r in records if r["requestPayload"].get("id") == "doomed"]
    assert doomed and doomed[0]["requestContext"]["condition"] == "RetriesExhausted"
    assert doomed[0]["requestContext"]["approximateInvokeCount"] == 3
    assert doomed[0]["responsePayload"]["errorMessage"] == "simulated crash"
