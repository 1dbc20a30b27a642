"""A corpus of bad input: each case gets a structured error or a logged "ignored" with its reason, never an
unhandled exception, and never a change of state. Permanent errors return; they do not raise (no retry storm).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.conftest import GREEN, World, sample

Case = tuple[str, str, Callable[[World], Any], str]  # (id, handler, event builder, expected: "error" | "ignored")


def _s3(world: World, key: str) -> dict[str, Any]:
    event = sample("artifact/eventbridge-object-created.json")
    event["detail"]["bucket"]["name"] = world.stack.bucket
    event["detail"]["object"]["key"] = key
    return event


def _mutate(path: str, change: Callable[[dict[str, Any]], Any]) -> Callable[[World], Any]:
    def build(world: World) -> Any:
        event = copy.deepcopy(sample(path))
        if "detail" in event and isinstance(event["detail"], dict) and "bucket" in event["detail"]:
            event["detail"]["bucket"]["name"] = world.stack.bucket
        change(event)
        return event

    return build


def _set(*pairs: tuple[tuple[str, ...], Any]) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        for path, value in pairs:
            node = event
            for key in path[:-1]:
                node = node[key]
            if value is _DELETE:
                node.pop(path[-1], None)
            else:
                node[path[-1]] = value

    return change


_DELETE = object()
HUGE = "x" * 300_000


CASES: list[Case] = [
    # ---- the override payload
    ("override-not-json", "override", lambda w: "{not json", "error"),
    ("override-a-list", "override", lambda w: [1, 2, 3], "error"),
    ("override-a-number", "override", lambda w: 42, "error"),
    ("override-empty", "override", lambda w: {}, "error"),
    ("override-unknown-action", "override", lambda w: {"action": "explode", "app": "mybot", "reason": "x"}, "error"),
    ("override-missing-app", "override", lambda w: {"action": "promote", "reason": "x"}, "error"),
    ("override-app-wrong-type", "override", lambda w: {"action": "promote", "app": 7, "reason": "x"}, "error"),
    ("override-extra-field", "override", lambda w: {"action": "status", "app": "mybot", "sudo": True}, "error"),
    ("override-no-reason", "override", lambda w: {"action": "rollback", "app": "mybot"}, "error"),
    ("override-huge-payload", "override", lambda w: {"action": "promote", "app": "mybot", "reason": HUGE}, "error"),
    (
        "override-huge-string",
        "override",
        lambda w: json.dumps({"action": "promote", "app": "mybot", "reason": HUGE}),
        "error",
    ),
    ("override-unknown-app", "override", lambda w: {"action": "promote", "app": "ghost", "reason": "x"}, "error"),
    ("override-bad-app-name", "override", lambda w: {"action": "status", "app": "../../etc"}, "error"),
    ("override-non-ascii-app", "override", lambda w: {"action": "status", "app": "bøt"}, "error"),
    (
        "override-config-without-register",
        "override",
        lambda w: {"action": "pause", "app": "mybot", "reason": "x", "config": {"environments": ["a-env", "b-env"]}},
        "error",
    ),
    (
        "override-register-same-env-twice",
        "override",
        lambda w: {
            "action": "register",
            "app": "mybot",
            "reason": "x",
            "config": {"environments": ["mybot-blue", "mybot-blue"], "live_environment": "mybot-blue"},
        },
        "error",
    ),
    (
        "override-register-negative-bake",
        "override",
        lambda w: {
            "action": "register",
            "app": "mybot",
            "reason": "x",
            "config": {
                "environments": ["mybot-blue", "mybot-green"],
                "live_environment": "mybot-blue",
                "bake_seconds": -1,
            },
        },
        "error",
    ),
    (
        "override-register-live-not-a-color",
        "override",
        lambda w: {
            "action": "register",
            "app": "mybot",
            "reason": "x",
            "config": {"environments": ["mybot-blue", "mybot-green"], "live_environment": "other-env"},
        },
        "error",
    ),
    ("override-promote-nothing", "override", lambda w: {"action": "promote", "app": "mybot", "reason": "x"}, "error"),
    ("override-resume-not-paused", "override", lambda w: {"action": "resume", "app": "mybot", "reason": "x"}, "error"),
    # ---- S3 artifact events
    ("s3-not-an-object", "artifact", lambda w: "[]", "error"),
    (
        "s3-wrong-source",
        "artifact",
        lambda w: {"source": "aws.ec2", "detail-type": "Object Created", "detail": {}},
        "error",
    ),
    (
        "s3-missing-key",
        "artifact",
        _mutate("artifact/eventbridge-object-created.json", _set((("detail", "object", "key"), _DELETE))),
        "error",
    ),
    (
        "s3-key-wrong-type",
        "artifact",
        _mutate(
            "artifact/eventbridge-object-created.json",
            _set((("detail", "object", "key"), 12)),
        ),
        "error",
    ),
    (
        "s3-bad-time",
        "artifact",
        _mutate("artifact/eventbridge-object-created.json", _set((("time",), "yesterday"))),
        "error",
    ),
    ("s3-key-outside-prefix", "artifact", lambda w: _s3(w, "build.zip"), "ignored"),
    ("s3-not-a-zip-key", "artifact", lambda w: _s3(w, "mybot/notes.txt"), "ignored"),
    ("s3-dot-dot", "artifact", lambda w: _s3(w, "mybot/../other/build.zip"), "error"),
    ("s3-empty-segment", "artifact", lambda w: _s3(w, "mybot//build.zip"), "error"),
    ("s3-non-ascii", "artifact", lambda w: _s3(w, "mybot/bÿld.zip"), "error"),
    ("s3-over-long", "artifact", lambda w: _s3(w, "mybot/" + "a" * 1100 + ".zip"), "error"),
    ("s3-unknown-app", "artifact", lambda w: _s3(w, "ghost/build.zip"), "error"),
    ("s3-missing-object", "artifact", lambda w: _s3(w, "mybot/never-uploaded.zip"), "error"),
    (
        "s3-other-bucket",
        "artifact",
        _mutate(
            "artifact/eventbridge-object-created.json",
            lambda e: e["detail"]["bucket"].update(name="someone-elses-bucket"),
        ),
        "ignored",
    ),
    (
        "s3-other-region",
        "artifact",
        _mutate("artifact/eventbridge-object-created.json", _set((("region",), "eu-west-1"))),
        "ignored",
    ),
    ("s3-records-empty", "artifact", lambda w: {"Records": []}, "error"),
    (
        "s3-records-not-s3",
        "artifact",
        lambda w: {
            "Records": [
                {
                    "eventSource": "aws:sqs",
                    "eventName": "x",
                    "eventTime": "2026-11-28T00:00:00Z",
                    "s3": {"bucket": {"name": "abc"}, "object": {"key": "k"}},
                }
            ]
        },
        "ignored",
    ),
    # ---- EB events
    ("eb-wrong-source", "health", lambda w: {"source": "aws.ec2", "detail": {}}, "error"),
    ("eb-missing-detail", "health", _mutate("health/health-ok.json", _set((("detail",), _DELETE))), "error"),
    (
        "eb-unknown-environment",
        "health",
        _mutate("health/health-severe.json", _set((("detail", "EnvironmentName"), "not-ours-env"))),
        "ignored",
    ),
    (
        "eb-no-environment",
        "health",
        _mutate("health/health-severe.json", _set((("detail", "EnvironmentName"), _DELETE))),
        "ignored",
    ),
    (
        "eb-unparseable-message",
        "health",
        _mutate("health/health-severe.json", _set((("detail", "Message"), "something happened"))),
        "ignored",
    ),
    (
        "eb-creation-event",
        "health",
        _mutate("health/update-successful.json", _set((("detail", "Status"), "Environment creation started"))),
        "ignored",
    ),
    (
        "eb-other-account",
        "health",
        _mutate("health/health-severe.json", _set((("account",), "999999999999"))),
        "ignored",
    ),
    (
        "eb-other-detail-type",
        "health",
        _mutate("health/health-ok.json", _set((("detail-type",), "Other resource status change"))),
        "ignored",
    ),
    # ---- alarms
    ("alarm-not-an-alarm", "alarm", lambda w: {"detail-type": "Something else"}, "error"),
    (
        "alarm-missing-state",
        "alarm",
        _mutate("alarm/alarm-eventbridge.json", lambda e: e["detail"].pop("state")),
        "error",
    ),
    (
        "alarm-unknown",
        "alarm",
        _mutate("alarm/alarm-eventbridge.json", lambda e: e["detail"].update(alarmName="nobody-owns-me")),
        "ignored",
    ),
    ("alarm-ok", "alarm", lambda w: sample("alarm/alarm-ok.json"), "ignored"),
    (
        "alarm-other-region",
        "alarm",
        _mutate("alarm/alarm-eventbridge.json", _set((("region",), "ap-south-1"))),
        "ignored",
    ),
    (
        "alarm-action-malformed",
        "alarm",
        lambda w: {"alarmData": {"alarmName": "mybot-errors"}, "alarmArn": "x", "time": "2026-11-28T00:00:00Z"},
        "error",
    ),
    # ---- the schedule
    ("watchdog-garbage", "watchdog", lambda w: "not json at all", "error"),
]


@pytest.mark.parametrize(("case", "handler", "build", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_answered_and_changes_nothing(
    world: World, case: str, handler: str, build: Callable[[World], Any], expected: str
) -> None:
    assert world.register()["ok"]
    world.upload("good")  # a deployment in flight, so "no change" means something
    before = world.status()
    response = world.invoke(handler, build(world))
    results = response.get("results") or [response]
    if expected == "error":
        assert any(r.get("ok") is False and r["error"]["code"] and r["error"]["message"] for r in results), response
    else:
        assert all(r.get("ignored") or r.get("outcome") == "ignored" for r in results), response
    after = world.status()
    assert after["revision"] == before["revision"], f"{case} changed the state"
    assert after["deployment"] == before["deployment"]
    assert world.version_of(GREEN) != "ghost"


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40
