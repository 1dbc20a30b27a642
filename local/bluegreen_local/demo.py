"""`make demo`: the whole lifecycle on the local stack, driven the way a user drives AWS.

Uploads go to S3, alarms change through CloudWatch's API, overrides are Lambda invokes, all through
boto3 against the local endpoint; the controller reacts through the template's rules. Prints a
timeline (from the bus) and exits non-zero if any expected step did not happen.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

APP = "mybot"
BLUE, GREEN = f"{APP}-blue", f"{APP}-green"
STEP_TIMEOUT = 30.0


def bundle(version: str, simulate: dict[str, Any] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bot.py", f"print('bot {version}')\n")
        if simulate:
            archive.writestr("bluegreen-simulate.json", json.dumps(simulate))
    return buffer.getvalue()


class Demo:
    def __init__(self, stack: Any) -> None:
        import boto3

        self.stack = stack
        self.info = stack.describe()
        session = boto3.session.Session(region_name=self.info["region"])
        self.s3 = session.client("s3")
        self.cloudwatch = session.client("cloudwatch")
        self.lambda_ = session.client("lambda")
        self.events = session.client("events")
        self.sqs = session.client("sqs")
        self.started = time.monotonic()
        self.failures: list[str] = []
        self.notifications: list[dict[str, Any]] = []
        self.stop = threading.Event()

    # ------------------------------------------------------------------ acting, as a user would
    def invoke(self, payload: dict[str, Any]) -> dict[str, Any]:
        function = (
            self.info["register_function"] if payload.get("action") == "register" else self.info["override_function"]
        )
        response = self.lambda_.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
        return dict(json.loads(response["Payload"].read()))

    def override(self, action: str, reason: str) -> dict[str, Any]:
        return self.invoke({"action": action, "app": APP, "reason": reason, "requested_by": "demo"})

    def status(self) -> dict[str, Any]:
        return self.invoke({"action": "status", "app": APP, "history_limit": 0})

    def upload(self, name: str, simulate: dict[str, Any] | None = None) -> None:
        self.s3.put_object(Bucket=self.info["bucket"], Key=f"{APP}/{name}.zip", Body=bundle(name, simulate))

    def alarm(self, state: str) -> None:
        self.cloudwatch.set_alarm_state(AlarmName=f"{APP}-errors", StateValue=state, StateReason=f"demo sets {state}")

    # ------------------------------------------------------------------ observing
    def watch(self) -> None:
        """Subscribe a queue to the bus, as `bluegreen watch` does, and print the timeline."""
        timeline_line = _timeline_formatter()

        name = f"demo-watch-{uuid.uuid4().hex[:6]}"
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_rule(
            Name=name, EventBusName=self.info["bus"], EventPattern=json.dumps({"source": ["bluegreen"]})
        )
        self.events.put_targets(Rule=name, EventBusName=self.info["bus"], Targets=[{"Id": "demo", "Arn": arn}])
        started: dict[str, float] = {}

        def loop() -> None:
            while not self.stop.is_set():
                for message in self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                    "Messages", []
                ):
                    detail = json.loads(message["Body"])["detail"]
                    self.notifications.append(detail)
                    print("   " + timeline_line(detail, started), flush=True)
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

        threading.Thread(target=loop, daemon=True).start()

    def step(self, title: str, act: Callable[[], Any], until: Callable[[dict[str, Any]], bool], expect: str) -> None:
        print(f"\n== {title}", flush=True)
        begin = time.monotonic()
        act()
        deadline = begin + STEP_TIMEOUT
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self.status()
            if until(state):
                time.sleep(0.3)  # let the timeline catch up
                print(f"   ok: {expect} ({time.monotonic() - begin:.1f}s)", flush=True)
                return
            time.sleep(0.2)
        deployment = state.get("deployment") or {}
        message = f"{title}: expected {expect}, got {deployment.get('state')} ({deployment.get('reason')})"
        print(f"   FAILED: {message}", flush=True)
        self.failures.append(message)

    # ------------------------------------------------------------------ the scenario
    def run(self) -> int:
        self.watch()
        register = {
            "action": "register",
            "app": APP,
            "reason": "demo",
            "requested_by": "demo",
            "config": {
                "environments": [BLUE, GREEN],
                "live_environment": BLUE,
                "alarms": [f"{APP}-errors"],
                "bake_seconds": 3,
                "health_grace_seconds": 2,
                "drain_seconds": 0,  # the demo's colors serve no DNS clients: a build may update the old color at once
            },
        }
        self.step(
            "register mybot: blue is live on v0",
            lambda: self.invoke(register),
            lambda s: s.get("ok") is True,
            "registered",
        )

        def on(name: str, state: str) -> Callable[[dict[str, Any]], bool]:
            def check(s: dict[str, Any]) -> bool:
                d = s.get("deployment") or {}
                return d.get("state") == state and d.get("artifact", {}).get("key") == f"{APP}/{name}.zip"

            return check

        self.step(
            "upload v1: deploy to green, verify, promote, bake, succeed",
            lambda: self.upload("v1"),
            on("v1", "SUCCEEDED"),
            "v1 SUCCEEDED, green live",
        )
        self.check(lambda s: s["live_environment"] == GREEN, "green is live after v1")

        self.step(
            "upload v2: deploy to blue and promote",
            lambda: self.upload("v2"),
            on("v2", "BAKING"),
            "v2 BAKING, blue live",
        )
        self.step(
            "alarm mybot-errors goes to ALARM while v2 bakes",
            lambda: self.alarm("ALARM"),
            on("v2", "ROLLED_BACK"),
            "v2 ROLLED_BACK, green live again",
        )
        self.check(lambda s: s["live_environment"] == GREEN, "traffic is back on green (v1)")
        self.alarm("OK")

        self.step(
            "upload v3, which comes up Severe and stays Severe past the 2s health grace",
            lambda: self.upload("v3", {"health": "Severe"}),
            on("v3", "ABORTED"),
            "v3 ABORTED, traffic never moved",
        )
        self.check(lambda s: s["live_environment"] == GREEN, "green still live")

        self.step(
            "pause, then upload v4",
            lambda: (self.override("pause", "demo freeze"), self.upload("v4")),
            lambda s: bool(s.get("paused") and s.get("queued")),
            "v4 queued, not started",
        )
        self.check(lambda s: (s.get("deployment") or {}).get("state") == "ABORTED", "nothing deployed while paused")
        self.step(
            "resume: v4 starts and succeeds",
            lambda: self.override("resume", "freeze over"),
            on("v4", "SUCCEEDED"),
            "v4 SUCCEEDED, blue live",
        )
        self.check(lambda s: s["live_environment"] == BLUE, "blue is live on v4")
        self.gates_scene(on)

        self.stop.set()
        final = self.status()
        print("\n== final state")
        for key in ("live_environment", "idle_environment", "last_good_version", "paused"):
            print(f"   {key:<18} {final.get(key)}")
        history = self.invoke({"action": "status", "app": APP, "history_limit": 100})["history"]
        print(f"   history records  {len(history)};  notifications seen {len(self.notifications)}")
        print(f"   EB CNAME swaps   {self.stack.eb.swap_count}")
        from bluegreen_local.polling_scene import PollingScene  # issue 12: a polling bot's hand-over

        self.failures += PollingScene(self.stack).run().failures
        total = time.monotonic() - self.started
        if self.failures:
            print(f"\ndemo FAILED after {total:.1f}s:")
            for failure in self.failures:
                print(f"  - {failure}")
            return 1
        self.print_report(history)
        print(f"\ndemo passed: every expected step happened, in {total:.1f}s")
        return 0

    def gates_scene(self, on: Callable[[str, str], Callable[[dict[str, Any]], bool]]) -> None:
        """Release gates (issue 11, docs/gates.md): checks on the idle color's own URL before traffic moves.

        An HTTP check the controller queues to the stack's CheckFunction, and a Lambda hook, the one in
        examples/release_hook, run by the local stack on each asynchronous invoke of its function."""
        hook = "bluegreen-hook-mybot-smoke"
        example = _release_hook_example()
        environ = {"OVERRIDE_FUNCTION": self.info["override_function"], "HEALTH_PATH": "/start", "EXPECT_BODY": "ok"}
        self.stack.register_hook(hook, lambda event, context: example.run(event, environ=environ))
        checks = {
            "pre": [
                {"type": "http", "name": "healthz", "path": "/healthz", "expect_body": "ok", "attempts": 1},
                {"type": "lambda", "name": "smoke", "function": hook, "timeout_seconds": 30},
            ]
        }
        register = {"action": "register", "app": APP, "reason": "release gates", "requested_by": "demo"}
        self.step(
            "register pre-promotion checks: GET /healthz expecting ok, and hook smoke (examples/release_hook)",
            lambda: self.invoke({**register, "config": {"environments": [BLUE, GREEN], "checks": checks}}),
            lambda s: [c["name"] for c in s.get("config", {}).get("checks", {}).get("pre", [])] == ["healthz", "smoke"],
            "registered, checks healthz and smoke",
        )
        swaps = self.stack.eb.swap_count
        self.step(
            "upload v5, whose bot answers 503 on /healthz: the check fails on green, before traffic moves",
            lambda: self.upload("v5", {"http": {"/healthz": {"status": 503, "body": "down"}}}),
            on("v5", "ABORTED"),
            "v5 ABORTED by check healthz, traffic never moved",
        )
        self.check(lambda s: s["live_environment"] == BLUE, "blue still live on v4")
        self.check(lambda s: self.stack.eb.swap_count == swaps, "no CNAME swap for v5")
        self.check(
            lambda s: "pre-promotion check healthz failed" in str((s.get("deployment") or {}).get("reason")),
            "the abort names the check: healthz",
        )
        self.step(
            "upload v6, a good build: healthz and the hook pass on green, then the swap",
            lambda: self.upload("v6"),
            on("v6", "SUCCEEDED"),
            "v6 SUCCEEDED, green live",
        )
        self.check(
            lambda s: (
                s["live_environment"] == GREEN
                and [(c["name"], c["passed"]) for c in (s.get("deployment") or {}).get("checks", [])]
                == [("healthz", True), ("smoke", True)]
            ),
            "green is live on v6; both checks passed",
        )

    def print_report(self, history: list[dict[str, Any]]) -> None:
        """The DORA report of the demo's deployments, as `bluegreen report mybot` prints it."""
        from datetime import UTC, datetime, timedelta

        from bluegreen import report

        now = datetime.now(UTC)
        result = report.compute(history, since=now - timedelta(hours=1), until=now + timedelta(minutes=1))
        print("\n== DORA report of the demo's deployments (bluegreen report mybot)")
        for line in report.render(result).splitlines():
            print(f"   {line}")

    def check(self, condition: Callable[[dict[str, Any]], bool], what: str) -> None:
        ok = condition(self.status())
        print(f"   {'ok' if ok else 'FAILED'}: {what}")
        if not ok:
            self.failures.append(what)


def main() -> int:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # EMF lines belong in CloudWatch, not the demo
    import logging

    logging.getLogger("bluegreen").setLevel(logging.WARNING)
    from bluegreen_local.stack import LocalStack

    print("starting the local stack (moto server, template.yaml resources, the real handlers)...", flush=True)
    with LocalStack(port=0, app=APP, update_seconds=1.0, tick_seconds=1.0, log_level="WARNING") as stack:
        print(f"local AWS endpoint: {stack.endpoint_url}", flush=True)
        return Demo(stack).run()


def _release_hook_example() -> Any:
    """examples/release_hook/app.py, the hook a team deploys with its own SAM template."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "release_hook" / "app.py"
    spec = importlib.util.spec_from_file_location("release_hook_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _timeline_formatter() -> Callable[[dict[str, Any], dict[str, float]], str]:
    """The CLI's one-line rendering of a notification, whichever form `bluegreen.cli` has now
    (`timeline_line(detail, started)`, or `event_line(note, style)` since the CLI rewrite)."""
    from bluegreen import cli

    if hasattr(cli, "timeline_line"):
        return cli.timeline_line  # type: ignore[no-any-return]
    if hasattr(cli, "event_line"):
        from bluegreen import term

        style = term.Style(False)
        return lambda detail, _started: str(cli.event_line(detail, style))
    return lambda detail, _started: f"{detail.get('state')}  {detail.get('reason', '')}"


if __name__ == "__main__":
    sys.exit(main())
