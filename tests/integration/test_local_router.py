"""The EB router (local/bluegreen_local/router.py) and the Lambda-hook runners: release gates' HTTP checks and
hooks against simulated environments, in process (the World, tests/integration/gates_world.py) and on the local
stack (moto's server, `LocalStack.register_hook`)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from bluegreen.aws.hooks import invoke_hook
from bluegreen.errors import BadInput
from bluegreen.gates import CallbackToken, HookInvocation, HttpCheck, LambdaHook, run_http_check
from bluegreen_local.demo import bundle
from bluegreen_local.router import Router, no_proxy_value, proxy_environment
from botocore.utils import get_environ_proxies

from tests.integration.conftest import APP, BLUE, GREEN, PRODUCTION_CNAME, REGION, World, console_swap
from tests.integration.gates_world import HookRunner, eb_router_fixture, hook_runner_fixture  # noqa: F401

GREEN_CNAME = f"{GREEN}.{REGION}.elasticbeanstalk.com"
SECRET = b"router-test-secret-0123456789abcdef"


def get(path: str, host: str, timeout: float = 5.0) -> tuple[int, str, str, str]:
    """GET http://{host}{path} with urllib's own handlers, i.e. through HTTP_PROXY: (status, body, env, version)."""
    try:
        response = urllib.request.build_opener().open(f"http://{host}{path}", timeout=timeout)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        headers = response.headers
        return (
            response.status,
            response.read().decode(),
            headers.get("X-Bluegreen-Environment", ""),
            headers.get("X-Bluegreen-Version", ""),
        )


def deploy(world: World, label: str, simulate: dict[str, Any] | None, environment: str = GREEN) -> None:
    """A version with this bluegreen-simulate.json, deployed to `environment` (EB's update, then completed)."""
    bucket = f"elasticbeanstalk-{REGION}-123456789012"
    world.s3.put_object(Bucket=bucket, Key=f"{APP}/{label}.zip", Body=bundle(label, simulate))
    world.eb.create_application_version(
        ApplicationName=APP, VersionLabel=label, SourceBundle={"S3Bucket": bucket, "S3Key": f"{APP}/{label}.zip"}
    )
    world.eb.update_environment(EnvironmentName=environment, VersionLabel=label)
    world.complete_update(environment, deliver=False)


def hook_event(token: str, url: str = f"http://{GREEN_CNAME}") -> dict[str, Any]:
    return HookInvocation(
        app=APP,
        deployment_id="d-1",
        version="v1",
        environment=GREEN,
        url=url,
        phase="pre",
        check="smoke",
        token=token,
        deadline=datetime.now(UTC) + timedelta(minutes=5),
    ).payload()


# ---------------------------------------------------------------- the router, in process


def test_each_cname_answers_from_its_environment_and_version(world: World, eb_router: Router) -> None:
    assert get("/healthz", PRODUCTION_CNAME) == (200, "ok", BLUE, "v0")
    assert get("/anything?x=1", GREEN_CNAME) == (200, "ok", GREEN, "v0")

    deploy(world, "v1", {"http": {"/healthz": {"status": 503, "body": "down"}, "/version": {"body": "v1"}}})
    assert get("/healthz", GREEN_CNAME) == (503, "down", GREEN, "v1")
    assert get("/version", GREEN_CNAME)[:2] == (200, "v1")
    assert get("/other", GREEN_CNAME)[:2] == (200, "ok")  # any other path: the default
    assert get("/healthz", PRODUCTION_CNAME) == (200, "ok", BLUE, "v0")

    console_swap(world)  # the production CNAME now names green, and answers as v1
    assert get("/healthz", PRODUCTION_CNAME) == (503, "down", GREEN, "v1")
    assert get("/healthz", GREEN_CNAME) == (200, "ok", BLUE, "v0")
    hosts = {(hit.host, hit.environment) for hit in eb_router.requests}
    assert (PRODUCTION_CNAME, GREEN) in hosts and (PRODUCTION_CNAME, BLUE) in hosts


def test_unknown_host_is_502_and_an_environment_not_ready_is_503(world: World, eb_router: Router) -> None:
    assert get("/healthz", f"nobody.{REGION}.elasticbeanstalk.com")[0] == 502
    assert get("/", "example.com")[0] == 502  # the router answers only for EB
    bucket = f"elasticbeanstalk-{REGION}-123456789012"
    world.s3.put_object(Bucket=bucket, Key=f"{APP}/v1.zip", Body=bundle("v1"))
    world.eb.create_application_version(
        ApplicationName=APP, VersionLabel="v1", SourceBundle={"S3Bucket": bucket, "S3Key": f"{APP}/v1.zip"}
    )
    world.eb.update_environment(EnvironmentName=GREEN, VersionLabel="v1")
    status, body, environment, _ = get("/healthz", GREEN_CNAME)
    assert (status, environment) == (503, GREEN) and "Updating" in body
    world.complete_update(GREEN, deliver=False)
    assert get("/healthz", GREEN_CNAME) == (200, "ok", GREEN, "v1")
    world.eb.terminate_environment(EnvironmentName=GREEN)
    status, body, _, _ = get("/healthz", GREEN_CNAME)
    assert status == 503 and "Terminated" in body


def test_a_version_is_read_once_and_an_override_wins(world: World, eb_router: Router) -> None:
    deploy(world, "v1", {"http": {"*": {"status": 500, "body": "boom"}}})
    reads: list[tuple[str, str]] = []
    original = world.eb_backend._read_bundle
    world.eb_backend._read_bundle = lambda bucket, key: reads.append((bucket, key)) or original(bucket, key)
    try:
        for path in ("/a", "/b", "/healthz"):
            assert get(path, GREEN_CNAME)[:2] == (500, "boom")
    finally:
        del world.eb_backend._read_bundle
    assert len(reads) == 1  # cached per version
    eb_router.set_version_http(APP, "v1", {"/healthz": {"status": 204, "body": ""}})
    assert get("/healthz", GREEN_CNAME)[:2] == (204, "")


def test_run_http_check_goes_through_the_router(world: World, eb_router: Router) -> None:
    deploy(world, "v1", {"http": {"/healthz": {"status": 503, "body": "down"}, "/ready": {"body": "ready: yes"}}})
    passed = run_http_check(HttpCheck(name="ready", path="/ready", expect_body="yes", attempts=1), GREEN_CNAME)
    assert passed.passed, passed
    assert passed.reason == f"GET http://{GREEN_CNAME}/ready: 200, body contains 'yes'"
    failed = run_http_check(HttpCheck(name="healthz", attempts=2, interval_seconds=0), GREEN_CNAME)
    assert not failed.passed
    assert failed.reason == f"GET http://{GREEN_CNAME}/healthz: 503 (expected 200) (after 2 attempts)"
    unknown = run_http_check(HttpCheck(name="h", attempts=1), f"nobody.{REGION}.elasticbeanstalk.com")
    assert not unknown.passed and unknown.reason.endswith("502 (expected 200)")
    assert run_http_check(HttpCheck(name="blue", attempts=1), PRODUCTION_CNAME).passed


def test_loopback_bypasses_the_proxy(eb_router: Router, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    assert os.environ["HTTP_PROXY"] == os.environ["http_proxy"] == eb_router.url
    assert get_environ_proxies("http://127.0.0.1:5000") == {}  # what botocore asks for an endpoint
    assert get_environ_proxies("http://localhost:5000") == {}
    assert get_environ_proxies(f"http://{GREEN_CNAME}")["http"] == eb_router.url
    assert no_proxy_value("corp.example,localhost") == "corp.example,localhost,127.0.0.1"
    env = proxy_environment("http://127.0.0.1:1", {"no_proxy": ".internal"})
    assert env["NO_PROXY"] == env["no_proxy"] == ".internal,127.0.0.1,localhost"


# ---------------------------------------------------------------- the hook runner, in process


def test_hook_runner_records_async_invokes_and_delivers_reports(
    world: World, eb_router: Router, hook_runner: HookRunner
) -> None:
    arn = hook_runner.create_function(world.session, "mybot-hook")
    token = CallbackToken.issue("d-1", "smoke", SECRET)
    lambda_client = world.session.client("lambda")
    invoke_hook(lambda_client, LambdaHook(name="smoke", function=arn), hook_event(token))  # real invoke_hook
    invoke_hook(lambda_client, LambdaHook(name="smoke", function="mybot-hook"), hook_event(token))
    assert [(i.function, i.event["token"]) for i in hook_runner.pending] == [("mybot-hook", token)] * 2
    with pytest.raises(BadInput, match="does not exist"):  # moto still looks the function up
        invoke_hook(lambda_client, LambdaHook(name="smoke", function="nope"), hook_event(token))

    sent: list[dict[str, Any]] = []

    def override(payload: dict[str, Any]) -> dict[str, Any]:
        sent.append(payload)
        return {"ok": True}

    assert hook_runner.deliver(override, result="fail", reason="getMe failed") == {"ok": True}
    assert sent == [{"action": "report_check", "app": APP, "token": token, "result": "fail", "reason": "getMe failed"}]

    # the ready HTTP hook on the remaining invoke: GET through the router, then report
    hook_runner.register("mybot-hook", hook_runner.http_hook(override, path="/healthz"))
    (answer,) = hook_runner.run_pending(override)
    assert answer["report"]["result"] == "pass" and answer["report"]["token"] == token
    assert answer["report"]["reason"].startswith(f"GET http://{GREEN_CNAME}/healthz: 200")
    assert sent[-1] == answer["report"] and hook_runner.pending == []
    assert len(hook_runner.reports) == 2
    # and through the World's real override handler (its answer, whatever the controller makes of it, is kept)
    invoke_hook(lambda_client, LambdaHook(name="smoke", function="mybot-hook"), hook_event(token))
    hook_runner.deliver(lambda p: world.invoke("override", p), result="pass", reason="ok")
    assert hook_runner.reports[-1][0]["result"] == "pass" and isinstance(hook_runner.reports[-1][1], dict)


def test_a_failing_http_hook_reports_fail(world: World, eb_router: Router, hook_runner: HookRunner) -> None:
    deploy(world, "v1", {"http": {"/healthz": {"status": 503, "body": "down"}}})
    hook_runner.create_function(world.session)
    reports: list[dict[str, Any]] = []
    hook_runner.register("mybot-hook", hook_runner.http_hook(reports.append))
    token = CallbackToken.issue("d-1", "smoke", SECRET)
    invoke_hook(world.session.client("lambda"), LambdaHook(name="smoke", function="mybot-hook"), hook_event(token))
    hook_runner.run_pending(reports.append)
    (report,) = reports
    assert report["result"] == "fail" and "503 (expected 200)" in report["reason"]


# ---------------------------------------------------------------- the local stack (moto's server)


@pytest.fixture(scope="module")
def local_stack() -> Iterator[Any]:
    from tests.e2e.conftest import running_stack

    with running_stack(app=APP, update_seconds=0.2, tick_seconds=60) as stack:
        yield stack


@pytest.mark.e2e
def test_the_local_stack_routes_http_and_keeps_boto3_off_the_proxy(local_stack: Any) -> None:
    import os

    assert os.environ["HTTP_PROXY"] == local_stack.router.url
    assert "127.0.0.1" in os.environ["NO_PROXY"].split(",")
    assert get_environ_proxies(local_stack.endpoint_url) == {}
    # boto3 against moto's server, with the proxy set: not through the router
    before = len(local_stack.router.requests)
    session = boto3.session.Session(region_name=REGION)
    environments = session.client("elasticbeanstalk").describe_environments(ApplicationName=APP)["Environments"]
    assert {e["EnvironmentName"] for e in environments} >= {BLUE, GREEN}
    assert session.client("s3").list_buckets()["Buckets"]
    assert len(local_stack.router.requests) == before
    assert get("/healthz", PRODUCTION_CNAME) == (200, "ok", BLUE, "v0")
    assert run_http_check(HttpCheck(name="healthz", attempts=1), GREEN_CNAME).passed  # the controller's opener


@pytest.mark.e2e
def test_the_local_stack_runs_a_registered_hook_on_async_invoke(local_stack: Any) -> None:
    lambda_client = boto3.session.Session(region_name=REGION).client("lambda")
    seen: list[tuple[dict[str, Any], str]] = []
    arn = local_stack.register_hook("recorder-hook", lambda event, context: seen.append((event, context.function_name)))
    assert lambda_client.get_function(FunctionName="recorder-hook")["Configuration"]["FunctionArn"] == arn
    start = len(local_stack.hook_runs)
    response = lambda_client.invoke(FunctionName=arn, InvocationType="Event", Payload=b'{"n": 1}')
    assert response["StatusCode"] == 202
    runs = local_stack.wait_for_hook_runs(start + 1)
    assert seen == [({"n": 1}, "recorder-hook")] and runs[-1].function == "recorder-hook"

    # the ready hook: GET the idle color through the router, report to the stack's override function
    local_stack.register_hook("mybot-hook", local_stack.http_check_hook(path="/healthz"))
    token = CallbackToken.issue("d-1", "smoke", SECRET)
    hits = len(local_stack.router.requests)
    invoke_hook(lambda_client, LambdaHook(name="smoke", function="mybot-hook"), hook_event(token))
    run = local_stack.wait_for_hook_runs(start + 2)[-1]
    assert run.function == "mybot-hook" and run.error is None, run
    report = run.result["report"]
    assert (report["action"], report["app"], report["token"], report["result"]) == ("report_check", APP, token, "pass")
    assert isinstance(run.result["answer"], dict)  # the override function answered (whatever it makes of it)
    assert [(h.host, h.path, h.status) for h in local_stack.router.requests[hits:]] == [(GREEN_CNAME, "/healthz", 200)]


@pytest.mark.e2e
def test_a_failing_hook_is_retried_like_lambda(local_stack: Any) -> None:
    calls: list[float] = []

    def flaky(event: dict[str, Any], context: Any) -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise RuntimeError("not yet")
        return "done"

    local_stack.register_hook("flaky-hook", flaky)
    start = len(local_stack.hook_runs)
    lambda_client = boto3.session.Session(region_name=REGION).client("lambda")
    lambda_client.invoke(FunctionName="flaky-hook", InvocationType="Event", Payload=json.dumps({}).encode())
    runs = local_stack.wait_for_hook_runs(start + 3)[start:]
    assert [(r.attempt, r.error, r.result) for r in runs] == [
        (1, "RuntimeError: not yet", None),
        (2, "RuntimeError: not yet", None),
        (3, None, "done"),
    ]
    sync = lambda_client.invoke(FunctionName="flaky-hook", Payload=b"{}")  # RequestResponse: its result
    assert json.loads(sync["Payload"].read()) == "done"
