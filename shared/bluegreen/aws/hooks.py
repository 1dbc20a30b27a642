"""Lambda adapter for release hooks: invoke a user's function asynchronously with the deployment (issue 11).

The invoke is `InvocationType="Event"`: Lambda queues the event and answers 202 at once, so the controller
never waits for a hook; the hook reports later through the override function (`report_check`), and no
report within the hook's `timeout_seconds` is a failure (the machine's timeout, not this module's).
Lambda retries a failed asynchronous run up to twice: a hook may report more than once, and the
controller keeps the first report only.
"""

from __future__ import annotations

import json
from typing import Any

from bluegreen.aws.clients import client, error_code, is_transient
from bluegreen.errors import BadInput, Transient
from bluegreen.gates import LambdaHook

MAX_ASYNC_PAYLOAD_BYTES = 256 * 1024  # Lambda's limit for an asynchronous invocation's event
# Lambda's own "try again" answers besides the throttling and 5xx codes `is_transient` knows.
LAMBDA_TRANSIENT_CODES = frozenset(
    {
        "ResourceConflictException",  # the function is being updated
        "ResourceNotReadyException",  # the function is still being created
        "EC2ThrottledException",
        "ENILimitReachedException",
        "SubnetIPAddressLimitReachedException",
        "ServiceException",
    }
)


def invoke_hook(lambda_client: Any, hook: LambdaHook, payload: dict[str, Any]) -> None:
    """Queue one run of `hook.function` with `payload` (a `bluegreen.gates.HookInvocation.payload()`).

    Raises `Transient` on throttling, 5xx and network trouble (the event is worth another try), `BadInput`
    on anything else, with a message that names the hook and what to fix (missing function, no permission)."""
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    if len(body) > MAX_ASYNC_PAYLOAD_BYTES:
        raise BadInput(
            f"hook {hook.name!r}: payload is {len(body)} bytes; Lambda takes at most {MAX_ASYNC_PAYLOAD_BYTES}"
        )
    lambda_client = lambda_client if lambda_client is not None else client("lambda")
    try:
        response = lambda_client.invoke(FunctionName=hook.function, InvocationType="Event", Payload=body)
    except Exception as error:
        code = error_code(error)
        if is_transient(error) or code in LAMBDA_TRANSIENT_CODES:
            raise Transient(f"hook {hook.name!r}: Invoke {hook.function}: {error}", aws_code=code) from error
        raise BadInput(_explain(hook, code, error), aws_code=code, hook=hook.name) from error
    status = int(response.get("StatusCode", 0) or 0)
    if status != 202:
        raise BadInput(f"hook {hook.name!r}: Invoke {hook.function} answered {status}, not 202 (queued)")


def _explain(hook: LambdaHook, code: str, error: BaseException) -> str:
    prefix = f"hook {hook.name!r}: cannot invoke {hook.function}"
    if code == "ResourceNotFoundException":
        return f"{prefix}: the function (or the version or alias it names) does not exist in this account and region"
    if code in ("AccessDeniedException", "AccessDenied"):
        return (
            f"{prefix}: the controller's role may not invoke it: name the hook to match the stack's "
            "ReleaseHookFunctionPattern (default bluegreen-hook-*), or widen that parameter (docs/gates.md)"
        )
    if code in ("KMSAccessDeniedException", "KMSDisabledException", "KMSNotFoundException", "KMSInvalidStateException"):
        return f"{prefix}: the function's KMS key cannot be used ({code})"
    if code == "RequestTooLargeException":
        return f"{prefix}: the payload is too large for an asynchronous invocation"
    if code in ("InvalidParameterValueException", "ValidationException"):
        return f"{prefix}: Lambda refused the request: {error}"
    return f"{prefix}: {error}"


# ---------------------------------------------------------------- the stack's side: secret and check function

_SECRETS: dict[str, bytes] = {}


def callback_secret(settings: Any) -> bytes:
    """The HMAC key of callback tokens: the stack's Secrets Manager secret (`CallbackSecret`), read once per
    container. It never leaves the controller; a hook only ever sees tokens signed with it."""
    arn = str(getattr(settings, "callback_secret_arn", "") or "")
    if not arn:
        raise BadInput("the stack has no callback secret (BLUEGREEN_CALLBACK_SECRET_ARN): hooks cannot report")
    if arn not in _SECRETS:
        try:
            value = client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
        except Exception as error:
            if is_transient(error):
                raise Transient(f"GetSecretValue {arn}: {error}", aws_code=error_code(error)) from error
            raise BadInput(f"cannot read the callback secret {arn}: {error}", aws_code=error_code(error)) from error
        _SECRETS[arn] = str(value).encode()
    return _SECRETS[arn]


def queue_check(settings: Any, payload: dict[str, Any]) -> None:
    """Queue one HTTP check in the stack's check function (asynchronously: an HTTP check may take minutes)."""
    function = str(getattr(settings, "check_function", "") or "")
    if not function:
        raise BadInput("the stack has no check function (BLUEGREEN_CHECK_FUNCTION): HTTP checks cannot run")
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    try:
        response = client("lambda").invoke(FunctionName=function, InvocationType="Event", Payload=body)
    except Exception as error:
        code = error_code(error)
        if is_transient(error) or code in LAMBDA_TRANSIENT_CODES:
            raise Transient(f"Invoke {function}: {error}", aws_code=code) from error
        raise BadInput(f"cannot queue the HTTP check in {function}: {error}", aws_code=code) from error
    if int(response.get("StatusCode", 0) or 0) != 202:
        raise BadInput(f"Invoke {function} answered {response.get('StatusCode')}, not 202 (queued)")
