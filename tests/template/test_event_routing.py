"""Every sample in events/ is routed by the template's rules exactly as intended: by the one rule that
should route it and no other, using EventBridge's own pattern matching as moto implements it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from .conftest import EVENTS

SAMPLE_BUCKET = "bluegreen-artifacts-123456789012"

# Which function's rule must route each sample (None: no rule may match it).
EXPECTED = {
    "artifact/eventbridge-object-created.json": "ArtifactFunction",
    # The classic S3 notification (Records[]) is a direct invoke shape, not an EventBridge event.
    "artifact/s3-notification.json": None,
    "artifact/eventbridge-object-created-special-key.json": "ArtifactFunction",
    "artifact/s3-notification-special-key.json": None,
    # S3's s3:TestEvent (sent when a notification configuration is saved) is a direct invoke shape too.
    "artifact/s3-test-event.json": None,
    "health/health-ok.json": "HealthFunction",
    "health/health-degraded.json": "HealthFunction",
    "health/health-severe.json": "HealthFunction",
    "health/update-started.json": "HealthFunction",
    "health/update-successful.json": "HealthFunction",
    "health/update-failed.json": "HealthFunction",
    "health/health-degraded-during-update.json": "HealthFunction",
    "health/health-info-update-in-progress.json": "HealthFunction",
    "health/health-severe-during-restart.json": "HealthFunction",
    "health/launch-with-issues.json": "HealthFunction",
    "health/update-complete-with-errors.json": "HealthFunction",
    # "Managed update status change" is routed: a platform update is not a deployment, but deployments and
    # swaps wait for it, and people are told why.
    "health/managed-update-started.json": "HealthFunction",
    "health/managed-update-failed.json": "HealthFunction",
    "alarm/alarm-eventbridge.json": "AlarmFunction",
    # Leaving ALARM is filtered out at the rule (the machine never acts on it).
    "alarm/alarm-ok.json": None,
    # The alarm's own Lambda action invokes the function directly (AlarmActionPermission).
    "alarm/alarm-lambda-action.json": None,
    "override/status.json": None,
    "override/promote.json": None,
    "override/rollback.json": None,
    "override/abort.json": None,
    "override/pause.json": None,
    "override/resume.json": None,
    "override/retry.json": None,
    "override/register.json": None,
    # Delivered by the watchdog's schedule, which has no pattern; no pattern rule may take it.
    "watchdog/scheduled.json": None,
}


def resolve(value: Any, bucket: str) -> Any:
    """The only intrinsics in the patterns are references to the artifact bucket."""
    if isinstance(value, dict):
        if value == {"Ref": "ArtifactBucket"}:
            return bucket
        if any(key == "Ref" or key.startswith("Fn::") for key in value):
            raise AssertionError(f"unexpected intrinsic in an event pattern: {value}")
        return {k: resolve(v, bucket) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, bucket) for v in value]
    return value


def pattern_rules(source: dict[str, Any], bucket: str = SAMPLE_BUCKET) -> dict[str, EventPattern]:
    """function -> its EventBridge rule's pattern, read from the functions' Events in template.yaml."""
    rules: dict[str, EventPattern] = {}
    for name, resource in source["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] in ("EventBridgeRule", "CloudWatchEvent"):
                assert name not in rules, f"{name} has two rules"
                pattern = resolve(event["Properties"]["Pattern"], bucket)
                rules[name] = EventPattern.load(json.dumps(pattern))
    return rules


def schedules(source: dict[str, Any]) -> dict[str, str]:
    return {
        name: event["Properties"]["Schedule"]
        for name, resource in source["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "Schedule"
    }


def load(path: str) -> dict[str, Any]:
    return json.loads((EVENTS / path).read_text())


def routed_to(rules: dict[str, EventPattern], event: dict[str, Any]) -> set[str]:
    return {name for name, pattern in rules.items() if pattern.matches_event(event)}


@pytest.fixture(scope="module")
def rules(source: dict[str, Any]) -> dict[str, EventPattern]:
    return pattern_rules(source)


def test_every_sample_has_an_expected_route() -> None:
    samples = {p.relative_to(EVENTS).as_posix() for p in Path(EVENTS).rglob("*.json")}
    assert samples == set(EXPECTED)


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_sample_is_routed_by_its_rule_and_no_other(rules: dict[str, EventPattern], path: str) -> None:
    expected = EXPECTED[path]
    assert routed_to(rules, load(path)) == ({expected} if expected else set())


def test_the_rules_are_the_three_event_sources_plus_a_schedule(
    source: dict[str, Any], rules: dict[str, EventPattern]
) -> None:
    # ChatFunction's rule is on the stack's own bus (bluegreen's notifications), not an AWS source.
    assert set(rules) == {"ArtifactFunction", "HealthFunction", "AlarmFunction", "ChatFunction"}
    assert schedules(source) == {"WatchdogFunction": "rate(1 minute)"}


def test_the_bucket_in_the_pattern_is_the_stacks_own(source: dict[str, Any]) -> None:
    event = load("artifact/eventbridge-object-created.json")
    other = pattern_rules(source, bucket="someone-elses-bucket")
    assert routed_to(other, event) == set()


# ---------------------------------------------------------------- variations of the real samples


def variant(path: str, **changes: Any) -> dict[str, Any]:
    """The sample with dotted-path fields replaced, e.g. `detail__object__key="x"`."""
    event = copy.deepcopy(load(path))
    for dotted, value in changes.items():
        node = event
        *parents, leaf = dotted.replace("__", ".").split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return event


OBJECT_CREATED = "artifact/eventbridge-object-created.json"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"detail__object__key": "mybot/build-43.zip"}, {"ArtifactFunction"}),
        # The handler accepts any case of .zip, so the rule must route it too.
        ({"detail__object__key": "mybot/Build-43.ZIP"}, {"ArtifactFunction"}),
        ({"detail__object__key": "mybot/build-43.zip.sha256"}, set()),
        ({"detail__object__key": "mybot/notes.txt"}, set()),
        ({"detail__bucket__name": "another-bucket"}, set()),
        ({"detail-type": "Object Deleted"}, set()),
        ({"source": "aws.s3.fake"}, set()),
    ],
)
def test_object_created_variants(rules: dict[str, EventPattern], changes: dict[str, Any], expected: set[str]) -> None:
    assert routed_to(rules, variant(OBJECT_CREATED, **changes)) == expected


@pytest.mark.parametrize(
    ("detail_type", "expected"),
    [
        ("Health status change", {"HealthFunction"}),
        ("Elastic Beanstalk resource status change", {"HealthFunction"}),
        ("Other resource status change", set()),
        ("Managed update status change", {"HealthFunction"}),
    ],
)
def test_elastic_beanstalk_detail_types(rules: dict[str, EventPattern], detail_type: str, expected: set[str]) -> None:
    assert routed_to(rules, variant("health/update-successful.json", **{"detail-type": detail_type})) == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [("ALARM", {"AlarmFunction"}), ("OK", set()), ("INSUFFICIENT_DATA", set())],
)
def test_alarm_states(rules: dict[str, EventPattern], state: str, expected: set[str]) -> None:
    assert routed_to(rules, variant("alarm/alarm-eventbridge.json", detail__state__value=state)) == expected


def test_the_local_stack_routes_with_the_same_patterns(source: dict[str, Any]) -> None:
    """The local stack reads template.yaml itself; its rules must be the ones tested here."""
    from bluegreen_local.template import read_stack

    stack, _ = read_stack("bluegreen", template=source)
    assert stack.bucket == SAMPLE_BUCKET
    local = {rule.function: rule.pattern for rule in stack.rules if rule.pattern is not None}
    mine = {
        name: resolve(event["Properties"]["Pattern"], SAMPLE_BUCKET)
        for name, resource in source["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "EventBridgeRule"
    }
    assert local == mine
    assert {(r.function, r.schedule) for r in stack.rules if r.schedule} == {("WatchdogFunction", "rate(1 minute)")}
