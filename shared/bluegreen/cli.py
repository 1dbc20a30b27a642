"""`bluegreen`: the operator's command. The same commands work against AWS and the local stack.

Every command that reads or changes an app invokes the stack's functions (status, register and
override when the stack splits them, else the one override function), so IAM on those functions is
the one gate and every action lands in the history with its actor and reason. `watch` tails the
stack's bus through a temporary SQS queue. On AWS the names come from the stack's outputs; with
`--local` (and only then) they come from the local stack's descriptor, found by walking up from the
current directory to a `.local-stack/` folder.

Exit codes: 0 done; 1 an error or (for `wait`) a failed deployment; 2 bad usage; 124 `wait` timed
out; 130 interrupted; 141 the output pipe closed (`| head`).
"""

from __future__ import annotations

import argparse
import ast
import getpass
import importlib
import inspect
import json
import os
import socket
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from bluegreen import term

LOCAL_DIR_NAME = ".local-stack"
LOCAL_REGION = "us-east-1"
DEFAULT_LOCAL_PORT = 4566
CONNECT_TIMEOUT = 2.0
EXIT_FAILED = 1
EXIT_TIMEOUT = 124
EXIT_PIPE = 141

ACTIONS = ("promote", "approve", "finish_bake", "rollback", "abort", "pause", "resume", "retry")
READ_ACTIONS = ("status", "apps")
FAILED_STATES = frozenset({"ABORTED", "ROLLED_BACK", "SUPERSEDED", "ROLLBACK_REFUSED", "FIX_FORWARD"})
PROGRESS = {"DEPLOYING": 0, "VERIFYING": 1, "SWAP_REFUSED": 1, "BAKING": 2, "SUCCEEDED": 3}
# Test seams: the clock and the sleep `wait` and `watch` use.
_sleep: Callable[[float], None] = time.sleep
_monotonic: Callable[[], float] = time.monotonic


class CliError(Exception):
    """One clear line for the operator, never a traceback."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def version() -> str:
    try:
        from importlib.metadata import version as dist_version

        return dist_version("bluegreen")
    except Exception:  # noqa: BLE001 - not installed as a distribution (the Lambda layer): the module's own
        from bluegreen import __version__

        return __version__


# ------------------------------------------------------------------ where the stack is


@dataclass
class Target:
    """The stack's functions and bus, and how to reach them."""

    functions: dict[str, str]  # "override", and when the stack splits them "status" and "register"
    bus: str
    endpoint_url: str | None
    region: str | None
    local: bool = False
    _session: Any = field(default=None, repr=False)

    @property
    def override_function(self) -> str:
        return self.functions["override"]

    def function_for(self, action: str) -> str:
        """The function that answers an action: the split ones when the stack has them."""
        if action in READ_ACTIONS and self.functions.get("status"):
            return self.functions["status"]
        if action == "register" and self.functions.get("register"):
            return self.functions["register"]
        return self.functions["override"]

    def session(self) -> Any:
        if self._session is None:
            import boto3

            if self.local:
                # The local stack accepts any key. Never the operator's real credentials or profile: they
                # must not reach a local endpoint, and none are needed.
                import botocore.session

                core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
                self._session = boto3.session.Session(
                    botocore_session=core,
                    aws_access_key_id="test",
                    aws_secret_access_key="test",  # noqa: S106 - the local stack's fixed dummy key
                    region_name=self.region or LOCAL_REGION,
                )
            else:
                self._session = boto3.session.Session(region_name=self.region)
        return self._session

    def client(self, service: str) -> Any:
        from botocore.config import Config

        config = Config(
            connect_timeout=CONNECT_TIMEOUT if self.local or self.endpoint_url else 5,
            read_timeout=70,
            retries={"max_attempts": 2 if self.local else 3, "mode": "standard"},
        )
        kwargs: dict[str, Any] = {"config": config}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        return self.session().client(service, **kwargs)

    def invoke(self, payload: dict[str, Any]) -> dict[str, Any]:
        response = self.client("lambda").invoke(
            FunctionName=self.function_for(str(payload.get("action"))),
            InvocationType="RequestResponse",
            Payload=json.dumps(payload).encode(),
        )
        body = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            raise CliError(f"the function failed: {body.get('errorMessage', body)}")
        if not body.get("ok", False):
            error = body.get("error") or {}
            raise CliError(f"{error.get('code', 'Error')}: {error.get('message', body)}", error.get("code"))
        return dict(body)

    @contextmanager
    def events(self, app: str | None) -> Iterator[Callable[[float], list[dict[str, Any]]]]:
        """Subscribe to "Deployment State Change" on the bus (a temporary queue and rule, removed after).

        Yields `receive(wait_seconds) -> [detail, ...]`."""
        events, sqs = self.client("events"), self.client("sqs")
        name = f"bluegreen-watch-{uuid.uuid4().hex[:8]}"
        pattern: dict[str, Any] = {"source": ["bluegreen"], "detail-type": ["Deployment State Change"]}
        if app:
            pattern["detail"] = {"app": [app]}
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        cleanups: list[tuple[Any, dict[str, Any]]] = [(sqs.delete_queue, {"QueueUrl": url})]
        try:
            queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            rule_arn = events.put_rule(Name=name, EventBusName=self.bus, EventPattern=json.dumps(pattern))["RuleArn"]
            cleanups.insert(0, (events.delete_rule, {"Name": name, "EventBusName": self.bus}))
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": queue_arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                    }
                ],
            }
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
            events.put_targets(Rule=name, EventBusName=self.bus, Targets=[{"Id": "watch", "Arn": queue_arn}])
            cleanups.insert(0, (events.remove_targets, {"Rule": name, "EventBusName": self.bus, "Ids": ["watch"]}))

            def receive(wait: float) -> list[dict[str, Any]]:
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=max(0, min(20, int(wait)))
                ).get("Messages", [])
                details = []
                for message in messages:
                    details.append(json.loads(message["Body"])["detail"])
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                return sorted(details, key=lambda d: (str(d.get("at")), str(d.get("transition_id"))))

            yield receive
        finally:
            for call, kwargs in cleanups:
                try:
                    call(**kwargs)
                except Exception:  # noqa: BLE001, S112 - best-effort cleanup of our own temporary resources
                    continue


def local_dir(start: Path | None = None) -> Path | None:
    """`$BLUEGREEN_LOCAL_DIR`, else the nearest `.local-stack/` from the current directory upwards."""
    if os.environ.get("BLUEGREEN_LOCAL_DIR"):
        return Path(os.environ["BLUEGREEN_LOCAL_DIR"])
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / LOCAL_DIR_NAME).is_dir():
            return directory / LOCAL_DIR_NAME
    return None


def project_root(start: Path | None = None) -> Path:
    """Where `bluegreen local up` keeps `.local-stack/`: the checkout's root (pyproject.toml), else here."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / LOCAL_DIR_NAME).is_dir() or (directory / "pyproject.toml").is_file():
            return directory
    return here


def local_descriptors(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every stack descriptor in the folder: `stack.json`, `*.json`, and `<sub>/stack.json` (one per port)."""
    found = []
    for path in sorted({*directory.glob("*.json"), *directory.glob("*/stack.json")}):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("endpoint_url"):
            found.append((path, data))
    return found


def reachable(url: str, timeout: float = CONNECT_TIMEOUT) -> str | None:
    """None when something listens at the URL's host and port, else why not (fast: one TCP connect)."""
    parsed = urlparse(url)
    if not parsed.hostname:
        return f"{url!r} is not a URL"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return None
    except OSError as error:
        return error.strerror or type(error).__name__


def _same_endpoint(a: str, b: str) -> bool:
    pa, pb = urlparse(a), urlparse(b)
    loopback = {"127.0.0.1", "localhost", "::1"}
    host_a = "loopback" if pa.hostname in loopback else pa.hostname
    host_b = "loopback" if pb.hostname in loopback else pb.hostname
    return host_a == host_b and (pa.port or 80) == (pb.port or 80)


def choose_local(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """The local stack to use: the one running, or the one `--endpoint-url` names."""
    directory = local_dir()
    if directory is None:
        raise CliError(
            f"no local stack found: no {LOCAL_DIR_NAME}/ here or in a parent folder; start one with "
            "`bluegreen local up` (from the checkout), or set BLUEGREEN_LOCAL_DIR"
        )
    found = local_descriptors(directory)
    if not found:
        raise CliError(f"no local stack running (nothing in {directory}): start `bluegreen local up`")
    wanted = args.endpoint_url_given or None
    if wanted:
        matching = [item for item in found if _same_endpoint(item[1]["endpoint_url"], wanted)]
        if not matching:
            known = ", ".join(d["endpoint_url"] for _, d in found)
            raise CliError(f"no local stack at {wanted} (running: {known})")
        found = matching
    if len(found) > 1:
        alive = [item for item in found if reachable(item[1]["endpoint_url"], 0.3) is None]
        env_endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if env_endpoint:
            alive = [item for item in alive if _same_endpoint(item[1]["endpoint_url"], env_endpoint)] or alive
        if len(alive) != 1:
            known = ", ".join(d["endpoint_url"] for _, d in (alive or found))
            raise CliError(f"several local stacks ({known}): choose one with --endpoint-url")
        found = alive
    return found[0]


def resolve_target(args: argparse.Namespace) -> Target:
    if args.local:
        path, local = choose_local(args)
        url = str(local["endpoint_url"])
        why = reachable(url)
        if why is not None:
            raise CliError(
                f"cannot reach the local stack at {url} ({why}): is `bluegreen local up` still running? "
                f"(if it died, remove {path})"
            )
        functions = dict(local.get("functions") or {})
        return Target(
            functions={
                "override": str(local.get("override_function") or functions.get("OverrideFunction", "")),
                "status": str(functions.get("StatusFunction", "")),
                "register": str(functions.get("RegisterFunction", "")),
            },
            bus=str(local["bus"]),
            endpoint_url=url,
            region=str(local.get("region") or LOCAL_REGION),
            local=True,
        )
    if args.endpoint_url:
        why = reachable(args.endpoint_url)
        if why is not None:
            raise CliError(f"cannot reach {args.endpoint_url} ({why}): check --endpoint-url / AWS_ENDPOINT_URL")
    target = Target({}, "", args.endpoint_url, args.region)
    try:
        stacks = target.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    except Exception as error:  # noqa: BLE001 - reported as one line: no stack, no credentials, no network
        hint = " (for the local stack, add --local)" if local_dir() is not None else ""
        raise CliError(f"cannot read the outputs of stack {args.stack}: {_short(error)}{hint}") from None
    if "OverrideFunctionName" not in outputs or "BusName" not in outputs:
        raise CliError(f"stack {args.stack} has no OverrideFunctionName/BusName output: is it a bluegreen stack?")
    target.functions = {
        "override": outputs["OverrideFunctionName"],
        "status": outputs.get("StatusFunctionName", ""),
        "register": outputs.get("RegisterFunctionName", ""),
    }
    target.bus = outputs["BusName"]
    return target


def _short(error: BaseException) -> str:
    return str(error).splitlines()[0][:300] if str(error) else type(error).__name__


def invoke(target: Target, payload: dict[str, Any]) -> dict[str, Any]:
    return target.invoke(payload)


def actor(args: argparse.Namespace) -> str:
    return str(getattr(args, "by", None) or os.environ.get("BLUEGREEN_ACTOR") or getpass.getuser())


# ------------------------------------------------------------------ output


class Out:
    def __init__(self, args: argparse.Namespace, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self.json = bool(getattr(args, "json", False))
        self.style = term.Style(term.wants_color(self.stream, getattr(args, "color", "auto")) and not self.json)
        self.tty = bool(getattr(self.stream, "isatty", None) and self.stream.isatty()) and not self.json

    def line(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def dump(self, value: Any, *, compact: bool = False) -> None:
        if compact:
            print(json.dumps(value, default=str, separators=(",", ":")), file=self.stream, flush=True)
        else:
            print(json.dumps(value, indent=2, default=str), file=self.stream, flush=True)


def _deployment_waits_for(state: dict[str, Any]) -> dict[str, Any] | None:
    """What the deployment waits for and until when: the core's `waiting_for` when it says, else derived."""
    if "waiting_for" in state:
        value = state["waiting_for"]
        return value if isinstance(value, dict) else None
    deployment = state.get("deployment") or {}
    config = state.get("config") or {}
    if state.get("paused"):
        return {"what": "resume: the app is paused (bluegreen resume APP)", "until": None}
    if not deployment:
        return None
    held = deployment.get("held")
    current = deployment.get("state")
    since = term.parse_iso(deployment.get("state_since"))
    started = term.parse_iso(deployment.get("started_at"))

    def plus(at: Any, seconds: Any) -> str | None:
        if at is None or not isinstance(seconds, int | float):
            return None
        from datetime import timedelta

        return str((at + timedelta(seconds=seconds + (deployment.get("paused_seconds") or 0))).isoformat())

    if current == "DEPLOYING":
        what = held or (f"EB to update {deployment.get('target_environment')} to the new version and report it healthy")
        return {"what": what, "until": plus(started, config.get("deploy_timeout_seconds"))}
    if current == "VERIFYING":
        if config.get("auto_promote", True) and deployment.get("promote_at"):
            return {"what": held or "the promotion delay (then the swap)", "until": deployment.get("promote_at")}
        return {
            "what": held or f"approval: bluegreen approve {state.get('app')} -m REASON",
            "until": plus(since, config.get("verify_timeout_seconds")),
        }
    if current == "BAKING":
        return {"what": held or "the bake to end with no alarm", "until": deployment.get("bake_until")}
    if current == "SWAP_REFUSED":
        return {"what": held or "EB to accept the swap (both colors Ready); traffic has not moved", "until": None}
    if current == "ROLLBACK_REFUSED":
        return {"what": held or "EB to accept the swap back: production still runs the new build", "until": None}
    return None


def _colors(state: dict[str, Any]) -> list[dict[str, Any]]:
    colors = state.get("colors")
    if isinstance(colors, list) and colors:
        return [c for c in colors if isinstance(c, dict)]
    live, idle = state.get("live_environment"), state.get("idle_environment")
    return [{"name": live, "live": True}, {"name": idle, "live": False}]


def _idle_after_end(state: dict[str, Any]) -> str | None:
    """After an abort (or a supersede/rollback), what the idle color runs: EB never rolls an environment back."""
    deployment = state.get("deployment") or {}
    if deployment.get("state") not in ("ABORTED", "SUPERSEDED", "ROLLED_BACK"):
        return None
    idle = state.get("idle_environment")
    label = (deployment.get("artifact") or {}).get("label")
    for color in _colors(state):
        if color.get("name") == idle and color.get("version_label"):
            running = color["version_label"]
            note = " (the build that did not go live)" if running == label else ""
            return f"{idle} runs {running}{note}; the next build replaces it"
    if deployment.get("update_started", True) and deployment.get("target_environment") == idle:
        return f"{idle} may run {label} (EB does not roll a color back); the next build replaces it"
    return None


def _config_line(config: dict[str, Any]) -> str:
    if not config:
        return "-"
    parts = [
        f"alarms {', '.join(config.get('alarms') or []) or 'none'}",
        f"bake {config.get('bake_seconds')}s",
        (
            f"auto-promote after {config.get('promote_delay_seconds', 0)}s"
            if config.get("auto_promote", True)
            else f"manual approval (aborts after {config.get('approval_timeout_seconds', 3600)}s)"
        ),
        f"timeouts deploy {config.get('deploy_timeout_seconds')}s / verify {config.get('verify_timeout_seconds')}s",
        f"rollback window {config.get('rollback_window_seconds', 0)}s",
    ]
    color_alarms = config.get("color_alarms")
    if isinstance(color_alarms, dict) and color_alarms:
        parts.insert(
            1,
            "color alarms "
            + ", ".join(f"{color}: {', '.join(map(str, names)) or 'none'}" for color, names in color_alarms.items()),
        )
    checks = _checks_summary(config.get("checks"))
    if checks:
        parts.append(f"checks {checks}")
    traffic = config.get("traffic", "cname")
    alb = config.get("alb") if isinstance(config.get("alb"), dict) else None
    if traffic == "alb" and alb:
        steps = ",".join(str(step) for step in alb.get("steps") or [100])
        parts.append(f"traffic alb (steps {steps}% every {alb.get('step_seconds')}s)")
    elif traffic != "cname":
        parts.append(f"traffic {traffic}")
    if config.get("consumer_lease"):
        parts.append(f"consumer lease (hand-over within {config.get('handoff_timeout_seconds')}s)")
    if "drain_seconds" in config and traffic != "lease":  # a polling bot's hand-over has nothing to drain
        parts.append(f"drain {config['drain_seconds']}s")
    standby = config.get("standby")
    if isinstance(standby, dict):
        parts.append(f"standby {standby.get('min_size')}/{standby.get('max_size')}")
    if "health_grace_seconds" in config:
        parts.append(f"health grace {config['health_grace_seconds']}s")
    if "version_retention" in config:
        parts.append(f"keeps {config['version_retention']} versions")
    if config.get("signing_key_arn"):
        parts.append(f"signed with {config['signing_key_arn']}")
    return "; ".join(parts)


def _checks_summary(checks: Any) -> str:
    """`pre healthz, smoke; post after-swap` for a `Checks` document ("" when it has none)."""
    if not isinstance(checks, dict):
        return ""
    parts = []
    for phase in ("pre", "post"):
        names = [str(c.get("name")) for c in checks.get(phase) or () if isinstance(c, dict)]
        if names:
            parts.append(f"{phase} {', '.join(names)}")
    return "; ".join(parts)


def _policy_line(policy: dict[str, Any]) -> str:
    """The policy a release's bluegreen.json made (the app's, tightened)."""
    parts = [
        f"bake {policy.get('bake_seconds')}s",
        "approval required" if policy.get("requires_approval") else "no approval",
        f"rollback {policy.get('rollback', 'allow')}",
    ]
    checks = _checks_summary(policy.get("checks"))
    if checks:
        parts.append(f"checks {checks}")
    if policy.get("notes"):
        parts.append(f"notes: {policy['notes']}")
    return "; ".join(parts)


def check_lines(deployment: dict[str, Any], style: term.Style) -> list[str]:
    """One line per release gate of the deployment: name, phase, waiting/passed/failed, reason or deadline."""
    lines = []
    for check in deployment.get("checks") or ():
        if not isinstance(check, dict):
            continue
        passed = check.get("passed")
        if passed is None:
            verdict = style.paint("waiting", "yellow")
            detail = f"no report yet; fails at {term.iso(check.get('deadline'))}" if check.get("deadline") else ""
        else:
            verdict = style.paint("passed", "green") if passed else style.paint("failed", "red")
            detail = str(check.get("reason") or "")
        kind = f" ({check['type']})" if check.get("type") else ""
        lines.append(f"  check {check.get('name')!s} {check.get('phase')}{kind} {verdict}  {detail}".rstrip())
    return lines


def _slash(text: str) -> str:
    return f"/{text}" if text and text != "-" else ""


def status_lines(state: dict[str, Any], style: term.Style) -> list[str]:
    deployment = state.get("deployment") or {}
    lines = [
        f"{style.paint(str(state.get('app')), 'bold')}   revision {state.get('revision')}   "
        f"paused {'yes' if state.get('paused') else 'no'}   last good {state.get('last_good_version') or '-'}"
    ]
    for color in sorted(_colors(state), key=lambda c: not c.get("live")):
        role = "live" if color.get("live") else "idle"
        name = style.paint(f"{color.get('name')!s:<20}", "bold" if role == "live" else "dim")
        detail = ""
        if "status" in color or "version_label" in color:  # EB's view, when the stack reports it
            health = style.health(color.get("health"))
            if "health_status" in color:
                health += _slash(style.health(color["health_status"]))
            detail = f" {term.short(color.get('version_label'), 32):<32} {color.get('status') or '-':<10} {health}"
        cname = f"   holds {state.get('production_cname')}" if role == "live" and state.get("production_cname") else ""
        lines.append(f"  {role} {name}{detail}{cname}")
    if deployment:
        artifact = deployment.get("artifact") or {}
        lines.append(
            f"deployment {deployment.get('id')}  {style.state(deployment.get('state'))}  "
            f"{artifact.get('label', '-')}  ({artifact.get('key', '-')})"
        )
        lines.append(
            f"  target {deployment.get('target_environment')}   previous {deployment.get('previous_environment')}"
            f" on {deployment.get('previous_version') or '-'}"
        )
        lines.append(
            f"  started {term.iso(deployment.get('started_at'))}   "
            f"{deployment.get('state')} since {term.iso(deployment.get('state_since'))}"
        )
        if deployment.get("promoted_at"):
            lines.append(f"  promoted {term.iso(deployment.get('promoted_at'))}")
        if deployment.get("unhealthy_since"):
            lines.append(f"  unhealthy since {term.iso(deployment.get('unhealthy_since'))}")
        lines.append(f"  reason {deployment.get('reason') or '-'}")
        if isinstance(deployment.get("policy"), dict):
            lines.append(f"  policy (bluegreen.json) {_policy_line(deployment['policy'])}")
        lines.extend(check_lines(deployment, style))
        if deployment.get("state") == "FIX_FORWARD":
            lines.append(
                style.paint("ACTION NEEDED", "red")
                + f": this release forbids rollback; deploy a fix (the next upload deploys even while the alarm "
                f"fires), or `bluegreen rollback {state.get('app')} --force -m REASON` if the previous build can "
                "run after all"
            )
    else:
        lines.append("deployment none yet")
    waits = _deployment_waits_for(state)
    if waits:
        until_text = f" until {term.until(waits['until'])}" if waits.get("until") else ""
        lines.append(f"waits for {waits.get('what')}{until_text}")
    after = _idle_after_end(state)
    if after:
        lines.append(f"idle color {after}")
    queued = state.get("queued")
    if queued:
        lines.append(f"queued {queued.get('key')} ({queued.get('label')})")
    if state.get("pending_effects"):
        lines.append(f"pending effects {', '.join(map(str, state['pending_effects']))}")
    outbox = state.get("outbox")
    if isinstance(outbox, dict):
        waiting = outbox.get("notifications")
        count = len(waiting) if isinstance(waiting, list) else int(outbox.get("count") or 0)
        if count or outbox.get("failed"):
            error = f" (last error: {outbox['last_error']})" if outbox.get("last_error") else ""
            lines.append(f"outbox {count} notification(s) not yet delivered, {outbox.get('failed', 0)} dropped{error}")
    lines.append(f"config {_config_line(state.get('config') or {})}")
    return lines


def compact_status(state: dict[str, Any], style: term.Style) -> list[str]:
    """Two or three lines for `watch`."""
    by_name = {c.get("name"): c for c in _colors(state)}
    live, idle = state.get("live_environment"), state.get("idle_environment")

    def color(name: Any) -> str:
        info = by_name.get(name) or {}
        version = term.short(info.get("version_label"), 20) if info.get("version_label") else ""
        health = style.health(info.get("health_status") or info.get("health")) if info.get("health") else ""
        return " ".join(x for x in (str(name), version, health) if x)

    lines = [
        f"{style.paint(str(state.get('app')), 'bold')}  live {color(live)}  |  idle {color(idle)}"
        f"{'  PAUSED' if state.get('paused') else ''}"
    ]
    deployment = state.get("deployment")
    if deployment:
        lines.append(
            f"  {deployment.get('id')} {style.state(deployment.get('state'))} "
            f"{term.short((deployment.get('artifact') or {}).get('label'), 32)}  "
            f"since {term.iso(deployment.get('state_since'))}"
        )
    waits = _deployment_waits_for(state)
    if waits:
        until_text = f" until {term.until(waits['until'])}" if waits.get("until") else ""
        lines.append(f"  waits for {waits.get('what')}{until_text}")
    return lines


def is_transition(note: dict[str, Any]) -> bool:
    return note.get("from_state") != note.get("to_state")


def event_label(note: dict[str, Any], style: term.Style) -> str:
    """`FROM -> TO` for a transition; a non-transition is an event, never an arrow."""
    source, target = note.get("from_state"), note.get("to_state")
    if is_transition(note):
        text = f"{source or '-':>11} -> {target or '-':<16}"
        return text.replace(str(target), style.state(target), 1) if target else text
    cause = note.get("cause") or {}
    if source is None and not note.get("deployment_id") and cause.get("type") == "artifact":
        return f"{'':>11} {style.paint('* upload rejected', 'red'):<19}"
    return f"{'':>11} {style.paint('* ' + (source or 'event'), 'cyan'):<19}"


def event_line(note: dict[str, Any], style: term.Style) -> str:
    cause = note.get("cause") or {}
    by = f" (by {cause['actor']})" if cause.get("actor") else ""
    return (
        f"{term.iso(note.get('at'))}  {note.get('app')!s:<12} {note.get('deployment_id') or '-'!s:<12} "
        f"{event_label(note, style)} {term.short(note.get('version'), 28):<28} "
        f"live={note.get('live_environment')}  {note.get('reason')}{by}"
    )


def history_lines(records: list[dict[str, Any]], style: term.Style) -> list[str]:
    lines = []
    for record in records:
        notes = record.get("transitions") or []
        if not notes:
            lines.append(
                f"{term.iso(record.get('at'))}  r{record.get('revision', '?'):<4} {'':>11} * {record.get('summary')}"
            )
        for note in notes:
            cause = note.get("cause") or {}
            by = f" (by {cause['actor']})" if cause.get("actor") else ""
            lines.append(
                f"{term.iso(note.get('at') or record.get('at'))}  r{record.get('revision', '?'):<4} "
                f"{event_label(note, style)} {note.get('reason')}{by}"
            )
    return lines


def print_status(state: dict[str, Any]) -> None:
    for line in status_lines(state, term.Style(False)):
        print(line)


# ------------------------------------------------------------------ commands


def _status(target: Target, app: str, history_limit: int = 0) -> dict[str, Any]:
    return invoke(target, {"action": "status", "app": app, "history_limit": history_limit})


def cmd_status(args: argparse.Namespace) -> int:
    out = Out(args)
    state = _status(resolve_target(args), args.app)
    if out.json:
        out.dump(state)
    else:
        for line in status_lines(state, out.style):
            out.line(line)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    out = Out(args)
    state = _status(resolve_target(args), args.app, args.limit)
    if out.json:
        out.dump(state.get("history", []))
    else:
        for line in history_lines(state.get("history", []), out.style):
            out.line(line)
    return 0


def list_apps(target: Target) -> list[dict[str, Any]]:
    try:
        body = invoke(target, {"action": "apps", "app": "-", "reason": "", "requested_by": "cli"})
    except CliError as error:
        if error.code == "BadInput":
            raise CliError(
                "this stack cannot list apps yet (its functions have no `apps` action): name the app"
            ) from None
        raise
    return list(body.get("apps") or [])


def cmd_apps(args: argparse.Namespace) -> int:
    out = Out(args)
    apps = list_apps(resolve_target(args))
    if out.json:
        out.dump(apps)
        return 0
    rows = [
        (
            str(a.get("app")),
            str(a.get("live_environment") or "-"),
            out.style.state(a.get("deployment_state"), str(a.get("deployment_state") or "-")),
            "paused" if a.get("paused") else "",
        )
        for a in apps
    ]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(("APP", "LIVE", "DEPLOYMENT"))]
    out.line(f"{'APP':<{widths[0]}}  {'LIVE':<{widths[1]}}  DEPLOYMENT")
    for row in rows:
        out.line(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}  {row[3]}".rstrip())
    if not rows:
        out.line("(no apps registered)")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    """Sign a build for an app that requires signatures (its `signing_key_arn`); needs kms:Sign on the key."""
    from bluegreen.aws.signing import SIGNATURE_METADATA_KEY, sign_artifact

    out = Out(args)
    signature = sign_artifact(args.file, args.key)
    if out.json:
        out.dump({"signature": signature, "metadata": {SIGNATURE_METADATA_KEY: signature}})
        return 0
    out.line(signature)
    if sys.stdout.isatty():
        print(
            f"upload it with: aws s3 cp {args.file} s3://<ArtifactBucket>/<app>/<name>.zip "
            f"--metadata {SIGNATURE_METADATA_KEY}={signature}",
            file=sys.stderr,
        )
    return 0


def cmd_action(args: argparse.Namespace) -> int:
    out = Out(args)
    payload: dict[str, Any] = {
        "action": args.action,
        "app": args.app,
        "reason": args.reason,
        "requested_by": actor(args),
    }
    if args.deployment_id:
        payload["deployment_id"] = args.deployment_id
    if getattr(args, "force", False):
        payload["force"] = True
    result = invoke(resolve_target(args), payload)
    if out.json:
        out.dump(result)
        return 0
    out.line(f"{args.action}: {result.get('reason', 'done')}")
    if result.get("state"):
        for line in status_lines(result["state"], out.style):
            out.line(line)
    return 0


def cmd_report_check(args: argparse.Namespace) -> int:
    """A hook's `report_check` through the override function (docs/gates.md): exit 0 when bluegreen took the
    report or ignored it as late or repeated (both are final: do not retry), 1 when it refused it."""
    out = Out(args)
    if not args.token:
        raise CliError("report-check needs --token (the `token` of the hook's event) or $BLUEGREEN_CALLBACK_TOKEN")
    if len(args.reason) > MAX_REPORT_REASON:
        raise CliError(f"--reason is {len(args.reason)} characters; at most {MAX_REPORT_REASON}")
    payload = {
        "action": "report_check",
        "app": args.app,
        "token": args.token,
        "result": args.result,
        "reason": args.reason,
        "requested_by": actor(args),
    }
    result = invoke(resolve_target(args), payload)
    if out.json:
        out.dump(result)
        return 0
    outcome = "ignored" if result.get("ignored") else result.get("outcome", "accepted")
    out.line(f"report-check {args.result}: {outcome}: {result.get('reason', '')}".rstrip(": "))
    return 0


MAX_REPORT_REASON = 1024

REGISTER_SETTINGS = (
    "application_name", "live_environment", "production_cname", "bake_seconds", "deploy_timeout_seconds",
    "verify_timeout_seconds", "promote_delay_seconds", "rollback_window_seconds", "health_grace_seconds",
    "version_retention", "signing_key_arn", "handoff_timeout_seconds", "approval_timeout_seconds",
    "drain_seconds", "traffic",
)  # fmt: skip


def register_config(args: argparse.Namespace) -> dict[str, Any]:
    """Only what was given: register merges with the stored config, so settings not passed are kept."""
    config: dict[str, Any] = {}
    if args.environments:
        config["environments"] = args.environments
    if args.alarm is not None:
        config["alarms"] = [] if args.alarm == [""] else args.alarm
    if args.color_alarm is not None:
        per_color: dict[str, list[str]] = {}
        for spec in args.color_alarm:
            environment, _, alarm = spec.partition("=")
            if not environment or not alarm:
                raise CliError(f"--color-alarm takes ENVIRONMENT=ALARM, not {spec!r}")
            per_color.setdefault(environment, []).append(alarm)
        config["color_alarms"] = per_color
    if args.consumer_lease is not None:
        config["consumer_lease"] = args.consumer_lease
    checks = register_checks(args)
    if checks is not None:
        config["checks"] = checks
    alb = register_alb(args)
    if alb is not None:
        config["alb"] = alb
    if args.standby is not None:
        config["standby"] = _standby(args.standby)
    for name in REGISTER_SETTINGS:
        value = getattr(args, name)
        if value is not None:
            config[name] = value
    if args.auto_promote is not None:
        config["auto_promote"] = args.auto_promote
    return config


def _standby(text: str) -> dict[str, int] | None:
    """`--standby MIN/MAX` (e.g. 1/1, 0/0), or `none` to keep the old color at full size."""
    if text.strip().lower() == "none":
        return None
    low, _, high = text.partition("/")
    if not low.strip().isdigit() or not high.strip().isdigit():
        raise CliError(f"--standby takes MIN/MAX (e.g. 1/1, 0/0) or none, not {text!r}")
    return {"min_size": int(low), "max_size": int(high)}


def register_alb(args: argparse.Namespace) -> dict[str, Any] | None:
    """Traffic mode alb: `--alb-rule ARN --alb-target-group ENV=ARN (x2) [--steps 10,50,100 --step-seconds N]`."""
    given = [args.alb_rule, args.alb_target_group, args.steps, args.step_seconds]
    if all(value is None for value in given):
        return None
    if not args.alb_rule or not args.alb_target_group:
        raise CliError("traffic alb needs --alb-rule and one --alb-target-group ENVIRONMENT=ARN per color")
    groups: dict[str, str] = {}
    for spec in args.alb_target_group:
        environment, _, arn = spec.partition("=")
        if not environment or not arn:
            raise CliError(f"--alb-target-group takes ENVIRONMENT=ARN, not {spec!r}")
        groups[environment] = arn
    alb: dict[str, Any] = {"rule_arn": args.alb_rule, "target_groups": groups}
    if args.steps is not None:
        try:
            alb["steps"] = [int(step) for step in args.steps.split(",")]
        except ValueError:
            raise CliError(f"--steps takes percents like 10,50,100, not {args.steps!r}") from None
    if args.step_seconds is not None:
        alb["step_seconds"] = args.step_seconds
    return alb


class _PhaseAction(argparse.Action):
    """`--phase pre|post`: the phase of the `--check-json` options that follow it (default pre)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, *_: Any) -> None:
        namespace.check_phase = values


class _CheckAction(argparse.Action):
    """`--check-json JSON` (repeatable): one check, in the phase the last `--phase` named."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, *_: Any) -> None:
        given = list(getattr(namespace, self.dest, None) or [])
        given.append((getattr(namespace, "check_phase", None) or "pre", str(values)))
        setattr(namespace, self.dest, given)


def _json_argument(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise CliError(f"{what} is not valid JSON: {error}") from None


def register_checks(args: argparse.Namespace) -> dict[str, Any] | None:
    """The checks `register` sends (`--checks FILE`, `--check-json` per check, `--no-checks`), validated here
    with `bluegreen.gates.Checks` so that a typo fails before anything is sent. None: the app's are kept.

    The checks given replace the app's checks as a whole (pre and post)."""
    from pydantic import ValidationError

    from bluegreen.gates import Checks

    if getattr(args, "no_checks", False):
        if args.checks_file or args.check_json:
            raise CliError("--no-checks takes no --checks or --check-json")
        return Checks().model_dump(mode="json")
    if not args.checks_file and not args.check_json:
        return None
    document: dict[str, Any] = {"pre": [], "post": []}
    if args.checks_file:
        try:
            text = sys.stdin.read() if args.checks_file == "-" else Path(args.checks_file).read_text()
        except OSError as error:
            raise CliError(f"cannot read --checks {args.checks_file}: {error.strerror or error}") from None
        loaded = _json_argument(text, f"--checks {args.checks_file}")
        if not isinstance(loaded, dict):
            raise CliError(f'--checks {args.checks_file}: expected {{"pre": [...], "post": [...]}}')
        unknown = sorted(set(loaded) - {"pre", "post"})
        if unknown:
            raise CliError(f"--checks {args.checks_file}: unknown key {unknown[0]!r} (only pre and post)")
        for phase in ("pre", "post"):
            value = loaded.get(phase, [])
            if not isinstance(value, list):
                raise CliError(f"--checks {args.checks_file}: {phase} must be a list of checks")
            document[phase].extend(value)
    for phase, text in args.check_json or []:
        document[phase].append(_json_argument(text, f"--check-json {text!r}"))
    try:
        checks = Checks.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "checks"
        raise CliError(f"invalid check: {where}: {first['msg']}") from None
    return checks.model_dump(mode="json")


def cmd_register(args: argparse.Namespace) -> int:
    out = Out(args)
    payload = {
        "action": "register",
        "app": args.app,
        "reason": args.reason,
        "requested_by": actor(args),
        "config": register_config(args),
    }
    state = invoke(resolve_target(args), payload)
    if out.json:
        out.dump(state)
    else:
        for line in status_lines(state, out.style):
            out.line(line)
    return 0


class WatchView:
    """What `watch` shows: on a terminal, a compact status and the recent events, redrawn in place;
    piped, the status once and then one plain line per event (JSON lines with --json)."""

    def __init__(self, out: Out, keep: int = 12) -> None:
        self.out = out
        self.keep = keep
        self.state: dict[str, Any] | None = None
        self.recent: list[str] = []
        self.drawn = 0
        self.seen: set[str] = set()

    def status(self, state: dict[str, Any] | None) -> None:
        first = self.state is None
        self.state = state
        if self.out.json:
            if first and state is not None:
                self.out.dump({"status": state}, compact=True)
        elif self.out.tty:
            self.redraw()
        elif first and state is not None:
            for line in compact_status(state, self.out.style):
                self.out.line(f"now {line.strip()}" if line is not None else "")

    def event(self, note: dict[str, Any]) -> None:
        ident = str(note.get("transition_id") or id(note))
        if ident in self.seen:
            return  # at-least-once delivery: dedupe on transition_id
        self.seen.add(ident)
        if self.out.json:
            self.out.dump({"event": note}, compact=True)
            return
        line = event_line(note, self.out.style)
        if self.out.tty:
            self.recent = [*self.recent, line][-self.keep :]
            self.redraw()
        else:
            self.out.line(line)

    def redraw(self) -> None:
        lines = compact_status(self.state, self.out.style) if self.state else []
        lines = [*lines, self.out.style.paint("-" * 40, "dim"), *self.recent]
        stream = self.out.stream
        if self.drawn:
            stream.write(f"\x1b[{self.drawn}F\x1b[J")  # back to the block's first line, clear below
        stream.write("\n".join(lines) + "\n")
        stream.flush()
        self.drawn = len(lines)


def cmd_watch(args: argparse.Namespace) -> int:
    out = Out(args)
    target = resolve_target(args)
    view = WatchView(out)
    deadline = _monotonic() + args.seconds if args.seconds else None
    with target.events(args.app) as receive:  # subscribed before reading the state: nothing is missed
        if not out.json and not out.tty:
            out.line(f"watching {target.bus} for {args.app or 'every app'} (Ctrl-C to stop)")
        refresh_every = 5.0
        last = 0.0

        def refresh() -> None:
            nonlocal last
            last = _monotonic()
            if args.app:
                try:
                    view.status(_status(target, args.app))
                except CliError as error:
                    if view.state is None and not out.json:
                        out.line(f"({error})")
                    view.state = view.state or {}

        refresh()
        while deadline is None or _monotonic() < deadline:
            wait = 1.0 if (target.local or out.tty) else 10.0
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - _monotonic()))
            details = receive(wait)
            for detail in details:
                view.event(detail)
            if out.tty and (details or _monotonic() - last >= refresh_every):
                refresh()
            elif out.tty:
                view.redraw()  # the countdowns move
    return 0


def _deployment_state(state: dict[str, Any], deployment_id: str) -> tuple[str | None, str]:
    """The state and reason of a deployment: the current one, or its last transition in the history."""
    current = state.get("deployment") or {}
    if current.get("id") == deployment_id:
        return current.get("state"), str(current.get("reason") or "")
    for record in reversed(state.get("history") or []):
        for note in reversed(record.get("transitions") or []):
            if note.get("deployment_id") == deployment_id and is_transition(note):
                return note.get("to_state"), str(note.get("reason") or "")
    return None, ""


def cmd_wait(args: argparse.Namespace) -> int:
    """Block until the deployment reaches --for (0), fails (1), or --timeout passes (124)."""
    out = Out(args)
    target = resolve_target(args)
    goal = PROGRESS[args.goal]
    deadline = _monotonic() + args.timeout
    deployment_id: str | None = args.deployment_id
    shown: tuple[str | None, str | None] | None = None
    while True:
        state = _status(target, args.app, 50)
        current = state.get("deployment") or {}
        if deployment_id is None:
            if args.artifact:
                if (current.get("artifact") or {}).get("key") == args.artifact:
                    deployment_id = current.get("id")
            elif current:
                deployment_id = current.get("id")
            else:
                raise CliError(f"{args.app} has no deployment to wait for")
        value, reason = _deployment_state(state, deployment_id) if deployment_id else (None, "")
        if (deployment_id, value) != shown and not out.json:
            shown = (deployment_id, value)
            what = f"{deployment_id} {out.style.state(value)}" if deployment_id else f"waiting for {args.artifact}"
            out.line(f"{term.iso(term.now().isoformat())}  {what}")
        if value in FAILED_STATES:
            if out.json:
                out.dump({"deployment_id": deployment_id, "state": value, "reason": reason, "ok": False})
            print(f"bluegreen: {deployment_id} ended {value}: {reason}", file=sys.stderr)
            return EXIT_FAILED
        if value in PROGRESS and PROGRESS[value] >= goal and (value != "SWAP_REFUSED"):
            if out.json:
                out.dump({"deployment_id": deployment_id, "state": value, "reason": reason, "ok": True})
            return 0
        remaining = deadline - _monotonic()
        if remaining <= 0:
            if out.json:
                out.dump({"deployment_id": deployment_id, "state": value, "ok": False, "timeout": True})
            print(
                f"bluegreen: timed out after {args.timeout:g}s waiting for {deployment_id or args.artifact} "
                f"to reach {args.goal} (now {value or 'not started'})",
                file=sys.stderr,
            )
            return EXIT_TIMEOUT
        _sleep(min(args.interval, remaining))


def cmd_report(args: argparse.Namespace) -> int:
    from bluegreen import report

    out = Out(args)
    until = term.now()
    try:
        since = report.parse_since(args.since, until)
    except ValueError as error:
        raise CliError(str(error)) from None
    target = resolve_target(args)
    apps = [args.app] if args.app else [str(a.get("app")) for a in list_apps(target)]
    records: list[dict[str, Any]] = []
    uploaded: dict[str, Any] = {}
    warnings = []
    for app in apps:
        state = _status(target, app, HISTORY_MAX)
        history = list(state.get("history") or [])
        records.extend(history)
        deployment = state.get("deployment") or {}
        uploaded_at = term.parse_iso((deployment.get("artifact") or {}).get("uploaded_at"))
        if deployment.get("id") and uploaded_at is not None:
            uploaded[deployment["id"]] = uploaded_at
        oldest = term.parse_iso(history[0].get("at")) if history else None
        if len(history) >= HISTORY_MAX and oldest is not None and oldest > since:
            warnings.append(
                f"{app}: only the last {HISTORY_MAX} events were available "
                f"(back to {oldest.isoformat(timespec='seconds')})"
            )
    result = report.compute(records, since=since, until=until, uploaded_at=uploaded)
    result.warnings.extend(warnings)
    if out.json:
        out.dump(result.as_dict())
    else:
        out.line(report.render(result))
    return 0


HISTORY_MAX = 200


# ------------------------------------------------------------------ rules and the diagram


def _rule_targets(rule_name: str) -> list[tuple[str | None, str, int]] | None:
    """The states a rule's step moves a deployment to, in code order, read from the step at run time:
    `ctx.move(S.X, ...)` is a transition to X; a note `(None, S.X.value, ...)` starts a new deployment in X.
    Calls to other functions of the machine are followed (the depth says how far). None: no step."""
    machine = importlib.import_module("bluegreen.machine")
    rule = next((r for r in getattr(machine, "RULES", ()) if r.name == rule_name), None)
    if rule is None or rule.step is None:
        return None
    found: list[tuple[str | None, str, int]] = []
    states = {s.value for s in machine.DeploymentState}

    def state_of(node: ast.AST) -> str | None:
        if isinstance(node, ast.Attribute) and node.attr == "value":
            node = node.value
        if isinstance(node, ast.Attribute) and node.attr in states:
            return node.attr
        return None

    def walk(function: Any, depth: int, seen: set[str]) -> None:
        if depth > 6 or function.__name__ in seen:
            return
        seen = {*seen, function.__name__}
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        except (OSError, TypeError, SyntaxError):
            return
        calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset))
        for call in calls:
            name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            if name == "move" and call.args and (target := state_of(call.args[0])):
                found.append(("move", target, depth))
            elif (
                len(call.args) >= 2
                and isinstance(call.args[0], ast.Constant)
                and call.args[0].value is None
                and (target := state_of(call.args[1]))
            ):
                found.append((None, target, depth))
            elif isinstance(call.func, ast.Name) and callable(function.__globals__.get(name)):
                helper = function.__globals__[name]  # resolved where the step lives (the machine is a package)
                if inspect.isfunction(helper) and helper.__module__.startswith(machine.__name__):
                    walk(helper, depth + 1, seen)

    walk(rule.step, 0, set())
    return found


def _forward(source: str, target: str) -> bool:
    """A move that can happen from this source: not back along the happy path, not to itself."""
    order = {"DEPLOYING": 0, "VERIFYING": 1, "BAKING": 2, "SUCCEEDED": 3}
    if source == target or (target == "VERIFYING" and source != "DEPLOYING"):
        return False
    if source in order and target in order:
        return order[target] > order[source]
    return True


def mermaid(rows: list[dict[str, str]]) -> str:
    """The state machine as a Mermaid stateDiagram-v2: one arrow per (from, to), labelled with its rules.

    Per row and source state, the arrow is the step's first move that can happen from that state (later
    moves in the same step are conditional follow-ups that other rows draw), plus `[*] --> DEPLOYING` when
    the step itself starts a deployment. A row may also name its target states (`to`). Rows that ignore or
    refuse, and rows that only record an event (pause, queue, note), draw no arrow."""
    edges: dict[tuple[str, str], list[str]] = {}
    events: list[str] = []
    for row in rows:
        if row.get("then") in ("ignored", "refused"):
            continue
        label = f"{row['rule']} ({row['on']})"
        explicit = row.get("to")
        targets: list[tuple[str | None, str, int]] | None
        if explicit:
            targets = [("move", t, 0) for t in explicit.split(",") if t]
        else:
            try:
                targets = _rule_targets(row["rule"])
            except Exception:  # noqa: BLE001 - a machine this code cannot read: the row is listed, not drawn
                targets = None
        drawn = False
        for source in row["when"].split(","):
            move = next((t for kind, t, _ in targets or () if kind == "move" and _forward(source, t)), None)
            if move is not None:
                edges.setdefault((source, move), []).append(label)
                drawn = True
        if any(kind is None and depth <= 1 for kind, _, depth in targets or ()):
            edges.setdefault(("[*]", "DEPLOYING"), []).append(label)
            drawn = True
        if not drawn:
            events.append(row["rule"])
    lines = ["stateDiagram-v2"]
    for (source, target), labels in edges.items():
        lines.append(f"    {source} --> {target} : {'<br/>'.join(dict.fromkeys(labels))}")
    for terminal in ("SUCCEEDED", "ABORTED", "ROLLED_BACK", "SUPERSEDED"):
        lines.append(f"    {terminal} --> [*]")
    if any("IDLE" in key for key in edges):
        lines.append("    note left of IDLE : no deployment in flight (the last one ended)")
    if events:
        lines.append(f"    %% events, not transitions: {', '.join(events)}")
    return "\n".join(lines)


def cmd_rules(args: argparse.Namespace) -> int:
    from bluegreen.machine import describe_rules

    out = Out(args)
    rows = describe_rules()
    if args.diagram:
        text = mermaid(rows)
        if out.json:
            out.dump({"mermaid": text})
        else:
            out.line(text)
        return 0
    if out.json:
        out.dump(rows)
        return 0
    widths = {key: max(len(key), *(len(row.get(key, "")) for row in rows)) for key in rows[0]}
    out.line("  ".join(key.ljust(widths[key]) for key in widths).rstrip())
    for row in rows:
        out.line("  ".join(row.get(key, "").ljust(widths[key]) for key in widths).rstrip())
    return 0


# ------------------------------------------------------------------ completion


def _option_words(parser: argparse.ArgumentParser) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """(options, options that take a value, choices per option) of one parser."""
    options: list[str] = []
    valued: list[str] = []
    choices: dict[str, list[str]] = {}
    for action in parser._actions:  # argparse has no public API for this
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        options.extend(action.option_strings)
        if action.nargs != 0:
            valued.extend(action.option_strings)
            if action.choices:
                for option in action.option_strings:
                    choices[option] = [str(c) for c in action.choices]
    return options, valued, choices


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    options, valued, choices = _option_words(parser)
    commands = _subparsers(parser)
    cases, prev_cases = [], []
    for option, values in choices.items():
        prev_cases.append(f'        "{option}") COMPREPLY=( $(compgen -W "{" ".join(values)}" -- "$cur") ); return;;')
    for name, sub in commands.items():
        sub_options, sub_valued, sub_choices = _option_words(sub)
        valued.extend(sub_valued)
        nested = _subparsers(sub)
        words = [*nested, *sub_options]
        for option, values in sub_choices.items():
            prev_cases.append(
                f'        "{option}") COMPREPLY=( $(compgen -W "{" ".join(values)}" -- "$cur") ); return;;'
            )
        positional = [a for a in sub._actions if not a.option_strings and a.choices and not nested]
        for action in positional:
            words.extend(str(c) for c in action.choices or ())
        cases.append(f'        {name}) words="{" ".join(words)}";;')
    valued_pattern = "|".join(sorted(set(valued))) or "--never"
    script = f"""# {shell} completion for bluegreen (generated by `bluegreen completion {shell}`)
_bluegreen() {{
    local cur prev cmd i words skip
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    cmd=""
    skip=0
    for ((i=1; i<COMP_CWORD; i++)); do
        if [[ $skip == 1 ]]; then skip=0; continue; fi
        case "${{COMP_WORDS[i]}}" in
            {valued_pattern}) skip=1;;
            -*) ;;
            *) cmd="${{COMP_WORDS[i]}}"; break;;
        esac
    done
    case "$prev" in
{chr(10).join(prev_cases)}
    esac
    case "$cmd" in
        "") words="{" ".join([*commands, *options])}";;
{chr(10).join(cases)}
        *) words="";;
    esac
    COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}}
complete -F _bluegreen bluegreen
"""
    if shell == "zsh":
        return "#compdef bluegreen\nautoload -U +X bashcompinit && bashcompinit\n" + script
    return script


def cmd_completion(args: argparse.Namespace) -> int:
    sys.stdout.write(completion_script(build_parser(), args.shell))
    return 0


def cmd_local(args: argparse.Namespace) -> int:
    # `local up` keeps its descriptor in the checkout's .local-stack/, one folder per port, so two stacks
    # on different ports never clobber each other and every subdirectory finds them.
    if not os.environ.get("BLUEGREEN_LOCAL_DIR"):
        if args.local_command == "up":
            base = local_dir() or project_root() / LOCAL_DIR_NAME
            name = f"port-{args.port}" if args.port else f"pid-{os.getpid()}"
            os.environ["BLUEGREEN_LOCAL_DIR"] = str(base / name)
        else:
            path, _ = choose_local(args)
            os.environ["BLUEGREEN_LOCAL_DIR"] = str(path.parent)
    try:
        local_cli = importlib.import_module("bluegreen_local.cli")  # dev-only: never ships to Lambda
    except ImportError:
        raise CliError("the local stack is dev-only: run it from a checkout (`make demo` sets it up)") from None
    local_cli.run(args)
    return 0


# ------------------------------------------------------------------ parser


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bluegreen",
        description="Blue-green deployments of bots on Elastic Beanstalk",
        epilog="exit codes: 0 done, 1 error or failed deployment, 2 usage, 124 wait timed out",
    )
    parser.add_argument("--version", action="version", version=f"bluegreen {version()}")
    parser.add_argument(
        "--stack", default=os.environ.get("BLUEGREEN_STACK", "bluegreen"), help="the SAM stack name (AWS)"
    )
    parser.add_argument("--region", default=None)
    parser.add_argument(
        "--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"), help="an AWS endpoint (default $AWS_ENDPOINT_URL)"
    )
    parser.add_argument(
        "--local", action="store_true", help="use the running local stack (found from any subfolder; no credentials)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    status = commands.add_parser("status", help="the app's state: both colors, the deployment, what it waits for")
    status.add_argument("app")
    _json_flag(status)
    status.set_defaults(run=cmd_status)

    apps = commands.add_parser("apps", help="the registered apps")
    _json_flag(apps)
    apps.set_defaults(run=cmd_apps)

    sign = commands.add_parser("sign", help="print a build's KMS signature (S3 metadata bluegreen-signature)")
    sign.add_argument("file", help="the build zip")
    sign.add_argument("--key", required=True, help="the KMS key ARN or alias the app requires (kms:Sign)")
    _json_flag(sign)
    sign.set_defaults(run=cmd_sign)

    history = commands.add_parser("history", help="the app's transitions and events, oldest first")
    history.add_argument("app")
    history.add_argument("-n", "--limit", type=int, default=20)
    _json_flag(history)
    history.set_defaults(run=cmd_history)

    watch = commands.add_parser("watch", help="the current state, then a live timeline of Deployment State Change")
    watch.add_argument("app", nargs="?")
    watch.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until Ctrl-C)")
    _json_flag(watch)
    watch.set_defaults(run=cmd_watch)

    wait = commands.add_parser(
        "wait", help="block until a deployment succeeds (exit 0), fails (1) or times out (124): for CI"
    )
    wait.add_argument("app")
    wait.add_argument(
        "--for", dest="goal", choices=["DEPLOYING", "VERIFYING", "BAKING", "SUCCEEDED"], default="SUCCEEDED"
    )
    which = wait.add_mutually_exclusive_group()
    which.add_argument("--deployment-id", help="this deployment (default: the current one)")
    which.add_argument("--artifact", metavar="KEY", help="the deployment of this S3 key (e.g. mybot/build-42.zip)")
    wait.add_argument("--timeout", type=float, default=3600, help="seconds (default 3600)")
    wait.add_argument("--interval", type=float, default=5, help="seconds between polls (default 5)")
    _json_flag(wait)
    wait.set_defaults(run=cmd_wait)

    report = commands.add_parser("report", help="DORA metrics from the history, per app and overall")
    report.add_argument("app", nargs="?", help="one app (default: every app)")
    report.add_argument("--since", default="30d", help="a duration (30d, 12h, 2w) or an ISO date (default 30d)")
    _json_flag(report)
    report.set_defaults(run=cmd_report)

    helps = {
        "promote": "promote the verified build now (past a firing alarm with --force: a hotfix)",
        "approve": "approve a build waiting for approval (same as promote)",
        "finish_bake": "end the bake early: the build is good",
        "rollback": "traffic back to the previous color",
        "abort": "stop a deployment before traffic moved (or drop the queued build)",
        "pause": "hold new deployments (builds are queued)",
        "resume": "resume after pause",
        "retry": "deploy the last failed build again",
    }
    for action in ACTIONS:
        name = action.replace("_", "-")
        sub = commands.add_parser(name, aliases=[action] if name != action else [], help=helps[action])
        sub.add_argument("app")
        sub.add_argument("--reason", "-m", required=action not in ("pause", "resume"), default=f"{action} from the CLI")
        sub.add_argument("--by", help="who asks (default: $BLUEGREEN_ACTOR or your user name)")
        sub.add_argument("--deployment-id", help="act only if this is the current deployment")
        if action in ("promote", "approve"):
            sub.add_argument(
                "--force",
                action="store_true",
                help="even while an alarm fires or checks have not passed (a hotfix; it is recorded)",
            )
        if action == "rollback":
            sub.add_argument(
                "--force",
                action="store_true",
                help="even a release that forbids rollback (rollback: forbid), if the previous build can run after all",
            )
        _json_flag(sub)
        sub.set_defaults(run=cmd_action, action=action)

    report_check = commands.add_parser(
        "report-check",
        aliases=["report_check"],
        help="a release hook's verdict (for hooks written in shell): pass or fail, with the event's token",
    )
    report_check.add_argument("app")
    report_check.add_argument(
        "--token",
        default=os.environ.get("BLUEGREEN_CALLBACK_TOKEN"),
        help="the callback token from the hook's event (default $BLUEGREEN_CALLBACK_TOKEN)",
    )
    report_check.add_argument("--result", required=True, choices=["pass", "fail"])
    report_check.add_argument("--reason", "-m", default="", help="shown in the notification and the history")
    report_check.add_argument("--by", help="who reports (default: $BLUEGREEN_ACTOR or your user name)")
    _json_flag(report_check)
    report_check.set_defaults(run=cmd_report_check)

    register = commands.add_parser(
        "register", help="register an app and its two colors, or change settings (others are kept)"
    )
    register.add_argument("app")
    register.add_argument("--environments", nargs=2, metavar=("BLUE", "GREEN"))
    register.add_argument("--live-environment")
    register.add_argument("--production-cname")
    register.add_argument("--application-name", help="the EB application (default: the app name)")
    register.add_argument("--alarm", action="append", help="an alarm that rolls back (repeatable; --alarm '' for none)")
    register.add_argument(
        "--color-alarm",
        action="append",
        metavar="ENVIRONMENT=ALARM",
        help="an alarm that watches one color only (repeatable), e.g. mybot-green=mybot-green-5xx",
    )
    register.add_argument(
        "--consumer-lease",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a polling bot: promotions hand the consumer lease over (docs/consumer-lease.md)",
    )
    register.add_argument("--handoff-timeout-seconds", type=int)
    register.add_argument(
        "--traffic",
        choices=["cname", "alb", "lease"],
        help="how promotion moves traffic: cname (swap, the default), alb (a shared load balancer's rule, with "
        "weighted steps), lease (a polling bot: only the consumer lease) (docs/traffic.md)",
    )
    register.add_argument("--alb-rule", metavar="ARN", help="traffic alb: the production listener rule (or listener)")
    register.add_argument(
        "--alb-target-group", action="append", metavar="ENVIRONMENT=ARN", help="traffic alb: a color's target group"
    )
    register.add_argument("--steps", metavar="10,50,100", help="traffic alb: percent to the new color per step")
    register.add_argument("--step-seconds", type=int, help="traffic alb: how long each step lasts")
    register.add_argument(
        "--drain-seconds", type=int, help="how long the old color is left untouched after a swap (default 120)"
    )
    register.add_argument(
        "--standby",
        metavar="MIN/MAX",
        help="after the bake, scale the old color down to this (e.g. 1/1; 0/0 for a polling bot); none: never",
    )
    register.add_argument("--approval-timeout-seconds", type=int)
    register.add_argument("--bake-seconds", type=int)
    register.add_argument("--deploy-timeout-seconds", type=int)
    register.add_argument("--verify-timeout-seconds", type=int)
    register.add_argument("--promote-delay-seconds", type=int)
    register.add_argument("--rollback-window-seconds", type=int)
    register.add_argument("--health-grace-seconds", type=int)
    register.add_argument("--version-retention", type=int)
    register.add_argument("--signing-key-arn")
    promote_mode = register.add_mutually_exclusive_group()
    promote_mode.add_argument("--auto-promote", dest="auto_promote", action="store_true", default=None)
    promote_mode.add_argument("--no-auto-promote", dest="auto_promote", action="store_false")
    register.add_argument(
        "--phase",
        action=_PhaseAction,
        choices=["pre", "post"],
        default=argparse.SUPPRESS,
        help="the phase of the --check-json options after it: pre (before the swap, the default) or post",
    )
    register.add_argument(
        "--check-json",
        action=_CheckAction,
        metavar="JSON",
        help='a release gate (repeatable), e.g. \'{"type": "http", "name": "healthz", "path": "/healthz", '
        '"expect_body": "ok"}\'; the checks given replace the app\'s (docs/gates.md)',
    )
    register.add_argument(
        "--checks",
        dest="checks_file",
        metavar="FILE.json",
        help='the app\'s checks from a file ({"pre": [...], "post": [...]}; - reads stdin), replacing its checks',
    )
    register.add_argument("--no-checks", action="store_true", help="remove the app's checks")
    register.add_argument("--reason", "-m", default="registered from the CLI")
    register.add_argument("--by")
    _json_flag(register)
    register.set_defaults(run=cmd_register)

    rules = commands.add_parser("rules", help="the state machine's transition table")
    rules.add_argument("--diagram", action="store_true", help="as a Mermaid stateDiagram-v2")
    _json_flag(rules)
    rules.set_defaults(run=cmd_rules)

    completion = commands.add_parser(
        "completion", help="a shell completion script: source <(bluegreen completion bash)"
    )
    completion.add_argument("shell", choices=["bash", "zsh"])
    completion.set_defaults(run=cmd_completion)

    local = commands.add_parser("local", help="the local stack: the real controller on an embedded AWS")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    up = local_commands.add_parser("up", help="start moto's server, create the stack, run the handlers")
    up.add_argument("--app", default="mybot", help="a demo app whose two colors are created at start-up")
    up.add_argument("--port", type=int, default=int(os.environ.get("BLUEGREEN_LOCAL_PORT", str(DEFAULT_LOCAL_PORT))))
    up.add_argument("--update-seconds", type=float, default=2.0, help="simulated EB update time")
    up.add_argument("--tick-seconds", type=float, default=5.0, help="watchdog period (the template says 1 minute)")
    up.add_argument("--bake-seconds", type=int, default=120, help="bake time of the registered demo app")
    up.add_argument(
        "--traffic",
        choices=["cname", "alb"],
        default="cname",
        help="how the demo app's traffic moves: cname swaps, or alb (a shared load balancer, steps 10,50,100)",
    )
    health = local_commands.add_parser(
        "health", help="set a simulated color's health, e.g. Severe (acts only on a deployment in flight)"
    )
    health.add_argument("environment")
    health.add_argument("health", choices=["Ok", "Warning", "Degraded", "Severe"])
    local.set_defaults(run=cmd_local)

    try:  # the web dashboard, when its module is there (another engineer's)
        dashboard = importlib.import_module("bluegreen.dashboard")
    except ImportError:
        pass
    else:
        dashboard.add_dashboard_command(commands)
    return parser


def _given(argv: list[str], option: str) -> str | None:
    """The value of an option given on the command line (`--opt V` or `--opt=V`), not from the environment."""
    for index, word in enumerate(argv):
        if word == option and index + 1 < len(argv):
            return argv[index + 1]
        if word.startswith(option + "="):
            return word.split("=", 1)[1]
    return None


def main(argv: list[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(words)
    args.endpoint_url_given = _given(words, "--endpoint-url")
    try:
        code = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # `bluegreen history mybot | head`: the reader left. Quietly, and no "Exception ignored" at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE
    except CliError as error:
        print(f"bluegreen: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - the CLI's promise: one clear line, never a traceback
        print(f"bluegreen: {type(error).__name__}: {_short(error)}", file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
