"""Override over HTTPS: a Function URL with AuthType AWS_IAM. The actor is the SigV4-verified caller ARN."""

import json
from typing import Any

from bluegreen.access import URL_ACTIONS, check_action
from bluegreen.entry import lambda_entry
from bluegreen.parsing import parse_function_url_override
from bluegreen.service import controller


@lambda_entry("override_url")
def _override(event: Any, context: Any) -> dict[str, Any]:
    request, request_id = parse_function_url_override(event)
    check_action(request.action, URL_ACTIONS, "OverrideUrlFunction")
    return controller().override(request, request_id, actor_verified=True)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    result = _override(event, context)
    status = 200 if result.get("ok") else (404 if result.get("error", {}).get("code") == "NotFound" else 400)
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(result, default=str),
    }
