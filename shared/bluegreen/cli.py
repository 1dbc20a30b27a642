"""`bluegreen`: the operator's command. The same commands work against AWS and the local stack.

Every mutating command invokes the stack's override function (so IAM on that function is the one
gate, and every action lands in the history with its actor and reason). `watch` tails the stack's
bus through a temporary SQS queue. On AWS the names come from the stack's outputs; with `--local`
(or after `bluegreen local up`) they come from the local stack's descriptor file.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOCAL_DESCRIPTOR = Path(os.environ.get("BLUEGREEN_LOCAL_DIR", ".local-stack")) / "stack.json"
ACTIONS = ("promote", "rollback", "abort", "pause", "resume", "retry")


class CliError(Exception):
    """One clear line for the operator, never a traceback."""


@dataclass
class Target:
    override_function: str
    bus: str
    endpoint_url: str | None
    region: str | None

    def client(self, service: str) -> Any:
        import boto3

        kwargs: dict[str, Any] = {}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        if self.region:
            kwargs["region_name"] = self.region
        return boto3.session.Session().client(service, **kwargs)


def resolve_target(args: argparse.Namespace) -> Target:
    if args.local or (not args.stack_given and LOCAL_DESCRIPTOR.exists() and not os.environ.get("BLUEGREEN_STACK")):
        if not LOCAL_DESCRIPTOR.exists():
            raise CliError(f"no local stack running ({LOCAL_DESCRIPTOR} is missing): start `bluegreen local up`")
        local = json.loads(LOCAL_DESCRIPTOR.read_text())
        return Target(local["override_function"], local["bus"], local["endpoint_url"], local["region"])
    target = Target("", "", args.endpoint_url, args.region)
    outputs = {}
    try:
        stacks = target.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    except Exception as error:  # noqa: BLE001 - reported as one line: no stack, no credentials, no network
        raise CliError(f"cannot read the outputs of stack {args.stack}: {_short(error)}") from None
    try:
        return Target(outputs["OverrideFunctionName"], outputs["BusName"], args.endpoint_url, args.region)
    except KeyError as missing:
        raise CliError(f"stack {args.stack} has no output {missing}: is it a bluegreen stack?") from None


def _short(error: BaseException) -> str:
    return str(error).splitlines()[0][:300] if str(error) else type(error).__name__


def invoke(target: Target, payload: dict[str, Any]) -> dict[str, Any]:
    response = target.client("lambda").invoke(
        FunctionName=target.override_function,
        InvocationType="RequestResponse",
        Payload=json.dumps(payload).encode(),
    )
    body = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        raise CliError(f"the override function failed: {body.get('errorMessage', body)}")
    if not body.get("ok", False):
        error = body.get("error", {})
        raise CliError(f"{error.get('code', 'Error')}: {error.get('message', body)}")
    return dict(body)


def actor(args: argparse.Namespace) -> str:
    return str(args.by or os.environ.get("BLUEGREEN_ACTOR") or getpass.getuser())


# ------------------------------------------------------------------ output


def _when(value: str | None) -> str:
    if not value:
        return "-"
    return value.replace("T", " ")[:19]


def print_status(state: dict[str, Any]) -> None:
    deployment = state.get("deployment") or {}
    print(f"app               {state['app']}   (revision {state['revision']})")
    print(f"live color        {state['live_environment']}   holds {state['production_cname']}")
    print(f"idle color        {state['idle_environment']}")
    print(f"last good version {state['last_good_version']}")
    print(f"paused            {'yes' if state['paused'] else 'no'}")
    if state.get("queued"):
        print(f"queued            {state['queued']['key']} ({state['queued']['label']})")
    if deployment:
        print(f"deployment        {deployment['id']}  {deployment['state']}  {deployment['artifact']['label']}")
        print(f"  target          {deployment['target_environment']} (previous {deployment['previous_environment']})")
        print(f"  started         {_when(deployment['started_at'])}   state since {_when(deployment['state_since'])}")
        if deployment.get("bake_until") and deployment["state"] == "BAKING":
            print(f"  bake until      {_when(deployment['bake_until'])}")
        print(f"  reason          {deployment['reason']}")
    else:
        print("deployment        none yet")
    if state.get("pending_effects"):
        print(f"pending effects   {', '.join(state['pending_effects'])}")


def print_history(records: list[dict[str, Any]]) -> None:
    for record in records:
        for note in record.get("transitions") or [{"from_state": None, "to_state": None, "reason": record["summary"]}]:
            arrow = f"{note.get('from_state') or '-':>11} -> {note.get('to_state') or '-':<11}"
            print(f"{_when(record['at'])}  r{record['revision']:<4} {arrow} {note['reason']}")


def timeline_line(detail: dict[str, Any], started: dict[str, float]) -> str:
    now = time.time()
    deployment = detail.get("deployment_id") or "-"
    if detail.get("to_state") == "DEPLOYING" and detail.get("from_state") is None:
        started[deployment] = now
    since = f"+{now - started[deployment]:5.1f}s" if deployment in started else "       "
    arrow = f"{detail.get('from_state') or '-':>11} -> {detail.get('to_state') or '-':<11}"
    version = (detail.get("version") or "-")[:32]
    clock = datetime.now(UTC).strftime("%H:%M:%S")
    return (
        f"{clock} {since}  {detail['app']:<12} {arrow} {version:<32} "
        f"live={detail['live_environment']} idle={detail['idle_environment']}  {detail['reason']}"
    )


# ------------------------------------------------------------------ commands


def cmd_status(args: argparse.Namespace) -> None:
    state = invoke(resolve_target(args), {"action": "status", "app": args.app, "history_limit": 0})
    if args.json:
        print(json.dumps(state, indent=2, default=str))
    else:
        print_status(state)


def cmd_history(args: argparse.Namespace) -> None:
    state = invoke(resolve_target(args), {"action": "status", "app": args.app, "history_limit": args.limit})
    if args.json:
        print(json.dumps(state["history"], indent=2, default=str))
    else:
        print_history(state["history"])


def cmd_action(args: argparse.Namespace) -> None:
    payload: dict[str, Any] = {
        "action": args.command,
        "app": args.app,
        "reason": args.reason,
        "requested_by": actor(args),
    }
    if args.deployment_id:
        payload["deployment_id"] = args.deployment_id
    result = invoke(resolve_target(args), payload)
    print(f"{args.command}: {result.get('reason', 'done')}")
    if result.get("state"):
        print_status(result["state"])


def cmd_register(args: argparse.Namespace) -> None:
    config: dict[str, Any] = {"environments": args.environments, "alarms": args.alarm or []}
    for name in ("application_name", "live_environment", "production_cname", "bake_seconds", "deploy_timeout_seconds",
                 "verify_timeout_seconds", "promote_delay_seconds", "rollback_window_seconds"):  # fmt: skip
        value = getattr(args, name)
        if value is not None:
            config[name] = value
    config["auto_promote"] = not args.no_auto_promote
    payload = {
        "action": "register",
        "app": args.app,
        "reason": args.reason,
        "requested_by": actor(args),
        "config": config,
    }
    print_status(invoke(resolve_target(args), payload))


def cmd_watch(args: argparse.Namespace) -> None:
    """Tail "Deployment State Change" events: a temporary queue subscribed to the bus by a rule."""
    target = resolve_target(args)
    events, sqs = target.client("events"), target.client("sqs")
    name = f"bluegreen-watch-{uuid.uuid4().hex[:8]}"
    pattern: dict[str, Any] = {"source": ["bluegreen"], "detail-type": ["Deployment State Change"]}
    if args.app:
        pattern["detail"] = {"app": [args.app]}
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    try:
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        rule_arn = events.put_rule(Name=name, EventBusName=target.bus, EventPattern=json.dumps(pattern))["RuleArn"]
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
        events.put_targets(Rule=name, EventBusName=target.bus, Targets=[{"Id": "watch", "Arn": queue_arn}])
        print(f"watching {target.bus} for {args.app or 'every app'} (Ctrl-C to stop)", flush=True)
        started: dict[str, float] = {}
        deadline = time.monotonic() + args.seconds if args.seconds else None
        while deadline is None or time.monotonic() < deadline:
            wait = 1 if target.endpoint_url else 10
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait).get(
                "Messages", []
            ):
                detail = json.loads(message["Body"])["detail"]
                print(timeline_line(detail, started), flush=True)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    except KeyboardInterrupt:
        pass
    finally:
        cleanups: list[tuple[Any, dict[str, Any]]] = [
            (events.remove_targets, {"Rule": name, "EventBusName": target.bus, "Ids": ["watch"]}),
            (events.delete_rule, {"Name": name, "EventBusName": target.bus}),
            (sqs.delete_queue, {"QueueUrl": url}),
        ]
        for call, kwargs in cleanups:
            try:
                call(**kwargs)
            except Exception:  # noqa: BLE001, S112 - best-effort cleanup of our own temporary resources
                continue


def cmd_rules(args: argparse.Namespace) -> None:
    from bluegreen.machine import describe_rules

    rows = describe_rules()
    widths = {key: max(len(key), *(len(row[key]) for row in rows)) for key in rows[0]}
    print("  ".join(key.ljust(widths[key]) for key in widths))
    for row in rows:
        print("  ".join(row[key].ljust(widths[key]) for key in widths))


def cmd_local(args: argparse.Namespace) -> None:
    import importlib

    try:
        local_cli = importlib.import_module("bluegreen_local.cli")  # dev-only: never ships to Lambda
    except ImportError:
        raise CliError("the local stack is dev-only: run it from a checkout (`make demo` sets it up)") from None
    local_cli.run(args)


# ------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bluegreen", description="Blue-green deployments of bots on Elastic Beanstalk"
    )
    parser.add_argument(
        "--stack", default=os.environ.get("BLUEGREEN_STACK", "bluegreen"), help="the SAM stack name (AWS)"
    )
    parser.add_argument("--region", default=None)
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"))
    parser.add_argument("--local", action="store_true", help="use the running local stack")
    commands = parser.add_subparsers(dest="command", required=True)

    status = commands.add_parser("status", help="the app's state")
    status.add_argument("app")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=cmd_status)

    history = commands.add_parser("history", help="the app's transitions, oldest first")
    history.add_argument("app")
    history.add_argument("-n", "--limit", type=int, default=20)
    history.add_argument("--json", action="store_true")
    history.set_defaults(run=cmd_history)

    watch = commands.add_parser("watch", help="a live timeline of Deployment State Change events")
    watch.add_argument("app", nargs="?")
    watch.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until Ctrl-C)")
    watch.set_defaults(run=cmd_watch)

    for action in ACTIONS:
        sub = commands.add_parser(action, help=f"override: {action}")
        sub.add_argument("app")
        sub.add_argument("--reason", "-m", required=action not in ("pause", "resume"), default=f"{action} from the CLI")
        sub.add_argument("--by", help="who asks (default: $BLUEGREEN_ACTOR or your user name)")
        sub.add_argument("--deployment-id", help="act only if this is the current deployment")
        sub.set_defaults(run=cmd_action)

    register = commands.add_parser("register", help="register (or re-configure) an app and its two colors")
    register.add_argument("app")
    register.add_argument("--environments", nargs=2, required=True, metavar=("BLUE", "GREEN"))
    register.add_argument("--live-environment")
    register.add_argument("--production-cname")
    register.add_argument("--application-name", help="the EB application (default: the app name)")
    register.add_argument("--alarm", action="append", help="an alarm that rolls back (repeatable)")
    register.add_argument("--bake-seconds", type=int)
    register.add_argument("--deploy-timeout-seconds", type=int)
    register.add_argument("--verify-timeout-seconds", type=int)
    register.add_argument("--promote-delay-seconds", type=int)
    register.add_argument("--rollback-window-seconds", type=int)
    register.add_argument("--no-auto-promote", action="store_true")
    register.add_argument("--reason", "-m", default="registered from the CLI")
    register.add_argument("--by")
    register.set_defaults(run=cmd_register)

    rules = commands.add_parser("rules", help="print the state machine's transition table")
    rules.set_defaults(run=cmd_rules)

    local = commands.add_parser("local", help="the local stack: the real controller on an embedded AWS")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    up = local_commands.add_parser("up", help="start moto's server, create the stack, run the handlers")
    up.add_argument("--app", default="mybot", help="a demo app whose two colors are created at start-up")
    up.add_argument("--port", type=int, default=int(os.environ.get("BLUEGREEN_LOCAL_PORT", "4566")))
    up.add_argument("--update-seconds", type=float, default=2.0, help="simulated EB update time")
    up.add_argument("--tick-seconds", type=float, default=5.0, help="watchdog period (the template says 1 minute)")
    up.add_argument("--bake-seconds", type=int, default=20, help="bake time of the registered demo app")
    health = local_commands.add_parser("health", help="set a simulated environment's health (e.g. Severe)")
    health.add_argument("environment")
    health.add_argument("health", choices=["Ok", "Warning", "Degraded", "Severe"])
    local.set_defaults(run=cmd_local)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.stack_given = "--stack" in (argv if argv is not None else sys.argv[1:])
    try:
        args.run(args)
    except CliError as error:
        print(f"bluegreen: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - the CLI's promise: one clear line, never a traceback
        print(f"bluegreen: {type(error).__name__}: {_short(error)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
