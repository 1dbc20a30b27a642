"""Alarm: "CloudWatch Alarm State Change" (EventBridge) or an alarm's Lambda action -> roll back at once."""

from typing import Any

from bluegreen.entry import lambda_entry
from bluegreen.parsing import parse_alarm_event
from bluegreen.service import controller


@lambda_entry("alarm")
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    return controller().alarm_event(parse_alarm_event(event, context)).as_dict()
