"""Release gates in the in-process world (tests/integration/conftest.py `World`): real HTTP checks and Lambda hooks.

- `eb_router` (fixture): the EB router (`bluegreen_local.router.Router`) on 127.0.0.1, answering for the CNAMEs of
  the in-process moto EB's environments from the versions they run; `HTTP_PROXY`/`http_proxy` point at it,
  `NO_PROXY`/`no_proxy` keep loopback off it, and `bluegreen.gates.urllib_opener` goes through it (it ignores
  the proxy variables; see `router.route_gates_through`). So the controller's `run_http_check` really GETs.
- `hook_runner` (fixture): a `HookRunner`. moto's Lambda runs no code (and its full backend wants Docker to), so
  the runner intercepts asynchronous invokes at moto's Lambda backend: `bluegreen.aws.hooks.invoke_hook` runs for
  real through boto3 and botocore, moto still looks the function up (a missing one is AWS's
  ResourceNotFoundException), and the runner records the event instead of running anything. The test then
  delivers the hook's report (`deliver`), or runs a hook callable on the recorded events (`run_pending`).

Use them by importing the fixture functions into a test module (the fixtures are named `eb_router` and
`hook_runner`): `from tests.integration.gates_world import eb_router_fixture, hook_runner_fixture  # noqa: F401`.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from bluegreen_local.router import Hook, Router, http_check_hook, proxy_opener

OverrideInvoke = Callable[[dict[str, Any]], Any]


@pytest.fixture(name="eb_router")
def eb_router_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Router]:
    """The EB router for the in-process moto; this test's process uses it as its HTTP proxy."""
    from bluegreen import gates

    router = Router().start()
    for name, value in router.proxy_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(gates, "_default_opener", proxy_opener(router.url))
    try:
        yield router
    finally:
        router.stop()


@dataclass
class HookInvoke:
    """One asynchronous invoke the runner took instead of Lambda."""

    function: str  # the function's name (however the Invoke named it: name, ARN, qualified)
    requested: str  # the FunctionName as sent
    qualifier: str | None
    event: dict[str, Any]
    done: bool = False


class HookRunner:
    """Records moto Lambda's `InvocationType=Event` invokes; lets a test run hooks on them and deliver reports."""

    def __init__(self) -> None:
        self.invokes: list[HookInvoke] = []
        self.hooks: dict[str, Hook] = {}
        self.reports: list[tuple[dict[str, Any], Any]] = []  # (report_check payload, the override's answer)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ wiring
    def install(self, monkeypatch: pytest.MonkeyPatch) -> HookRunner:
        from moto.awslambda.models import LambdaBackend
        from moto.awslambda_simple.models import LambdaSimpleBackend

        for cls in (LambdaBackend, LambdaSimpleBackend):
            monkeypatch.setattr(cls, "invoke", self._intercept(cls.invoke))
        return self

    def _intercept(self, original: Callable[..., Any]) -> Callable[..., Any]:
        runner = self

        def invoke(
            backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
        ) -> Any:
            if _header(headers, "X-Amz-Invocation-Type") != "Event":
                return original(backend, function_name, qualifier, body, headers, response_headers)
            function = backend.get_function(function_name, qualifier)  # raises for a missing one, as Lambda does
            text = body.decode() if isinstance(body, bytes) else body
            event = json.loads(text) if text else {}
            with runner._lock:
                runner.invokes.append(HookInvoke(function.function_name, function_name, qualifier, event))
            response_headers["Content-Length"] = "0"
            return b""  # moto answers 202 (queued)

        return invoke

    def create_function(self, session: Any, name: str = "mybot-hook") -> str:
        """Create `name` in moto's Lambda (with a role), so that an Invoke finds it; answers its ARN."""
        iam = session.client("iam")
        try:
            role = iam.get_role(RoleName="hook-role")["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            trust = {
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ]
            }
            role = iam.create_role(RoleName="hook-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("app.py", "def lambda_handler(event, context):\n    return event\n")
        function = session.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="app.lambda_handler",
            Code={"ZipFile": code.getvalue()},
        )
        return str(function["FunctionArn"])

    def register(self, function: str, hook: Hook) -> None:
        """`run_pending` runs `hook(event, context)` on the invokes of `function` (a name)."""
        self.hooks[function] = hook

    # ------------------------------------------------------------------ acting
    @property
    def pending(self) -> list[HookInvoke]:
        with self._lock:
            return [invoke for invoke in self.invokes if not invoke.done]

    def deliver(
        self,
        override: OverrideInvoke,
        *,
        result: str = "pass",
        reason: str = "",
        invoke: HookInvoke | None = None,
        **fields: Any,
    ) -> Any:
        """Report for `invoke` (default: the oldest pending one) as its hook would: `override(payload)` gets
        `{"action": "report_check", "app", "token", "result", "reason"}` (`fields` change any). For the World:
        `runner.deliver(lambda p: world.invoke("override", p), result="fail", reason="...")`."""
        target = invoke or self._oldest_pending()
        payload = {
            "action": "report_check",
            "app": target.event.get("app"),
            "token": target.event.get("token"),
            "result": result,
            "reason": reason,
            **fields,
        }
        target.done = True
        return self._report(override, payload)

    def run_pending(self, override: OverrideInvoke) -> list[dict[str, Any]]:
        """Run the registered hook of every pending invoke (oldest first) with `override` as its way to report;
        answers what the hooks answered. An invoke of a function with no registered hook stays pending."""
        answers = []
        for invoke in self.pending:
            hook = self.hooks.get(invoke.function)
            if hook is None:
                continue
            invoke.done = True
            answers.append(hook(invoke.event, None))
        return answers

    def http_hook(
        self, override: OverrideInvoke, *, path: str = "/healthz", expect_status: int = 200, **options: Any
    ) -> Hook:
        """`router.http_check_hook` reporting through `override` (recorded in `reports`)."""
        return http_check_hook(
            lambda payload: self._report(override, payload), path=path, expect_status=expect_status, **options
        )

    def _report(self, override: OverrideInvoke, payload: dict[str, Any]) -> Any:
        answer = override(payload)
        with self._lock:
            self.reports.append((payload, answer))
        return answer

    def _oldest_pending(self) -> HookInvoke:
        pending = self.pending
        if not pending:
            raise AssertionError("no hook invoke is waiting for its report")
        return pending[0]


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    for key, value in dict(headers).items():
        if key.lower() == name.lower():
            return str(value)
    return None


@pytest.fixture(name="hook_runner")
def hook_runner_fixture(monkeypatch: pytest.MonkeyPatch) -> HookRunner:
    """A `HookRunner` on moto's Lambda backends for this test."""
    return HookRunner().install(monkeypatch)
