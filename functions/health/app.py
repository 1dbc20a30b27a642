"""Environment health: EB "Health status change" and "resource status change" -> verify, promote or abort."""

from typing import Any

from bluegreen.entry import lambda_entry
from bluegreen.parsing import parse_environment_event
from bluegreen.service import controller


@lambda_entry("health")
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    return controller().environment_event(parse_environment_event(event, context)).as_dict()
