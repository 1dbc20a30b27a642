"""Release-gate building blocks against real transports: the hook invoke on moto's Lambda (asynchronous,
the payload as sent, error mapping), the HTTP check with urllib against a local HTTP server standing in
for the idle color, and the manifest read from S3 with ranged GetObject calls."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock

import boto3
import pytest
from bluegreen.aws.hooks import invoke_hook
from bluegreen.errors import BadInput, Transient
from bluegreen.gates import CallbackToken, HookInvocation, HttpCheck, LambdaHook, run_http_check
from bluegreen.manifest import read_manifest_from_zip
from botocore.exceptions import ClientError
from moto import mock_aws

REGION = "us-east-1"
SECRET = b"integration-secret-0123456789abc"


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def aws(credentials: None) -> Iterator[Any]:
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield boto3.session.Session(region_name=REGION)


def create_function(session: Any, name: str = "mybot-hook") -> str:
    from tests.integration.gates_world import HookRunner

    return HookRunner().create_function(session, name)


def payload(token: str) -> dict[str, Any]:
    return HookInvocation(
        app="mybot",
        deployment_id="d-1",
        version="v42",
        environment="mybot-green",
        url="http://mybot-green.eba-x.us-east-1.elasticbeanstalk.com",
        phase="pre",
        check="smoke",
        token=token,
        deadline=datetime(2030, 1, 1, tzinfo=UTC),
    ).payload()


def test_the_hook_is_invoked_asynchronously_with_the_payload(aws: Any) -> None:
    arn = create_function(aws)
    client = aws.client("lambda")
    sent: list[dict[str, Any]] = []
    client.meta.events.register("before-call.lambda.Invoke", lambda params, **_: sent.append(params))
    token = CallbackToken.issue("d-1", "smoke", SECRET)
    for function in ("mybot-hook", arn):
        invoke_hook(client, LambdaHook(name="smoke", function=function), payload(token))
    assert len(sent) == 2
    for params in sent:
        assert params["headers"]["X-Amz-Invocation-Type"] == "Event"
        body = json.loads(params["body"])
        assert body == payload(token)
        assert CallbackToken.verify(body["token"], SECRET) == ("d-1", "smoke")
    assert (
        sent[1]["url_path"].endswith(f"/functions/{arn.replace(':', '%3A')}/invocations") or arn in sent[1]["url_path"]
    )


def test_a_missing_function_is_bad_input_naming_the_hook(credentials: None) -> None:
    # moto's Docker-less Lambda answers 202 for any name; its full backend looks the function up like AWS
    with (
        mock_aws(),
        pytest.raises(BadInput, match=r"hook 'smoke': cannot invoke nope: the function .* does not exist") as caught,
    ):
        invoke_hook(boto3.client("lambda", region_name=REGION), LambdaHook(name="smoke", function="nope"), payload("t"))
    assert not isinstance(caught.value, Transient)


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Invoke"
    )


@pytest.mark.parametrize(
    ("error", "expected", "message"),
    [
        (client_error("TooManyRequestsException", 429), Transient, "TooManyRequestsException"),
        (client_error("ServiceException", 500), Transient, "ServiceException"),
        (client_error("ResourceConflictException", 409), Transient, "ResourceConflictException"),
        (client_error("AccessDeniedException", 403), BadInput, "ReleaseHookFunctionPattern"),
        (client_error("KMSAccessDeniedException", 502), Transient, "KMSAccessDeniedException"),
        (client_error("InvalidParameterValueException", 400), BadInput, "Lambda refused the request"),
    ],
)
def test_errors_map_to_transient_or_bad_input(error: Exception, expected: type[Exception], message: str) -> None:
    lambda_client = mock.Mock()
    lambda_client.invoke.side_effect = error
    with pytest.raises(expected, match=message) as caught:
        invoke_hook(lambda_client, LambdaHook(name="smoke", function="mybot-hook"), payload("t"))
    if expected is BadInput:
        assert not isinstance(caught.value, Transient)


def test_an_answer_other_than_queued_is_bad_input() -> None:
    lambda_client = mock.Mock()
    lambda_client.invoke.return_value = {"StatusCode": 200}
    with pytest.raises(BadInput, match="not 202"):
        invoke_hook(lambda_client, LambdaHook(name="smoke", function="mybot-hook"), payload("t"))


# ---------------------------------------------------------------- HTTP check against a local server


class Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes]] = {}
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        status, body = self.routes.get(self.path, (404, b"not found"))
        if status == 0:  # hang past the client's timeout
            threading.Event().wait(2)
            status, body = 200, b"late"
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def idle_color() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Handler.routes = {
        "/healthz": (200, b'{"status": "ok"}'),
        "/down": (503, b"starting"),
        "/moved": (302, b""),
        "/slow": (0, b""),
    }
    Handler.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_check_against_a_live_server(idle_color: str) -> None:
    result = run_http_check(HttpCheck(name="healthz", expect_body="ok"), idle_color)
    assert result.passed and result.attempts_used == 1 and result.reason.endswith("200, body contains 'ok'")
    down = run_http_check(HttpCheck(name="down", path="/down", attempts=2, interval_seconds=0), idle_color)
    assert not down.passed and down.reason == f"GET http://{idle_color}/down: 503 (expected 200) (after 2 attempts)"
    assert Handler.hits == ["/healthz", "/down", "/down"]


def test_redirects_are_not_followed(idle_color: str) -> None:
    result = run_http_check(HttpCheck(name="moved", path="/moved", attempts=1), idle_color)
    assert not result.passed and result.reason.endswith("302 (expected 200)")
    assert Handler.hits == ["/moved"]


def test_timeout_and_refused_connection(idle_color: str) -> None:
    slow = run_http_check(HttpCheck(name="slow", path="/slow", attempts=1, timeout_seconds=1), idle_color)
    assert not slow.passed and slow.reason.endswith("timed out after 1s") and slow.elapsed_seconds < 1.9
    with mock.patch("socket.socket.connect", side_effect=ConnectionRefusedError(111, "Connection refused")):
        refused = run_http_check(HttpCheck(name="h", attempts=1), idle_color)
    assert not refused.passed and refused.reason.endswith("connection refused")


# ---------------------------------------------------------------- the manifest from S3 by ranges


def test_the_manifest_is_read_from_s3_with_ranged_gets(aws: Any) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="builds")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("blob.bin", bytes(range(256)) * 8192)
        archive.writestr("bluegreen.json", json.dumps({"rollback": "forbid", "notes": "adds column x"}))
    s3.put_object(Bucket="builds", Key="mybot/v2.zip", Body=buffer.getvalue())
    size = s3.head_object(Bucket="builds", Key="mybot/v2.zip")["ContentLength"]
    ranges: list[str] = []

    def read_range(offset: int, length: int) -> bytes:
        ranges.append(f"bytes={offset}-{offset + length - 1}")
        body = s3.get_object(Bucket="builds", Key="mybot/v2.zip", Range=ranges[-1])["Body"]
        return bytes(body.read())

    manifest = read_manifest_from_zip(read_range, size)
    assert manifest is not None and manifest.rollback == "forbid" and manifest.notes == "adds column x"
    assert 1 <= len(ranges) <= 3
