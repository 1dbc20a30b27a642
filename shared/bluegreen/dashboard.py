"""`bluegreen dashboard`: a local web page to watch and steer deployments (like Argo Rollouts' dashboard).

A small threaded HTTP server on 127.0.0.1 serves a static page (`dashboard_static/`: plain HTML, JS
and CSS, no build step) and a JSON API that goes through the same target as the CLI: every read is
the override's `status` (and `apps`), every button is an override with a reason and an actor. So
it works against AWS (the stack's outputs) and the local stack (`--local`) alike, and IAM on the
override function stays the one gate.

API (JSON; the page polls it every 1.5 s):
- `GET /api/config`: the target, the actor, the apps and where their names come from.
- `GET /api/status?app=NAME`: the override's `status` plus `timeline` (the current deployment's
  states with the time spent in each) and `waiting` (what it waits for and until when).
- `POST /api/action` `{"app", "action", "reason", "deployment_id"?}`: promote, rollback, abort,
  pause or resume, as the actor.

The page acts with the operator's AWS credentials, so the server protects itself from other web
pages: it answers only requests whose Host is the loopback address it listens on (no DNS
rebinding), and a POST must carry the page's per-process token in a header (a cross-site page
cannot read the token nor send that header without a CORS preflight, which is never granted).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bluegreen.term import parse_iso

BUTTONS = ("promote", "rollback", "abort", "pause", "resume")
HISTORY_LIMIT = 50
APPS_REFRESH_SECONDS = 30.0
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")

Invoke = Callable[[Any, dict[str, Any]], dict[str, Any]]


# ------------------------------------------------------------------ the command


def add_dashboard_command(subparsers: Any) -> None:
    """Register `bluegreen dashboard` on the CLI's subparsers (called from `bluegreen.cli.build_parser`)."""
    dashboard = subparsers.add_parser(
        "dashboard",
        help="a local web page: every app, both colors, the deployment's timeline, and buttons to steer it",
        description="Serve a web page on 127.0.0.1 that shows every app and steers it through the override.",
    )
    dashboard.add_argument("--port", type=int, default=8765, help="port to listen on (0: any free port)")
    dashboard.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only: default 127.0.0.1)")
    dashboard.add_argument("--no-open", action="store_true", help="do not open a browser")
    dashboard.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="NAME",
        help="an app to show (repeatable); needed when the stack's override has no `apps` action",
    )
    dashboard.add_argument("--actor", help="who acts from the page (default: $BLUEGREEN_ACTOR or your user name)")
    dashboard.set_defaults(run=cmd_dashboard)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from bluegreen import cli

    if args.host not in LOOPBACK:
        raise cli.CliError(
            f"--host {args.host}: the dashboard acts with your AWS credentials and binds to the loopback "
            "address only (127.0.0.1, ::1 or localhost); reach it from elsewhere through an SSH tunnel"
        )
    target = cli.resolve_target(args)
    actor = str(args.actor or os.environ.get("BLUEGREEN_ACTOR") or getpass.getuser())
    server = serve(target, cli.invoke, actor=actor, apps=list(args.app), host=args.host, port=args.port)
    url = server.url
    print(f"bluegreen dashboard on {url} as {actor} (Ctrl-C to stop)", flush=True)
    if not args.no_open:
        import webbrowser

        webbrowser.open(url)
    try:
        while server.thread.is_alive():
            server.thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


# ------------------------------------------------------------------ the server


class Dashboard:
    """The API behind the page: reads and actions through `invoke(target, payload)`."""

    def __init__(self, target: Any, invoke: Invoke, *, actor: str, apps: list[str]) -> None:
        self.target = target
        self.invoke = invoke
        self.actor = actor
        self.given_apps = list(dict.fromkeys(apps))
        self.token = secrets.token_urlsafe(24)
        self._apps_cache: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def describe_target(self) -> str:
        endpoint = getattr(self.target, "endpoint_url", None)
        functions = getattr(self.target, "functions", None)
        override = functions.get("override") if isinstance(functions, dict) else None
        override = override or getattr(self.target, "override_function", "?")
        where = (
            f"local stack at {endpoint}" if endpoint else f"AWS {getattr(self.target, 'region', None) or ''}".strip()
        )
        return f"{where} · override {override} · bus {getattr(self.target, 'bus', '?')}"

    # -- reads
    def apps(self) -> dict[str, Any]:
        """The apps: from the override's `apps` action when the core has it, else from `--app`."""
        with self._lock:
            if self._apps_cache and time.monotonic() - self._apps_cache[0] < APPS_REFRESH_SECONDS:
                return self._apps_cache[1]
        result = self._list_apps()
        with self._lock:
            self._apps_cache = (time.monotonic(), result)
        return result

    def _list_apps(self) -> dict[str, Any]:
        payload = {"action": "apps", "app": "-", "reason": "", "requested_by": self.actor}
        try:
            body = self.invoke(self.target, payload)
        except Exception as error:  # noqa: BLE001 - an older core refuses the action (BadInput)
            code = getattr(error, "code", None) or type(error).__name__
            note = f"this stack cannot list its apps yet (the override answered {code} to `apps`): showing --app"
            return {"apps": [{"app": a} for a in self.given_apps], "source": "--app", "note": note}
        listed = [a if isinstance(a, dict) else {"app": str(a)} for a in body.get("apps") or []]
        names = {str(a.get("app")) for a in listed}
        listed += [{"app": a} for a in self.given_apps if a not in names]
        return {"apps": listed, "source": "override", "note": None}

    def status(self, app: str) -> dict[str, Any]:
        body = self.invoke(self.target, {"action": "status", "app": app, "history_limit": HISTORY_LIMIT})
        now = datetime.now(UTC)
        body["timeline"] = timeline(body, now)
        body["waiting"] = waiting(body)
        body["server_time"] = now.isoformat()
        return body

    # -- actions
    def act(self, request: dict[str, Any]) -> dict[str, Any]:
        action = str(request.get("action", ""))
        app = str(request.get("app", ""))
        reason = str(request.get("reason", "")).strip()
        if action not in BUTTONS:
            raise ValueError(f"unknown action {action!r}: one of {', '.join(BUTTONS)}")
        if not app:
            raise ValueError("which app?")
        if not reason:
            raise ValueError(f"{action} needs a reason")
        payload: dict[str, Any] = {"action": action, "app": app, "reason": reason, "requested_by": self.actor}
        if request.get("deployment_id"):
            payload["deployment_id"] = str(request["deployment_id"])
        return self.invoke(self.target, payload)


def timeline(status: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """The current deployment's states, oldest first, with when each began and how long it lasted."""
    deployment = status.get("deployment") or {}
    deployment_id = deployment.get("id")
    if not deployment_id:
        return []
    steps: list[dict[str, Any]] = []
    for record in status.get("history") or []:
        for note in record.get("transitions") or []:
            if note.get("deployment_id") != deployment_id or not note.get("to_state"):
                continue
            if note.get("to_state") == note.get("from_state"):
                continue  # an event (a pause), not a transition
            steps.append(
                {
                    "state": note["to_state"],
                    "since": note.get("at") or record.get("at"),
                    "reason": note.get("reason", ""),
                    "cause": (note.get("cause") or {}).get("type"),
                    "actor": (note.get("cause") or {}).get("actor"),
                }
            )
    if not steps:  # the history window no longer holds the start: the state as the item says
        steps.append({"state": deployment.get("state"), "since": deployment.get("state_since"), "reason": ""})
    for step, following in zip(steps, [*steps[1:], None], strict=True):
        start = parse_iso(step["since"])
        end = parse_iso(following["since"]) if following else None
        finished = following is None and deployment.get("state") not in _IN_FLIGHT
        step["until"] = following["since"] if following else None
        step["current"] = following is None and not finished
        if start is not None and (end is not None or not finished):
            step["seconds"] = max(0.0, ((end or now) - start).total_seconds())
        else:
            step["seconds"] = None
    return steps


_IN_FLIGHT = frozenset({"DEPLOYING", "VERIFYING", "BAKING", "SWAP_REFUSED", "ROLLBACK_REFUSED", "ROLLBACK_WARMING"})


def waiting(status: dict[str, Any]) -> dict[str, Any] | None:
    """What the app waits for: the core's `waiting_for` when it says, else worked out from the state."""
    if "waiting_for" in status:
        value = status["waiting_for"]
        return dict(value) if isinstance(value, dict) else None
    deployment = status.get("deployment") or {}
    config = status.get("config") or {}
    state = deployment.get("state")
    if status.get("paused"):
        return {"what": "resume: the app is paused", "until": None}
    if state == "DEPLOYING":
        return {"what": f"EB to finish updating {deployment.get('target_environment')}", "until": None}
    if state == "VERIFYING":
        if deployment.get("promote_at"):
            return {"what": "promotion", "until": deployment["promote_at"]}
        if not config.get("auto_promote", True):
            return {"what": "approval: promote it", "until": None}
        return {"what": "promotion", "until": None}
    if state == "BAKING":
        return {"what": "the bake to end with no alarm", "until": deployment.get("bake_until")}
    return None


def _short(error: BaseException) -> str:
    return str(error).splitlines()[0][:300] if str(error) else type(error).__name__


def static_file(name: str) -> bytes:
    return (resources.files("bluegreen") / "dashboard_static" / name).read_bytes()


class Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("BLUEGREEN_DASHBOARD_LOG"):
            sys.stderr.write("dashboard: " + (format % args) + "\n")

    # -- plumbing
    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        return host in LOOPBACK

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        )
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value, default=str).encode(), "application/json")

    # -- routes
    def do_GET(self) -> None:
        if not self._host_ok():
            self._json(HTTPStatus.FORBIDDEN, {"ok": False, "error": "bad Host header"})
            return
        url = urlsplit(self.path)
        dashboard = self.server.dashboard
        if url.path in STATIC:
            name, content_type = STATIC[url.path]
            body = static_file(name)
            if name == "index.html":
                body = body.replace(b"{{TOKEN}}", dashboard.token.encode())
            self._send(HTTPStatus.OK, body, content_type)
            return
        try:
            if url.path == "/api/config":
                self._json(
                    HTTPStatus.OK,
                    {"ok": True, "target": dashboard.describe_target(), "actor": dashboard.actor, **dashboard.apps()},
                )
            elif url.path == "/api/status":
                app = (parse_qs(url.query).get("app") or [""])[0]
                if not app:
                    self._json(HTTPStatus.BAD_REQUEST, {"ok": False, "error": "which app? (?app=NAME)"})
                    return
                self._json(HTTPStatus.OK, {"ok": True, **dashboard.status(app)})
            else:
                self._json(HTTPStatus.NOT_FOUND, {"ok": False, "error": "not found"})
        except Exception as error:  # noqa: BLE001 - one line for the page, never a traceback
            self._json(HTTPStatus.OK, {"ok": False, "error": _short(error)})

    def do_POST(self) -> None:
        if not self._host_ok():
            self._json(HTTPStatus.FORBIDDEN, {"ok": False, "error": "bad Host header"})
            return
        dashboard = self.server.dashboard
        if urlsplit(self.path).path != "/api/action":
            self._json(HTTPStatus.NOT_FOUND, {"ok": False, "error": "not found"})
            return
        if not secrets.compare_digest(self.headers.get("X-Bluegreen-Token", ""), dashboard.token):
            self._json(HTTPStatus.FORBIDDEN, {"ok": False, "error": "missing or wrong token: reload the page"})
            return
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"ok": False, "error": "JSON only"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > 64 * 1024:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"ok": False, "error": "too large"})
            return
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(request, dict):
                raise ValueError("a JSON object, please")
            result = dashboard.act(request)
        except Exception as error:  # noqa: BLE001 - refused or failed: one line for the page
            self._json(HTTPStatus.OK, {"ok": False, "error": _short(error)})
            return
        self._json(HTTPStatus.OK, {"ok": True, "result": result})


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], dashboard: Dashboard) -> None:
        super().__init__(address, Handler)
        self.dashboard = dashboard
        self.thread = threading.Thread(target=self.serve_forever, name="bluegreen-dashboard", daemon=True)

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class DashboardServer6(DashboardServer):
    address_family = socket.AF_INET6


def serve(
    target: Any, invoke: Invoke, *, actor: str, apps: list[str], host: str = "127.0.0.1", port: int = 0
) -> DashboardServer:
    """Start the dashboard server in a background thread; `server.url` is its address."""
    host = {"localhost": "127.0.0.1", "[::1]": "::1"}.get(host, host)
    kind = DashboardServer6 if host == "::1" else DashboardServer
    server = kind((host, port), Dashboard(target, invoke, actor=actor, apps=apps))
    server.thread.start()
    return server
