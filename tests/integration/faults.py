"""Fault injection at AWS call sites through botocore's event hooks, and exact call counting.

A fault is answered at `before-send`, so botocore's own retry logic (standard mode, bounded attempts)
sees it exactly as it would see AWS's answer: a throttling error, an HTTP 500, or a connect timeout.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError

SERVICES = ("dynamodb", "elasticbeanstalk", "events", "s3", "cloudwatch")

# Error bodies in each service's protocol, so botocore parses the code as AWS would send it.
THROTTLE = {
    "dynamodb": (400, b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}'),
    "eventbridge": (400, b'{"__type":"ThrottlingException","message":"Rate exceeded"}'),
    "elastic-beanstalk": (
        400,
        b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>",
    ),
    "cloudwatch": (
        400,
        b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>",
    ),
    "s3": (503, b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"),
}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kwargs: Any) -> Any:
        yield self.body

    def read(self, *args: Any) -> bytes:
        return self.body


@dataclass
class Fault:
    site: str  # "service.Operation"
    kind: str  # throttle | http500 | timeout | lost (processed by AWS, but the response never came back)
    times: int | None  # how many calls fail; None: every call until cleared
    injected: int = 0

    def answer(self, request: Any) -> Any:
        self.injected += 1
        service = self.site.split(".")[0]
        if self.kind == "timeout":
            raise ConnectTimeoutError(endpoint_url=request.url)
        if self.kind == "lost":
            return None  # handled after the call: AWS applied it, the caller sees a read timeout
        # botocore hands the request to every before-send handler (moto's stubber too) and keeps the first
        # response: point the request nowhere, so that a throttled call is not also executed.
        request.url = "https://fault-injected.invalid/"
        status, body = THROTTLE[service] if self.kind == "throttle" else (500, b'{"message": "Internal Server Error"}')
        if self.kind == "http500" and service in ("elastic-beanstalk", "cloudwatch"):
            body = b"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>boom</Message></Error></ErrorResponse>"
        if self.kind == "http500" and service == "s3":
            body = b"<Error><Code>InternalError</Code><Message>boom</Message></Error>"
        return AWSResponse(request.url, status, {}, _Raw(body))  # type: ignore[arg-type]


@dataclass
class Injector:
    """Hooks every bluegreen client: counts calls, answers faults, and can 'crash' at a call site.

    Sites are named as botocore's events name them: `dynamodb.GetItem`, `elastic-beanstalk.SwapEnvironmentCNAMEs`,
    `eventbridge.PutEvents`, `s3.GetObject`, `cloudwatch.DescribeAlarms`.
    """

    calls: Counter[str] = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    crash_after: str | None = None  # raise SystemExit-like error *after* this call succeeded, once

    def attach(self) -> Injector:
        from bluegreen.aws import clients

        for service in SERVICES:
            client = clients.client(service)
            client.meta.events.register_first("before-send", self._before_send, unique_id=f"faults-{service}")
            client.meta.events.register("after-call", self._after_call, unique_id=f"faults-after-{service}")
        return self

    def _before_send(self, request: Any, **kwargs: Any) -> Any:
        event_name = kwargs.get("event_name", "")
        parts = event_name.split(".")
        site = f"{parts[1]}.{parts[2]}" if len(parts) >= 3 else "?"
        self.calls[site] += 1
        self.log.append(site)
        for fault in self.faults:
            if fault.site == site and (fault.times is None or fault.injected < fault.times):
                return fault.answer(request)
        return None

    def _after_call(self, **kwargs: Any) -> None:
        event_name = kwargs.get("event_name", "")
        parts = event_name.split(".")
        site = f"{parts[1]}.{parts[2]}" if len(parts) >= 3 else "?"
        for fault in self.faults:
            if fault.site == site and fault.kind == "lost" and (fault.times is None or fault.injected <= fault.times):
                from botocore.exceptions import ReadTimeoutError

                raise ReadTimeoutError(endpoint_url=site)
        if self.crash_after == site:
            self.crash_after = None
            raise Crash(f"the process died right after {site}")

    def inject(self, site: str, kind: str, times: int | None) -> Fault:
        fault = Fault(site, kind, times)
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()
        self.crash_after = None

    def reset_counts(self) -> None:
        self.calls.clear()
        self.log.clear()

    def count(self, prefix: str = "") -> int:
        return sum(n for site, n in self.calls.items() if site.startswith(prefix))


class Crash(BaseException):
    """A crash of the whole invocation (not an Exception: nothing in the code may swallow it)."""
