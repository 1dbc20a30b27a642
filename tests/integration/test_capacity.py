"""Capacity of an EB environment (bluegreen.aws.capacity) against moto's EB with our extension, in process.

Standby after the drain: the old color goes down to a small (or zero) capacity through UpdateEnvironment
option settings, and its previous capacity comes back before it is deployed to or takes traffic again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from bluegreen.aws.beanstalk import observation
from bluegreen.aws.capacity import Capacity, ensure_capacity, read_capacity
from bluegreen.errors import BadInput, NotFound, Transient
from botocore.exceptions import ClientError

APP, BLUE, GREEN = "mybot", "mybot-blue", "mybot-green"
REGION, ACCOUNT = "us-east-1", "123456789012"
ASG = "aws:autoscaling:asg"
ROLLING = "aws:autoscaling:updatepolicy:rollingupdate"


class Counting:
    """A boto3 EB client that counts the calls made through it."""

    def __init__(self, eb: Any) -> None:
        self._eb = eb
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._eb, name)

        def call(**kwargs: Any) -> Any:
            self.calls.append(name)
            return method(**kwargs)

        return call


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Counting, Any]]:
    from bluegreen_local import moto_beanstalk
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    moto_beanstalk.install()
    with mock_aws():
        eb = boto3.client("elasticbeanstalk", region_name=REGION)
        eb.create_application(ApplicationName=APP)
        eb.create_environment(ApplicationName=APP, EnvironmentName=BLUE, CNAMEPrefix=APP)
        eb.create_environment(ApplicationName=APP, EnvironmentName=GREEN)
        yield Counting(eb), moto_beanstalk.backend(ACCOUNT, REGION)


def settle(backend: Any, environment: str = BLUE) -> None:
    backend.complete_update(environment)


def env_of(eb: Any, name: str = BLUE) -> dict[str, Any]:
    (env,) = eb.describe_environments(EnvironmentNames=[name])["Environments"]
    return env  # type: ignore[no-any-return]


def options(eb: Any, name: str = BLUE) -> dict[str, dict[tuple[str, str], str]]:
    sets = eb.describe_configuration_settings(ApplicationName=APP, EnvironmentName=name)["ConfigurationSettings"]
    return {
        s["DeploymentStatus"]: {(o["Namespace"], o["OptionName"]): o["Value"] for o in s["OptionSettings"]}
        for s in sets
    }


def aws_error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    error = excinfo.value.response
    return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


# ---------------------------------------------------------------------------------------------- the value
def test_capacity_text_round_trips_and_bounds_are_checked() -> None:
    assert Capacity(1, 4).as_text() == "MinSize=1 MaxSize=4"
    assert Capacity.parse(" MinSize=0 MaxSize=0 ") == Capacity(0, 0) and Capacity(0, 0).zero
    assert not Capacity(1, 1).zero
    for low, high in ((2, 1), (-1, 1), (0, 10_001)):
        with pytest.raises(BadInput):
            Capacity(low, high)
    with pytest.raises(BadInput):
        Capacity.parse("1/4")


# ---------------------------------------------------------------------------------------------- reading
def test_read_defaults_and_the_raw_settings_eb_lists(world: tuple[Counting, Any]) -> None:
    eb, _ = world
    assert read_capacity(eb, APP, BLUE) == Capacity(1, 4)
    listed = eb.describe_configuration_settings(ApplicationName=APP, EnvironmentName=BLUE)["ConfigurationSettings"]
    assert [s["DeploymentStatus"] for s in listed] == ["deployed"]
    (asg_min,) = [o for o in listed[0]["OptionSettings"] if (o["Namespace"], o["OptionName"]) == (ASG, "MinSize")]
    assert asg_min == {"ResourceName": "AWSEBAutoScalingGroup", "Namespace": ASG, "OptionName": "MinSize", "Value": "1"}
    assert options(eb)["deployed"][("aws:elasticbeanstalk:environment", "EnvironmentType")] == "LoadBalanced"


def test_read_what_the_environment_was_created_with_and_single_instance(world: tuple[Counting, Any]) -> None:
    eb, _ = world
    eb.create_environment(
        ApplicationName=APP,
        EnvironmentName="mybot-big",
        OptionSettings=[
            {"Namespace": ASG, "OptionName": "MinSize", "Value": "2"},
            {"Namespace": ASG, "OptionName": "MaxSize", "Value": "6"},
        ],
    )
    assert read_capacity(eb, APP, "mybot-big") == Capacity(2, 6)
    single = [
        {"Namespace": "aws:elasticbeanstalk:environment", "OptionName": "EnvironmentType", "Value": "SingleInstance"}
    ]
    eb.create_environment(ApplicationName=APP, EnvironmentName="mybot-one", OptionSettings=single)
    assert read_capacity(eb, APP, "mybot-one") == Capacity(1, 1)
    assert ensure_capacity(eb, APP, "mybot-one", Capacity(1, 1)) is False
    with pytest.raises(BadInput, match="single-instance"):
        ensure_capacity(eb, APP, "mybot-one", Capacity(0, 0))
    assert eb.calls.count("update_environment") == 0


def test_unknown_environment_is_not_found(world: tuple[Counting, Any]) -> None:
    eb, _ = world
    with pytest.raises(NotFound):
        read_capacity(eb, APP, "mybot-nope")
    with pytest.raises(NotFound):
        read_capacity(eb, "nobot", BLUE)


# ---------------------------------------------------------------------------------------------- ensuring
def test_lower_to_one_then_zero_then_restore(world: tuple[Counting, Any]) -> None:
    eb, backend = world
    previous = read_capacity(eb, APP, BLUE)

    assert ensure_capacity(eb, APP, BLUE, Capacity(1, 1)) is True
    env = env_of(eb)
    assert (env["Status"], env["Health"]) == ("Updating", "Grey")
    drafts = options(eb)
    assert drafts["deployed"][(ASG, "MaxSize")] == "4" and drafts["pending"][(ASG, "MaxSize")] == "1"
    assert read_capacity(eb, APP, BLUE) == previous  # deployed until the update ends
    settle(backend)
    env = env_of(eb)
    assert (env["Status"], env["Health"], env["HealthStatus"]) == ("Ready", "Green", "Ok")
    assert read_capacity(eb, APP, BLUE) == Capacity(1, 1) and list(options(eb)) == ["deployed"]

    assert ensure_capacity(eb, APP, BLUE, Capacity(0, 0)) is True
    settle(backend)
    assert read_capacity(eb, APP, BLUE) == Capacity(0, 0)
    env = env_of(eb)
    assert (env["Status"], env["Health"], env["HealthStatus"]) == ("Ready", "Grey", "NoData")

    assert ensure_capacity(eb, APP, BLUE, previous) is True
    settle(backend)
    assert read_capacity(eb, APP, BLUE) == previous
    assert observation(env_of(eb)).healthy


def test_a_repeated_ensure_makes_no_update_call(world: tuple[Counting, Any]) -> None:
    eb, backend = world
    assert ensure_capacity(eb, APP, BLUE, Capacity(1, 4)) is False  # the defaults already
    assert ensure_capacity(eb, APP, BLUE, Capacity(0, 0)) is True
    assert ensure_capacity(eb, APP, BLUE, Capacity(0, 0)) is False  # the update to it is under way
    settle(backend)
    assert ensure_capacity(eb, APP, BLUE, Capacity(0, 0)) is False
    assert eb.calls.count("update_environment") == 1
    assert eb.calls.count("describe_configuration_settings") == 4


def test_not_ready_is_transient(world: tuple[Counting, Any]) -> None:
    eb, backend = world
    backend.start_managed_update(BLUE)  # EB is busy with its own update: no draft, but not Ready
    with pytest.raises(Transient, match="not Ready"):
        ensure_capacity(eb, APP, BLUE, Capacity(1, 1))
    settle(backend)
    assert ensure_capacity(eb, APP, BLUE, Capacity(1, 1)) is True
    with pytest.raises(Transient, match="updating its configuration"):  # another target while it updates
        ensure_capacity(eb, APP, BLUE, Capacity(2, 2))


def test_invalid_capacity_is_bad_input_with_ebs_words(world: tuple[Counting, Any]) -> None:
    eb, _ = world
    with pytest.raises(ClientError) as excinfo:  # what EB itself answers
        eb.update_environment(
            EnvironmentName=BLUE,
            OptionSettings=[
                {"Namespace": ASG, "OptionName": "MinSize", "Value": "3"},
                {"Namespace": ASG, "OptionName": "MaxSize", "Value": "2"},
            ],
        )
    code, message, status = aws_error(excinfo)
    assert (code, status) == ("ConfigurationValidationException", 400)
    assert message.startswith(
        "Configuration validation exception: Invalid option value: '3' (Namespace: 'aws:autoscaling:asg', "
        "OptionName: 'MinSize'): "
    )
    with pytest.raises(ClientError) as excinfo:
        eb.update_environment(
            EnvironmentName=BLUE, OptionSettings=[{"Namespace": ASG, "OptionName": "MaxSize", "Value": "10001"}]
        )
    assert aws_error(excinfo)[1].endswith("Value is greater than maximum allowed value: 10000")
    assert env_of(eb)["Status"] == "Ready" and list(options(eb)) == ["deployed"]  # refused before starting

    eb.calls.clear()
    with pytest.raises(BadInput, match="need 0 <= MinSize <= MaxSize"):  # the adapter never sends such a pair
        ensure_capacity(eb, APP, BLUE, Capacity(3, 2))
    assert eb.calls == []
    assert read_capacity(eb, APP, BLUE) == Capacity(1, 4)


def test_rolling_updates_refuse_a_zero_capacity(world: tuple[Counting, Any]) -> None:
    eb, backend = world
    rolling = [{"Namespace": ROLLING, "OptionName": "RollingUpdateEnabled", "Value": "true"}]
    eb.update_environment(EnvironmentName=BLUE, OptionSettings=rolling)
    settle(backend)
    with pytest.raises(BadInput) as refused:
        ensure_capacity(eb, APP, BLUE, Capacity(0, 0))
    assert refused.value.details == {"aws_code": "ConfigurationValidationException"}
    assert (
        "Invalid option value: '0.0' (Namespace: 'aws:autoscaling:updatepolicy:rollingupdate', OptionName: "
        "'MinInstancesInService'): The minimum instances in service for rolling updates (0) should be less than "
        "the maximum instance count for the Autoscaling group (0)." in refused.value.message
    )
    with pytest.raises(BadInput, match="OptionName: 'MaxBatchSize'\\): Value is less than minimum allowed value: 1"):
        ensure_capacity(eb, APP, BLUE, Capacity(0, 4))
    assert read_capacity(eb, APP, BLUE) == Capacity(1, 4) and env_of(eb)["Status"] == "Ready"
    assert ensure_capacity(eb, APP, BLUE, Capacity(1, 1)) is True  # a non-zero standby is fine
    settle(backend)
    assert read_capacity(eb, APP, BLUE) == Capacity(1, 1)


# ---------------------------------------------------------------------------------------------- zero instances
def test_zero_capacity_is_never_healthy_until_restored_and_ready(world: tuple[Counting, Any]) -> None:
    eb, backend = world
    ensure_capacity(eb, APP, BLUE, Capacity(0, 0))
    settle(backend)
    backend.set_health(BLUE, "Ok")  # nothing runs, so nothing can report Ok
    env = env_of(eb)
    assert (env["Health"], env["HealthStatus"]) == ("Grey", "NoData") and not observation(env).healthy
    health = eb.describe_environment_health(EnvironmentName=BLUE, AttributeNames=["All"])
    assert health["Causes"] == ["There are no instances. Auto Scaling group desired capacity is set to 0."]
    assert set(health["InstancesHealth"].values()) == {0}

    ensure_capacity(eb, APP, BLUE, Capacity(1, 4))
    env = env_of(eb)
    assert env["Status"] == "Updating" and not observation(env).healthy  # still no instances meanwhile
    settle(backend)
    env = env_of(eb)
    assert (env["Status"], env["Health"], env["HealthStatus"]) == ("Ready", "Green", "Ok")
    assert observation(env).healthy
    health = eb.describe_environment_health(EnvironmentName=BLUE, AttributeNames=["All"])
    assert health["InstancesHealth"]["Ok"] == 1 and health["Causes"] == []


def test_a_failed_or_aborted_capacity_update_leaves_the_deployed_capacity(world: tuple[Counting, Any]) -> None:
    eb, backend = world
    ensure_capacity(eb, APP, BLUE, Capacity(0, 0))
    backend.complete_update(BLUE, fail=True)
    assert read_capacity(eb, APP, BLUE) == Capacity(1, 4)
    assert options(eb)["failed"][(ASG, "MaxSize")] == "0"  # EB lists the failed draft beside the deployed set
    ensure_capacity(eb, APP, BLUE, Capacity(1, 1))
    eb.abort_environment_update(EnvironmentName=BLUE)
    assert read_capacity(eb, APP, BLUE) == Capacity(1, 4) and list(options(eb)) == ["deployed"]
    assert env_of(eb)["Status"] == "Ready"
