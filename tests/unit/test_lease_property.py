"""The consumer lease's one promise, as a property (issue 12): whatever the order of acquires, heartbeats,
releases, hand-overs, crashes and the passing of time, at no instant may two colors poll, i.e. hold the
lease with poll time left. Fencing tokens only grow from one holder to the next. Against moto's DynamoDB
(the conditional writes are the protocol) with one fake clock for both colors."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest
from bluegreen.consumer import ConsumerLease, hand_over
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TABLE, APP, BLUE, GREEN = "state", "mybot", "mybot-blue", "mybot-green"
COLORS = (BLUE, GREEN)
HEARTBEAT = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


color = st.sampled_from(COLORS)
step = st.one_of(
    st.tuples(st.just("acquire"), color),
    st.tuples(st.just("heartbeat"), color),
    st.tuples(st.just("release"), color),
    st.tuples(st.just("hand_over"), color),
    st.tuples(st.just("crash"), color),  # the process dies: a new one of that color starts, knowing nothing
    st.tuples(st.just("advance"), st.sampled_from((0.5, 2.0, 4.9, 5.1, 10.0, 16.0))),
)


def make_table() -> Any:
    client = boto3.session.Session(region_name="us-east-1").client("dynamodb")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


@settings(
    max_examples=int(os.environ.get("BLUEGREEN_PROPERTY_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(step, min_size=1, max_size=40))
def test_two_colors_never_poll_at_once_and_tokens_only_grow(
    monkeypatch: pytest.MonkeyPatch, steps: list[tuple[str, Any]]
) -> None:
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = make_table()
        clock = Clock()
        leases = {
            c: ConsumerLease(TABLE, APP, c, heartbeat_seconds=HEARTBEAT, client=client, clock=clock) for c in COLORS
        }
        hand_over(client, TABLE, APP, BLUE)
        tokens: list[int] = []
        for action, value in steps:
            if action == "advance":
                clock.now += value
            elif action == "hand_over":
                hand_over(client, TABLE, APP, value)
            elif action == "crash":
                leases[value] = ConsumerLease(
                    TABLE, APP, value, heartbeat_seconds=HEARTBEAT, client=client, clock=clock
                )
            elif action == "acquire":
                grant = leases[value].try_acquire()
                if grant is not None and (not tokens or tokens[-1] != leases[value].token):
                    tokens.append(int(leases[value].token or 0))
            elif action == "heartbeat" and leases[value].holding:
                leases[value].heartbeat()
            elif action == "release" and leases[value].holding:
                leases[value].release()
            polling = [c for c, lease in leases.items() if lease.holding and lease.remaining() > 0]
            assert len(polling) <= 1, f"both colors may poll after {action} {value}: {polling}"
        assert tokens == sorted(set(tokens)), f"fencing tokens went back: {tokens}"
