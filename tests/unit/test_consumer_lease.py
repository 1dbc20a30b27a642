"""bluegreen.consumer, one rule at a time, against moto's DynamoDB with a fake clock: who may acquire, when
a lease expires, what a lost lease commits (nothing), what a release hands to the next holder, and the
controller's side (hand_over, lease_holders) including throttling."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from bluegreen.consumer import ConsumerLease, Grant, LeaseView, hand_over, lease_holders, lease_key
from bluegreen.errors import Transient
from botocore.exceptions import ClientError, EndpointConnectionError

TABLE, APP, BLUE, GREEN = "state", "mybot", "mybot-blue", "mybot-green"
T0 = 1_700_000_000.0
HEARTBEAT = 5.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
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
        yield client


def lease(client: Any, environment: str, clock: Clock, **kwargs: Any) -> ConsumerLease:
    return ConsumerLease(TABLE, APP, environment, heartbeat_seconds=HEARTBEAT, client=client, clock=clock, **kwargs)


def item(client: Any) -> dict[str, Any]:
    found: dict[str, Any] = client.get_item(TableName=TABLE, Key=lease_key(APP), ConsistentRead=True).get("Item", {})
    return found


def view(client: Any) -> LeaseView:
    return lease_holders(client, TABLE, [APP])[APP]


class LosesOneReply:
    """The next update_item reaches DynamoDB, its reply does not (once)."""

    def __init__(self, client: Any) -> None:
        self.client, self.lose = client, False

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(**kwargs: Any) -> Any:
            result = method(**kwargs)
            if self.lose and name == "update_item":
                self.lose = False
                raise EndpointConnectionError(endpoint_url="https://dynamodb")
            return result

        return call


# ---------------------------------------------------------------------- acquire


def test_only_the_desired_color_acquires_and_the_token_starts_at_one(dynamodb: Any) -> None:
    clock = Clock()
    blue, green = lease(dynamodb, BLUE, clock), lease(dynamodb, GREEN, clock)
    assert blue.try_acquire() is None  # no desired holder yet: nobody polls
    hand_over(dynamodb, TABLE, APP, BLUE)
    assert green.try_acquire() is None
    assert blue.try_acquire() == Grant(token=1, progress=None)
    assert blue.holding and blue.token == 1
    assert view(dynamodb) == LeaseView(app=APP, holder=BLUE, desired=BLUE, token=1, heartbeat_at=int(T0 * 1000))


def test_acquire_is_refused_while_another_color_holds_a_fresh_heartbeat(dynamodb: Any) -> None:
    clock = Clock()
    blue, green = lease(dynamodb, BLUE, clock), lease(dynamodb, GREEN, clock)
    hand_over(dynamodb, TABLE, APP, BLUE)
    blue.try_acquire()
    hand_over(dynamodb, TABLE, APP, GREEN)  # promotion: green is desired, blue has not released yet
    for elapsed in (0.0, HEARTBEAT, 3 * HEARTBEAT):  # up to the expiry itself: still blue's
        clock.now = T0 + elapsed
        assert green.try_acquire() is None
    assert view(dynamodb).holder == BLUE
    # Even bypassing the client's own read, the conditional write refuses it.
    green_write = lease(dynamodb, GREEN, clock)
    green_write.acquirable = lambda lease=None: True  # type: ignore[method-assign]
    assert green_write.try_acquire() is None
    assert view(dynamodb).holder == BLUE and view(dynamodb).token == 1


def test_acquire_is_allowed_after_expiry_and_the_old_holder_then_finds_its_lease_lost(dynamodb: Any) -> None:
    clock = Clock()
    blue, green = lease(dynamodb, BLUE, clock), lease(dynamodb, GREEN, clock)
    hand_over(dynamodb, TABLE, APP, BLUE)
    blue.try_acquire()
    blue.heartbeat("41")
    hand_over(dynamodb, TABLE, APP, GREEN)
    clock.now = T0 + 3 * HEARTBEAT + 0.001  # blue stalled for longer than expiry_factor * heartbeat
    assert green.try_acquire() == Grant(token=2, progress="41")
    assert blue.heartbeat("57") is False and blue.ended == "lost" and not blue.holding
    assert blue.release("57") is False  # nothing to release: not ours any more
    assert view(dynamodb).holder == GREEN and view(dynamodb).progress == "41"


def test_an_acquire_whose_reply_was_lost_is_retried_at_once(dynamodb: Any) -> None:
    clock, flaky = Clock(), LosesOneReply(dynamodb)
    blue = lease(flaky, BLUE, clock)
    hand_over(dynamodb, TABLE, APP, BLUE)
    flaky.lose = True
    with pytest.raises(Transient):
        blue.try_acquire()
    assert not blue.holding and view(dynamodb).holder == BLUE  # it went through; blue does not know
    assert blue.try_acquire() == Grant(token=2, progress=None)  # no wait for its own lease to expire


def test_a_second_process_of_the_same_color_waits_for_the_first(dynamodb: Any) -> None:
    clock = Clock()
    first, second = lease(dynamodb, BLUE, clock), lease(dynamodb, BLUE, clock)
    hand_over(dynamodb, TABLE, APP, BLUE)
    first.try_acquire()
    assert second.try_acquire() is None
    first.release("9")
    assert second.try_acquire() == Grant(token=2, progress="9")


# ---------------------------------------------------------------------- heartbeat, hand-over, release


def test_a_heartbeat_that_finds_desired_moved_commits_the_progress_and_releases(dynamodb: Any) -> None:
    clock = Clock()
    blue, green = lease(dynamodb, BLUE, clock), lease(dynamodb, GREEN, clock)
    hand_over(dynamodb, TABLE, APP, BLUE)
    blue.try_acquire()
    assert blue.heartbeat("10") is True
    hand_over(dynamodb, TABLE, APP, GREEN)
    assert blue.heartbeat("12") is False
    assert blue.ended == "handed over" and not blue.holding and blue.token is None
    assert view(dynamodb).holder is None and view(dynamodb).progress == "12"
    assert green.try_acquire() == Grant(token=2, progress="12")  # resumes exactly where blue stopped


def test_a_hand_over_whose_release_fails_is_released_by_the_next_heartbeat(dynamodb: Any) -> None:
    clock, flaky = Clock(), LosesOneReply(dynamodb)
    blue = lease(flaky, BLUE, clock)
    hand_over(dynamodb, TABLE, APP, BLUE)
    blue.try_acquire()
    blue.heartbeat("4")
    hand_over(dynamodb, TABLE, APP, GREEN)
    original = flaky.client.update_item

    def heartbeat_ok_release_lost(**kwargs: Any) -> Any:
        if kwargs["UpdateExpression"].startswith("REMOVE"):  # the release does not get through
            raise EndpointConnectionError(endpoint_url="https://dynamodb")
        return original(**kwargs)

    flaky.client = type(
        "C", (), {"update_item": staticmethod(heartbeat_ok_release_lost), "get_item": dynamodb.get_item}
    )()
    with pytest.raises(Transient):
        blue.heartbeat("6")
    assert blue.holding and blue._unconfirmed  # run() will not poll before a heartbeat confirms again
    assert view(dynamodb).holder == BLUE
    flaky.client = dynamodb
    assert blue.heartbeat() is False and blue.ended == "handed over"
    assert view(dynamodb).holder is None and view(dynamodb).progress == "6"


def test_release_hands_the_committed_progress_to_the_next_holder(dynamodb: Any) -> None:
    clock = Clock()
    blue, green = lease(dynamodb, BLUE, clock), lease(dynamodb, GREEN, clock)
    hand_over(dynamodb, TABLE, APP, BLUE)
    blue.try_acquire()
    assert blue.release("100") is True and blue.ended == "released"
    hand_over(dynamodb, TABLE, APP, GREEN)
    assert green.try_acquire() == Grant(token=2, progress="100")
    assert green.release() is True  # no new progress: the committed one stays
    hand_over(dynamodb, TABLE, APP, BLUE)  # rollback
    assert blue.try_acquire() == Grant(token=3, progress="100")


def test_a_release_retried_after_an_unknown_outcome_reports_it_done(dynamodb: Any) -> None:
    clock = Clock()
    flaky = LosesOneReply(dynamodb)
    blue = lease(flaky, BLUE, clock)
    hand_over(dynamodb, TABLE, APP, BLUE)
    blue.try_acquire()
    flaky.lose = True
    with pytest.raises(Transient):
        blue.release("33")
    assert blue.holding  # unknown: still ours as far as blue can tell
    assert blue.release("33") is True and blue.ended == "released"
    assert view(dynamodb).holder is None and view(dynamodb).progress == "33"


def test_context_manager_acquires_and_releases_with_the_latest_progress(dynamodb: Any) -> None:
    clock = Clock()
    hand_over(dynamodb, TABLE, APP, BLUE)
    with lease(dynamodb, BLUE, clock, idle_seconds=0.01) as blue:
        assert blue.holding and blue.token == 1
        assert blue.heartbeat("5")
    assert not blue.holding and view(dynamodb).progress == "5" and view(dynamodb).holder is None
    green = lease(dynamodb, GREEN, clock, idle_seconds=0.01)
    with pytest.raises(TimeoutError):
        green.acquire(timeout=0.05)


def test_expiry_factor_must_leave_room_for_a_poll_after_a_heartbeat() -> None:
    with pytest.raises(ValueError, match="expiry_factor"):
        ConsumerLease(TABLE, APP, BLUE, expiry_factor=2)
    with pytest.raises(ValueError, match="heartbeat_seconds"):
        ConsumerLease(TABLE, APP, BLUE, heartbeat_seconds=0)


# ---------------------------------------------------------------------- run(poll_once)


def test_run_never_polls_without_the_lease_and_hands_over_after_the_in_flight_poll(dynamodb: Any) -> None:
    hand_over(dynamodb, TABLE, APP, GREEN)
    blue = ConsumerLease(TABLE, APP, BLUE, heartbeat_seconds=0.2, client=dynamodb, idle_seconds=0.01)
    stop, polls = threading.Event(), []

    def poll_once(lease: ConsumerLease) -> str | None:
        assert lease.holding
        polls.append(lease.token)
        if len(polls) == 2:
            hand_over(dynamodb, TABLE, APP, GREEN)  # the promotion lands during this poll
        return str(len(polls) * 10)

    runner = threading.Thread(target=blue.run, args=(poll_once,), kwargs={"stop": stop})
    runner.start()
    try:
        stop.wait(0.1)
        assert polls == []  # green is desired: blue waits
        hand_over(dynamodb, TABLE, APP, BLUE)
        stop.wait(0.5)
    finally:
        stop.set()
        runner.join(timeout=5)
    assert polls == [1, 1]  # the poll in flight finished, then blue stopped
    assert blue.ended == "handed over"
    assert view(dynamodb).holder is None and view(dynamodb).progress == "20"


def test_a_lost_lease_stops_the_poller_at_once_without_committing_its_progress(dynamodb: Any) -> None:
    clock = Clock()
    hand_over(dynamodb, TABLE, APP, BLUE)
    blue = lease(dynamodb, BLUE, clock, idle_seconds=0.01)
    green = lease(dynamodb, GREEN, clock)
    stop, polls = threading.Event(), []

    def poll_once(lease: ConsumerLease) -> str | None:
        polls.append(lease.progress)
        if len(polls) == 2:  # blue stalls in this poll past expiry; green takes the lease over
            hand_over(dynamodb, TABLE, APP, GREEN)
            clock.now += 3 * HEARTBEAT + 1
            assert green.try_acquire() == Grant(token=2, progress="5")
        return "5" if len(polls) == 1 else "9"

    runner = threading.Thread(target=blue.run, args=(poll_once,), kwargs={"stop": stop})
    runner.start()
    try:
        stop.wait(0.3)
    finally:
        stop.set()
        runner.join(timeout=5)
    assert polls == [None, "5"]  # no poll after the lease was lost
    assert blue.ended == "lost" and not blue.holding
    assert view(dynamodb).holder == GREEN and view(dynamodb).progress == "5"  # "9" never committed


def test_run_does_not_poll_on_an_unconfirmed_lease(dynamodb: Any) -> None:
    clock = Clock()
    hand_over(dynamodb, TABLE, APP, BLUE)

    class Throttled:
        def __init__(self, client: Any) -> None:
            self.client, self.throttle = client, False

        def __getattr__(self, name: str) -> Any:
            method = getattr(self.client, name)

            def call(**kwargs: Any) -> Any:
                if self.throttle:
                    raise throttling(name)
                return method(**kwargs)

            return call

    throttled = Throttled(dynamodb)
    blue = lease(throttled, BLUE, clock, idle_seconds=0.01)
    stop, polls = threading.Event(), []

    def poll_once(lease: ConsumerLease) -> str | None:
        polls.append(lease.token)
        throttled.throttle = True  # the heartbeat after this poll cannot be confirmed
        return "3"

    runner = threading.Thread(target=blue.run, args=(poll_once,), kwargs={"stop": stop})
    runner.start()
    try:
        stop.wait(0.2)
        assert polls == [1]  # no second poll while unconfirmed
        clock.now += 3 * HEARTBEAT + 1
        stop.wait(0.1)
        assert not blue.holding and blue.ended == "lost"  # past expiry without a confirmation: given up
    finally:
        stop.set()
        runner.join(timeout=5)
    assert polls == [1]


# ---------------------------------------------------------------------- the controller's side


def throttling(operation: str = "UpdateItem") -> ClientError:
    return ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        operation,
    )


def test_hand_over_is_idempotent_and_touches_only_desired(dynamodb: Any) -> None:
    clock = Clock()
    hand_over(dynamodb, TABLE, APP, BLUE)  # creates the item
    assert item(dynamodb) == {"pk": {"S": f"LEASE#{APP}"}, "sk": {"S": "LEASE"}, "desired": {"S": BLUE}}
    blue = lease(dynamodb, BLUE, clock)
    blue.try_acquire()
    blue.heartbeat("7")
    before = item(dynamodb)
    hand_over(dynamodb, TABLE, APP, GREEN)
    hand_over(dynamodb, TABLE, APP, GREEN)
    after = item(dynamodb)
    assert after == {**before, "desired": {"S": GREEN}}


def test_lease_holders_reads_every_app_in_batches_of_100(dynamodb: Any) -> None:
    apps = [f"bot{i:03d}" for i in range(150)]
    for i, app in enumerate(apps[:120]):
        hand_over(dynamodb, TABLE, app, f"{app}-{'blue' if i % 2 else 'green'}")
    calls: list[int] = []

    class Counting:
        def batch_get_item(self, **kwargs: Any) -> Any:
            calls.append(len(kwargs["RequestItems"][TABLE]["Keys"]))
            assert kwargs["RequestItems"][TABLE]["ConsistentRead"] is True
            return dynamodb.batch_get_item(**kwargs)

    views = lease_holders(Counting(), TABLE, [*apps, apps[0]])
    assert sorted(calls) == [50, 100]
    assert set(views) == set(apps)
    assert views["bot001"].desired == "bot001-blue" and views["bot000"].desired == "bot000-green"
    assert views["bot149"] == LeaseView(app="bot149")  # no item: nobody desired, nobody holding


def test_lease_holders_retries_unprocessed_keys() -> None:
    key = lease_key(APP)
    found = {**key, "holder": {"S": BLUE}, "desired": {"S": BLUE}, "token": {"N": "4"}, "heartbeat_at": {"N": "9"}}
    replies = [
        {"Responses": {TABLE: []}, "UnprocessedKeys": {TABLE: {"Keys": [key], "ConsistentRead": True}}},
        {"Responses": {TABLE: [found]}, "UnprocessedKeys": {}},
    ]

    class Busy:
        def batch_get_item(self, **kwargs: Any) -> Any:
            return replies.pop(0)

    assert lease_holders(Busy(), TABLE, [APP])[APP] == LeaseView(
        app=APP, holder=BLUE, desired=BLUE, token=4, heartbeat_at=9
    )


def test_throttling_and_5xx_are_transient_other_errors_are_not() -> None:
    class Failing:
        def __init__(self, error: Exception) -> None:
            self.error = error

        def update_item(self, **kwargs: Any) -> Any:
            raise self.error

        batch_get_item = update_item

    with pytest.raises(Transient):
        hand_over(Failing(throttling()), TABLE, APP, BLUE)
    server_error = ClientError(
        {"Error": {"Code": "InternalServerError", "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
        "BatchGetItem",
    )
    with pytest.raises(Transient):
        lease_holders(Failing(server_error), TABLE, [APP])
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        "UpdateItem",
    )
    with pytest.raises(ClientError):
        hand_over(Failing(denied), TABLE, APP, BLUE)
