"""Override: a direct invoke with status, promote, rollback, abort, pause, resume, retry or register."""

from typing import Any

from bluegreen.access import OVERRIDE_ACTIONS, check_action
from bluegreen.entry import lambda_entry
from bluegreen.parsing import parse_override
from bluegreen.service import controller


@lambda_entry("override")
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    request = parse_override(event)
    check_action(request.action, OVERRIDE_ACTIONS, "OverrideFunction")
    request_id = getattr(context, "aws_request_id", None) or "local"
    return controller().override(request, request_id)
