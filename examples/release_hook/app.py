"""A bluegreen release hook: a synthetic check against the idle color, reported through the override function.

bluegreen invokes this function asynchronously with the deployment (see docs/gates.md):

    {"app": "mybot", "deployment_id": "...", "version": "v42", "environment": "mybot-green",
     "url": "http://mybot-green.eba-x.us-east-1.elasticbeanstalk.com", "phase": "pre", "check": "smoke",
     "token": "bg1....", "deadline": "2024-01-01T12:05:00Z"}

It GETs `{url}{HEALTH_PATH}` on the idle color (not on production), then invokes the stack's override
function (OVERRIDE_FUNCTION) with `{"action": "report_check", "app", "token", "result": "pass"|"fail",
"reason"}`. Any exception in the check is a "fail" with its reason; a report that cannot be sent raises,
so that Lambda's asynchronous retry sends it again (bluegreen keeps the first report and ignores late ones).

The override function answers `{"ok": true, "outcome": "accepted"}` when bluegreen took the report,
`{"ok": true, "outcome": "ignored", "reason": ...}` when the check already has its result (a late report, or
this run is Lambda's retry), and `{"ok": false, "error": {"code", "message"}}` when it refused it (a bad or
expired token, an unknown app): neither of the last two is worth a retry, so they are logged, not raised.

Deploy it with `template.yaml` (its name must match the bluegreen stack's `ReleaseHookFunctionPattern`,
`bluegreen-hook-*` by default: the controller may invoke only those). Standard library and boto3 only
(both are in the Lambda Python runtime).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

REQUIRED = ("app", "deployment_id", "url", "phase", "check", "token")
MAX_BODY = 65_536

# invoker(function_name, payload) -> the override function's answer
Invoker = Callable[[str, dict[str, Any]], dict[str, Any]]
# fetch(url, timeout) -> (status, first 64 KiB of the body)
Fetch = Callable[[str, float], tuple[int, bytes]]


def fetch(url: str, timeout: float) -> tuple[int, bytes]:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, headers={"User-Agent": "bluegreen-release-hook/1"})  # noqa: S310 - http(s) checked above
    # A new opener per check: it reads the proxy settings (HTTP_PROXY, NO_PROXY) now, where urlopen's shared
    # opener keeps those of its first call (a long-lived process, e.g. the local stack, may change them).
    opener = urllib.request.build_opener()
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), response.read(MAX_BODY)
    except urllib.error.HTTPError as error:
        return int(error.code), error.read(MAX_BODY) if error.fp else b""


def http_check(
    url: str, path: str, expect_status: int, expect_body: str | None, timeout: float, get: Fetch
) -> tuple[bool, str]:
    """GET url+path once; (passed, reason)."""
    target = url.rstrip("/") + path
    try:
        status, body = get(target, timeout)
    except urllib.error.URLError as error:
        return False, f"GET {target}: {error.reason}"
    except (TimeoutError, OSError, ValueError) as error:
        return False, f"GET {target}: {type(error).__name__}: {error}"
    if status != expect_status:
        return False, f"GET {target}: {status} (expected {expect_status})"
    if expect_body is not None and expect_body.encode() not in body:
        return False, f"GET {target}: body does not contain {expect_body!r}"
    return True, f"GET {target}: {status}"


# ---------------------------------------------------------------- optional: a Telegram getMe check
def telegram_get_me(secret_id: str, secrets: Any, get: Fetch, timeout: float = 5.0) -> tuple[bool, str]:
    """OPTIONAL, not called by default: check that the bot's token (from Secrets Manager) is valid with
    Telegram's getMe. Enable it with CHECK=telegram and TELEGRAM_SECRET_ID; the function's role then needs
    secretsmanager:GetSecretValue on that secret (see template.yaml). It proves the token the new build
    will use works; it does not talk to the idle color itself."""
    token = secrets.get_secret_value(SecretId=secret_id)["SecretString"].strip()
    status, body = get(f"https://api.telegram.org/bot{token}/getMe", timeout)
    if status != 200:
        return False, f"Telegram getMe: {status}"  # never put the token (it is in the URL) in a reason
    try:
        answer = json.loads(body)
    except ValueError:
        return False, "Telegram getMe: not JSON"
    if not answer.get("ok"):
        return False, f"Telegram getMe: {answer.get('description', 'not ok')}"
    return True, f"Telegram getMe: @{answer.get('result', {}).get('username', '?')}"


# ---------------------------------------------------------------- the hook
_clients: dict[str, Any] = {}  # boto3 clients, made once per container (tests put fakes here)


def aws_client(service: str) -> Any:
    if service not in _clients:
        import boto3

        _clients[service] = boto3.client(service)
    return _clients[service]


def lambda_invoker(function_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Invoke the override function synchronously (its answer says whether the report was taken)."""
    response = aws_client("lambda").invoke(
        FunctionName=function_name, InvocationType="RequestResponse", Payload=json.dumps(payload).encode()
    )
    answer: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        raise RuntimeError(f"override function failed: {answer}")
    return answer


def run(
    event: dict[str, Any],
    *,
    invoker: Invoker = lambda_invoker,
    get: Fetch = fetch,
    environ: dict[str, str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    secrets: Any = None,
) -> dict[str, Any]:
    """Check, then report; returns the report sent and the override's answer."""
    env = dict(os.environ) if environ is None else environ
    missing = [key for key in REQUIRED if not event.get(key)]
    if missing:
        raise ValueError(f"not a bluegreen hook event: missing {', '.join(missing)}")
    override = env.get("OVERRIDE_FUNCTION")
    if not override:
        raise RuntimeError("OVERRIDE_FUNCTION is not set")
    timeout = float(env.get("TIMEOUT_SECONDS", "5"))
    deadline = event.get("deadline")
    if deadline and datetime.fromisoformat(str(deadline).replace("Z", "+00:00")) < now():
        passed, reason = False, "started after the deadline"  # bluegreen has failed the check already
    elif env.get("CHECK", "http") == "telegram":
        if secrets is None:
            secrets = aws_client("secretsmanager")
        try:
            passed, reason = telegram_get_me(env["TELEGRAM_SECRET_ID"], secrets, get, timeout)
        except Exception as error:  # noqa: BLE001 - any failure of the check is a "fail" with its reason
            passed, reason = False, f"Telegram getMe: {type(error).__name__}"
    else:
        expect_body = env.get("EXPECT_BODY") or None
        passed, reason = http_check(
            str(event["url"]),
            env.get("HEALTH_PATH", "/healthz"),
            int(env.get("EXPECT_STATUS", "200")),
            expect_body,
            timeout,
            get,
        )
    report = {
        "action": "report_check",
        "app": event["app"],
        "token": event["token"],
        "result": "pass" if passed else "fail",
        "reason": f"{event['check']} ({event['phase']}, {event.get('environment', '?')}): {reason}"[:1024],
    }
    answer = invoker(override, report)  # raises when the override function failed: Lambda retries the run
    shown = {**report, "token": "..."}  # never log the token
    if not answer.get("ok", False):
        # refused (a bad or expired token, an unknown app): not worth a retry, but visible in the logs
        print(json.dumps({"report": shown, "refused": answer}))
    elif answer.get("outcome") == "ignored" or answer.get("ignored"):
        # the check already has its result (this run is a retry, or it came after the deadline)
        print(json.dumps({"report": shown, "ignored": answer.get("reason", "")}))
    return {"report": report, "answer": answer}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = run(event)
    return {"report": {**result["report"], "token": "..."}, "answer": result["answer"]}
