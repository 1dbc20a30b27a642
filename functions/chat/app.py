"""Chat: one human-readable message per "Deployment State Change", published to the chat SNS topic.

The message is in the format of AWS Chatbot's (Amazon Q Developer in chat applications) custom
notifications, so a Chatbot channel on the topic shows it in Slack or Microsoft Teams; email
subscribers get a plain-text version of it (SNS `MessageStructure=json`, keys `default` and `email`).

Why a function and not an EventBridge input transformer: EventBridge inserts the values it extracts
into the input template without escaping them, so a reason with a quote or a newline would make the
message invalid JSON; and the next steps depend on the transition.

Input: `{"topic_arn": ..., "event": <the EventBridge event>}` (the rule's input transformer adds the
topic) or the bare event (the local stack routes the rule without the transformer: then the message
is formatted and logged, not published).
"""

from __future__ import annotations

import json
from typing import Any

from bluegreen.entry import get_logger, lambda_entry

TITLE_LIMIT = 250
DESCRIPTION_LIMIT = 3500
REASON_LIMIT = 1000
SUBJECT_LIMIT = 99  # SNS: fewer than 100 printable ASCII characters, no line breaks

ICONS = {
    "DEPLOYING": "🚀",
    "VERIFYING": "🔎",
    "BAKING": "🍞",
    "SUCCEEDED": "✅",
    "ABORTED": "🛑",
    "ROLLED_BACK": "⏪",
    "SUPERSEDED": "⏭️",
    "SWAP_REFUSED": "⚠️",
    "ROLLBACK_REFUSED": "🚨",
}
INFO = "\N{INFORMATION SOURCE}\ufe0f"
HEADLINES = {
    "DEPLOYING": "deploying {version} to {idle}",
    "VERIFYING": "{version} is healthy on {idle}; verifying",
    "BAKING": "{version} is live on {live}; baking",
    "SUCCEEDED": "{version} succeeded on {live}",
    "ABORTED": "deployment of {version} aborted; traffic never moved",
    "ROLLED_BACK": "rolled back {version}; traffic is back on {live}",
    "SUPERSEDED": "{version} superseded by a newer build",
    "SWAP_REFUSED": "Elastic Beanstalk refused to promote {version}; traffic did not move",
    "ROLLBACK_REFUSED": "ROLLBACK REFUSED: production still runs {version} on {live}",
}

_sns: Any = None


def _client() -> Any:
    global _sns
    if _sns is None:
        import boto3

        _sns = boto3.client("sns")
    return _sns


@lambda_entry("chat")
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    topic_arn, bus_event = unwrap(event)
    detail = bus_event.get("detail") or {}
    message = chatbot_message(detail)
    if not topic_arn:
        get_logger().info("chat message (no topic configured)", extra={"chat": message})
        return {"published": False, "title": message["content"]["title"]}
    response = _client().publish(
        TopicArn=topic_arn,
        Subject=email_subject(detail),
        MessageStructure="json",
        Message=json.dumps({"default": json.dumps(message), "email": email_text(detail)}),
    )
    return {"published": True, "message_id": response.get("MessageId"), "title": message["content"]["title"]}


def unwrap(event: Any) -> tuple[str | None, dict[str, Any]]:
    if isinstance(event, dict) and "event" in event and isinstance(event["event"], dict):
        return event.get("topic_arn") or None, event["event"]
    return None, event if isinstance(event, dict) else {}


# ------------------------------------------------------------------ formatting (pure)


def _text(value: Any, limit: int = REASON_LIMIT) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _code(value: Any) -> str:
    """Inline code: backticks inside would end it, so they become quotes."""
    return "`" + _text(value, 200).replace("`", "'") + "`"


def _fields(detail: dict[str, Any]) -> dict[str, str]:
    return {
        "app": _text(detail.get("app") or "?", 100),
        "version": _text(detail.get("version") or "-", 100),
        "deployment": _text(detail.get("deployment_id") or "", 200),
        "live": _text(detail.get("live_environment") or "?", 40),
        "idle": _text(detail.get("idle_environment") or "?", 40),
        "from": _text(detail.get("from_state") or "", 40),
        "to": _text(detail.get("to_state") or "", 40),
    }


def headline(detail: dict[str, Any]) -> str:
    f = _fields(detail)
    to_state = f["to"]
    if to_state in HEADLINES and to_state != f["from"]:
        return f"{f['app']}: " + HEADLINES[to_state].format(**f)
    return f"{f['app']}: {_one_line(_text(detail.get('reason') or 'event', 150))}"


def next_steps(detail: dict[str, Any]) -> list[str]:
    """What a person may do now, with the exact commands (app and deployment ids are shell-safe)."""
    f = _fields(detail)
    app, to_state = f["app"], f["to"]
    only = f" --deployment-id {f['deployment']}" if f["deployment"] else ""
    watch = f"Follow it live: `bluegreen watch {app}` (or `bluegreen dashboard`)"
    status = f"See both colors and what it waits for: `bluegreen status {app}`"
    history = f"See what happened: `bluegreen history {app}`"
    abort = f'Stop it before traffic moves: `bluegreen abort {app} -m "why"{only}`'
    rollback = f'Send traffic back to the previous color: `bluegreen rollback {app} -m "what you saw"{only}`'
    if to_state == f["from"] or not to_state:
        return [status, history]
    steps = {
        "DEPLOYING": [watch, abort],
        "VERIFYING": [watch, f'Promote now if it waits for you: `bluegreen promote {app} -m "checked"{only}`', abort],
        "BAKING": [rollback, f'Hold the bake (no automatic success): `bluegreen pause {app} -m "why"`', watch],
        "SUCCEEDED": [history, "Nothing to do: the new build stays live."],
        "ABORTED": [
            history,
            "Fix the build and upload a new one, or "
            f'deploy the same build again: `bluegreen retry {app} -m "why"{only}`',
        ],
        "ROLLED_BACK": [
            f"Traffic is on {f['live']} again; look into the cause before the next upload.",
            history,
            "Upload a fixed build to deploy it.",
        ],
        "SUPERSEDED": [watch],
        "SWAP_REFUSED": [status, "bluegreen retries the swap when both colors are Ready.", abort],
        "ROLLBACK_REFUSED": [
            status,
            f'Retry the rollback now: `bluegreen rollback {app} -m "retry"{only}`',
            "Check the environments in the Elastic Beanstalk console: bluegreen keeps retrying.",
        ],
    }
    return steps.get(to_state, [status, history])


def _cause(detail: dict[str, Any]) -> str:
    cause = detail.get("cause") or {}
    text = f"{_text(cause.get('type') or '?', 40)} {_code(cause.get('id') or '')}"
    if cause.get("actor"):
        text += f" by {_text(cause['actor'], 256)}"
    if cause.get("reason"):
        text += f": {_text(cause['reason'])}"
    return text


def description(detail: dict[str, Any]) -> str:
    f = _fields(detail)
    arrow = f"{f['from'] or '-'} → {f['to'] or '-'}"
    lines = [
        f"*{arrow}*  {_text(detail.get('reason'))}",
        f"*Version* {_code(f['version'])}   *Deployment* {_code(f['deployment'] or '-')}",
        f"*Live* {_code(f['live'])}   *Idle* {_code(f['idle'])}",
        f"*Cause* {_cause(detail)}",
        f"*At* {_text(detail.get('at'), 40)}",
    ]
    return _text("\n".join(lines), DESCRIPTION_LIMIT)


def chatbot_message(detail: dict[str, Any]) -> dict[str, Any]:
    """AWS Chatbot's custom notification: version 1.0, source custom, client-markdown content."""
    f = _fields(detail)
    icon = ICONS.get(f["to"], INFO) if f["to"] != f["from"] else INFO
    related = [name for name in (f["live"], f["idle"]) if name != "?"]
    message: dict[str, Any] = {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": _text(f"{icon} {headline(detail)}", TITLE_LIMIT),
            "description": description(detail),
            "nextSteps": next_steps(detail),
            "keywords": [k for k in (f["app"], f["to"], f["version"]) if k and k != "-"],
        },
        "metadata": {
            "threadId": f["deployment"] or f["app"],
            "summary": _text(headline(detail), 200),
            "eventType": f["to"] or "EVENT",
            "relatedResources": related,
            "additionalContext": {
                "app": f["app"],
                "deployment_id": f["deployment"],
                "transition_id": _text(detail.get("transition_id") or "", 200),
            },
        },
    }
    if detail.get("transition_id"):
        message["id"] = _text(detail["transition_id"], 200)
    return message


def email_subject(detail: dict[str, Any]) -> str:
    f = _fields(detail)
    arrow = f"{f['from'] or '-'} -> {f['to'] or '-'}"
    subject = f"[bluegreen] {f['app']}: {arrow} {f['version']}"
    ascii_only = "".join(c if 32 <= ord(c) < 127 else "?" for c in subject)
    return ascii_only[:SUBJECT_LIMIT]


def email_text(detail: dict[str, Any]) -> str:
    message = chatbot_message(detail)["content"]
    plain = message["description"].replace("*", "").replace("`", "")
    steps = "\n".join(f"- {step.replace('`', '')}" for step in message["nextSteps"])
    return f"{headline(detail)}\n\n{plain}\n\nNext steps:\n{steps}\n"
