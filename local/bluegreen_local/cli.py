"""`bluegreen local ...`: run the local stack in the foreground, or poke its simulated EB."""

from __future__ import annotations

import json
import os
import signal
import threading
import urllib.request
from pathlib import Path
from typing import Any

DESCRIPTOR = Path(os.environ.get("BLUEGREEN_LOCAL_DIR", ".local-stack")) / "stack.json"


def run(args: Any) -> None:
    if args.local_command == "up":
        up(args)
    elif args.local_command == "health":
        set_health(args.environment, args.health)


def up(args: Any) -> None:
    from bluegreen_local.stack import LocalStack

    stack = LocalStack(
        port=args.port,
        app=args.app,
        update_seconds=args.update_seconds,
        tick_seconds=args.tick_seconds,
        descriptor=DESCRIPTOR,
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stack.start()
    try:
        info = stack.describe()
        if args.app:
            traffic: dict[str, Any] = {}
            if getattr(args, "traffic", "cname") == "alb":
                from bluegreen_local.alb import create_alb_bot

                alb = create_alb_bot(stack.session, args.app)
                routing = {"rule_arn": alb["rule_arn"], "target_groups": alb["target_groups"]}
                steps = {"steps": [10, 50, 100], "step_seconds": max(int(args.tick_seconds * 4), 10)}
                traffic = {"traffic": "alb", "alb": {**routing, **steps}}
            registered = stack.invoke(
                "RegisterFunction",
                {
                    "action": "register",
                    "app": args.app,
                    "reason": "local stack start-up",
                    "requested_by": "bluegreen local up",
                    "config": {
                        "environments": [f"{args.app}-blue", f"{args.app}-green"],
                        "live_environment": f"{args.app}-blue",
                        "alarms": [f"{args.app}-errors"],
                        "bake_seconds": args.bake_seconds,
                        # the simulated DNS has no caches to drain (the default is 120 s: docs/traffic.md)
                        "drain_seconds": 5,
                        **traffic,
                    },
                },
            )
            if not registered.get("ok"):
                raise SystemExit(f"bluegreen: could not register {args.app}: {registered}")
        print(banner(info, args), flush=True)
        stop.wait()
    finally:
        print("stopping the local stack", flush=True)
        stack.stop()


def banner(info: dict[str, Any], args: Any) -> str:
    app = info["app"] or "mybot"
    url = info["endpoint_url"]
    return f"""
bluegreen local stack is up: {url}   (Ctrl-C to stop)
  bucket {info["bucket"]}   bus {info["bus"]}   table {info["table"]}
  simulated EB update time {args.update_seconds}s; watchdog every {args.tick_seconds}s (template: rate(1 minute))
  app {app!r} registered: {app}-blue is live, {app}-green is idle, alarm {app}-errors, bake {args.bake_seconds}s

Try it with the plain AWS CLI (any credentials work; region us-east-1; any AWS CLI version):
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
  alias awsl='aws --endpoint-url {url}'
  awsl s3 cp build.zip s3://{info["bucket"]}/{app}/build-1.zip
  echo '{{"action": "status", "app": "{app}"}}' > status.json
  awsl lambda invoke --function-name {info["override_function"]} --payload fileb://status.json out.json
  awsl cloudwatch set-alarm-state --alarm-name {app}-errors --state-value ALARM --state-reason "manual test"
And watch it react:  bluegreen --local watch {app}      Make a color sick:  bluegreen local health {app}-green Severe
"""


def set_health(environment: str, health: str) -> None:
    if not DESCRIPTOR.exists():
        raise SystemExit(f"bluegreen: no local stack running ({DESCRIPTOR} is missing)")
    url = json.loads(DESCRIPTOR.read_text())["endpoint_url"] + "/_bluegreen/health"
    body = json.dumps({"environment": environment, "health": health}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our own loopback endpoint
        print(f"{environment} health set to {health} ({json.loads(response.read())['emitted']} event(s) emitted)")
