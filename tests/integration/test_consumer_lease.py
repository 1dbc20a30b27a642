"""The proof of the consumer hand-over: two copies of the example Telegram bot (examples/telegram_bot), one
per color, run as threads against moto's DynamoDB (the table as template.yaml declares it) and one fake
Telegram fed continuously, while the controller's `hand_over` moves the lease blue -> green -> blue ->
green (a promotion, a rollback, a promotion again).

Then: every update was handled exactly once and in order, the two colors never polled at the same time
(no two poll intervals of different colors overlap, and Telegram saw no concurrent getUpdates), and the
fencing token grew at every hand-over.

DynamoDB applies each request atomically; moto in-process does not lock, so the test serializes calls to
it (one lock around every client call), which is what DynamoDB guarantees per item.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bluegreen.consumer import ConsumerLease, hand_over, lease_holders
from bluegreen_local.template import provision

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "telegram_bot"
sys.path.insert(0, str(EXAMPLE))
from bot import Bot, Update  # noqa: E402
from fake_telegram import FakeTelegram  # noqa: E402

APP, BLUE, GREEN = "mybot", "mybot-blue", "mybot-green"
HEARTBEAT = 0.2  # seconds: the whole dance takes a few seconds


class Atomic:
    """A boto3 client whose calls run one at a time (DynamoDB's per-request atomicity, for moto)."""

    def __init__(self, client: Any, lock: threading.Lock) -> None:
        self._client, self._lock = client, lock

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            with self._lock:
                return method(**kwargs)

        return call


class Journal:
    """What happened, across both colors, under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.handled: list[tuple[int, str, int]] = []  # (update_id, color, token) in handling order
        self.polls: list[tuple[float, float, str, int]] = []  # (start, end, color, token)

    def count(self, color: str) -> int:
        with self.lock:
            return sum(1 for _, c, _ in self.handled if c == color)


class Consumer:
    """One color's bot process: the example's Bot, its poll timed and its updates journaled."""

    def __init__(self, color: str, client: Any, table: str, telegram: FakeTelegram, journal: Journal) -> None:
        self.color, self.journal = color, journal
        # The standby looks often (every 10 ms), so a hand-over races the holder's long poll.
        self.lease = ConsumerLease(table, APP, color, heartbeat_seconds=HEARTBEAT, client=client, idle_seconds=0.01)
        self.bot = Bot(telegram, self.handle, long_poll_seconds=HEARTBEAT, reserve_seconds=HEARTBEAT / 2, limit=20)
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self.lease.run, args=(self.poll_once,), kwargs={"stop": self.stop}, daemon=True
        )

    def handle(self, update: Update) -> None:
        assert self.lease.token is not None, "handled an update without holding the lease"
        with self.journal.lock:
            self.journal.handled.append((int(update["update_id"]), self.color, self.lease.token))

    def poll_once(self, lease: ConsumerLease) -> str | None:
        assert lease.holding, "polled without holding the lease"
        token = lease.token or 0
        start = time.monotonic()
        try:
            return self.bot.poll_once(lease)
        finally:
            end = time.monotonic()
            with self.journal.lock:
                self.journal.polls.append((start, end, self.color, token))


def wait_for(condition: Any, timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_two_colors_hand_over_through_promotions_and_rollbacks_without_overlap_loss_or_duplicates(aws: Any) -> None:
    table = provision(aws).table
    lock = threading.Lock()
    dynamodb = Atomic(aws.client("dynamodb"), lock)
    telegram, journal = FakeTelegram(), Journal()
    hand_over(dynamodb, table, APP, BLUE)  # what register does for the live color
    consumers = {color: Consumer(color, dynamodb, table, telegram, journal) for color in (BLUE, GREEN)}

    feeding = threading.Event()

    def feed() -> None:  # bursts, and pauses in which the holder's getUpdates long-polls
        while not feeding.is_set():
            for _ in range(8):
                telegram.push()
                time.sleep(0.002)
            time.sleep(0.05)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    for consumer in consumers.values():
        consumer.thread.start()
    tokens_seen: list[int] = []
    try:
        for target in (BLUE, GREEN, BLUE, GREEN):  # start, promotion, rollback, promotion
            if tokens_seen:
                hand_over(dynamodb, table, APP, target)
            wait_for(lambda t=target: lease_holders(dynamodb, table, [APP])[APP].holder == t, what=f"{target} to hold")
            view = lease_holders(dynamodb, table, [APP])[APP]
            assert view.settled and view.desired == target
            tokens_seen.append(view.token)
            already = journal.count(target)
            wait_for(lambda t=target, n=already: journal.count(t) >= n + 20, what=f"{target} to handle updates")
        feeding.set()
        feeder.join()
        wait_for(lambda: len(journal.handled) >= telegram.pushed, what="every update to be handled")
        time.sleep(3 * HEARTBEAT)  # room for a duplicate to show up, if there were one
    finally:
        feeding.set()
        for consumer in consumers.values():
            consumer.stop.set()
        for consumer in consumers.values():
            consumer.thread.join(timeout=10)
    assert not any(c.thread.is_alive() for c in consumers.values())

    # Every update handled exactly once, in order (each holder resumed exactly where the last one stopped).
    ids = [update_id for update_id, _, _ in journal.handled]
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert duplicates == []
    assert sorted(ids) == list(range(1, telegram.pushed + 1))
    assert ids == sorted(ids)

    # The two colors never polled at the same time.
    assert telegram.conflicts == 0
    blue = [(s, e) for s, e, c, _ in journal.polls if c == BLUE]
    green = [(s, e) for s, e, c, _ in journal.polls if c == GREEN]
    overlaps = [(b, g) for b in blue for g in green if b[0] < g[1] and g[0] < b[1]]
    assert overlaps == []

    # Four holding periods, alternating colors, the fencing token strictly increasing across hand-overs.
    assert tokens_seen == sorted(set(tokens_seen)) and len(tokens_seen) == 4
    periods: list[tuple[str, int]] = []
    for _, _, color, token in sorted(journal.polls):
        if not periods or periods[-1] != (color, token):
            periods.append((color, token))
    assert [c for c, _ in periods] == [BLUE, GREEN, BLUE, GREEN]
    assert [t for _, t in periods] == tokens_seen
    # An update handled by a color was handled under that color's token of the time.
    assert all((color, token) in periods for _, color, token in journal.handled)

    # Released at stop: free, with the next offset committed for whoever comes next.
    final = lease_holders(dynamodb, table, [APP])[APP]
    assert final.holder is None and final.desired == GREEN and final.progress == str(telegram.pushed + 1)
