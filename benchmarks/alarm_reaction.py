"""Alarm reaction on the local stack: time from CloudWatch SetAlarmState to the CNAME swap, and how many
function invocations it took. Run by benchmarks/run.py in its own process (the local stack owns moto).

The path is the deployed one: SetAlarmState -> "CloudWatch Alarm State Change" on the default bus ->
the template's rule (moto's matching) -> its SQS target -> the dispatcher -> AlarmFunction -> swap.
The local dispatcher long-polls SQS, so a part of the figure is that poll, not the controller.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any

RUNS = 7


def register_app(stack: Any, config: dict[str, Any]) -> dict[str, Any]:
    """`register` through whichever function of the stack serves it (the template may give it its own)."""
    payload = {"action": "register", "app": "mybot", "reason": "bench", "requested_by": "bench", "config": config}
    functions = list(stack.stack.functions)
    candidates = [f for f in functions if "Register" in f] + ["OverrideFunction"]
    answer: dict[str, Any] = {}
    for logical_id in candidates:
        answer = stack.invoke(logical_id, payload)
        if answer.get("ok"):
            return answer
    return answer


def main() -> None:
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    from bluegreen_local.bots import bundle
    from bluegreen_local.stack import LocalStack

    with LocalStack(port=0, app="mybot", update_seconds=0.2, tick_seconds=3600, log_level="ERROR") as stack:
        import boto3

        session = boto3.session.Session(region_name="us-east-1")
        s3, cloudwatch = session.client("s3"), session.client("cloudwatch")
        bucket = stack.describe()["bucket"]
        register = {
            "environments": ["mybot-blue", "mybot-green"],
            "live_environment": "mybot-blue",
            "alarms": ["mybot-errors"],
            "bake_seconds": 3600,
        }
        answer = register_app(stack, register)
        assert answer["ok"], answer

        def state() -> str | None:
            deployment = stack.invoke("OverrideFunction", {"action": "status", "app": "mybot", "history_limit": 0})[
                "deployment"
            ]
            return deployment["state"] if deployment else None

        reactions, invocations = [], []
        for run in range(RUNS):
            s3.put_object(Bucket=bucket, Key=f"mybot/build-{run}.zip", Body=bundle({"bot.py": f"print({run})"}))
            deadline = time.monotonic() + 30
            while state() != "BAKING":
                assert time.monotonic() < deadline, "the deployment did not reach BAKING"
                time.sleep(0.05)
            swaps = stack.eb.swap_count
            since = time.time()
            start = time.perf_counter()
            cloudwatch.set_alarm_state(AlarmName="mybot-errors", StateValue="ALARM", StateReason="bench")
            while stack.eb.swap_count == swaps:
                assert time.perf_counter() - start < 30, "no swap after the alarm"
                time.sleep(0.001)
            reactions.append(time.perf_counter() - start)
            time.sleep(0.5)  # let the invocation that swapped return (it is logged when it returns)
            invocations.append(
                sum(1 for name, when, _ in stack.invocations if name == "AlarmFunction" and when >= since)
            )
            cloudwatch.set_alarm_state(AlarmName="mybot-errors", StateValue="OK", StateReason="bench")
    json.dump(
        {"runs": RUNS, "median_s": statistics.median(reactions), "samples_s": reactions, "invocations": invocations},
        sys.stdout,
    )


if __name__ == "__main__":
    main()
