"""The local stack: the real handlers on moto's server, wired exactly as template.yaml wires them.

- moto's server on 127.0.0.1 (with the EB extension), plus two things moto lacks: the Lambda Invoke
  API for the stack's functions (served in-process), and CloudWatch's "Alarm State Change" events.
- The table, bus and bucket come from template.yaml (`template.provision`). Each EventBridge rule of
  the template becomes a moto rule with the template's pattern and an SQS queue as its target, so
  moto's EventBridge does the matching. A dispatcher invokes the function behind each queue in-process,
  retrying a failing invocation twice and then dead-lettering it, as Lambda's async invoke does.
- Simulated EB: updates take `update_seconds`, then EB's real-shaped events go to the default bus.
- S3 notifications in AWS's shapes (`s3_events`): the raw key in EventBridge "Object Created", a
  form-encoded key in `Records[]`, increasing sequencers, on the default bus only.
- Release gates (docs/gates.md): the EB router (`router.Router`) answers HTTP for the simulated
  environments' CNAMEs; this process's `HTTP_PROXY` points at it (loopback bypasses it, `NO_PROXY`), and
  the controller's HTTP checks go through it (`router.route_gates_through`). Lambda hooks: moto's Lambda
  runs no code, so `register_hook(name, fn)` creates the function in moto and runs `fn` on each invoke of
  it (asynchronous ones in a thread, retried twice like Lambda); `http_check_hook()` is a ready one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import threading
import time
import traceback
import urllib.parse
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from bluegreen_local import moto_beanstalk, router
from bluegreen_local.bots import create_bot
from bluegreen_local.template import ROOT, Stack, load_template, provision

log = logging.getLogger("bluegreen.local")
ACCOUNT, REGION = "123456789012", "us-east-1"
FUNCTION_RETRIES = 2  # Lambda retries a failed async invocation twice
_invocation = threading.local()


class InvocationKeys(logging.Filter):
    """Stamp each log record with the keys of the invocation running in its thread.

    In Lambda every function runs in its own process, so the powertools Logger's appended keys
    (`trigger`, `request_id`) and its Lambda context keys belong to one invocation. The local stack
    runs every function in one process, one thread per invocation, sharing one Logger: the last
    `append_keys` wins for every thread. powertools lets a record's own attributes override the
    appended keys, so setting them per record from a thread-local makes each line name its own
    function, request and trigger.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in getattr(_invocation, "keys", {}).items():
            setattr(record, key, value)
        return True


@contextmanager
def invocation_keys(**keys: Any) -> Iterator[None]:
    """Log records made in this thread carry `keys` until the block ends (nests)."""
    previous = getattr(_invocation, "keys", {})
    _invocation.keys = {**previous, **keys}
    try:
        yield
    finally:
        _invocation.keys = previous


def install_invocation_logging(logger_name: str = "bluegreen") -> None:
    """Attach `InvocationKeys` to the service's logger and its handlers (idempotent)."""
    target = logging.getLogger(logger_name)
    for holder in (target, *target.handlers):
        if not any(isinstance(f, InvocationKeys) for f in holder.filters):
            holder.addFilter(InvocationKeys())


@dataclass
class LambdaContext:
    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = ""
    timeout_seconds: int = 30
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


def load_function(code_uri: str) -> ModuleType:
    path = ROOT / code_uri / "app.py"
    spec = importlib.util.spec_from_file_location(f"bluegreen_fn_{Path(code_uri).name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LocalStack:
    def __init__(
        self,
        *,
        port: int = 0,
        app: str | None = "mybot",
        update_seconds: float = 2.0,
        tick_seconds: float = 60.0,
        stack_name: str = "bluegreen",
        descriptor: Path | None = None,
        log_level: str | None = None,
    ) -> None:
        self.log_level = log_level
        self.port = port
        self.app = app
        self.update_seconds = update_seconds
        self.tick_seconds = tick_seconds
        self.stack_name = stack_name
        self.descriptor = descriptor
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.functions: dict[str, ModuleType] = {}
        self.function_names: dict[str, str] = {}
        self.invocations: list[tuple[str, float, str]] = []  # (logical id, when, outcome) for benchmarks
        self.server: Any = None
        self.stack: Stack | None = None
        self.endpoint_url = ""
        self.router = router.Router()
        self.hooks: dict[str, router.Hook] = {}  # function name -> callable(event, context)
        self.hook_runs: list[HookRun] = []
        self._hook_runs_changed = threading.Condition()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalStack:
        moto_beanstalk.install()  # with s3_events and moto_cloudwatch
        self.router.start()
        self._gates_opener = router.route_gates_through(self.router.url)
        self._set_environment()
        self._start_server()
        self._reset_moto()
        _serialize_dynamodb()
        import boto3
        from bluegreen import service

        self.session = boto3.session.Session(region_name=REGION)
        self.stack = provision(self.session, self.stack_name, load_template())
        os.environ.update(self.stack.environment(next(iter(self.stack.functions))))
        if self.log_level:
            os.environ["POWERTOOLS_LOG_LEVEL"] = self.log_level
        service.reset()
        from bluegreen.entry import get_logger

        get_logger()  # created now so that its handlers get the per-invocation keys
        install_invocation_logging()
        for logical_id, spec in self.stack.functions.items():
            self.functions[logical_id] = load_function(spec.code_uri)
            self.function_names[self.stack.function_name(logical_id)] = logical_id
        self.failure_queue = self._queue(f"{self.stack_name}-function-failures")
        self.eb = moto_beanstalk.backend(ACCOUNT, REGION)
        self.eb.update_seconds = self.update_seconds
        self.eb.add_listener(self._to_default_bus)
        self._route_alarm_events()
        self._wire_rules()
        self._spawn(self._simulate_eb, "eb-simulator")
        if self.app:
            self.create_demo_app(self.app)
        self._write_descriptor()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=5)
        if self.server is not None:
            self.server.shutdown()
        if self.router.server is not None:
            self.router.stop()
            router.restore_gates_opener(self._gates_opener)
        if self.descriptor and self.descriptor.exists():
            self.descriptor.unlink()
            for folder in (self.descriptor.parent, self.descriptor.parent.parent):  # port-<P>/, .local-stack/
                with contextlib.suppress(OSError):  # not empty: another stack still runs
                    folder.rmdir()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _set_environment(self) -> None:
        os.environ.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto accepts any credentials
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
        )
        os.environ.pop("AWS_PROFILE", None)
        # http through the EB router (HTTP checks, hooks); the moto endpoint (loopback) never through it
        os.environ.update(self.router.proxy_environment())

    # ------------------------------------------------------------------ the server
    def _start_server(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per request
        moto_app = DomainDispatcherApplication(create_backend_app)
        self.server = make_server("127.0.0.1", self.port, self._wsgi(moto_app), threaded=True)
        self.port = self.server.server_port
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint_url
        thread = threading.Thread(target=self.server.serve_forever, name="moto-server", daemon=True)
        thread.start()

    def _reset_moto(self) -> None:
        """moto's backends are process-wide: start every local stack from an empty AWS."""
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our own loopback server
            pass

    def _wsgi(self, moto_app: Any) -> Callable[..., Any]:
        """moto's app, plus the Invoke API for our functions and a control endpoint for the simulation."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            path = environ.get("PATH_INFO", "")
            if path.startswith("/2015-03-31/functions/") and path.endswith("/invocations"):
                hook = _function_name(path.split("/")[3])
                if hook in self.hooks:
                    return self._serve_hook_invoke(environ, start_response, hook)
                name = path.split("/")[3].rsplit(":", 1)[-1]
                name = name.split("function:")[-1]
                if name in self.function_names:
                    return self._serve_invoke(environ, start_response, self.function_names[name])
            if path == "/_bluegreen/health" and environ.get("REQUEST_METHOD") == "POST":
                body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)) or b"{}")
                events = self.eb.set_health(body["environment"], body["health"])
                return _respond(start_response, "200 OK", {"emitted": len(events)})
            return moto_app(environ, start_response)

        return app

    def _serve_invoke(self, environ: dict[str, Any], start_response: Callable[..., Any], logical_id: str) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        kind = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        if kind == "Event":
            threading.Thread(target=self.invoke_async, args=(logical_id, payload), daemon=True).start()
            return _respond(start_response, "202 Accepted", "")
        try:
            result = self.invoke(logical_id, payload)
        except Exception as error:  # noqa: BLE001 - reported as Lambda reports an unhandled error
            body = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_exc().splitlines()[-5:],
            }
            return _respond(start_response, "200 OK", body, {"X-Amz-Function-Error": "Unhandled"})
        return _respond(start_response, "200 OK", result)

    # ------------------------------------------------------------------ users' Lambda hooks (release gates)
    def register_hook(self, function_name: str, hook: router.Hook) -> str:
        """Create `function_name` in moto's Lambda and run `hook(event, context)` on each invoke of it (by name
        or ARN): asynchronously (`InvocationType=Event`: 202, then a thread, retried twice on an exception, as
        Lambda does), or synchronously with its result. Answers the function's ARN."""
        lambda_ = self.session.client("lambda")
        try:
            arn = str(lambda_.get_function(FunctionName=function_name)["Configuration"]["FunctionArn"])
        except lambda_.exceptions.ResourceNotFoundException:
            arn = str(
                lambda_.create_function(
                    FunctionName=function_name,
                    Runtime="python3.12",
                    Role=self._hook_role(),
                    Handler="app.lambda_handler",
                    Code={"ZipFile": _hook_zip()},
                    Description="a release hook, run in-process by the local stack",
                    Timeout=60,
                )["FunctionArn"]
            )
        self.hooks[function_name] = hook
        return arn

    def http_check_hook(
        self, *, path: str = "/healthz", expect_status: int = 200, expect_body: str | None = None
    ) -> router.Hook:
        """A ready hook: GET `{event url}{path}` through the EB router, then report pass/fail by invoking the
        stack's override function with `report_check` (as a user's hook does). Register it with
        `register_hook(name, stack.http_check_hook())`."""
        override = self.describe()["override_function"]

        def report(payload: dict[str, Any]) -> Any:
            response = self.session.client("lambda").invoke(FunctionName=override, Payload=json.dumps(payload).encode())
            return json.loads(response["Payload"].read() or b"null")

        return router.http_check_hook(report, path=path, expect_status=expect_status, expect_body=expect_body)

    def wait_for_hook_runs(self, count: int = 1, timeout: float = 10.0) -> list[HookRun]:
        """The hook runs so far, once there are at least `count` (or when `timeout` passes)."""
        with self._hook_runs_changed:
            self._hook_runs_changed.wait_for(lambda: len(self.hook_runs) >= count, timeout=timeout)
            return list(self.hook_runs)

    def _hook_role(self) -> str:
        iam = self.session.client("iam")
        name = "bluegreen-local-hook"
        try:
            return str(iam.get_role(RoleName=name)["Role"]["Arn"])
        except iam.exceptions.NoSuchEntityException:
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
            return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))["Role"]["Arn"])

    def _serve_hook_invoke(self, environ: dict[str, Any], start_response: Callable[..., Any], name: str) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            event = json.loads(raw or b"{}")
        except ValueError:
            event = raw.decode("utf-8", "replace")
        if environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse") == "Event":
            threading.Thread(target=self._run_hook_async, args=(name, event), name=f"hook-{name}", daemon=True).start()
            return _respond(start_response, "202 Accepted", "")
        run = self._run_hook(name, event, attempt=1)
        if run.error is not None:
            body = {"errorMessage": run.error, "errorType": "HookError"}
            return _respond(start_response, "200 OK", body, {"X-Amz-Function-Error": "Unhandled"})
        return _respond(start_response, "200 OK", json.dumps(run.result, default=str))

    def _run_hook_async(self, name: str, event: Any) -> None:
        for attempt in range(1, FUNCTION_RETRIES + 2):
            if self._run_hook(name, event, attempt).error is None or self.stop_event.wait(0.5 * attempt):
                return

    def _run_hook(self, name: str, event: Any, attempt: int) -> HookRun:
        context = LambdaContext(
            function_name=name, invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        )
        keys = {"function_name": name, "request_id": context.aws_request_id, "trigger": "hook"}
        try:
            with invocation_keys(**keys):
                run = HookRun(name, event, attempt, result=self.hooks[name](event, context))
        except Exception as error:  # noqa: BLE001 - a failing hook is Lambda's unhandled error: retried
            log.warning("hook %s failed (attempt %d): %s", name, attempt, error)
            run = HookRun(name, event, attempt, error=f"{type(error).__name__}: {error}")
        with self._hook_runs_changed:
            self.hook_runs.append(run)
            self._hook_runs_changed.notify_all()
        return run

    # ------------------------------------------------------------------ invoking functions
    def invoke(self, logical_id: str, event: Any) -> Any:
        assert self.stack is not None
        spec = self.stack.functions[logical_id]
        name = self.stack.function_name(logical_id)
        context = LambdaContext(
            function_name=name,
            invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
            timeout_seconds=spec.timeout,
        )
        keys = {
            "function_name": name,
            "function_arn": context.invoked_function_arn,
            "function_request_id": context.aws_request_id,
            "function_memory_size": context.memory_limit_in_mb,
            "request_id": context.aws_request_id,
            "trigger": _trigger(spec.code_uri),
        }
        try:
            with invocation_keys(**keys):
                result = self.functions[logical_id].lambda_handler(event, context)
        except Exception:
            self.invocations.append((logical_id, time.time(), "error"))
            raise
        self.invocations.append((logical_id, time.time(), "ok"))
        return result

    def override(self, payload: dict[str, Any]) -> Any:
        """An override request, sent to the function that serves its action (register has its own)."""
        return self.invoke(override_function_for(str(payload.get("action", ""))), payload)

    def invoke_async(self, logical_id: str, event: Any) -> None:
        """Lambda's async semantics: two retries with backoff, then the on-failure destination."""
        for attempt in range(FUNCTION_RETRIES + 1):
            try:
                self.invoke(logical_id, event)
                return
            except Exception as error:  # noqa: BLE001 - every failure is retried, then dead-lettered
                log.warning("%s failed (attempt %d): %s", logical_id, attempt + 1, error)
                if attempt == FUNCTION_RETRIES:
                    self._dead_letter(logical_id, event, error)
                    return
                if self.stop_event.wait(0.5 * (attempt + 1)):
                    return

    def _dead_letter(self, logical_id: str, event: Any, error: BaseException) -> None:
        assert self.stack is not None
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.stack.function_name(logical_id)}",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": FUNCTION_RETRIES + 1,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
        }
        self.sqs.send_message(QueueUrl=self.failure_queue, MessageBody=json.dumps(record, default=str))

    # ------------------------------------------------------------------ routing, as the template says
    @property
    def sqs(self) -> Any:
        return self.session.client("sqs")

    def _queue(self, name: str) -> str:
        return str(self.sqs.create_queue(QueueName=name)["QueueUrl"])

    def _wire_rules(self) -> None:
        assert self.stack is not None
        events = self.session.client("events")
        for rule in self.stack.rules:
            url = self._queue(f"{rule.name}-target")
            if rule.pattern is not None:
                arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                events.put_rule(Name=rule.name, EventBusName=rule.bus, EventPattern=json.dumps(rule.pattern))
                events.put_targets(Rule=rule.name, EventBusName=rule.bus, Targets=[{"Id": rule.function, "Arn": arn}])
            else:
                self._spawn(lambda url=url, rule=rule: self._schedule(url, rule.name), f"schedule-{rule.name}")
            self._spawn(lambda url=url, rule=rule: self._dispatch(url, rule.function), f"dispatch-{rule.name}")

    def _dispatch(self, queue_url: str, logical_id: str) -> None:
        sqs = self.session.client("sqs")
        while not self.stop_event.is_set():
            try:
                messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                    "Messages", []
                )
            except Exception as error:  # noqa: BLE001 - the server is shutting down
                if self.stop_event.is_set():
                    return
                log.warning("receive failed: %s", error)
                continue
            for message in messages:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                self.invoke_async(logical_id, json.loads(message["Body"]))

    def _schedule(self, queue_url: str, rule_name: str) -> None:
        """An EventBridge schedule: a "Scheduled Event" every tick, into the rule's target queue."""
        sqs = self.session.client("sqs")
        while not self.stop_event.wait(self.tick_seconds):
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": ACCOUNT,
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": REGION,
                "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name}"],
                "detail": {},
            }
            sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))

    def _to_default_bus(self, event: dict[str, Any]) -> None:
        """Send an AWS service event (EB, CloudWatch) through the default bus's rules: moto matches them."""
        from moto.events.models import events_backends

        bus = events_backends[ACCOUNT][REGION].event_buses.get("default")
        if bus is None:
            return
        for rule in list(bus.rules.values()):
            copy = json.loads(json.dumps(event))
            copy["time"] = datetime.strptime(event["time"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
            rule.send_to_targets(copy, transform_input=False)

    def _route_alarm_events(self) -> None:
        """moto changes an alarm's state without telling EventBridge; AWS sends "CloudWatch Alarm State Change"."""
        from moto.cloudwatch.models import CloudWatchBackend

        stack = self
        if getattr(CloudWatchBackend.set_alarm_state, "_bluegreen", False):
            CloudWatchBackend._bluegreen_stack = self  # type: ignore[attr-defined]
            return
        original = CloudWatchBackend.set_alarm_state

        def set_alarm_state(backend: Any, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
            alarm = backend.alarms.get(alarm_name)
            previous = (alarm.state_value, alarm.state_reason, alarm.state_updated_timestamp) if alarm else None
            original(backend, alarm_name, reason, reason_data, state_value)
            current = getattr(CloudWatchBackend, "_bluegreen_stack", stack)
            if alarm is not None and previous is not None:
                current._to_default_bus(alarm_event(backend, alarm, previous))

        set_alarm_state._bluegreen = True  # type: ignore[attr-defined]
        CloudWatchBackend.set_alarm_state = set_alarm_state  # type: ignore[method-assign]
        CloudWatchBackend._bluegreen_stack = self  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ simulated EB
    def _simulate_eb(self) -> None:
        while not self.stop_event.wait(0.1):
            try:
                self.eb.advance()
            except Exception as error:  # noqa: BLE001 - keep the simulation alive
                log.warning("EB simulation: %s", error)

    def create_demo_app(self, app: str) -> None:
        """A bot with two colors on v0 and an error alarm, as a team would have before adopting bluegreen."""
        create_bot(self.session, app)

    def _write_descriptor(self) -> None:
        if self.descriptor is None:
            return
        assert self.stack is not None
        self.descriptor.parent.mkdir(parents=True, exist_ok=True)
        self.descriptor.write_text(json.dumps(self.describe(), indent=2))

    def describe(self) -> dict[str, Any]:
        assert self.stack is not None
        return {
            "endpoint_url": self.endpoint_url,
            "region": REGION,
            "bucket": self.stack.bucket,
            "bus": self.stack.bus,
            "table": self.stack.table,
            "override_function": self.stack.function_name("OverrideFunction"),
            "register_function": self.stack.function_name("RegisterFunction"),
            "status_function": self.stack.function_name("StatusFunction"),
            "functions": {logical_id: self.stack.function_name(logical_id) for logical_id in self.stack.functions},
            "failure_queue": self.failure_queue,
            "app": self.app,
        }


@dataclass
class HookRun:
    """One run of a registered hook: its event, the attempt (1..3), and what it answered or raised."""

    function: str
    event: Any
    attempt: int
    result: Any = None
    error: str | None = None


def _function_name(segment: str) -> str:
    """The function name in an Invoke path segment: a name, a partial or full ARN, with or without a qualifier."""
    name = urllib.parse.unquote(segment)
    if "function:" in name:
        name = name.split("function:", 1)[1]
    return name.split(":", 1)[0]


def _hook_zip() -> bytes:
    """A placeholder deployment package for a hook's function in moto (the local stack runs the registered
    callable instead)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    raise NotImplementedError\n")
    return buffer.getvalue()


def override_function_for(action: str) -> str:
    """The stack's function for an override action (bluegreen.access: register is granted apart)."""
    return "RegisterFunction" if action == "register" else "OverrideFunction"


def _trigger(code_uri: str) -> str:
    """The `trigger` a function's handler appends (functions/<trigger>)."""
    return Path(code_uri).name


def _serialize_dynamodb() -> None:
    """moto's DynamoDB is not atomic under concurrent requests: TransactWriteItems applies its items and
    restores a copy of the table when a condition fails, without a lock, so a concurrent transaction can
    keep a cancelled one's writes. DynamoDB never does; the local stack serializes item operations so
    that its concurrency behaves like DynamoDB's (one lock; requests are short)."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_bluegreen_serialized", False):
        return
    lock = threading.RLock()
    for name in ("put_item", "get_item", "query", "update_item", "delete_item", "transact_write_items", "scan"):
        original = getattr(DynamoDBBackend, name)

        def serialized(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, serialized)
    DynamoDBBackend._bluegreen_serialized = True  # type: ignore[attr-defined]


def alarm_event(backend: Any, alarm: Any, previous: tuple[str, str, datetime]) -> dict[str, Any]:
    def stamp(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"

    now = datetime.now(UTC)
    configuration: dict[str, Any] = {"description": alarm.description or "", "metrics": []}
    if getattr(alarm, "rule", None):  # a composite alarm: its rule, no metrics (AWS's sample)
        configuration = {"alarmRule": alarm.rule, **({"description": alarm.description} if alarm.description else {})}
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": backend.account_id,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": backend.region_name,
        "resources": [alarm.alarm_arn],
        "detail": {
            "alarmName": alarm.name,
            "configuration": configuration,
            "previousState": {"value": previous[0], "reason": previous[1] or "", "timestamp": stamp(previous[2])},
            "state": {
                "value": alarm.state_value,
                "reason": alarm.state_reason or "",
                "reasonData": alarm.state_reason_data or "",
                "timestamp": stamp(alarm.state_updated_timestamp),
            },
        },
    }


def _respond(
    start_response: Callable[..., Any], status: str, body: Any, headers: dict[str, str] | None = None
) -> list[bytes]:
    data = body.encode() if isinstance(body, str) else json.dumps(body, default=str).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *(headers or {}).items()]
    )
    return [data]
