"""Status: read-only (status and history). Its role can read the state table and nothing else, so
`lambda:InvokeFunction` on this function can be granted to anyone who may watch deployments."""

from typing import Any

from bluegreen.access import STATUS_ACTIONS, check_action
from bluegreen.entry import lambda_entry
from bluegreen.parsing import parse_override
from bluegreen.service import controller


@lambda_entry("status")
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    request = parse_override(event)
    check_action(request.action, STATUS_ACTIONS, "StatusFunction")
    request_id = getattr(context, "aws_request_id", None) or "local"
    return controller().override(request, request_id)
