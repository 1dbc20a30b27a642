"""Register: onboard an app (and status). Granted apart from promote/rollback, because choosing what
bluegreen deploys to is a platform decision. Before anything is written, the application must match
the stack's ManagedApplicationPattern and both environments must carry bluegreen:managed=true: the
same two things the controller's IAM policy requires to deploy or swap (bluegreen.access, checked by
the controller's register once EB has confirmed that both environments exist)."""

from typing import Any

from bluegreen.access import REGISTER_FUNCTION_ACTIONS, check_action
from bluegreen.entry import lambda_entry
from bluegreen.parsing import parse_override
from bluegreen.service import controller


@lambda_entry("register")
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    request = parse_override(event)
    check_action(request.action, REGISTER_FUNCTION_ACTIONS, "RegisterFunction")
    request_id = getattr(context, "aws_request_id", None) or "local"
    return controller().override(request, request_id)
