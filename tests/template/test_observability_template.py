"""Issue 13 in template.yaml: the CloudWatch dashboard (its body parsed, every reference real) and
the optional chat notifications (topic, rule, formatter function), plus the chat formatting on
sample notifications and a publish through moto's SNS."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from bluegreen import metrics

from tests.template.conftest import ROOT

PSEUDO = {"AWS::Region", "AWS::StackName", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix"}
SEARCH = re.compile(r"SEARCH\('\{(?P<namespace>[^,}]+),(?P<dimension>[^}]+)\} MetricName=\"(?P<metric>\w+)\"'")
ALWAYS_ON_FUNCTIONS = {"ArtifactFunction", "HealthFunction", "AlarmFunction", "OverrideFunction", "WatchdogFunction"}


# ---------------------------------------------------------------- the dashboard


def dashboard_body(source: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The DashboardBody's Fn::Sub text, and the JSON it becomes with each ${...} replaced by its name."""
    body = source["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
    assert set(body) == {"Fn::Sub"} and isinstance(body["Fn::Sub"], str)
    text = body["Fn::Sub"]
    rendered = re.sub(r"\$\{([^}]+)\}", lambda m: f"resolved-{m[1].replace('::', '-').replace('.', '-')}", text)
    return text, json.loads(rendered)


def test_dashboard_body_is_json_and_every_reference_is_a_real_resource(source: dict[str, Any]) -> None:
    text, body = dashboard_body(source)
    resources = source["Resources"]
    for reference in re.findall(r"\$\{([^}]+)\}", text):
        if reference in PSEUDO:
            continue
        logical, _, attribute = reference.partition(".")
        assert logical in resources, f"${{{reference}}} names no resource"
        assert "Condition" not in resources[logical], f"${{{reference}}}: a conditional resource may not exist"
        if attribute:
            assert attribute == "QueueName" and resources[logical]["Type"] == "AWS::SQS::Queue", reference
    assert source["Resources"]["Dashboard"]["Type"] == "AWS::CloudWatch::Dashboard"
    assert "Condition" not in source["Resources"]["Dashboard"]
    widgets = body["widgets"]
    for widget in widgets:
        x, y, width, height = (widget[k] for k in ("x", "y", "width", "height"))
        assert x >= 0 and x + width <= 24 and y >= 0 and height > 0, widget
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == "resolved-AWS-Region"
            assert widget["properties"]["title"]


def metric_rows(body: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    return [
        (w["properties"]["title"], row)
        for w in body["widgets"]
        if w["type"] == "metric"
        for row in w["properties"]["metrics"]
    ]


def test_dashboard_searches_every_transition_metric_across_all_apps(source: dict[str, Any]) -> None:
    _, body = dashboard_body(source)
    searched = set()
    for _, row in metric_rows(body):
        if isinstance(row[0], dict) and "expression" in row[0]:
            matches = list(SEARCH.finditer(row[0]["expression"]))
            assert matches, row
            for match in matches:
                assert match["namespace"] == metrics.NAMESPACE
                assert match["dimension"] == metrics.DIMENSION  # exactly the dimensions the EMF carries
                assert match["metric"] in metrics.METRIC_NAMES, match["metric"]
                searched.add(match["metric"])
    assert searched == set(metrics.METRIC_NAMES)
    ids = [row[0]["id"] for _, row in metric_rows(body) if isinstance(row[0], dict)]
    assert all(re.fullmatch(r"[a-z][a-zA-Z0-9_]*", i) for i in ids), ids  # CloudWatch's rule for ids


def test_dashboard_shows_both_dead_letter_queues_and_every_function(source: dict[str, Any]) -> None:
    _, body = dashboard_body(source)
    rows = [row for _, row in metric_rows(body) if isinstance(row[0], str)]
    queues = {row[3] for row in rows if row[:3] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName"]}
    assert queues == {"resolved-FunctionFailureQueue-QueueName", "resolved-RuleDeadLetterQueue-QueueName"}
    dead_letters = {name for name, r in source["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    assert {q.split("-")[1] for q in queues} <= dead_letters
    for metric in ("Errors", "Throttles"):
        functions = {row[3] for row in rows if row[:3] == ["AWS/Lambda", metric, "FunctionName"]}
        assert functions == {f"resolved-{name}" for name in ALWAYS_ON_FUNCTIONS}, metric
    template_functions = {
        name
        for name, r in source["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function" and "Condition" not in r
    }
    assert template_functions >= ALWAYS_ON_FUNCTIONS


def test_dashboard_outputs(source: dict[str, Any]) -> None:
    outputs = source["Outputs"]
    assert outputs["DashboardName"]["Value"] == {"Ref": "Dashboard"}
    assert "${Dashboard}" in outputs["DashboardUrl"]["Value"]["Fn::Sub"]


# ---------------------------------------------------------------- chat resources


def test_chat_is_off_by_default_and_everything_of_it_is_conditional(source: dict[str, Any]) -> None:
    parameter = source["Parameters"]["EnableChatNotifications"]
    assert parameter["Default"] == "false" and parameter["AllowedValues"] == ["true", "false"]
    assert source["Conditions"]["ChatNotificationsEnabled"] == {
        "Fn::Equals": [{"Ref": "EnableChatNotifications"}, "true"]
    }
    for name in ("ChatTopic", "ChatFunction", "ChatFunctionRole", "ChatFunctionLogGroup"):
        assert source["Resources"][name]["Condition"] == "ChatNotificationsEnabled", name
    assert source["Outputs"]["ChatTopicArn"]["Condition"] == "ChatNotificationsEnabled"


def test_chat_rule_and_function_after_the_sam_transform(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    rule = resources["ChatFunctionNotification"]
    assert rule["Condition"] == "ChatNotificationsEnabled"
    properties = rule["Properties"]
    assert properties["EventBusName"] == {"Fn::GetAtt": ["Bus", "Name"]}
    assert properties["EventPattern"] == {"source": ["bluegreen"], "detail-type": ["Deployment State Change"]}
    (target,) = properties["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["ChatFunction", "Arn"]}
    assert set(target["RetryPolicy"]) == {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"}
    template = target["InputTransformer"]["InputTemplate"]["Fn::Sub"]
    assert "${ChatTopic}" in template and "<aws.events.event.json>" in template
    for name, resource in resources.items():
        if name.startswith("ChatFunction"):
            assert resource.get("Condition") == "ChatNotificationsEnabled", name
    config = resources["ChatFunctionEventInvokeConfig"]["Properties"]
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FunctionFailureQueue", "Arn"]}
    function = resources["ChatFunction"]["Properties"]
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "ChatFunctionLogGroup"}


def test_chat_role_may_publish_to_its_topic_only(transformed: dict[str, Any]) -> None:
    role = transformed["Resources"]["ChatFunctionRole"]["Properties"]
    assert "ManagedPolicyArns" not in role  # none of the controller's rights: it only formats and publishes
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    by_action = {s["Sid"]: (s["Action"], s["Resource"]) for s in statements}
    assert by_action["PublishChat"] == ("sns:Publish", {"Ref": "ChatTopic"})
    assert by_action["OwnLogs"][1] == {"Fn::GetAtt": ["ChatFunctionLogGroup", "Arn"]}
    assert all(s["Effect"] == "Allow" and s["Resource"] != "*" for s in statements)


def render_input_template(template: str, event: dict[str, Any], topic_arn: str) -> str:
    """EventBridge's input transformer for this template: our own renderer (moto's EventBridge does
    not apply InputTransformer on its SQS/Lambda targets in the way AWS does, so it cannot tell).
    `<aws.events.event.json>` is the whole event as JSON; the topic is resolved by Fn::Sub."""
    return template.replace("${ChatTopic}", topic_arn).replace("<aws.events.event.json>", json.dumps(event))


# ---------------------------------------------------------------- chat formatting


def load_chat() -> ModuleType:
    path = ROOT / "functions" / "chat" / "app.py"
    spec = importlib.util.spec_from_file_location("bluegreen_fn_chat_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


chat = load_chat()
NASTY = 'he said "roll it back"\nnow; `rm -rf` *bold* _it_ <b>x</b> \\ ünïcödé 🚀'


def sample(from_state: str | None, to_state: str | None, kind: str = "health", **changes: Any) -> dict[str, Any]:
    detail = {
        "app": "mybot",
        "deployment_id": "mybot-3",
        "version": "build-42-1a2b3c4d5e6f",
        "from_state": from_state,
        "to_state": to_state,
        "live_environment": "mybot-blue",
        "idle_environment": "mybot-green",
        "reason": NASTY,
        "cause": {"type": kind, "id": "mybot-errors", "actor": None, "reason": "Threshold Crossed: 1 datapoint"},
        "at": "2026-11-28T12:00:00+00:00",
        "transition_id": f"mybot:7:{to_state}",
    }
    detail.update(changes)
    return detail


SAMPLES = [
    sample(None, "DEPLOYING", "artifact"),
    sample("DEPLOYING", "VERIFYING"),
    sample("VERIFYING", "BAKING"),
    sample("BAKING", "SUCCEEDED", "timeout"),
    sample("DEPLOYING", "ABORTED"),
    sample("BAKING", "ROLLED_BACK", "alarm"),
    sample("DEPLOYING", "SUPERSEDED", "artifact"),
    sample("VERIFYING", "SWAP_REFUSED", "effect"),
    sample("BAKING", "ROLLBACK_REFUSED", "effect"),
    sample("ROLLBACK_REFUSED", "ROLLED_BACK", "reconcile"),
    sample("BAKING", "BAKING", "override", cause={"type": "override", "id": "pause", "actor": "alice", "reason": "x"}),
    sample(None, None, "override", deployment_id=None, version="v0"),  # a registration
]


@pytest.mark.parametrize("detail", SAMPLES, ids=lambda d: f"{d['from_state']}->{d['to_state']}")
def test_chatbot_custom_notification_shape(detail: dict[str, Any]) -> None:
    message = json.loads(json.dumps(chat.chatbot_message(detail)))  # survives JSON as is
    assert message["version"] == "1.0" and message["source"] == "custom"
    content = message["content"]
    assert content["textType"] == "client-markdown"
    assert 0 < len(content["title"]) <= chat.TITLE_LIMIT and "\n" not in content["title"]
    assert content["title"].split(" ", 1)[1].startswith("mybot: ")
    assert len(content["description"]) <= chat.DESCRIPTION_LIMIT
    assert NASTY in content["description"] or "reason" not in detail
    assert content["nextSteps"] and all(isinstance(step, str) and step for step in content["nextSteps"])
    assert set(message["metadata"]) == {"threadId", "summary", "eventType", "relatedResources", "additionalContext"}
    assert all(isinstance(v, str) for v in message["metadata"]["additionalContext"].values())


def test_next_steps_name_the_exact_commands() -> None:
    baking = chat.next_steps(sample("VERIFYING", "BAKING"))
    assert '`bluegreen rollback mybot -m "what you saw" --deployment-id mybot-3`' in baking[0]
    assert any("bluegreen abort mybot" in s for s in chat.next_steps(sample(None, "DEPLOYING", "artifact")))
    assert any("bluegreen retry mybot" in s for s in chat.next_steps(sample("DEPLOYING", "ABORTED")))
    refused = chat.next_steps(sample("BAKING", "ROLLBACK_REFUSED", "effect"))
    assert any("bluegreen rollback mybot" in s for s in refused)
    assert not any("rollback" in s for s in chat.next_steps(sample("BAKING", "ROLLED_BACK", "alarm")))
    # The reason never goes inside a command (it is free text: no shell quoting to get wrong).
    assert not any(NASTY in s for d in SAMPLES for s in chat.next_steps(d))


def test_titles_say_what_happened() -> None:
    titles = {d["to_state"]: chat.chatbot_message(d)["content"]["title"] for d in SAMPLES[:9]}
    assert titles["ROLLED_BACK"] == "⏪ mybot: rolled back build-42-1a2b3c4d5e6f; traffic is back on mybot-blue"
    assert titles["ROLLBACK_REFUSED"].startswith("🚨 mybot: ROLLBACK REFUSED")
    assert "ℹ" in chat.chatbot_message(SAMPLES[10])["content"]["title"]  # noqa: RUF001 - a pause is not a transition


def test_email_subject_and_text() -> None:
    detail = sample("BAKING", "ROLLED_BACK", "alarm", app="a" * 100)
    subject = chat.email_subject(detail)
    assert len(subject) < 100 and all(32 <= ord(c) < 127 for c in subject)
    text = chat.email_text(sample("BAKING", "ROLLED_BACK", "alarm"))
    assert "Next steps:" in text and "`" not in text and "rolled back" in text


def test_input_transformer_output_is_valid_json_for_any_reason(source: dict[str, Any]) -> None:
    template = source["Resources"]["ChatFunction"]["Properties"]["Events"]["Notification"]["Properties"][
        "InputTransformer"
    ]["InputTemplate"]["Fn::Sub"]
    event = {
        "version": "0",
        "id": "1",
        "detail-type": "Deployment State Change",
        "source": "bluegreen",
        "detail": sample("BAKING", "ROLLED_BACK", "alarm"),
    }
    payload = json.loads(render_input_template(template, event, "arn:aws:sns:us-east-1:123456789012:chat"))
    assert payload["topic_arn"].endswith(":chat") and payload["event"]["detail"]["reason"] == NASTY
    assert chat.unwrap(payload) == (payload["topic_arn"], event)
    assert chat.unwrap(event) == (None, event)  # the local stack routes the bare event


def test_handler_publishes_chatbot_json_and_email_text_through_sns(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic = sns.create_topic(Name="chat")["TopicArn"]
        queue = sqs.create_queue(QueueName="chat-subscriber")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        monkeypatch.setattr(chat, "_sns", None)
        event = {
            "detail-type": "Deployment State Change",
            "source": "bluegreen",
            "detail": sample("BAKING", "ROLLED_BACK", "alarm"),
        }
        result = chat.lambda_handler({"topic_arn": topic, "event": event}, None)
        assert result["ok"] and result["published"]
        (received,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        envelope = json.loads(received["Body"])
        message = json.loads(envelope["Message"])  # the `default` text: what Chatbot's https endpoint gets
        assert message == chat.chatbot_message(event["detail"])
        assert envelope["Subject"] == chat.email_subject(event["detail"])
        # Without a topic (the local stack), it formats and does not publish.
        assert chat.lambda_handler(event, None)["published"] is False


def test_docs_exist() -> None:
    text = (ROOT / "docs" / "chat.md").read_text()
    for needle in ("Slack", "Microsoft Teams", "email", "EnableChatNotifications", "ChatTopicArn"):
        assert needle in text, needle
    assert Path(ROOT / "functions" / "chat" / "requirements.txt").exists()
