"""examples/release_hook: its Lambda handler, as Lambda runs it, against a fake Lambda client.

The hook receives the payload the controller sends (`HookInvocation.payload()`), GETs the idle color on a
real local HTTP server, and reports by invoking the override function; the fake client answers as the
override function does (the report parsed with the override function's own parser, the token verified
with the stack's secret), so the example cannot drift from what bluegreen takes."""

from __future__ import annotations

import importlib.util
import io
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from bluegreen.gates import CallbackToken, HookInvocation, InvalidToken
from bluegreen.parsing import parse_override

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "release_hook"
SECRET = b"the stack's callback secret, 64 characters in the real one"
OVERRIDE = "bluegreen-OverrideFunction-AbC123"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("release_hook_example", EXAMPLE / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = _load()


class FakeLambda:
    """`invoke` as boto3's Lambda client: the override function's answers to `report_check`."""

    def __init__(self, *, fail: bool = False, seen: set[tuple[str, str]] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail
        self.seen = seen if seen is not None else set()

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        self.calls.append({"FunctionName": FunctionName, "InvocationType": InvocationType, "Payload": Payload})
        if self.fail:  # the override function raised (a transient failure): Lambda says FunctionError
            body = {"errorMessage": "Transient: throttled", "errorType": "Transient"}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        request = parse_override(json.loads(Payload))  # the override function's own parser
        try:
            assert request.token is not None
            deployment_id, check = CallbackToken.verify(request.token, SECRET)
        except InvalidToken as error:
            answer: dict[str, Any] = {"ok": False, "error": {"code": "InvalidToken", "message": str(error)}}
        else:
            key = (deployment_id, check)
            if key in self.seen:
                answer = {"ok": True, "outcome": "ignored", "reason": f"check {check} already has its result"}
            else:
                self.seen.add(key)
                answer = {"ok": True, "outcome": "accepted", "reason": f"check {check}: {request.result}"}
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}

    def reports(self) -> list[dict[str, Any]]:
        return [json.loads(call["Payload"]) for call in self.calls]


@pytest.fixture
def color() -> Iterator[tuple[str, dict[str, tuple[int, bytes]]]]:
    """The idle color: a local HTTP server answering each path from the dict (default 404)."""
    answers: dict[str, tuple[int, bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = answers.get(self.path, (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", answers
    finally:
        server.shutdown()


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeLambda]:
    """The hook's environment as template.yaml sets it, and a fake Lambda client in place of boto3's."""

    def deploy(**env: str) -> FakeLambda:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)  # the local server is reached directly
        settings = {"OVERRIDE_FUNCTION": OVERRIDE, "HEALTH_PATH": "/healthz", "EXPECT_STATUS": "200"}
        for name, value in {**settings, "EXPECT_BODY": "ok", "CHECK": "http", **env}.items():
            monkeypatch.setenv(name, value)
        client = FakeLambda()
        monkeypatch.setattr(hook, "_clients", {"lambda": client})
        return client

    return deploy


def invocation(url: str, *, check: str = "smoke", deadline_in: float = 300) -> dict[str, Any]:
    """What the controller sends the hook (bluegreen.gates.HookInvocation), with a real token."""
    deadline = datetime.now(UTC) + timedelta(seconds=deadline_in)
    return HookInvocation(
        app="mybot",
        deployment_id="mybot-7",
        version="v42-3f2a",
        environment="mybot-green",
        url=url,
        phase="pre",
        check=check,
        token=CallbackToken.issue("mybot-7", check, SECRET, expires=int(deadline.timestamp()) + 60),
        deadline=deadline,
    ).payload()


class Context:
    function_name = "bluegreen-hook-mybot-smoke"
    aws_request_id = "r-1"


def test_a_healthy_color_is_reported_pass_through_the_override_function(
    color: Any, deployed: Callable[..., FakeLambda], capsys: pytest.CaptureFixture[str]
) -> None:
    url, answers = color
    answers["/healthz"] = (200, b"ok: db up")
    client = deployed()
    event = invocation(url)
    result = hook.lambda_handler(json.loads(json.dumps(event)), Context())
    ((call,),) = [client.calls]
    assert call["FunctionName"] == OVERRIDE and call["InvocationType"] == "RequestResponse"
    (report,) = client.reports()
    assert report == {
        "action": "report_check",
        "app": "mybot",
        "token": event["token"],
        "result": "pass",
        "reason": f"smoke (pre, mybot-green): GET {url}/healthz: 200",
    }
    assert result["answer"] == {"ok": True, "outcome": "accepted", "reason": "check smoke: pass"}
    assert result["report"]["token"] == "..."  # the handler's result (and its log) never carry the token
    assert event["token"] not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "env", "reason"),
    [
        ((503, b"down"), {}, "503 (expected 200)"),
        ((200, b"starting"), {}, "body does not contain 'ok'"),
        ((204, b""), {"EXPECT_STATUS": "204", "EXPECT_BODY": ""}, None),
    ],
)
def test_what_the_color_answers_decides_the_result(
    color: Any, deployed: Callable[..., FakeLambda], answer: tuple[int, bytes], env: dict[str, str], reason: str | None
) -> None:
    url, answers = color
    answers["/healthz"] = answer
    client = deployed(**env)
    hook.lambda_handler(invocation(url), Context())
    (report,) = client.reports()
    assert report["result"] == ("pass" if reason is None else "fail")
    if reason is not None:
        assert reason in report["reason"] and report["reason"].startswith("smoke (pre, mybot-green): GET ")


def test_a_color_that_does_not_answer_is_a_fail_with_the_reason(deployed: Callable[..., FakeLambda]) -> None:
    client = deployed(TIMEOUT_SECONDS="1")
    hook.lambda_handler(invocation("http://127.0.0.1:9"), Context())  # discard port: connection refused
    (report,) = client.reports()
    assert report["result"] == "fail" and "GET http://127.0.0.1:9/healthz" in report["reason"]


def test_a_run_after_the_deadline_reports_fail_without_checking(
    color: Any, deployed: Callable[..., FakeLambda]
) -> None:
    url, _ = color
    client = deployed()
    hook.lambda_handler(invocation(url, deadline_in=-5), Context())
    (report,) = client.reports()
    assert report["result"] == "fail" and "after the deadline" in report["reason"]


def test_a_failed_report_raises_so_that_lambda_retries_and_a_retry_is_ignored(
    color: Any, deployed: Callable[..., FakeLambda], capsys: pytest.CaptureFixture[str]
) -> None:
    url, answers = color
    answers["/healthz"] = (200, b"ok")
    client = deployed()
    client.fail = True
    event = invocation(url)
    with pytest.raises(RuntimeError, match="override function failed"):
        hook.lambda_handler(event, Context())
    client.fail = False
    assert hook.lambda_handler(event, Context())["answer"]["outcome"] == "accepted"  # Lambda's retry
    again = hook.lambda_handler(event, Context())  # e.g. the report made it, the run then failed: a third run
    assert again["answer"]["outcome"] == "ignored"
    assert '"ignored": "check smoke already has its result"' in capsys.readouterr().out


def test_a_refused_report_is_logged_not_raised(color: Any, deployed: Callable[..., FakeLambda], capsys: Any) -> None:
    url, answers = color
    answers["/healthz"] = (200, b"ok")
    deployed()
    event = {**invocation(url), "token": CallbackToken.issue("mybot-7", "smoke", b"another stack's secret!!")}
    result = hook.lambda_handler(event, Context())
    assert result["answer"]["ok"] is False
    out = capsys.readouterr().out
    assert "InvalidToken" in out and event["token"] not in out


def test_the_sam_template_names_the_function_for_the_stacks_pattern_and_grants_only_the_override() -> None:
    class Loader(yaml.SafeLoader):
        pass

    def tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return {suffix: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {suffix: loader.construct_sequence(node, deep=True)}
        return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]

    Loader.add_multi_constructor("!", tag)
    template = yaml.load((EXAMPLE / "template.yaml").read_text(), Loader=Loader)
    name = template["Parameters"]["HookFunctionName"]
    assert name["Default"].startswith("bluegreen-hook-")  # the stack's ReleaseHookFunctionPattern default
    stack = yaml.load((EXAMPLE.parents[1] / "template.yaml").read_text(), Loader=Loader)
    assert stack["Parameters"]["ReleaseHookFunctionPattern"]["Default"] == "bluegreen-hook-*"
    function = template["Resources"]["ReleaseHookFunction"]["Properties"]
    assert function["FunctionName"] == {"Ref": "HookFunctionName"} and function["Handler"] == "app.lambda_handler"
    statements = [s for policy in function["Policies"] if "Statement" in policy for s in policy["Statement"]]
    assert statements == [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": {
                "Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${OverrideFunctionName}"
            },
        }
    ]
    assert function["Environment"]["Variables"]["OVERRIDE_FUNCTION"] == {"Ref": "OverrideFunctionName"}
