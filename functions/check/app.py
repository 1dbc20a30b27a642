"""Check: run one release gate's HTTP check (queued by the controller), then report its result.

The job names the app, the deployment and the check; what to GET comes from the stored deployment, so an
invocation cannot point a check at another host."""

from typing import Any

from bluegreen.entry import lambda_entry
from bluegreen.errors import BadInput
from bluegreen.gates import run_http_check
from bluegreen.service import controller
from pydantic import BaseModel, ConfigDict, ValidationError


class Job(BaseModel):
    model_config = ConfigDict(extra="ignore")

    app: str
    deployment_id: str
    check: dict[str, Any]


@lambda_entry("check")
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        job = Job.model_validate(event)
        name = str(job.check["name"])
    except (ValidationError, KeyError, TypeError) as error:
        raise BadInput(f"not a check job: {error}") from None
    spec, host = controller().check_job(job.app, job.deployment_id, name)
    result = run_http_check(spec, host)
    run_id = getattr(context, "aws_request_id", None) or f"{job.deployment_id}:{name}"
    return controller().check_result(job.app, job.deployment_id, result, run_id).as_dict()
