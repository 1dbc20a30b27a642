"""Traffic mode `alb` on the local stack (issue 12): a bot behind a shared load balancer, registered with
weighted steps, promoted step by step by the watchdog, and sent back at once by an alarm at a middle step.
Everything goes through the public APIs: S3, Lambda Invoke, CloudWatch, ELBv2 on moto's server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bluegreen.aws.elb import percent_to, read_weights
from bluegreen_local.alb import create_alb_bot
from bluegreen_local.demo import bundle

from tests.e2e.conftest import running_stack

pytestmark = pytest.mark.e2e
APP = "albbot"


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    with running_stack(app=None, update_seconds=0.3, tick_seconds=0.5) as local:
        yield local


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_weighted_steps_at_a_shared_load_balancer_then_an_alarm_sends_everything_back(stack: Any) -> None:
    import boto3

    session = boto3.session.Session(region_name="us-east-1")
    lambda_, s3, cloudwatch = (session.client(s) for s in ("lambda", "s3", "cloudwatch"))
    elbv2 = session.client("elbv2")
    stack.create_demo_app(APP)
    alb = create_alb_bot(session, APP)
    info = stack.describe()

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        function = info["register_function"] if payload["action"] == "register" else info["override_function"]
        response = lambda_.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
        return dict(json.loads(response["Payload"].read()))

    def shares() -> dict[str, int]:
        weights = read_weights(elbv2, alb["rule_arn"])
        return {env: percent_to(weights, arn) for env, arn in alb["target_groups"].items()}

    def state() -> str | None:
        deployment = invoke({"action": "status", "app": APP, "history_limit": 0})["deployment"]
        return deployment["state"] if deployment else None

    registered = invoke(
        {
            "action": "register",
            "app": APP,
            "reason": "e2e alb",
            "requested_by": "pytest",
            "config": {
                "environments": [f"{APP}-blue", f"{APP}-green"],
                "alarms": [f"{APP}-errors"],
                "traffic": "alb",
                "alb": {
                    "rule_arn": alb["rule_arn"],
                    "target_groups": alb["target_groups"],
                    "steps": [10, 50, 100],
                    "step_seconds": 10,
                },
                "bake_seconds": 600,
                "drain_seconds": 0,
            },
        }
    )
    assert registered["ok"] and registered["live_environment"] == f"{APP}-blue", registered
    s3.put_object(Bucket=info["bucket"], Key=f"{APP}/a1.zip", Body=bundle("a1"))
    wait_for(lambda: shares() == {f"{APP}-blue": 90, f"{APP}-green": 10})
    assert state() == "BAKING"
    wait_for(lambda: shares() == {f"{APP}-blue": 50, f"{APP}-green": 50})
    cloudwatch.set_alarm_state(AlarmName=f"{APP}-errors", StateValue="ALARM", StateReason="e2e")
    wait_for(lambda: state() == "ROLLED_BACK")
    assert shares() == {f"{APP}-blue": 100, f"{APP}-green": 0}
