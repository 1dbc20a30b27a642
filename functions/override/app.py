"""Override: a direct invoke with status, promote, rollback, abort, pause, resume, retry or register."""

from typing import Any

from bluegreen.entry import lambda_entry
from bluegreen.parsing import parse_override
from bluegreen.service import controller


@lambda_entry("override")
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    request = parse_override(event)
    request_id = getattr(context, "aws_request_id", None) or "local"
    return controller().override(request, request_id)
