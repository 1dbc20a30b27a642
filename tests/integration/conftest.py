"""The world for integration tests: moto in-process with our EB extension, the stack's resources created
from template.yaml, a bot app with two colors and an alarm, and the real handlers.

Every call goes through boto3 to moto; the handlers are the files SAM deploys (functions/<name>/app.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from bluegreen_local.bots import bundle, create_bot
from bluegreen_local.stack import LambdaContext, load_function

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
APP, BLUE, GREEN, ALARM = "mybot", "mybot-blue", "mybot-green", "mybot-errors"
REGION, ACCOUNT = "us-east-1", "123456789012"
PRODUCTION_CNAME = f"{APP}.{REGION}.elasticbeanstalk.com"
FUNCTIONS = {
    "artifact": "ArtifactFunction",
    "health": "HealthFunction",
    "alarm": "AlarmFunction",
    "override": "OverrideFunction",
    "watchdog": "WatchdogFunction",
    "register": "RegisterFunction",
    "status": "StatusFunction",
    "check": "CheckFunction",
}


def sample(path: str, **replace: str) -> dict[str, Any]:
    text = (EVENTS / path).read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return json.loads(text)


class World:
    def __init__(self, stack: Any, session: Any, backend: Any) -> None:
        self.stack = stack
        self.session = session
        self.eb_backend = backend
        self.s3 = session.client("s3")
        self.eb = session.client("elasticbeanstalk")
        self.cloudwatch = session.client("cloudwatch")
        self.sqs = session.client("sqs")
        self.events = session.client("events")
        self.handlers = {name: load_function(f"functions/{name}") for name in FUNCTIONS}
        self.notification_queue = self._capture_notifications()

    # ------------------------------------------------------------------ setup
    def _capture_notifications(self) -> str:
        url = self.sqs.create_queue(QueueName="notifications")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_rule(
            Name="capture", EventBusName=self.stack.bus, EventPattern=json.dumps({"source": ["bluegreen"]})
        )
        self.events.put_targets(Rule="capture", EventBusName=self.stack.bus, Targets=[{"Id": "q", "Arn": arn}])
        return url

    def create_bot(self) -> None:
        create_bot(self.session, APP)

    def register(self, **config: Any) -> dict[str, Any]:
        payload = sample("override/register.json")
        payload["config"].update(config)
        return self.invoke("register", payload)

    # ------------------------------------------------------------------ acting
    def invoke(self, name: str, event: Any) -> dict[str, Any]:
        context = LambdaContext(
            function_name=self.stack.function_name(FUNCTIONS[name]),
            aws_request_id=str(uuid.uuid4()),
            invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.stack.function_name(FUNCTIONS[name])}",
        )
        return self.handlers[name].lambda_handler(event, context)  # type: ignore[no-any-return]

    def override(self, action: str, **fields: Any) -> dict[str, Any]:
        payload = {
            "action": action,
            "app": APP,
            "reason": f"test {action}",
            "requested_by": "alice@example.com",
            **fields,
        }
        return self.invoke("override", payload)

    def upload(self, name: str, body: bytes | None = None) -> dict[str, Any]:
        """Put an artifact and deliver S3's EventBridge "Object Created" event for it."""
        key = f"{APP}/{name}.zip"
        response = self.s3.put_object(Bucket=self.stack.bucket, Key=key, Body=bundle() if body is None else body)
        return self.invoke("artifact", self.object_created(key, response))

    def object_created(self, key: str, response: dict[str, Any]) -> dict[str, Any]:
        event = sample("artifact/eventbridge-object-created.json")
        event["id"] = str(uuid.uuid4())
        event["detail"]["bucket"]["name"] = self.stack.bucket
        event["detail"]["object"].update(
            {"key": key, "etag": response["ETag"].strip('"'), "version-id": response.get("VersionId")}
        )
        return event

    def complete_update(
        self, environment: str = GREEN, *, deliver: bool = True, **outcome: Any
    ) -> list[dict[str, Any]]:
        """EB finishes the environment's update; its events go to the health handler."""
        emitted = self.eb_backend.complete_update(environment, **outcome)
        if deliver:
            for event in emitted:
                self.invoke("health", event)
        return emitted  # type: ignore[no-any-return]

    def set_alarm(self, state: str = "ALARM", alarm: str = ALARM) -> dict[str, Any]:
        self.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue=state, StateReason="test")
        event = sample("alarm/alarm-eventbridge.json")
        event["id"] = str(uuid.uuid4())
        event["detail"]["alarmName"] = alarm
        event["detail"]["state"]["value"] = state
        event["detail"]["state"]["timestamp"] = _now_iso()
        event["time"] = _now_iso()
        return self.invoke("alarm", event)

    def tick(self) -> dict[str, Any]:
        event = sample("watchdog/scheduled.json")
        event["id"] = str(uuid.uuid4())
        event["time"] = _now_iso()
        return self.invoke("watchdog", event)

    # ------------------------------------------------------------------ observing
    def status(self) -> dict[str, Any]:
        response = self.override("status")
        assert response["ok"], response
        return response

    def deployment_state(self) -> str | None:
        deployment = self.status()["deployment"]
        return deployment["state"] if deployment else None

    def live(self) -> str:
        environments = self.eb.describe_environments(ApplicationName=APP, EnvironmentNames=[BLUE, GREEN])[
            "Environments"
        ]
        return next(e["EnvironmentName"] for e in environments if e["CNAME"] == PRODUCTION_CNAME)

    def version_of(self, environment: str) -> str:
        (env,) = self.eb.describe_environments(ApplicationName=APP, EnvironmentNames=[environment])["Environments"]
        return str(env.get("VersionLabel"))

    def notifications(self) -> list[dict[str, Any]]:
        found = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.notification_queue, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.notification_queue, ReceiptHandle=message["ReceiptHandle"])

    def transitions(self) -> list[tuple[str | None, str | None]]:
        return [(n["detail"]["from_state"], n["detail"]["to_state"]) for n in self.notifications()]


class Clock:
    """Moves time forward for the controller and for EB alike (timeouts, bakes, windows, event times)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        import time
        from datetime import UTC, datetime, timedelta

        from bluegreen import service

        self.offset += seconds
        offset = self.offset
        service.controller().clock = lambda: datetime.now(UTC) + timedelta(seconds=offset)
        self.world.eb_backend.clock = lambda: time.time() + offset


def console_swap(world: World) -> None:
    """What a person does in the EB console (or `eb swap`): bluegreen is not told."""
    world.eb.swap_environment_cnames(SourceEnvironmentName=BLUE, DestinationEnvironmentName=GREEN)


def details(world: World) -> list[dict[str, Any]]:
    """The detail of every notification published since the last look."""
    return [n["detail"] for n in world.notifications()]


def _now_iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from bluegreen_local import moto_beanstalk
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    moto_beanstalk.install()
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


@pytest.fixture
def world(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from bluegreen import service
    from bluegreen_local import moto_beanstalk
    from bluegreen_local.template import provision

    stack = provision(aws)
    for key, value in stack.environment("ArtifactFunction").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BLUEGREEN_LEASE_WAIT_SECONDS", "0.5")
    monkeypatch.setenv("BLUEGREEN_RECONCILE_EVERY_MINUTES", "1")  # every tick checks idle apps for drift
    service.reset()
    backend = moto_beanstalk.backend(ACCOUNT, REGION)
    world = World(stack, aws, backend)
    world.create_bot()
    yield world
    service.reset()
