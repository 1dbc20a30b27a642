"""Register: onboard an app (and status). Granted apart from promote/rollback, because choosing what
bluegreen deploys to is a platform decision. Before anything is written, the application must match
the stack's ManagedApplicationPattern and both environments must carry bluegreen:managed=true: the
same two things the controller's IAM policy requires to deploy or swap (bluegreen.access)."""

from typing import Any

from bluegreen.access import REGISTER_FUNCTION_ACTIONS, check_action, check_managed, environment_tags
from bluegreen.aws.clients import client
from bluegreen.entry import lambda_entry
from bluegreen.parsing import parse_override
from bluegreen.service import controller
from bluegreen.settings import get_settings


@lambda_entry("register")
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    request = parse_override(event)
    check_action(request.action, REGISTER_FUNCTION_ACTIONS, "RegisterFunction")
    if request.config is not None:
        application_name = request.config.application_name or request.app
        tags = environment_tags(client("elasticbeanstalk"), application_name, request.config.environments)
        check_managed(application_name, tags, get_settings())
    request_id = getattr(context, "aws_request_id", None) or "local"
    return controller().override(request, request_id)
