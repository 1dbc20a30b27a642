"""Reaction times on the local stack, as distributions: upload -> DEPLOYING, EB healthy -> BAKING, alarm -> swap.
Run by benchmarks/run.py in its own process (the local stack owns moto); prints one JSON line last.
`python benchmarks/reaction_times.py [runs]`.

Each run: put an artifact in the bucket (S3 -> EventBridge -> the template's rule -> queue -> dispatcher ->
ArtifactFunction), the simulated EB finishes the update after `UPDATE_SECONDS` and emits its events
(-> HealthFunction, which promotes: BAKING), then `cloudwatch set-alarm-state ALARM` (-> AlarmFunction ->
swap back). The clocks:

- upload -> DEPLOYING: from just before PutObject to the moment the app item is written with the new
  deployment in DEPLOYING (moto's DynamoDB write is observed in-process, no polling).
- EB healthy -> BAKING: from the simulated EB's "Environment update successful" event for the target
  color (the color is Ready and Ok from then on) to the write of BAKING.
- alarm -> swap: from just before SetAlarmState to moto's SwapEnvironmentCNAMEs.

The dispatcher long-polls SQS, so each figure includes that hop, as EventBridge -> Lambda would.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "shared", ROOT / "local"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

UPDATE_SECONDS = 0.2
STEP_TIMEOUT_S = 30.0


class Clocks:
    """Times of what happens inside moto, recorded where it happens (this process hosts the server)."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.writes: list[tuple[float, str, str]] = []  # (perf_counter, deployment id, state)
        self.eb_events: list[tuple[float, str, str]] = []  # (perf_counter, environment, status)
        self.swaps: list[float] = []

    def wait(self, predicate: Any, since: float) -> Any:
        deadline = time.perf_counter() + STEP_TIMEOUT_S
        with self.lock:
            while True:
                found = predicate(since)
                if found is not None:
                    return found
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise TimeoutError("the step did not happen in time")
                self.lock.wait(remaining)

    def note_state_items(self, items: list[dict[str, Any]]) -> None:
        now = time.perf_counter()
        for item in items:
            if item.get("sk", {}).get("S") != "STATE" or "state" not in item:
                continue
            try:
                state = json.loads(item["state"]["S"])
            except (KeyError, TypeError, ValueError):
                continue
            deployment = state.get("deployment") or {}
            if deployment.get("id") and deployment.get("state"):
                with self.lock:
                    self.writes.append((now, str(deployment["id"]), str(deployment["state"])))
                    self.lock.notify_all()


def install_probes(clocks: Clocks, eb: Any) -> None:
    """Observe moto's DynamoDB writes of app items, the EB simulation's events and its CNAME swaps."""
    from moto.dynamodb.models import DynamoDBBackend

    put_item, transact = DynamoDBBackend.put_item, DynamoDBBackend.transact_write_items

    def observed_put(self: Any, table_name: str, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        result = put_item(self, table_name, item_attrs, *args, **kwargs)
        clocks.note_state_items([item_attrs])
        return result

    def observed_transact(self: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        result = transact(self, transact_items, *args, **kwargs)
        clocks.note_state_items([op["Put"]["Item"] for op in transact_items if "Put" in op])
        return result

    DynamoDBBackend.put_item = observed_put  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = observed_transact  # type: ignore[method-assign]

    def on_event(event: dict[str, Any]) -> None:
        detail = event.get("detail") or {}
        with clocks.lock:
            clocks.eb_events.append(
                (time.perf_counter(), str(detail.get("EnvironmentName")), str(detail.get("Status")))
            )
            clocks.lock.notify_all()

    eb.add_listener(on_event)
    swap = type(eb).swap_environment_cnames

    def observed_swap(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = swap(self, *args, **kwargs)
        with clocks.lock:
            clocks.swaps.append(time.perf_counter())
            clocks.lock.notify_all()
        return result

    type(eb).swap_environment_cnames = observed_swap  # type: ignore[method-assign]


def percentiles(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)

    def pick(q: float) -> float:  # nearest rank
        return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))]

    return {
        "runs": len(ordered),
        "p50_s": statistics.median(ordered),
        "p95_s": pick(0.95),
        "max_s": ordered[-1],
        "min_s": ordered[0],
        "samples_s": samples,
    }


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
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    from bluegreen_local.bots import bundle
    from bluegreen_local.stack import LocalStack

    clocks = Clocks()
    with LocalStack(port=0, app="mybot", update_seconds=UPDATE_SECONDS, tick_seconds=3600, log_level="ERROR") as stack:
        import boto3

        install_probes(clocks, stack.eb)
        session = boto3.session.Session(region_name="us-east-1")
        s3, cloudwatch = session.client("s3"), session.client("cloudwatch")
        bucket = stack.describe()["bucket"]
        register = {
            "environments": ["mybot-blue", "mybot-green"],
            "live_environment": "mybot-blue",
            "alarms": ["mybot-errors"],
            "bake_seconds": 3600,
            "drain_seconds": 0,  # the simulated DNS has no caches: each run's build may go to the color just left
        }
        answer = register_app(stack, register)
        assert answer["ok"], answer
        upload, healthy, alarm, invocations, failures = [], [], [], [], []
        seen: set[str] = set()
        for run in range(runs):
            try:
                body = bundle({"bot.py": f"print({run})"})
                start = time.perf_counter()
                s3.put_object(Bucket=bucket, Key=f"mybot/build-{run}.zip", Body=body)
                deploying_at, deployment = clocks.wait(lambda since: _first(clocks, "DEPLOYING", seen, since), start)
                seen.add(deployment)
                upload.append(deploying_at - start)
                target = stack.invoke("OverrideFunction", {"action": "status", "app": "mybot", "history_limit": 0})
                environment = (target.get("deployment") or {}).get("target_environment")
                ready_at = clocks.wait(
                    lambda since, env=environment: next(
                        (
                            when
                            for when, name, status in clocks.eb_events
                            if when >= since and name == env and status == "Environment update successful"
                        ),
                        None,
                    ),
                    deploying_at,
                )
                baking_at, _ = clocks.wait(lambda since, d=deployment: _first(clocks, "BAKING", None, since, d), start)
                healthy.append(baking_at - ready_at)
                clocks.wait(lambda since: next((t for t in clocks.swaps if t >= since), None), baking_at)  # promoted
                time.sleep(0.05)  # let the promoting invocation return before the alarm
                swaps = len(clocks.swaps)
                since = time.time()
                start = time.perf_counter()
                cloudwatch.set_alarm_state(AlarmName="mybot-errors", StateValue="ALARM", StateReason="bench")
                swapped_at = clocks.wait(lambda _, n=swaps: clocks.swaps[n] if len(clocks.swaps) > n else None, start)
                alarm.append(swapped_at - start)
                time.sleep(0.3)  # the invocation that swapped is logged when it returns
                invocations.append(
                    sum(1 for name, when, _ in stack.invocations if name == "AlarmFunction" and when >= since)
                )
            except (TimeoutError, AssertionError, KeyError) as error:
                failures.append(f"run {run}: {type(error).__name__}: {error}")
            finally:
                cloudwatch.set_alarm_state(AlarmName="mybot-errors", StateValue="OK", StateReason="bench")
    result = {
        "runs": runs,
        "update_seconds": UPDATE_SECONDS,
        "alarm_to_swap": percentiles(alarm) if alarm else None,
        "upload_to_deploying": percentiles(upload) if upload else None,
        "healthy_to_baking": percentiles(healthy) if healthy else None,
        "alarm_invocations": invocations,
        "failures": failures,
    }
    sys.stdout.write("\n" + json.dumps(result) + "\n")


def _first(
    clocks: Clocks, state: str, exclude: set[str] | None, since: float, deployment: str | None = None
) -> tuple[float, str] | None:
    for when, written_id, written in clocks.writes:
        if when < since or written != state:
            continue
        if deployment is not None and written_id != deployment:
            continue
        if exclude and written_id in exclude:
            continue
        return when, written_id
    return None


if __name__ == "__main__":
    main()
