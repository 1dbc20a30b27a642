"""Release gates: the checks a deployment must pass before and after traffic moves (issue 11).

Pure building blocks, no AWS call here (the Lambda invoke is `bluegreen.aws.hooks`):

- `HttpCheck`, `LambdaHook` and `Checks`: the check specs an app registers and a release manifest adds
  (`bluegreen.manifest`), validated strictly (numbers are JSON numbers, unknown fields are errors).
- `run_http_check`: one HTTP check against the idle color's own host, with the standard library only;
  it never raises, it answers a `CheckResult` whose reason says what happened.
- `CallbackToken`: an HMAC-SHA256 token given to a Lambda hook, so that its report (`HookReport`, the
  `report_check` override action) names the deployment and the check it answers for and cannot be forged.
- `HookInvocation`: the payload a hook receives.

This module imports nothing from `bluegreen.models`, so that the models can embed `Checks` without a cycle.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from bluegreen.errors import BadInput

if TYPE_CHECKING:
    import urllib.request

# urllib, http.client, ssl and socket are imported where an HTTP check runs (the check function), not here:
# every handler imports this module through the models, and a cold start should not pay for them.

CHECK_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
APP_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"  # the same as bluegreen.models.APP_NAME
# A Lambda function: its name, partial ARN or full ARN, with an optional version or alias (as the Invoke API takes it).
LAMBDA_FUNCTION = (
    r"^(arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d:\d{12}:function:|\d{12}:function:)?"
    r"[A-Za-z0-9_-]{1,64}(:(\$LATEST|[A-Za-z0-9_-]{1,128}))?$"
)
MAX_CHECKS = 10  # per phase
MAX_HTTP_CHECK_SECONDS = 300  # attempts x timeout + pauses: the controller runs an HTTP check in its own invocation
MAX_BODY_BYTES = 65_536  # what an HTTP check reads of a response body
USER_AGENT = "bluegreen-check/1"

Phase = Literal["pre", "post"]


class _Spec(BaseModel):
    """Our own shapes: unknown fields are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# ---------------------------------------------------------------- check specs


class HttpCheck(_Spec):
    """GET `{scheme}://{idle color's CNAME}{path}` from the controller; pass on the expected status (and body).

    Redirects are not followed: a 3xx is the answer (a check is about the color, not where it points to)."""

    type: Literal["http"] = "http"
    name: str = Field(pattern=CHECK_NAME, description="Unique among the app's and the release's checks")
    path: str = Field(default="/healthz", pattern=r"^/[!-~]*$", max_length=1024, description="Starts with /")
    expect_status: StrictInt = Field(default=200, ge=100, le=599)
    expect_body: str | None = Field(
        default=None, min_length=1, max_length=1024, description="A substring of the first 64 KiB of the body"
    )
    timeout_seconds: StrictInt = Field(default=5, ge=1, le=60, description="Per attempt")
    attempts: StrictInt = Field(default=3, ge=1, le=10)
    interval_seconds: StrictInt = Field(default=2, ge=0, le=60, description="Between attempts")
    scheme: Literal["http", "https"] = "http"

    @property
    def worst_case_seconds(self) -> int:
        return self.attempts * self.timeout_seconds + (self.attempts - 1) * self.interval_seconds

    @model_validator(mode="after")
    def _bounded(self) -> HttpCheck:
        if self.worst_case_seconds > MAX_HTTP_CHECK_SECONDS:
            raise ValueError(
                f"check {self.name!r} may take {self.worst_case_seconds}s (attempts x timeout_seconds + "
                f"(attempts - 1) x interval_seconds); at most {MAX_HTTP_CHECK_SECONDS}s"
            )
        return self


class LambdaHook(_Spec):
    """A user's function, invoked asynchronously with a `HookInvocation`; it reports with `report_check`.

    No report within `timeout_seconds` of the invoke is a failure."""

    type: Literal["lambda"] = "lambda"
    name: str = Field(pattern=CHECK_NAME, description="Unique among the app's and the release's checks")
    function: str = Field(pattern=LAMBDA_FUNCTION, max_length=256, description="Function name or ARN")
    timeout_seconds: StrictInt = Field(default=300, ge=10, le=3600)


Check = Annotated[HttpCheck | LambdaHook, Field(discriminator="type")]


class Checks(_Spec):
    """Checks before the swap (`pre`, on the idle color) and right after it (`post`, during the bake)."""

    pre: tuple[Check, ...] = Field(default=(), max_length=MAX_CHECKS)
    post: tuple[Check, ...] = Field(default=(), max_length=MAX_CHECKS)

    @model_validator(mode="after")
    def _unique_names(self) -> Checks:
        seen: set[str] = set()
        for check in (*self.pre, *self.post):
            if check.name in seen:
                raise ValueError(f"check name {check.name!r} is used twice; names must be unique across pre and post")
            seen.add(check.name)
        return self

    def phase(self, phase: Phase) -> tuple[HttpCheck | LambdaHook, ...]:
        return self.pre if phase == "pre" else self.post

    def find(self, name: str) -> tuple[Phase, HttpCheck | LambdaHook] | None:
        """The phase and spec of the check called `name` (a hook's report names it through its token)."""
        phases: tuple[tuple[Phase, tuple[HttpCheck | LambdaHook, ...]], ...] = (("pre", self.pre), ("post", self.post))
        for phase, checks in phases:
            for check in checks:
                if check.name == name:
                    return phase, check
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(check.name for check in (*self.pre, *self.post))


# ---------------------------------------------------------------- results


class CheckResult(_Spec):
    """One check's outcome, as recorded in the history and said in a notification."""

    name: str
    passed: bool
    reason: str
    attempts_used: int = 0
    elapsed_seconds: float = 0.0


# ---------------------------------------------------------------- HTTP check


class HttpResponse(Protocol):
    """What `run_http_check` reads of a response (`http.client.HTTPResponse` and `urllib.error.HTTPError` fit)."""

    @property
    def status(self) -> int | None: ...

    def read(self, amt: int, /) -> bytes: ...

    def close(self) -> None: ...


# opener(url, timeout_seconds) -> a response for any HTTP status; raises OSError (URLError, TimeoutError...) else.
Opener = Callable[[str, float], HttpResponse]


def _no_redirect() -> urllib.request.BaseHandler:
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # the 3xx reaches the caller as an HTTPError, i.e. as a response

    return NoRedirect()


_default_opener: urllib.request.OpenerDirector | None = None  # an opener to use instead (tests, the local stack)


def urllib_opener(url: str, timeout: float) -> HttpResponse:
    """The production opener: a GET without redirects; any status is an answer. The standard proxy variables
    (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`) apply as in any urllib client: a VPC that reaches the colors
    through a proxy sets them (the local stack's EB router is such a proxy)."""
    import urllib.error
    import urllib.request

    opener = _default_opener or urllib.request.build_opener(_no_redirect(), urllib.request.ProxyHandler())
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"}, method="GET")  # noqa: S310 - http(s) only, built by run_http_check
    try:
        response: HttpResponse = opener.open(request, timeout=timeout)
        return response
    except urllib.error.HTTPError as error:
        return error  # 4xx, 5xx and 3xx carry a status and a body


_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?)(:\d{1,5})?$")


def _describe(error: BaseException, timeout: float) -> str:
    """A network failure in a few words: timed out, connection refused, cannot resolve, TLS error..."""
    import socket
    import ssl
    import urllib.error

    reason: Any = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"timed out after {timeout:g}s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, ConnectionResetError):
        return "connection reset"
    if isinstance(reason, socket.gaierror):
        return "cannot resolve the host"
    if isinstance(reason, ssl.SSLError | ssl.CertificateError):
        return f"TLS error: {reason}"
    if isinstance(reason, BaseException):
        text = str(reason) or type(reason).__name__
        return f"timed out after {timeout:g}s" if "timed out" in text else f"{type(reason).__name__}: {text}"
    return str(reason)


def _read_bounded(response: HttpResponse, deadline: float, clock: Callable[[], float]) -> bytes:
    body = b""
    while len(body) < MAX_BODY_BYTES:
        if clock() > deadline:
            raise TimeoutError("body read past the timeout")
        chunk = response.read(min(16_384, MAX_BODY_BYTES - len(body)))
        if not chunk:
            break
        body += chunk
    return body


def _attempt(check: HttpCheck, url: str, opener: Opener, clock: Callable[[], float]) -> tuple[bool, str]:
    import urllib.error

    started = clock()
    deadline = started + check.timeout_seconds
    try:
        try:
            response = opener(url, float(check.timeout_seconds))
        except urllib.error.HTTPError as error:
            response = error  # an opener that raises for 4xx/5xx (urllib's default): still an answer
        try:
            status = int(response.status or 0)
            body = _read_bounded(response, deadline, clock) if check.expect_body is not None else b""
        finally:
            with contextlib.suppress(OSError):
                response.close()
    except (OSError, ValueError, urllib.error.URLError) as error:
        return False, f"GET {url}: {_describe(error, check.timeout_seconds)}"
    except Exception as error:  # noqa: BLE001 - http.client's own errors (BadStatusLine, IncompleteRead...): a failed attempt
        return False, f"GET {url}: {type(error).__name__}: {error}"
    if clock() > deadline:
        return False, f"GET {url}: timed out after {check.timeout_seconds}s"
    if status != check.expect_status:
        return False, f"GET {url}: {status} (expected {check.expect_status})"
    if check.expect_body is not None and check.expect_body.encode() not in body:
        return False, f"GET {url}: {status} but body does not contain {check.expect_body!r}"
    contains = f", body contains {check.expect_body!r}" if check.expect_body is not None else ""
    return True, f"GET {url}: {status}{contains}"


def check_url(check: HttpCheck, host: str) -> str:
    return f"{check.scheme}://{host}{check.path}"


def run_http_check(
    check: HttpCheck,
    host: str,
    *,
    opener: Opener | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> CheckResult:
    """Run `check` against `host` (the idle color's CNAME, optionally with a port): up to `attempts` GETs,
    `interval_seconds` apart, each within `timeout_seconds`; the first pass ends it. Never raises."""
    started = clock()
    url = check_url(check, host)
    if not _HOST.match(host or ""):
        return CheckResult(name=check.name, passed=False, reason=f"not a host name: {host!r}", attempts_used=0)
    open_ = opener or urllib_opener
    reason, used = "", 0
    try:
        for used in range(1, check.attempts + 1):
            if used > 1:
                sleep(check.interval_seconds)
            passed, reason = _attempt(check, url, open_, clock)
            if passed:
                return CheckResult(
                    name=check.name,
                    passed=True,
                    reason=reason,
                    attempts_used=used,
                    elapsed_seconds=round(clock() - started, 3),
                )
    except Exception as error:  # noqa: BLE001 - the promise: a check never raises (an injected sleep or clock failing)
        reason = f"GET {url}: {type(error).__name__}: {error}"
    suffix = f" (after {used} attempts)" if used > 1 else ""
    return CheckResult(
        name=check.name,
        passed=False,
        reason=reason + suffix,
        attempts_used=used,
        elapsed_seconds=round(clock() - started, 3),
    )


# ---------------------------------------------------------------- callback tokens


class InvalidToken(BadInput):
    """A hook's report whose token was not issued with this secret, was altered, or has expired."""

    code = "InvalidToken"


TOKEN_PREFIX = "bg1."  # noqa: S105 - a format marker, not a secret
MAX_TOKEN_CHARS = 1024
MIN_SECRET_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret: bytes | str) -> bytes:
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a callback-token secret must have at least {MIN_SECRET_BYTES} bytes")
    return key


def _mac(key: bytes, signed: str) -> bytes:
    return hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest()


class CallbackToken:
    """`bg1.<base64url JSON [deployment_id, check_name, expires]>.<base64url HMAC-SHA256>`.

    The token binds a hook's report to one deployment and one check: a report for another deployment
    (stale: an earlier one) names that deployment and is ignored by the controller; a forged or altered
    token fails `verify`. `expires` (Unix seconds, optional) refuses a report after the hook's deadline
    even if the controller's own timeout has not fired yet. Secrets are rotated by the caller: `verify`
    tries each secret it is given."""

    @staticmethod
    def issue(deployment_id: str, check_name: str, secret: bytes | str, *, expires: int | None = None) -> str:
        if not deployment_id or not check_name:
            raise ValueError("a callback token needs a deployment id and a check name")
        claims = _b64(json.dumps([deployment_id, check_name, expires], separators=(",", ":")).encode())
        signed = TOKEN_PREFIX + claims
        return f"{signed}.{_b64(_mac(_key(secret), signed))}"

    @staticmethod
    def verify(
        token: str, secret: bytes | str | tuple[bytes | str, ...], *, now: float | None = None
    ) -> tuple[str, str]:
        """`(deployment_id, check_name)` of a token issued with `secret` (or one of several, for rotation);
        raises `InvalidToken` otherwise. `now` (Unix seconds, default the clock) is checked against `expires`."""
        secrets = secret if isinstance(secret, tuple) else (secret,)
        keys = [_key(s) for s in secrets]
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.startswith(TOKEN_PREFIX):
            raise InvalidToken("callback token is malformed")
        signed, _, mac_text = token.rpartition(".")
        try:
            mac = _unb64(mac_text)
            claims = json.loads(_unb64(signed[len(TOKEN_PREFIX) :]))
        except (binascii.Error, ValueError, UnicodeDecodeError) as error:
            raise InvalidToken("callback token is malformed") from error
        if not any(hmac.compare_digest(mac, _mac(key, signed)) for key in keys):
            raise InvalidToken("callback token was not issued by this controller (bad signature)")
        if (
            not isinstance(claims, list)
            or len(claims) != 3
            or not all(isinstance(c, str) and c for c in claims[:2])
            or not (claims[2] is None or isinstance(claims[2], int))
        ):
            raise InvalidToken("callback token is malformed")
        deployment_id, check_name, expires = claims
        if expires is not None and (time.time() if now is None else now) > expires:
            raise InvalidToken(f"callback token for check {check_name!r} expired", deployment_id=deployment_id)
        return deployment_id, check_name


# ---------------------------------------------------------------- hook payload and report


class HookInvocation(_Spec):
    """What a Lambda hook receives (its event)."""

    app: str
    deployment_id: str
    version: str = Field(description="The EB version label being deployed")
    environment: str = Field(description="The idle color's environment name, which the check is about")
    url: str = Field(
        description="The idle color's own URL, e.g. http://mybot-green.eba-x.us-east-1.elasticbeanstalk.com"
    )
    phase: Phase
    check: str = Field(description="The hook's name; its report answers for this check")
    token: str = Field(description="Give it back in the report")
    deadline: datetime = Field(description="No report by then is a failure")

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class HookReport(_Spec):
    """The override action a hook reports with: `{"action": "report_check", "app", "token", "result", "reason"}`."""

    action: Literal["report_check"] = "report_check"
    app: str = Field(pattern=APP_NAME)
    token: str = Field(min_length=1, max_length=MAX_TOKEN_CHARS)
    result: Literal["pass", "fail"]
    reason: str = Field(default="", max_length=1024)

    @property
    def passed(self) -> bool:
        return self.result == "pass"
