"""The local AWS's CloudWatch alarms behave like AWS's (docs/aws-events.md, section 3), through boto3."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from bluegreen_local import moto_cloudwatch
from bluegreen_local.moto_cloudwatch import evaluate_rule, rule_children
from moto import mock_aws

REGION = "us-east-1"


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        moto_cloudwatch.install()
        try:
            yield boto3.client("cloudwatch", region_name=REGION)
        finally:
            moto_cloudwatch.uninstall()


def _alarm(cloudwatch: Any, name: str, **extra: Any) -> None:
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="Errors",
        Namespace="Bot",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        **extra,
    )


def _one(cloudwatch: Any, name: str, kind: str = "MetricAlarms") -> dict[str, Any]:
    types = ["CompositeAlarm"] if kind == "CompositeAlarms" else ["MetricAlarm"]
    (found,) = cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=types)[kind]
    return dict(found)


def test_state_transitioned_moves_only_when_the_value_changes(cloudwatch: Any) -> None:
    _alarm(cloudwatch, "errors")
    created = _one(cloudwatch, "errors")
    assert created["StateTransitionedTimestamp"] == created["StateUpdatedTimestamp"]
    time.sleep(0.01)
    cloudwatch.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="boom")
    alarmed = _one(cloudwatch, "errors")
    assert alarmed["StateTransitionedTimestamp"] > created["StateTransitionedTimestamp"]
    assert alarmed["StateTransitionedTimestamp"] == alarmed["StateUpdatedTimestamp"]
    time.sleep(0.01)
    cloudwatch.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="still boom")
    again = _one(cloudwatch, "errors")
    assert again["StateUpdatedTimestamp"] > alarmed["StateUpdatedTimestamp"]
    assert again["StateTransitionedTimestamp"] == alarmed["StateTransitionedTimestamp"]
    assert again["StateReason"] == "still boom"


def test_updating_an_alarm_keeps_its_state(cloudwatch: Any) -> None:
    _alarm(cloudwatch, "errors")
    cloudwatch.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="boom")
    before = _one(cloudwatch, "errors")
    _alarm(cloudwatch, "errors", AlarmDescription="new description")
    after = _one(cloudwatch, "errors")
    assert after["AlarmDescription"] == "new description"
    assert (after["StateValue"], after["StateReason"]) == ("ALARM", "boom")
    assert after["StateTransitionedTimestamp"] == before["StateTransitionedTimestamp"]


def test_composite_alarms_only_when_asked(cloudwatch: Any) -> None:
    _alarm(cloudwatch, "errors")
    cloudwatch.put_composite_alarm(AlarmName="bot-down", AlarmRule='ALARM("errors")')
    default = cloudwatch.describe_alarms()
    assert [a["AlarmName"] for a in default["MetricAlarms"]] == ["errors"]
    assert default.get("CompositeAlarms", []) == []
    composite = cloudwatch.describe_alarms(AlarmTypes=["CompositeAlarm"])
    assert composite.get("MetricAlarms", []) == []
    assert [a["AlarmName"] for a in composite["CompositeAlarms"]] == ["bot-down"]
    both = cloudwatch.describe_alarms(AlarmTypes=["CompositeAlarm", "MetricAlarm"])
    assert (len(both["MetricAlarms"]), len(both["CompositeAlarms"])) == (1, 1)
    assert both["CompositeAlarms"][0]["AlarmRule"] == 'ALARM("errors")'


def test_composite_follows_its_children(cloudwatch: Any) -> None:
    _alarm(cloudwatch, "errors")
    _alarm(cloudwatch, "latency")
    cloudwatch.put_composite_alarm(AlarmName="bot-down", AlarmRule="ALARM(errors) AND NOT ALARM(latency)")
    assert _one(cloudwatch, "bot-down", "CompositeAlarms")["StateValue"] == "OK"
    cloudwatch.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="boom")
    down = _one(cloudwatch, "bot-down", "CompositeAlarms")
    assert down["StateValue"] == "ALARM"
    assert down["StateReason"].startswith(
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:errors transitioned to ALARM"
    )
    triggering = json.loads(down["StateReasonData"])["triggeringAlarms"]
    assert triggering[0]["arn"].endswith(":alarm:errors")
    assert triggering[0]["state"]["value"] == "ALARM"
    cloudwatch.set_alarm_state(AlarmName="latency", StateValue="ALARM", StateReason="slow")
    assert _one(cloudwatch, "bot-down", "CompositeAlarms")["StateValue"] == "OK"


def test_describe_alarms_combines_filters(cloudwatch: Any) -> None:
    _alarm(cloudwatch, "bot-errors")
    _alarm(cloudwatch, "bot-latency")
    _alarm(cloudwatch, "other-errors")
    cloudwatch.set_alarm_state(AlarmName="bot-errors", StateValue="ALARM", StateReason="boom")
    cloudwatch.set_alarm_state(AlarmName="other-errors", StateValue="ALARM", StateReason="boom")
    found = cloudwatch.describe_alarms(AlarmNamePrefix="bot-", StateValue="ALARM")["MetricAlarms"]
    assert [a["AlarmName"] for a in found] == ["bot-errors"]


@pytest.mark.parametrize(
    ("rule", "states", "expected"),
    [
        ("ALARM(a)", {"a": "ALARM"}, True),
        ("ALARM(a)", {"a": "OK"}, False),
        ('ALARM("a") OR OK(b)', {"a": "OK", "b": "OK"}, True),
        ("ALARM(a) AND (OK(b) OR INSUFFICIENT_DATA(b))", {"a": "ALARM", "b": "INSUFFICIENT_DATA"}, True),
        ("NOT ALARM(arn:aws:cloudwatch:us-east-1:123456789012:alarm:a)", {"a": "ALARM"}, False),
        ("TRUE AND NOT FALSE", {}, True),
        ("ALARM(missing)", {}, False),
    ],
)
def test_rule_evaluation(rule: str, states: dict[str, str], expected: bool) -> None:
    assert evaluate_rule(rule, states) is expected


def test_rule_children_and_bad_rules() -> None:
    assert rule_children('ALARM("a") OR OK(arn:aws:cloudwatch:r:1:alarm:b)') == ["a", "b"]
    for bad in ("ALARM(a) AND", "ALARM(a) ALARM(b)", "(ALARM(a)", "alarm(a)"):
        with pytest.raises(ValueError, match="cannot parse"):
            evaluate_rule(bad, {})
