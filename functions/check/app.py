"""Check: run one release gate's HTTP check (queued by the controller), then report its result."""

from typing import Any

from bluegreen.entry import lambda_entry
from bluegreen.errors import BadInput
from bluegreen.gates import run_http_check
from bluegreen.models import RunCheck
from bluegreen.service import controller
from pydantic import ValidationError


@lambda_entry("check")
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        job = RunCheck.model_validate(event)
    except ValidationError as error:
        raise BadInput(f"not a check job: {error.errors()[0]['msg']}") from None
    result = run_http_check(job.check, job.host)
    run_id = getattr(context, "aws_request_id", None) or f"{job.deployment_id}:{job.check.name}"
    return controller().check_result(job.app, job.deployment_id, result, run_id).as_dict()
