"""bluegreen.gates: check specs (strict, bounded, unique names), the HTTP check runner (statuses, bodies,
timeouts, refused connections, retries, bounded body reads, never raising), callback tokens (round trip,
forgery, tampering, expiry, rotation), the hook payload and the hook's report."""

from __future__ import annotations

import socket
import ssl
import urllib.error
from datetime import UTC, datetime
from typing import Any

import pytest
from bluegreen.errors import BadInput
from bluegreen.gates import (
    MAX_BODY_BYTES,
    CallbackToken,
    Checks,
    HookInvocation,
    HookReport,
    HttpCheck,
    InvalidToken,
    LambdaHook,
    run_http_check,
)
from pydantic import ValidationError

HOST = "mybot-green.eba-x.us-east-1.elasticbeanstalk.com"
URL = f"http://{HOST}/healthz"
SECRET = b"0123456789abcdef0123456789abcdef"


# ---------------------------------------------------------------- specs


def test_http_check_defaults_and_strict_numbers() -> None:
    check = HttpCheck.model_validate({"type": "http", "name": "healthz"})
    assert (check.path, check.expect_status, check.expect_body) == ("/healthz", 200, None)
    assert (check.timeout_seconds, check.attempts, check.interval_seconds, check.scheme) == (5, 3, 2, "http")
    for bad in (
        {"timeout_seconds": "5"},
        {"attempts": True},
        {"expect_status": 200.0},
        {"path": "healthz"},
        {"path": "/a b"},
        {"scheme": "ftp"},
        {"unknown": 1},
        {"name": "has space"},
        {"attempts": 0},
        {"expect_body": ""},
    ):
        with pytest.raises(ValidationError):
            HttpCheck.model_validate({"type": "http", "name": "healthz", **bad})


def test_http_check_worst_case_is_bounded() -> None:
    with pytest.raises(ValidationError, match="may take 1140s"):
        HttpCheck(name="slow", attempts=10, timeout_seconds=60, interval_seconds=60)
    assert HttpCheck(name="ok", attempts=3, timeout_seconds=5, interval_seconds=2).worst_case_seconds == 19


@pytest.mark.parametrize(
    "function",
    [
        "my-hook",
        "my-hook:live",
        "123456789012:function:my-hook",
        "arn:aws:lambda:us-east-1:123456789012:function:my-hook:3",
    ],
)
def test_lambda_hook_takes_a_name_or_an_arn(function: str) -> None:
    hook = LambdaHook.model_validate({"type": "lambda", "name": "smoke", "function": function})
    assert hook.timeout_seconds == 300


@pytest.mark.parametrize("function", ["", "arn:aws:s3:::bucket", "my hook", "a" * 65, "arn:aws:lambda:x"])
def test_lambda_hook_refuses_what_is_not_a_function(function: str) -> None:
    with pytest.raises(ValidationError):
        LambdaHook.model_validate({"type": "lambda", "name": "smoke", "function": function})


def test_checks_are_a_discriminated_union_with_unique_names_and_at_most_ten() -> None:
    checks = Checks.model_validate(
        {
            "pre": [{"type": "http", "name": "healthz"}, {"type": "lambda", "name": "smoke", "function": "hook"}],
            "post": [{"type": "http", "name": "after", "expect_body": "ok"}],
        }
    )
    assert isinstance(checks.pre[0], HttpCheck) and isinstance(checks.pre[1], LambdaHook)
    assert checks.names == ("healthz", "smoke", "after")
    assert checks.find("after") == ("post", checks.post[0]) and checks.find("nope") is None
    assert checks.phase("pre") == checks.pre
    with pytest.raises(ValidationError, match="used twice"):
        Checks.model_validate({"pre": [{"type": "http", "name": "x"}], "post": [{"type": "http", "name": "x"}]})
    with pytest.raises(ValidationError):
        Checks.model_validate({"pre": [{"type": "http", "name": f"c{i}"} for i in range(11)]})
    with pytest.raises(ValidationError):  # no type: the union cannot tell which kind
        Checks.model_validate({"pre": [{"name": "x"}]})
    with pytest.raises(ValidationError):  # a field of the other kind
        Checks.model_validate({"pre": [{"type": "http", "name": "x", "function": "f"}]})


# ---------------------------------------------------------------- HTTP check


class Response:
    def __init__(self, status: int, body: bytes = b"", chunk: int | None = None) -> None:
        self.status, self.body, self.chunk, self.reads, self.closed = status, body, chunk, 0, False

    def read(self, amt: int) -> bytes:
        size = min(amt, self.chunk or amt)
        part, self.body = self.body[:size], self.body[size:]
        self.reads += len(part)
        return part

    def close(self) -> None:
        self.closed = True


class Opener:
    """Answers in turn: a Response, or an exception to raise."""

    def __init__(self, *answers: Any) -> None:
        self.answers, self.calls = list(answers), []  # type: list[Any], list[tuple[str, float]]

    def __call__(self, url: str, timeout: float) -> Any:
        self.calls.append((url, timeout))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(check: HttpCheck, opener: Any, clock: Clock | None = None, host: str = HOST) -> Any:
    clock = clock or Clock()
    return run_http_check(check, host, opener=opener, sleep=clock.sleep, clock=clock)


def test_a_passing_check_stops_at_the_first_pass() -> None:
    opener = Opener(Response(503), Response(200, b"status: ok"))
    clock = Clock()
    result = run(HttpCheck(name="healthz", expect_body="ok"), opener, clock)
    assert result.passed and result.attempts_used == 2
    assert result.reason == f"GET {URL}: 200, body contains 'ok'"
    assert opener.calls == [(URL, 5.0), (URL, 5.0)]
    assert result.elapsed_seconds == 2.0  # one interval slept


def test_a_wrong_status_fails_after_every_attempt_with_the_interval_between() -> None:
    opener = Opener(Response(503))
    clock = Clock()
    result = run(HttpCheck(name="healthz", attempts=3, interval_seconds=2), opener, clock)
    assert not result.passed and result.attempts_used == 3 and len(opener.calls) == 3
    assert result.reason == f"GET {URL}: 503 (expected 200) (after 3 attempts)"
    assert result.elapsed_seconds == 4.0


def test_a_body_without_the_expected_text_fails() -> None:
    result = run(HttpCheck(name="h", attempts=1, expect_body="ok"), Opener(Response(200, b"starting")))
    assert not result.passed and result.reason == f"GET {URL}: 200 but body does not contain 'ok'"


def test_the_body_read_is_bounded_to_64_kib() -> None:
    huge = Response(200, b"x" * (MAX_BODY_BYTES * 4) + b"ok", chunk=4096)
    result = run(HttpCheck(name="h", attempts=1, expect_body="ok"), Opener(huge))
    assert not result.passed and "does not contain" in result.reason
    assert huge.reads == MAX_BODY_BYTES and huge.closed


def test_the_body_is_not_read_when_no_body_is_expected() -> None:
    response = Response(200, b"anything")
    assert run(HttpCheck(name="h", attempts=1), Opener(response)).passed
    assert response.reads == 0 and response.closed


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (urllib.error.URLError(TimeoutError("timed out")), "timed out after 5s"),
        (TimeoutError("The read operation timed out"), "timed out after 5s"),
        (
            urllib.error.URLError(ssl.SSLError(1, "CERTIFICATE_VERIFY_FAILED")),
            "TLS error: CERTIFICATE_VERIFY_FAILED",
        ),
        (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
        (urllib.error.URLError(socket.gaierror(-2, "Name or service not known")), "cannot resolve the host"),
        (ConnectionResetError(104, "reset"), "connection reset"),
        (urllib.error.URLError("unknown url type"), "unknown url type"),
    ],
)
def test_network_failures_are_said_in_a_few_words(error: BaseException, reason: str) -> None:
    result = run(HttpCheck(name="h", attempts=2), Opener(error))
    assert not result.passed and result.attempts_used == 2
    assert result.reason == f"GET {URL}: {reason} (after 2 attempts)"


def test_an_opener_raising_http_error_is_an_answer() -> None:
    error = urllib.error.HTTPError(URL, 404, "Not Found", {}, None)  # type: ignore[arg-type]
    result = run(HttpCheck(name="h", attempts=1), Opener(error))
    assert not result.passed and result.reason == f"GET {URL}: 404 (expected 200)"
    assert run(HttpCheck(name="h", attempts=1, expect_status=404), Opener(error)).passed


def test_a_slow_response_counts_as_timed_out() -> None:
    clock = Clock()

    class Slow(Response):
        def read(self, amt: int) -> bytes:
            clock.now += 3  # each chunk takes 3s: past the 5s timeout on the second
            return super().read(amt)

    result = run(
        HttpCheck(name="h", attempts=1, expect_body="ok"), Opener(Slow(200, b"a" * 40_000 + b"ok", chunk=1000)), clock
    )
    assert not result.passed and result.reason == f"GET {URL}: timed out after 5s"


def test_https_a_path_and_a_port() -> None:
    opener = Opener(Response(204))
    check = HttpCheck(name="h", scheme="https", path="/bot/health?deep=1", expect_status=204)
    assert run(check, opener, host="127.0.0.1:8443").passed
    assert opener.calls[0][0] == "https://127.0.0.1:8443/bot/health?deep=1"


@pytest.mark.parametrize("host", ["", "evil.com/x", "user@evil.com", "a b", "-x.com"])
def test_a_host_that_is_not_a_host_name_fails_without_a_request(host: str) -> None:
    opener = Opener(Response(200))
    result = run(HttpCheck(name="h"), opener, host=host)
    assert not result.passed and "not a host name" in result.reason and opener.calls == []


def test_it_never_raises() -> None:
    class Broken:
        @property
        def status(self) -> int:
            raise RuntimeError("boom")

        def close(self) -> None:
            raise RuntimeError("close too")

    result = run(HttpCheck(name="h", attempts=1), Opener(Broken()))
    assert not result.passed and "RuntimeError" in result.reason

    def bad_sleep(_: float) -> None:
        raise KeyboardInterrupt  # not an Exception: a real interrupt still interrupts

    with pytest.raises(KeyboardInterrupt):
        run_http_check(HttpCheck(name="h", attempts=2), HOST, opener=Opener(Response(500)), sleep=bad_sleep)

    def failing_sleep(_: float) -> None:
        raise ValueError("sleep broke")

    result = run_http_check(HttpCheck(name="h", attempts=2), HOST, opener=Opener(Response(500)), sleep=failing_sleep)
    assert not result.passed and "sleep broke" in result.reason


# ---------------------------------------------------------------- callback tokens


def test_a_token_round_trips_and_is_url_safe() -> None:
    token = CallbackToken.issue("d-20240101-abc", "smoke", SECRET)
    assert token.startswith("bg1.") and all(c.isalnum() or c in "-_." for c in token)
    assert CallbackToken.verify(token, SECRET) == ("d-20240101-abc", "smoke")
    assert CallbackToken.verify(token, SECRET.decode()) == ("d-20240101-abc", "smoke")  # str secrets too


def test_a_forged_or_altered_token_is_refused() -> None:
    token = CallbackToken.issue("d1", "smoke", SECRET)
    with pytest.raises(InvalidToken, match="bad signature"):
        CallbackToken.verify(token, b"another-secret-of-32-bytes------")
    forged = CallbackToken.issue("d1", "other", SECRET)
    claims_of_forged = forged.split(".")[1]
    tampered = f"bg1.{claims_of_forged}.{token.split('.')[2]}"  # claims swapped under the old signature
    with pytest.raises(InvalidToken):
        CallbackToken.verify(tampered, SECRET)
    for junk in ("", "bg1.", "bg1.x.y", "xx1.abc.def", "bg1.!!!.???", "bg1." + "a" * 2000):
        with pytest.raises(InvalidToken):
            CallbackToken.verify(junk, SECRET)
    assert issubclass(InvalidToken, BadInput)


def test_an_expired_token_is_refused_and_secrets_rotate() -> None:
    token = CallbackToken.issue("d1", "smoke", SECRET, expires=1_000)
    assert CallbackToken.verify(token, SECRET, now=999) == ("d1", "smoke")
    with pytest.raises(InvalidToken, match="expired"):
        CallbackToken.verify(token, SECRET, now=1_001)
    old = b"old-secret-old-secret-old-secret"
    assert CallbackToken.verify(CallbackToken.issue("d1", "s", old), (SECRET, old)) == ("d1", "s")


def test_a_short_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        CallbackToken.issue("d1", "smoke", b"short")
    with pytest.raises(ValueError):
        CallbackToken.issue("", "smoke", SECRET)


# ---------------------------------------------------------------- payload and report


def test_the_hook_payload_is_json() -> None:
    payload = HookInvocation(
        app="mybot",
        deployment_id="d1",
        version="v42",
        environment="mybot-green",
        url=f"http://{HOST}",
        phase="pre",
        check="smoke",
        token="bg1.x.y",
        deadline=datetime(2024, 1, 1, 12, 5, tzinfo=UTC),
    ).payload()
    assert payload["deadline"] == "2024-01-01T12:05:00Z" and payload["phase"] == "pre"
    assert set(payload) == {
        "app",
        "deployment_id",
        "version",
        "environment",
        "url",
        "phase",
        "check",
        "token",
        "deadline",
    }


def test_the_hook_report() -> None:
    report = HookReport.model_validate({"action": "report_check", "app": "mybot", "token": "t", "result": "pass"})
    assert report.passed and report.reason == ""
    assert not HookReport(app="mybot", token="t", result="fail", reason="getMe: 401").passed
    for bad in ({"result": "ok"}, {"action": "promote"}, {"token": ""}, {"app": "no/slash"}, {"extra": 1}):
        with pytest.raises(ValidationError):
            HookReport.model_validate({"app": "mybot", "token": "t", "result": "pass", **bad})


# ---------------------------------------------------------------- examples/release_hook


def _load_release_hook() -> Any:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "release_hook" / "app.py"
    spec = importlib.util.spec_from_file_location("release_hook_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook_app = _load_release_hook()
EVENT = {
    "app": "mybot",
    "deployment_id": "d1",
    "version": "v42",
    "environment": "mybot-green",
    "url": f"http://{HOST}",
    "phase": "pre",
    "check": "smoke",
    "token": "bg1.claims.mac",
    "deadline": "2030-01-01T00:00:00Z",
}
ENV = {"OVERRIDE_FUNCTION": "bluegreen-OverrideFunction", "EXPECT_BODY": "ok"}


class Invoker:
    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answer = answer or {"ok": True}

    def __call__(self, function: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((function, payload))
        return self.answer


def test_example_hook_reports_pass_with_the_token() -> None:
    invoker, seen = Invoker(), []

    def get(url: str, timeout: float) -> tuple[int, bytes]:
        seen.append((url, timeout))
        return 200, b"ok"

    hook_app.run(EVENT, invoker=invoker, get=get, environ=ENV)
    assert seen == [(f"http://{HOST}/healthz", 5.0)]
    ((function, report),) = invoker.calls
    assert function == "bluegreen-OverrideFunction"
    assert report == {
        "action": "report_check",
        "app": "mybot",
        "token": "bg1.claims.mac",
        "result": "pass",
        "reason": f"smoke (pre, mybot-green): GET http://{HOST}/healthz: 200",
    }
    assert HookReport.model_validate(report).passed  # the shape the override function takes


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((503, b""), "503 (expected 200)"),
        ((200, b"starting"), "body does not contain 'ok'"),
        (urllib.error.URLError(ConnectionRefusedError(111, "refused")), "refused"),
        (TimeoutError("timed out"), "TimeoutError: timed out"),
    ],
)
def test_example_hook_reports_fail_with_the_reason(answer: Any, reason: str) -> None:
    invoker = Invoker()

    def get(url: str, timeout: float) -> tuple[int, bytes]:
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[no-any-return]

    hook_app.run(EVENT, invoker=invoker, get=get, environ=ENV)
    report = invoker.calls[0][1]
    assert report["result"] == "fail" and reason in report["reason"]
    HookReport.model_validate(report)


def test_example_hook_after_its_deadline_reports_fail_without_checking() -> None:
    invoker = Invoker()

    def get(url: str, timeout: float) -> tuple[int, bytes]:
        raise AssertionError("no check after the deadline")

    late = {**EVENT, "deadline": "2020-01-01T00:00:00Z"}
    hook_app.run(late, invoker=invoker, get=get, environ=ENV)
    assert invoker.calls[0][1]["result"] == "fail" and "after the deadline" in invoker.calls[0][1]["reason"]


def test_example_hook_refuses_a_foreign_event_and_a_missing_setting() -> None:
    with pytest.raises(ValueError, match="missing token"):
        hook_app.run({**EVENT, "token": ""}, invoker=Invoker(), get=lambda u, t: (200, b"ok"), environ=ENV)
    with pytest.raises(RuntimeError, match="OVERRIDE_FUNCTION"):
        hook_app.run(EVENT, invoker=Invoker(), get=lambda u, t: (200, b"ok"), environ={})


def test_example_hook_a_refused_report_is_logged_not_retried(capsys: pytest.CaptureFixture[str]) -> None:
    invoker = Invoker({"ok": False, "error": {"code": "InvalidToken", "message": "bad signature"}})
    hook_app.run(EVENT, invoker=invoker, get=lambda u, t: (200, b"ok"), environ=ENV)
    out = capsys.readouterr().out
    assert "InvalidToken" in out and "bg1.claims.mac" not in out  # the token is not logged


def test_example_hook_optional_telegram_check() -> None:
    class Secrets:
        def get_secret_value(self, SecretId: str) -> dict[str, str]:
            assert SecretId == "arn:secret"
            return {"SecretString": "123:ABC\n"}

    urls: list[str] = []

    def get(url: str, timeout: float) -> tuple[int, bytes]:
        urls.append(url)
        return 200, b'{"ok": true, "result": {"username": "mybot"}}'

    env = {**ENV, "CHECK": "telegram", "TELEGRAM_SECRET_ID": "arn:secret"}
    invoker = Invoker()
    hook_app.run(EVENT, invoker=invoker, get=get, environ=env, secrets=Secrets())
    assert urls == ["https://api.telegram.org/bot123:ABC/getMe"]
    assert invoker.calls[0][1]["result"] == "pass" and "@mybot" in invoker.calls[0][1]["reason"]

    def unauthorized(url: str, timeout: float) -> tuple[int, bytes]:
        return 401, b'{"ok": false, "description": "Unauthorized"}'

    invoker = Invoker()
    hook_app.run(EVENT, invoker=invoker, get=unauthorized, environ=env, secrets=Secrets())
    report = invoker.calls[0][1]
    assert report["result"] == "fail" and "401" in report["reason"] and "123:ABC" not in report["reason"]
