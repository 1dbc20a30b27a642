"""Artifact upload: S3 ObjectCreated (EventBridge or bucket notification) -> deploy to the idle color."""

from typing import Any

from bluegreen.entry import each, inspection_deadline, lambda_entry
from bluegreen.parsing import parse_artifact_event
from bluegreen.service import controller


@lambda_entry("artifact")
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    notices = parse_artifact_event(event, context)
    deadline = inspection_deadline(context)
    return {"results": each(notices, lambda n: controller().artifact_uploaded(n, deadline=deadline).as_dict())}
