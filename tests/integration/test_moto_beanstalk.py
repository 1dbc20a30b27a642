"""The moto Elastic Beanstalk extension (bluegreen_local.moto_beanstalk), driven through boto3 only.

In-process `mock_aws()` for the API and the simulation; one test over HTTP against moto's server.
"""

from __future__ import annotations

import io
import json
import re
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

APP, BLUE, GREEN = "mybot", "mybot-blue", "mybot-green"
REGION, ACCOUNT = "us-east-1", "123456789012"
BUCKET = "artifacts-bucket"
STACK = "64bit Amazon Linux 2023 v4.6.0 running Python 3.11"
START = 1_800_000_000.0
EVENT_KEYS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
DETAIL_KEYS = {"Status", "EventDate", "ApplicationName", "Message", "EnvironmentName", "Severity"}


def zipped(marker: dict[str, Any] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bot.py", "print('hello')\n")
        if marker is not None:
            archive.writestr("bluegreen-simulate.json", json.dumps(marker))
    return buffer.getvalue()


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    error = excinfo.value.response
    return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


def pick(found: dict[str, Any], *keys: str) -> tuple[Any, ...]:
    return tuple(found.get(key) for key in keys)


def env_of(eb: Any, name: str) -> dict[str, Any]:
    (env,) = eb.describe_environments(EnvironmentNames=[name])["Environments"]
    return env  # type: ignore[no-any-return]


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Bot:
    """An app with blue (holding the production CNAME) and green, both on v1, and a fake clock."""

    def __init__(self, session: Any, backend: Any, clock: Clock) -> None:
        self.eb = session.client("elasticbeanstalk")
        self.s3 = session.client("s3")
        self.backend = backend
        self.clock = clock
        self.emitted: list[dict[str, Any]] = []
        backend.add_listener(self.emitted.append)
        self.s3.create_bucket(Bucket=BUCKET)
        self.eb.create_application(ApplicationName=APP)
        self.version("v1")
        for name, prefix in ((BLUE, APP), (GREEN, f"{APP}-green")):
            self.eb.create_environment(
                ApplicationName=APP,
                EnvironmentName=name,
                CNAMEPrefix=prefix,
                VersionLabel="v1",
                SolutionStackName=STACK,
            )

    def version(self, label: str, marker: dict[str, Any] | None = None, body: bytes | None = None) -> dict[str, Any]:
        key = f"{APP}/{label}.zip"
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=zipped(marker) if body is None else body)
        return self.eb.create_application_version(  # type: ignore[no-any-return]
            ApplicationName=APP, VersionLabel=label, SourceBundle={"S3Bucket": BUCKET, "S3Key": key}
        )["ApplicationVersion"]

    def deploy(self, label: str, marker: dict[str, Any] | None = None, env: str = GREEN) -> dict[str, Any]:
        self.version(label, marker)
        return self.eb.update_environment(EnvironmentName=env, VersionLabel=label)  # type: ignore[no-any-return]


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from bluegreen_local import moto_beanstalk
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    moto_beanstalk.install()
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


@pytest.fixture
def bot(session: Any) -> Bot:
    from bluegreen_local import moto_beanstalk

    backend = moto_beanstalk.backend(ACCOUNT, REGION)
    clock = Clock()
    backend.clock = clock
    return Bot(session, backend, clock)


# ---------------------------------------------------------------------------------------------- wiring
def test_install_is_idempotent_and_reset_by_mock_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    from bluegreen_local import moto_beanstalk
    from moto import mock_aws
    from moto.backends import get_backend

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    moto_beanstalk.install()
    moto_beanstalk.install()
    for _ in range(2):
        with mock_aws():
            backend = get_backend("elasticbeanstalk")[ACCOUNT][REGION]
            assert isinstance(backend, moto_beanstalk.BlueGreenEBBackend)
            assert backend is moto_beanstalk.backend(ACCOUNT, REGION)
            assert backend.swap_count == 0 and not backend.applications and not backend.events
            eb = boto3.client("elasticbeanstalk", region_name=REGION)
            eb.create_application(ApplicationName=APP)
            eb.create_environment(ApplicationName=APP, EnvironmentName=BLUE)
            eb.create_environment(ApplicationName=APP, EnvironmentName=GREEN)
            eb.swap_environment_cnames(SourceEnvironmentName=BLUE, DestinationEnvironmentName=GREEN)
            assert backend.swap_count == 1


def test_backend_reset_keeps_the_extension(bot: Bot) -> None:
    bot.backend.update_seconds = 5.0
    bot.backend.reset()
    assert bot.backend.swap_count == 0 and bot.backend.update_seconds == 0.0
    assert not bot.backend.listeners and not bot.backend.versions
    assert bot.eb.describe_environments()["Environments"] == []
    bot.eb.create_application(ApplicationName=APP)
    assert bot.eb.create_environment(ApplicationName=APP, EnvironmentName=BLUE)["Status"] == "Ready"


# ---------------------------------------------------------------------------------------------- environments
def test_create_environment_describes_like_eb(bot: Bot) -> None:
    blue = env_of(bot.eb, BLUE)
    assert re.fullmatch(r"e-[a-z0-9]{10}", blue["EnvironmentId"])
    assert blue["CNAME"] == f"{APP}.{REGION}.elasticbeanstalk.com"
    assert blue["EndpointURL"].endswith(f".{REGION}.elb.amazonaws.com")
    assert (blue["Status"], blue["Health"], blue["HealthStatus"]) == ("Ready", "Green", "Ok")
    assert blue["VersionLabel"] == "v1" and blue["SolutionStackName"] == STACK
    assert blue["AbortableOperationInProgress"] is False
    assert blue["EnvironmentArn"] == f"arn:aws:elasticbeanstalk:{REGION}:{ACCOUNT}:environment/{APP}/{BLUE}"
    assert isinstance(blue["DateUpdated"], datetime)
    assert env_of(bot.eb, GREEN)["EnvironmentId"] != blue["EnvironmentId"]

    bare = bot.eb.create_environment(ApplicationName=APP, EnvironmentName="mybot-spare")
    assert "VersionLabel" not in bare
    assert bare["CNAME"] == f"mybot-spare.{REGION}.elasticbeanstalk.com"


def test_two_environments_may_not_share_a_cname(bot: Bot) -> None:
    with pytest.raises(ClientError) as excinfo:
        bot.eb.create_environment(ApplicationName=APP, EnvironmentName="mybot-other", CNAMEPrefix=APP)
    assert error_of(excinfo) == (
        "InvalidParameterValue",
        f"DNS name ({APP}.{REGION}.elasticbeanstalk.com) is not available.",
        400,
    )
    with pytest.raises(ClientError) as excinfo:  # the default prefix is the environment name
        bot.eb.create_environment(ApplicationName=APP, EnvironmentName=f"{APP}-green2", CNAMEPrefix=f"{APP}-green")
    assert "is not available" in error_of(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        bot.eb.create_environment(ApplicationName=APP, EnvironmentName=BLUE, CNAMEPrefix="something-else")
    assert error_of(excinfo)[:2] == ("InvalidParameterValue", f"Environment {BLUE} already exists.")
    with pytest.raises(ClientError) as excinfo:
        bot.eb.create_environment(ApplicationName="nobot", EnvironmentName="nobot-blue")
    assert error_of(excinfo)[1] == "No Application named 'nobot' found."


def test_describe_environments_filters(bot: Bot) -> None:
    bot.eb.create_application(ApplicationName="otherbot")
    bot.eb.create_environment(ApplicationName="otherbot", EnvironmentName="otherbot-blue")
    names = lambda **kw: sorted(e["EnvironmentName"] for e in bot.eb.describe_environments(**kw)["Environments"])  # noqa: E731

    assert names() == sorted([BLUE, GREEN, "otherbot-blue"])
    assert names(ApplicationName=APP) == [BLUE, GREEN]
    assert names(EnvironmentNames=[GREEN, "otherbot-blue"]) == [GREEN, "otherbot-blue"]
    assert names(ApplicationName=APP, EnvironmentNames=["otherbot-blue"]) == []
    assert names(EnvironmentIds=[env_of(bot.eb, BLUE)["EnvironmentId"]]) == [BLUE]
    assert names(VersionLabel="v1") == [BLUE, GREEN]
    bot.deploy("v2")
    bot.backend.advance()
    assert names(VersionLabel="v2") == [GREEN]

    bot.eb.terminate_environment(EnvironmentName="otherbot-blue")
    assert names(IncludeDeleted=False) == [BLUE, GREEN]
    assert names() == sorted([BLUE, GREEN, "otherbot-blue"])
    (gone,) = bot.eb.describe_environments(ApplicationName="otherbot")["Environments"]
    assert gone["Status"] == "Terminated"

    page = bot.eb.describe_environments(MaxRecords=2)
    rest = bot.eb.describe_environments(MaxRecords=2, NextToken=page["NextToken"])
    assert len(page["Environments"]) == 2 and len(rest["Environments"]) == 1 and "NextToken" not in rest


# ---------------------------------------------------------------------------------------------- versions
def test_application_versions(bot: Bot) -> None:
    created = bot.version("v2")
    assert created["ApplicationName"] == APP and created["VersionLabel"] == "v2"
    assert created["SourceBundle"] == {"S3Bucket": BUCKET, "S3Key": f"{APP}/v2.zip"}
    assert created["Status"] == "Unprocessed"
    bot.eb.create_application_version(
        ApplicationName=APP,
        VersionLabel="v3",
        SourceBundle={"S3Bucket": BUCKET, "S3Key": f"{APP}/v2.zip"},
        Description="third",
        Process=True,
    )
    versions = bot.eb.describe_application_versions(ApplicationName=APP)["ApplicationVersions"]
    assert [v["VersionLabel"] for v in versions] == ["v3", "v2", "v1"]
    (v3,) = bot.eb.describe_application_versions(ApplicationName=APP, VersionLabels=["v3"])["ApplicationVersions"]
    assert v3["Description"] == "third" and v3["Status"] == "Processed"
    assert bot.eb.describe_application_versions(ApplicationName="nobot")["ApplicationVersions"] == []
    (app,) = bot.eb.describe_applications(ApplicationNames=[APP])["Applications"]
    assert app["Versions"] == ["v3", "v2", "v1"]


def test_application_version_errors(bot: Bot) -> None:
    with pytest.raises(ClientError) as excinfo:
        bot.version("v1")
    assert error_of(excinfo) == ("InvalidParameterValue", "Application Version v1 already exists.", 400)

    with pytest.raises(ClientError) as excinfo:
        bot.eb.create_application_version(
            ApplicationName=APP, VersionLabel="v9", SourceBundle={"S3Bucket": BUCKET, "S3Key": "missing.zip"}
        )
    assert error_of(excinfo) == (
        "InvalidParameterValue",
        f"Unable to download from S3 location (Bucket: {BUCKET}  Key: missing.zip). Reason: Not Found",
        400,
    )
    with pytest.raises(ClientError) as excinfo:
        bot.eb.create_application_version(
            ApplicationName=APP, VersionLabel="v9", SourceBundle={"S3Bucket": "no-such-bucket", "S3Key": "a.zip"}
        )
    assert "Unable to download from S3 location (Bucket: no-such-bucket  Key: a.zip)" in error_of(excinfo)[1]

    with pytest.raises(ClientError) as excinfo:
        bot.eb.create_application_version(
            ApplicationName="nobot", VersionLabel="v1", SourceBundle={"S3Bucket": BUCKET, "S3Key": f"{APP}/v1.zip"}
        )
    assert error_of(excinfo)[:2] == ("InvalidParameterValue", "No Application named 'nobot' found.")

    with pytest.raises(ClientError) as excinfo:
        bot.eb.create_application_version(
            ApplicationName=APP, VersionLabel="x" * 101, SourceBundle={"S3Bucket": BUCKET, "S3Key": f"{APP}/v1.zip"}
        )
    assert error_of(excinfo)[0] == "InvalidParameterValue"
    versions = bot.eb.describe_application_versions(ApplicationName=APP)["ApplicationVersions"]
    assert [v["VersionLabel"] for v in versions] == ["v1"]


# ---------------------------------------------------------------------------------------------- updates
def assert_eventbridge_shape(event: dict[str, Any], detail_type: str, status: str, message: str, severity: str) -> None:
    assert set(event) == EVENT_KEYS and set(event["detail"]) == DETAIL_KEYS
    assert event["version"] == "0" and uuid.UUID(event["id"])
    assert event["source"] == "aws.elasticbeanstalk" and event["account"] == ACCOUNT and event["region"] == REGION
    assert event["detail-type"] == detail_type
    assert event["resources"] == [f"arn:aws:elasticbeanstalk:{REGION}:{ACCOUNT}:environment/{APP}/{GREEN}"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    detail = event["detail"]
    assert isinstance(detail["EventDate"], int)
    assert datetime.fromtimestamp(detail["EventDate"] / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") == event["time"]
    assert (detail["ApplicationName"], detail["EnvironmentName"]) == (APP, GREEN)
    assert (detail["Status"], detail["Message"], detail["Severity"]) == (status, message, severity)


def test_update_is_observable_then_advance_completes_it(bot: Bot) -> None:
    updating = bot.deploy("v2")
    assert updating["Status"] == "Updating" and updating["AbortableOperationInProgress"] is True
    assert (updating["VersionLabel"], updating["Health"], updating["HealthStatus"]) == ("v1", "Grey", "Info")
    assert env_of(bot.eb, GREEN)["Status"] == "Updating"
    assert bot.backend.updates[GREEN].label == "v2"
    started, info = bot.emitted
    assert_eventbridge_shape(
        started, "Elastic Beanstalk resource status change", "Environment update started",
        "Environment update is starting.", "INFO",
    )  # fmt: skip
    assert_eventbridge_shape(
        info, "Health status change", "Environment health changed",
        "Environment health has transitioned from Ok to Info. Application update in progress on 1 instance.", "INFO",
    )  # fmt: skip
    assert started["detail"]["EventDate"] == int(START * 1000)

    bot.clock.now += 40
    emitted = bot.backend.advance()
    assert bot.emitted[2:] == emitted and len(emitted) == 2
    assert_eventbridge_shape(
        emitted[0], "Elastic Beanstalk resource status change", "Environment update successful",
        "Environment update completed successfully.", "INFO",
    )  # fmt: skip
    assert emitted[1]["detail"]["Message"].startswith("Environment health has transitioned from Info to Ok.")
    green = env_of(bot.eb, GREEN)
    assert pick(green, "Status", "VersionLabel", "Health", "HealthStatus") == ("Ready", "v2", "Green", "Ok")
    assert green["AbortableOperationInProgress"] is False
    assert bot.backend.advance() == [] and bot.backend.complete_update(GREEN) == []
    assert env_of(bot.eb, BLUE)["VersionLabel"] == "v1"


def test_update_by_id_waits_for_update_seconds(bot: Bot) -> None:
    bot.backend.update_seconds = 30.0
    bot.version("v2")
    green_id = env_of(bot.eb, GREEN)["EnvironmentId"]
    bot.eb.update_environment(EnvironmentId=green_id, VersionLabel="v2")
    bot.clock.now += 29
    assert bot.backend.advance() == []
    assert env_of(bot.eb, GREEN)["Status"] == "Updating"
    assert bot.backend.advance(now=START + 30)[0]["detail"]["Status"] == "Environment update successful"
    assert env_of(bot.eb, GREEN)["VersionLabel"] == "v2"


def test_failed_update_keeps_the_old_version(bot: Bot) -> None:
    bot.deploy("v2")
    failed, degraded = bot.backend.complete_update(GREEN, fail=True)
    assert_eventbridge_shape(
        failed, "Elastic Beanstalk resource status change", "Environment update failed",
        "Failed to deploy application.", "ERROR",
    )  # fmt: skip
    assert degraded["detail-type"] == "Health status change" and degraded["detail"]["Severity"] == "WARN"
    assert degraded["detail"]["Message"].startswith("Environment health has transitioned from Info to Degraded.")
    green = env_of(bot.eb, GREEN)
    assert pick(green, "Status", "VersionLabel", "Health", "HealthStatus") == ("Ready", "v1", "Red", "Degraded")


@pytest.mark.parametrize(
    ("health", "color", "severity"),
    [("Ok", "Green", "INFO"), ("Warning", "Yellow", "WARN"), ("Degraded", "Red", "WARN"), ("Severe", "Red", "WARN")],
)
def test_complete_update_with_health(bot: Bot, health: str, color: str, severity: str) -> None:
    bot.deploy("v2")
    succeeded, changed = bot.backend.complete_update(GREEN, health=health)
    assert succeeded["detail"]["Status"] == "Environment update successful"
    assert changed["detail"]["Message"].startswith(f"Environment health has transitioned from Info to {health}.")
    assert changed["detail"]["Severity"] == severity
    green = env_of(bot.eb, GREEN)
    assert (green["VersionLabel"], green["Health"], green["HealthStatus"]) == ("v2", color, health)


def test_set_health_emits_only_on_change(bot: Bot) -> None:
    (event,) = bot.backend.set_health(BLUE, "Severe")
    assert event["detail"]["Message"].startswith("Environment health has transitioned from Ok to Severe.")
    assert event["resources"][0].endswith(f"environment/{APP}/{BLUE}")
    assert bot.backend.set_health(BLUE, "Severe") == []
    assert (env_of(bot.eb, BLUE)["Health"], env_of(bot.eb, BLUE)["HealthStatus"]) == ("Red", "Severe")
    with pytest.raises(ValueError, match="unknown health"):
        bot.backend.set_health(BLUE, "Purple")


# ---------------------------------------------------------------------------------------------- outcomes
@pytest.mark.parametrize(
    ("marker", "version", "health", "color"),
    [
        (None, "v2", "Ok", "Green"),
        ({"health": "Severe"}, "v2", "Severe", "Red"),
        ({"health": "Warning"}, "v2", "Warning", "Yellow"),
        ({"fail": True}, "v1", "Degraded", "Red"),
    ],
)
def test_marker_file_decides_the_outcome(
    bot: Bot, marker: dict[str, Any] | None, version: str, health: str, color: str
) -> None:
    bot.deploy("v2", marker)
    status, _ = bot.backend.advance()
    expected = "Environment update failed" if marker == {"fail": True} else "Environment update successful"
    assert status["detail"]["Status"] == expected
    green = env_of(bot.eb, GREEN)
    assert (green["VersionLabel"], green["HealthStatus"], green["Health"]) == (version, health, color)


def test_marker_degrades_later(bot: Bot) -> None:
    bot.deploy("v2", {"degrade_after_seconds": 5, "health": "Degraded"})
    healthy = bot.backend.advance()[1]["detail"]["Message"]
    assert healthy.startswith("Environment health has transitioned from Info to Ok.")
    bot.clock.now += 4
    assert bot.backend.advance() == []
    bot.clock.now += 1
    (event,) = bot.backend.advance()
    assert event["detail"]["Message"].startswith("Environment health has transitioned from Ok to Degraded.")
    assert env_of(bot.eb, GREEN)["HealthStatus"] == "Degraded" and env_of(bot.eb, GREEN)["VersionLabel"] == "v2"


def test_unreadable_bundle_gets_the_default_outcome(bot: Bot) -> None:
    bot.version("v2", body=b"not a zip at all")
    bot.eb.update_environment(EnvironmentName=GREEN, VersionLabel="v2")
    bot.backend.advance()
    assert env_of(bot.eb, GREEN)["HealthStatus"] == "Ok" and env_of(bot.eb, GREEN)["VersionLabel"] == "v2"


def test_set_version_outcome(bot: Bot) -> None:
    bot.backend.set_version_outcome(APP, "v2", health="Severe")  # before the version exists: wins over the marker
    bot.deploy("v2", {"health": "Ok"})
    bot.backend.advance()
    assert env_of(bot.eb, GREEN)["HealthStatus"] == "Severe"
    bot.version("v3")
    bot.backend.set_version_outcome(APP, "v3", fail=True)
    bot.eb.update_environment(EnvironmentName=GREEN, VersionLabel="v3")
    assert bot.backend.advance()[0]["detail"]["Status"] == "Environment update failed"
    assert env_of(bot.eb, GREEN)["VersionLabel"] == "v2"


# ---------------------------------------------------------------------------------------------- errors, abort
def test_update_errors(bot: Bot) -> None:
    with pytest.raises(ClientError) as excinfo:
        bot.eb.update_environment(EnvironmentName=GREEN, VersionLabel="nope")
    assert error_of(excinfo) == ("InvalidParameterValue", "No Application Version named 'nope' found.", 400)
    with pytest.raises(ClientError) as excinfo:
        bot.eb.update_environment(EnvironmentName="mybot-nope", VersionLabel="v1")
    assert error_of(excinfo)[1] == "No Environment found for EnvironmentName = 'mybot-nope'."

    bot.deploy("v2")
    bot.version("v3")
    with pytest.raises(ClientError) as excinfo:
        bot.eb.update_environment(EnvironmentName=GREEN, VersionLabel="v3")
    assert error_of(excinfo) == (
        "InvalidParameterValue",
        f"Environment named {GREEN} is in an invalid state for this operation. Must be Ready.",
        400,
    )
    assert bot.backend.updates[GREEN].label == "v2" and len(bot.emitted) == 2


def test_abort_environment_update(bot: Bot) -> None:
    bot.deploy("v2")
    bot.eb.abort_environment_update(EnvironmentName=GREEN)
    failed, back = bot.emitted[2:]
    assert failed["detail"]["Status"] == "Environment update failed" and failed["detail"]["Severity"] == "ERROR"
    assert back["detail"]["Message"].startswith("Environment health has transitioned from Info to Ok.")
    green = env_of(bot.eb, GREEN)
    assert pick(green, "Status", "VersionLabel", "HealthStatus", "Health") == ("Ready", "v1", "Ok", "Green")
    assert green["AbortableOperationInProgress"] is False
    assert bot.backend.advance() == []
    with pytest.raises(ClientError) as excinfo:
        bot.eb.abort_environment_update(EnvironmentName=GREEN)
    assert error_of(excinfo)[0] == "InvalidParameterValue"


# ---------------------------------------------------------------------------------------------- swap
def test_swap_twice_puts_the_cnames_back(bot: Bot) -> None:
    blue_cname, green_cname = env_of(bot.eb, BLUE)["CNAME"], env_of(bot.eb, GREEN)["CNAME"]
    blue_endpoint = env_of(bot.eb, BLUE)["EndpointURL"]
    bot.eb.swap_environment_cnames(SourceEnvironmentName=BLUE, DestinationEnvironmentName=GREEN)
    assert (env_of(bot.eb, BLUE)["CNAME"], env_of(bot.eb, GREEN)["CNAME"]) == (green_cname, blue_cname)
    assert env_of(bot.eb, BLUE)["EndpointURL"] == blue_endpoint
    assert bot.backend.swap_count == 1
    ids = {name: env_of(bot.eb, name)["EnvironmentId"] for name in (BLUE, GREEN)}
    bot.eb.swap_environment_cnames(SourceEnvironmentId=ids[GREEN], DestinationEnvironmentId=ids[BLUE])
    assert (env_of(bot.eb, BLUE)["CNAME"], env_of(bot.eb, GREEN)["CNAME"]) == (blue_cname, green_cname)
    assert bot.backend.swap_count == 2


def test_swap_errors(bot: Bot) -> None:
    bot.deploy("v2")
    with pytest.raises(ClientError) as excinfo:
        bot.eb.swap_environment_cnames(SourceEnvironmentName=BLUE, DestinationEnvironmentName=GREEN)
    assert error_of(excinfo) == (
        "InvalidParameterValue",
        f"Environment named {GREEN} is in an invalid state for this operation. Must be Ready.",
        400,
    )
    with pytest.raises(ClientError) as excinfo:
        bot.eb.swap_environment_cnames(SourceEnvironmentName=BLUE, DestinationEnvironmentName="mybot-nope")
    assert error_of(excinfo)[1] == "No Environment found for EnvironmentName = 'mybot-nope'."
    assert bot.backend.swap_count == 0
    assert env_of(bot.eb, BLUE)["CNAME"] == f"{APP}.{REGION}.elasticbeanstalk.com"


# ---------------------------------------------------------------------------------------------- health, events
def test_describe_environment_health(bot: Bot) -> None:
    bare = bot.eb.describe_environment_health(EnvironmentName=GREEN)
    assert bare.keys() - {"ResponseMetadata"} == {"EnvironmentName"}
    health = bot.eb.describe_environment_health(EnvironmentName=GREEN, AttributeNames=["All"])
    assert pick(health, "EnvironmentName", "HealthStatus", "Status", "Color") == (GREEN, "Ok", "Ready", "Green")
    assert health.get("Causes", []) == [] and health["InstancesHealth"]["Ok"] == 1
    assert health["RefreshedAt"] == datetime.fromtimestamp(START, UTC)

    bot.deploy("v2")
    green_id = env_of(bot.eb, GREEN)["EnvironmentId"]
    wanted = ["HealthStatus", "Status", "Causes"]
    health = bot.eb.describe_environment_health(EnvironmentId=green_id, AttributeNames=wanted)
    assert health.keys() - {"ResponseMetadata"} == {"EnvironmentName", "HealthStatus", "Status", "Causes"}
    assert (health["HealthStatus"], health["Status"]) == ("Info", "Updating")
    assert health["Causes"] == ["Application update in progress on 1 instance."]

    bot.backend.complete_update(GREEN, health="Severe")
    health = bot.eb.describe_environment_health(EnvironmentName=GREEN, AttributeNames=["All"])
    assert (health["HealthStatus"], health["Color"]) == ("Severe", "Red") and health["Causes"]
    with pytest.raises(ClientError) as excinfo:
        bot.eb.describe_environment_health(EnvironmentName="mybot-nope", AttributeNames=["All"])
    assert error_of(excinfo)[0] == "InvalidParameterValue"


def test_describe_events(bot: Bot) -> None:
    bot.deploy("v2")
    bot.clock.now += 100
    bot.backend.advance()
    bot.clock.now += 100
    bot.backend.set_health(BLUE, "Warning")

    events = bot.eb.describe_events(ApplicationName=APP)["Events"]
    assert [e["Message"] for e in events] == [e["detail"]["Message"] for e in reversed(bot.emitted)]
    assert events[0]["EnvironmentName"] == BLUE and events[0]["Severity"] == "WARN"
    assert events[0]["EventDate"] == datetime.fromtimestamp(START + 200, UTC)
    assert set(events[-1]) == {"EventDate", "Message", "ApplicationName", "VersionLabel", "EnvironmentName", "Severity"}

    green = bot.eb.describe_events(EnvironmentName=GREEN)["Events"]
    assert [e["Message"] for e in green][-1] == "Environment update is starting." and len(green) == 4
    assert {e["VersionLabel"] for e in green} == {"v2"}
    assert len(bot.eb.describe_events(VersionLabel="v2")["Events"]) == 4
    assert len(bot.eb.describe_events(EnvironmentId=env_of(bot.eb, GREEN)["EnvironmentId"])["Events"]) == 4
    since = bot.eb.describe_events(EnvironmentName=GREEN, StartTime=datetime.fromtimestamp(START + 50, UTC))["Events"]
    assert [e["Message"] for e in since][-1] == "Environment update completed successfully." and len(since) == 2
    assert len(bot.eb.describe_events(EndTime=datetime.fromtimestamp(START + 50, UTC))["Events"]) == 2
    assert [e["Severity"] for e in bot.eb.describe_events(Severity="WARN")["Events"]] == ["WARN"]
    page = bot.eb.describe_events(MaxRecords=2)
    assert len(page["Events"]) == 2 and page["NextToken"]
    assert len(bot.eb.describe_events(MaxRecords=10, NextToken=page["NextToken"])["Events"]) == 3
    assert bot.eb.describe_events(ApplicationName="nobot")["Events"] == []


def test_a_failing_listener_does_not_fail_the_call(bot: Bot) -> None:
    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("listener down")

    bot.backend.add_listener(broken)
    assert bot.deploy("v2")["Status"] == "Updating"
    assert len(bot.emitted) == 2
    bot.backend.remove_listener(broken)


# ---------------------------------------------------------------------------------------------- server mode
@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from bluegreen_local import moto_beanstalk
    from moto.server import ThreadedMotoServer

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    moto_beanstalk.install()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    url = f"http://{host}:{port}"
    reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    try:
        yield url
    finally:
        urllib.request.urlopen(reset, timeout=10).close()
        moto.stop()


def test_server_mode_serves_the_extension(server: str) -> None:
    from bluegreen_local import moto_beanstalk

    session = boto3.session.Session(region_name=REGION)
    eb = session.client("elasticbeanstalk", endpoint_url=server)
    s3 = session.client("s3", endpoint_url=server)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="v2.zip", Body=zipped({"health": "Warning"}))
    eb.create_application(ApplicationName=APP)
    eb.create_application_version(
        ApplicationName=APP, VersionLabel="v2", SourceBundle={"S3Bucket": BUCKET, "S3Key": "v2.zip"}
    )
    for name, prefix in ((BLUE, APP), (GREEN, f"{APP}-green")):
        eb.create_environment(ApplicationName=APP, EnvironmentName=name, CNAMEPrefix=prefix)

    assert eb.update_environment(EnvironmentName=GREEN, VersionLabel="v2")["Status"] == "Updating"
    backend = moto_beanstalk.backend(ACCOUNT, REGION)
    assert backend.advance()[0]["detail"]["Status"] == "Environment update successful"
    eb.swap_environment_cnames(SourceEnvironmentName=BLUE, DestinationEnvironmentName=GREEN)
    (green,) = eb.describe_environments(EnvironmentNames=[GREEN])["Environments"]
    assert green["CNAME"] == f"{APP}.{REGION}.elasticbeanstalk.com"
    assert (green["VersionLabel"], green["HealthStatus"], green["Health"]) == ("v2", "Warning", "Yellow")
    assert backend.swap_count == 1
    messages = [e["Message"] for e in eb.describe_events(EnvironmentName=GREEN)["Events"]]
    assert messages[-1] == "Environment update is starting." and len(messages) == 4


# ---------------------------------------------------------------------------------------------- EB's real catalogue
def _messages(bot: Bot, detail_type: str | None = None) -> list[str]:
    return [e["detail"]["Message"] for e in bot.emitted if detail_type is None or e["detail-type"] == detail_type]


def test_rolling_update_dips_through_degraded_and_severe_before_settling(bot: Bot) -> None:
    bot.backend.update_seconds = 10.0
    bot.deploy("v2", {"instances": 4, "rolling": True, "severe_during_update": True})
    assert env_of(bot.eb, GREEN)["Status"] == "Updating"
    bot.clock.now = START + 5
    bot.backend.advance()
    bot.clock.now = START + 8
    bot.backend.advance()
    assert env_of(bot.eb, GREEN)["Status"] == "Updating"
    bot.clock.now = START + 10
    bot.backend.advance()
    health = _messages(bot, "Health status change")
    assert health == [
        "Environment health has transitioned from Ok to Info. Application update in progress on 1 out of 4 instances.",
        "Environment health has transitioned from Info to Degraded. Application update in progress on 1 out of 4 "
        'instances. Incorrect application version found on 1 out of 4 instances. Expected version "v2" (deployment 2).',
        "Environment health has transitioned from Degraded to Severe. "
        "ELB health is failing or not available for all instances.",
        "Environment health has transitioned from Severe to Ok. Application update completed 0 seconds ago and took "
        "10 seconds.",
    ]
    assert [e["detail"]["Severity"] for e in bot.emitted if e["detail-type"] == "Health status change"] == [
        "INFO",
        "WARN",
        "WARN",
        "INFO",
    ]
    assert pick(env_of(bot.eb, GREEN), "Status", "VersionLabel", "Health") == ("Ready", "v2", "Green")


def test_completing_early_still_reports_the_dips_in_order(bot: Bot) -> None:
    bot.backend.update_seconds = 10.0
    bot.deploy("v2", {"instances": 2, "rolling": True})
    bot.backend.complete_update(GREEN)
    assert [m.split(".")[0] for m in _messages(bot, "Health status change")] == [
        "Environment health has transitioned from Ok to Info",
        "Environment health has transitioned from Info to Degraded",
        "Environment health has transitioned from Degraded to Ok",
    ]


def test_update_complete_but_with_errors_keeps_the_old_version(bot: Bot) -> None:
    bot.deploy("v2", {"result": "errors", "instances": 4})
    emitted = bot.backend.complete_update(GREEN)
    status = emitted[0]["detail"]
    assert (status["Status"], status["Severity"]) == ("Environment update failed", "ERROR")
    assert status["Message"] == (
        "Update environment operation is complete, but with errors. "
        "For more information, see troubleshooting documentation."
    )
    assert emitted[1]["detail"]["Message"] == (
        "Environment health has transitioned from Info to Degraded. Command failed on 1 out of 4 instances. "
        'Incorrect application version found on 1 out of 4 instances. Expected version "v1" (deployment 1).'
    )
    assert pick(env_of(bot.eb, GREEN), "Status", "VersionLabel", "Health") == ("Ready", "v1", "Red")
    logged = [e["Message"] for e in bot.eb.describe_events(EnvironmentName=GREEN)["Events"]]
    assert any(
        re.match(r"\[Instance: i-0[0-9a-f]{16}\] Command failed on instance\. Return code: 1", m) for m in logged
    )
    assert "Command execution completed on all instances. Summary: [Successful: 3, Failed: 1]." in logged
    # Per-instance lines are DescribeEvents only, not EventBridge.
    assert not any("Command failed on instance" in m for m in _messages(bot))


def test_update_reported_successful_while_eb_kept_the_old_version(bot: Bot) -> None:
    bot.deploy("v2", {"result": "old_version"})
    emitted = bot.backend.complete_update(GREEN)
    assert emitted[0]["detail"]["Status"] == "Environment update successful"
    assert pick(env_of(bot.eb, GREEN), "Status", "VersionLabel", "Health") == ("Ready", "v1", "Green")


def test_set_version_outcome_takes_the_new_keys(bot: Bot) -> None:
    bot.backend.set_version_outcome(APP, "v2", result="errors")
    bot.deploy("v2")
    assert bot.backend.complete_update(GREEN)[0]["detail"]["Severity"] == "ERROR"
    with pytest.raises(ValueError, match="unknown result"):
        bot.backend.set_version_outcome(APP, "v3", result="maybe")


def test_managed_platform_update(bot: Bot) -> None:
    bot.backend.update_seconds = 30.0
    started = bot.backend.start_managed_update(GREEN)
    assert [(e["detail-type"], e["detail"]["Status"]) for e in started] == [
        ("Managed update status change", "Managed updated started"),
        ("Elastic Beanstalk resource status change", "Environment update started"),
        ("Health status change", "Environment health changed"),
    ]
    assert started[0]["detail"]["Message"] == "Managed platform update is in-progress."
    assert env_of(bot.eb, GREEN)["Status"] == "Updating"
    with pytest.raises(ClientError) as refused:
        bot.eb.swap_environment_cnames(SourceEnvironmentName=BLUE, DestinationEnvironmentName=GREEN)
    assert error_of(refused)[:2] == (
        "InvalidParameterValue",
        f"Environment named {GREEN} is in an invalid state for this operation. Must be Ready.",
    )
    with pytest.raises(ClientError):
        bot.deploy("v2")
    bot.clock.now = START + 30
    done = bot.backend.advance()
    assert [(e["detail-type"], e["detail"]["Status"]) for e in done][:2] == [
        ("Elastic Beanstalk resource status change", "Environment update successful"),
        ("Managed update status change", "Managed update successful"),
    ]
    assert pick(env_of(bot.eb, GREEN), "Status", "VersionLabel", "Health") == ("Ready", "v1", "Green")


def test_managed_platform_update_that_fails(bot: Bot) -> None:
    bot.backend.start_managed_update(GREEN, fail=True)
    done = bot.backend.complete_update(GREEN)
    assert done[0]["detail"]["Message"] == "Managed update failed, retrying in 5 minutes."
    assert env_of(bot.eb, GREEN)["Status"] == "Ready"


def test_worker_tier_has_no_cname_and_cannot_swap(bot: Bot) -> None:
    worker = bot.eb.create_environment(
        ApplicationName=APP,
        EnvironmentName="mybot-worker",
        VersionLabel="v1",
        SolutionStackName=STACK,
        Tier={"Name": "Worker", "Type": "SQS/HTTP"},
    )
    assert "CNAME" not in worker
    described = env_of(bot.eb, "mybot-worker")
    assert "CNAME" not in described
    assert pick(described["Tier"], "Name", "Type") == ("Worker", "SQS/HTTP")
    assert env_of(bot.eb, BLUE)["Tier"]["Name"] == "WebServer"
    with pytest.raises(ClientError) as refused:
        bot.eb.create_environment(
            ApplicationName=APP,
            EnvironmentName="mybot-worker2",
            CNAMEPrefix="mybot-worker2",
            SolutionStackName=STACK,
            Tier={"Name": "Worker", "Type": "SQS/HTTP"},
        )
    assert error_of(refused)[:2] == ("InvalidParameterValue", "Environment does not support a cname")
    with pytest.raises(ClientError) as no_swap:
        bot.eb.swap_environment_cnames(SourceEnvironmentName=BLUE, DestinationEnvironmentName="mybot-worker")
    assert error_of(no_swap)[0] == "InvalidParameterValue"


def test_environment_tags(bot: Bot) -> None:
    bot.eb.create_environment(
        ApplicationName=APP,
        EnvironmentName="mybot-tagged",
        CNAMEPrefix="mybot-tagged",
        SolutionStackName=STACK,
        Tags=[{"Key": "team", "Value": "bots"}],
    )
    arn = env_of(bot.eb, "mybot-tagged")["EnvironmentArn"]
    assert bot.eb.list_tags_for_resource(ResourceArn=arn)["ResourceTags"] == [{"Key": "team", "Value": "bots"}]
    bot.eb.update_tags_for_resource(
        ResourceArn=arn, TagsToAdd=[{"Key": "bluegreen", "Value": "on"}], TagsToRemove=["team"]
    )
    assert bot.eb.list_tags_for_resource(ResourceArn=arn)["ResourceTags"] == [{"Key": "bluegreen", "Value": "on"}]


def test_marker_keys_are_read_from_the_zip(bot: Bot) -> None:
    from bluegreen_local.moto_beanstalk import Outcome

    outcome = Outcome.from_marker({"result": "errors", "instances": 3, "rolling": True, "severe_during_update": True})
    assert (outcome.result, outcome.instances, outcome.rolling, outcome.severe_during_update) == (
        "errors",
        3,
        True,
        True,
    )
    ignored = Outcome.from_marker({"result": "weird", "instances": 0, "rolling": "yes"})
    assert (ignored.result, ignored.instances, ignored.rolling) == ("ok", 1, False)
