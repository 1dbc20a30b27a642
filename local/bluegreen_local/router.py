"""The EB router: a local HTTP forward proxy that answers for simulated Elastic Beanstalk environments (dev-only).

A release gate's HTTP check GETs `{scheme}://{idle color's CNAME}{path}` (`bluegreen.gates.run_http_check`).
On the local stack and in the integration tests, EB is moto's (`moto_beanstalk`): its CNAMEs, like
`mybot-green.us-east-1.elasticbeanstalk.com`, resolve nowhere. The router stands in for EB's DNS and the bots
behind it: a client that uses it as its HTTP proxy (`HTTP_PROXY=http://127.0.0.1:<port>`) gets, for a host
ending in `.elasticbeanstalk.com`, the answer the bot on that environment would give:

- the environment is the live one whose CNAME is the host (so after a CNAME swap the production CNAME answers
  from the other environment); none: 502; one that is not Ready (updating, launching) or was terminated: 503;
- the answer comes from the version that environment runs: the `"http"` key of the `bluegreen-simulate.json`
  in the version's bundle (the file `moto_beanstalk` reads the update outcome from), or `set_version_http()`
  (which wins), e.g.

      {"http": {"/healthz": {"status": 503, "body": "down"}, "*": {"status": 200, "body": "hello"}}}

  An entry has `status` (default 200), `body` (default "ok"), optional `headers` and `delay_seconds` (the bot
  answers that late, up to 60 s). A path is looked up with its query string, then without, then `"*"`;
  anything else, and any path of a version without such a key, answers 200 "ok". Read once per version.

Plain HTTP only: a `CONNECT` (an https URL through the proxy) answers 501. Every answer carries
`X-Bluegreen-Environment` and `X-Bluegreen-Version`, and is recorded in `Router.requests`.

`proxy_environment()` gives the variables a process sets so urllib and botocore use the router for http while
every loopback address (the local moto endpoint) bypasses it (`NO_PROXY`; botocore decides per client with
`urllib.request.proxy_bypass`, i.e. the same variable). Production code never imports this module.

`bluegreen.gates.urllib_opener` ignores the proxy variables (it builds its opener with `ProxyHandler({})`),
so `route_gates_through()` swaps in an opener like it (no redirects) that goes through the router: a dev-only
replacement of `bluegreen.gates._default_opener`, undone with `restore_gates_opener()`.

`http_check_hook()` is a ready Lambda hook (release gates' `lambda` check): it GETs a path of the `url` in its
event (through the proxy the process is given) and reports pass or fail with the `report_check` override action.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bluegreen_local.moto_beanstalk import MARKER, BlueGreenEBBackend, BlueGreenEnvironment

log = logging.getLogger("bluegreen.local.router")

EB_DOMAIN = ".elasticbeanstalk.com"
ELB_DOMAIN = ".elb.amazonaws.com"  # an environment's own load balancer (EndpointURL)
LOOPBACK = ("127.0.0.1", "localhost")
MAX_DELAY_SECONDS = 60.0
PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy")
NO_PROXY_VARIABLES = ("NO_PROXY", "no_proxy")


# ---------------------------------------------------------------------------------------------- answers
@dataclass(frozen=True)
class Answer:
    """What the bot (or EB, for 502/503) answers to one request."""

    status: int = 200
    body: str = "ok"
    headers: tuple[tuple[str, str], ...] = ()
    delay_seconds: float = 0.0
    environment: str = ""
    version: str = ""

    @classmethod
    def from_spec(cls, spec: Any) -> Answer:
        """An entry of the `"http"` key; an unreadable one is the default answer (like `moto_beanstalk`'s markers)."""
        if not isinstance(spec, dict):
            return cls()
        status = spec.get("status", 200)
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            status = 200
        body = spec.get("body", "ok")
        headers = spec.get("headers") or {}
        delay = spec.get("delay_seconds", 0)
        if not isinstance(delay, int | float) or isinstance(delay, bool):
            delay = 0
        return cls(
            status=status,
            body=body if isinstance(body, str) else json.dumps(body),
            headers=tuple((str(k), str(v)) for k, v in headers.items()) if isinstance(headers, dict) else (),
            delay_seconds=min(max(float(delay), 0.0), MAX_DELAY_SECONDS),
        )


@dataclass(frozen=True)
class Routes:
    """A version's simulated HTTP behaviour: path -> answer spec (`"*"`: any other path)."""

    routes: dict[str, Any] = field(default_factory=dict)

    def answer(self, path: str) -> Answer:
        bare = path.split("?", 1)[0]
        for key in (path, bare, "*"):
            if key in self.routes:
                return Answer.from_spec(self.routes[key])
        return Answer()

    @classmethod
    def from_marker(cls, marker: Any) -> Routes:
        http = marker.get("http") if isinstance(marker, dict) else None
        return cls(dict(http)) if isinstance(http, dict) else cls()

    @classmethod
    def from_bundle(cls, body: bytes | None) -> Routes:
        """The `"http"` key of the bundle's `bluegreen-simulate.json` (the shallowest one, as `moto_beanstalk`)."""
        return cls.from_marker(read_marker(body))


def read_marker(body: bytes | None) -> Any:
    """The parsed `bluegreen-simulate.json` of a zip, or None (no file, not a zip, not JSON)."""
    if not body:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == MARKER]
            names.sort(key=lambda n: n.count("/"))
            return json.loads(archive.read(names[0])) if names else None
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, RuntimeError, NotImplementedError):
        return None


@dataclass(frozen=True)
class Hit:
    """One request the router answered."""

    host: str
    path: str
    status: int
    environment: str
    version: str


def _eb_backends() -> Iterator[BlueGreenEBBackend]:
    """Every EB backend moto has built so far (every account and region), looked up per request: a moto
    reset replaces them."""
    from moto.elasticbeanstalk.models import eb_backends

    for regions in list(eb_backends.values()):
        for backend in list(regions.values()):
            if isinstance(backend, BlueGreenEBBackend):
                yield backend


# ---------------------------------------------------------------------------------------------- the router
class Router:
    """A threaded HTTP forward proxy on 127.0.0.1 answering for simulated EB environments (see the module)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        backends: Callable[[], Iterable[BlueGreenEBBackend]] = _eb_backends,
    ) -> None:
        self.host = host
        self.port = port
        self.backends = backends
        self.requests: list[Hit] = []
        self.server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._routes: dict[int, tuple[Any, Routes]] = {}  # id(version) -> (version, its routes); versions are kept
        self._overrides: dict[tuple[str, str], Routes] = {}  # (application, label) -> routes

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Router:
        if self.server is not None:
            return self
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
        server.daemon_threads = True
        server.block_on_close = False
        server.router = self  # type: ignore[attr-defined]
        self.server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, name="eb-router", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        # urllib.request.urlopen builds its opener once, with the proxies of that moment: one built while
        # HTTP_PROXY named this router would send every later plain urlopen (e.g. to a moto server on
        # 127.0.0.1, once NO_PROXY is restored) to a proxy that is gone. Let the next urlopen build afresh.
        urllib.request.install_opener(None)  # type: ignore[arg-type]

    def __enter__(self) -> Router:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The proxy URL, for `HTTP_PROXY`."""
        return f"http://{self.host}:{self.port}"

    def proxy_environment(self, environ: dict[str, str] | None = None) -> dict[str, str]:
        return proxy_environment(self.url, os.environ if environ is None else environ)

    # ------------------------------------------------------------------ simulation
    def set_version_http(self, application: str, label: str, routes: dict[str, Any]) -> None:
        """The version's answers (path -> `{"status", "body", ...}`), overriding its bundle's; before or after it
        exists, like `set_version_outcome`."""
        with self._lock:
            self._overrides[(application, label)] = Routes(dict(routes))

    def answer(self, host: str, path: str) -> Answer:
        """What `GET http://{host}{path}` answers (without HTTP: the handler's logic)."""
        name = _hostname(host)
        if not name.endswith(EB_DOMAIN) and not name.endswith(ELB_DOMAIN):
            return Answer(502, f"bad gateway: {name} is not an Elastic Beanstalk environment here\n")
        found = self._environment(name)
        if found is None:
            return Answer(502, f"bad gateway: no environment has the CNAME {name}\n")
        backend, env, live = found
        label = env.version_label or ""
        if not live or env.status != "Ready":
            status = "Terminated" if not live else env.status
            return Answer(503, f"{env.environment_name} is {status}\n", environment=env.environment_name, version=label)
        answer = self._routes_for(backend, env).answer(path or "/")
        return Answer(
            answer.status,
            answer.body,
            answer.headers,
            answer.delay_seconds,
            environment=env.environment_name,
            version=label,
        )

    def _environment(self, cname: str) -> tuple[BlueGreenEBBackend, BlueGreenEnvironment, bool] | None:
        """The live environment with this CNAME (or, failing that, a terminated one), with its backend."""
        terminated = None
        for backend in self.backends():
            with backend.lock:
                for env in backend.environments():
                    if (env.cname and env.cname.lower() == cname) or (
                        env.endpoint_url and env.endpoint_url.lower() == cname  # the color's load balancer
                    ):
                        return backend, env, True
                for env in reversed(backend.terminated):
                    if terminated is None and env.cname and env.cname.lower() == cname:
                        terminated = (backend, env, False)
        return terminated

    def _routes_for(self, backend: BlueGreenEBBackend, env: BlueGreenEnvironment) -> Routes:
        label = env.version_label
        if label is None:
            return Routes()
        key = (env.application_name, label)
        with self._lock:
            if key in self._overrides:
                return self._overrides[key]
        with backend.lock:
            version = backend.versions.get(key)
        if version is None:  # deleted meanwhile: EB keeps serving what it deployed
            return Routes()
        with self._lock:
            cached = self._routes.get(id(version))
        if cached is not None and cached[0] is version:
            return cached[1]
        bundle = version.source_bundle or {}
        body = backend._read_bundle(bundle["S3Bucket"], bundle["S3Key"]) if bundle else None
        routes = Routes.from_bundle(body)
        with self._lock:
            self._routes[id(version)] = (version, routes)
        return routes

    def record(self, hit: Hit) -> None:
        with self._lock:
            self.requests.append(hit)


class _Handler(BaseHTTPRequestHandler):
    server_version = "bluegreen-eb-router/1"
    protocol_version = "HTTP/1.0"  # one request per connection: simple, and what a check does anyway

    @property
    def router(self) -> Router:
        router: Router = self.server.router  # type: ignore[attr-defined]
        return router

    def _serve(self, *, body: bool = True) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # a webhook's body: read, not used
        target = urllib.parse.urlsplit(self.path)
        if target.scheme and target.netloc:  # absolute-form: what a client sends to its proxy
            host, path = target.netloc, target.path or "/"
            if target.query:
                path += "?" + target.query
        else:  # origin-form: a request to the router itself, for the host it names
            host, path = self.headers.get("Host", ""), self.path
        if target.scheme and target.scheme != "http":
            answer = Answer(400, f"only http URLs are proxied, not {target.scheme}\n")
        else:
            answer = self.router.answer(host, path)
        if answer.delay_seconds:
            time.sleep(answer.delay_seconds)
        self.router.record(Hit(_hostname(host), path, answer.status, answer.environment, answer.version))
        data = answer.body.encode()
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Bluegreen-Environment", answer.environment)
            self.send_header("X-Bluegreen-Version", answer.version)
            for key, value in answer.headers:
                self.send_header(key, value)
            self.end_headers()
            if body:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
            pass

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_CONNECT(self) -> None:
        self.send_error(501, "https is not simulated: the EB router proxies plain http only")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def _hostname(host: str) -> str:
    """`Host` without its port or trailing dot, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


# ---------------------------------------------------------------------------------------------- environment
def no_proxy_value(existing: str | None) -> str:
    """`existing` (comma-separated) plus the loopback names, each once."""
    entries = [e.strip() for e in (existing or "").split(",") if e.strip()]
    return ",".join([*entries, *(name for name in LOOPBACK if name not in entries)])


def proxy_environment(proxy_url: str, environ: Any = None) -> dict[str, str]:
    """`HTTP_PROXY`/`http_proxy` = the router, `NO_PROXY`/`no_proxy` = what was there plus 127.0.0.1,localhost.

    Only http goes through the router (it answers no CONNECT); https and every loopback address do not."""
    environ = os.environ if environ is None else environ
    existing = ",".join(v for v in (environ.get(name) for name in NO_PROXY_VARIABLES) if v)
    no_proxy = no_proxy_value(existing)
    return {**dict.fromkeys(PROXY_VARIABLES, proxy_url), **dict.fromkeys(NO_PROXY_VARIABLES, no_proxy)}


def proxy_opener(proxy_url: str) -> urllib.request.OpenerDirector:
    """An opener like `bluegreen.gates.urllib_opener`'s (redirects are not followed), through the router for
    http; loopback addresses (`NO_PROXY`) bypass it."""
    from bluegreen import gates

    return urllib.request.build_opener(gates._no_redirect(), urllib.request.ProxyHandler({"http": proxy_url}))


def route_gates_through(proxy_url: str) -> tuple[Any, urllib.request.OpenerDirector]:
    """Make `bluegreen.gates.urllib_opener` (the controller's HTTP checks) go through the router.

    `urllib_opener` builds its opener once, without environment proxies, into `gates._default_opener`; this sets
    that module global to `proxy_opener(proxy_url)`. Answers `(previous, installed)` for
    `restore_gates_opener`. Dev-only."""
    from bluegreen import gates

    previous, installed = gates._default_opener, proxy_opener(proxy_url)
    gates._default_opener = installed
    return previous, installed


def restore_gates_opener(saved: tuple[Any, urllib.request.OpenerDirector]) -> None:
    """Undo `route_gates_through` (unless another opener was installed since)."""
    from bluegreen import gates

    previous, installed = saved
    if gates._default_opener is installed:
        gates._default_opener = previous


# ---------------------------------------------------------------------------------------------- a ready hook
Report = Callable[[dict[str, Any]], Any]
Hook = Callable[[dict[str, Any], Any], dict[str, Any]]


def http_check_hook(
    report: Report,
    *,
    path: str = "/healthz",
    expect_status: int = 200,
    expect_body: str | None = None,
    timeout_seconds: float = 5.0,
    opener: Callable[[str, float], Any] | None = None,
) -> Hook:
    """A Lambda hook `(event, context)`: GET `event["url"] + path` and report the result.

    The GET uses urllib's default handlers, i.e. the process's `HTTP_PROXY` (the router), unless `opener` is given.
    `report(payload)` delivers `{"action": "report_check", "app", "token", "result": "pass"|"fail", "reason"}`,
    e.g. by invoking the stack's override function. The hook answers with the payload and what report answered."""

    def open_url(url: str, timeout: float) -> tuple[int, bytes]:
        if opener is not None:
            response = opener(url, timeout)
        else:
            try:  # a new opener: it reads HTTP_PROXY now (urlopen's is built once, with the first proxy it saw)
                response = urllib.request.build_opener().open(url, timeout=timeout)
            except urllib.error.HTTPError as error:
                response = error
        with contextlib.closing(response):
            return int(response.status or 0), response.read(65_536)

    def hook(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        url = str(event.get("url", "")).rstrip("/") + path
        started = time.monotonic()
        try:
            status, body = open_url(url, timeout_seconds)
        except (OSError, ValueError) as error:
            passed, reason = False, f"GET {url}: {type(error).__name__}: {error}"
        else:
            passed = status == expect_status and (expect_body is None or expect_body.encode() in body)
            reason = f"GET {url}: {status}"
            if status != expect_status:
                reason += f" (expected {expect_status})"
            elif expect_body is not None and not passed:
                reason += f" but body does not contain {expect_body!r}"
        reason += f" in {int((time.monotonic() - started) * 1000)} ms"
        payload = {
            "action": "report_check",
            "app": event.get("app"),
            "token": event.get("token"),
            "result": "pass" if passed else "fail",
            "reason": reason[:1024],
        }
        return {"report": payload, "answer": report(payload)}

    return hook
