"""`make demo`'s polling-bot scene (issue 12): a bot that pulls its work hands over without overlap.

A second app, `pollbot`, is created on the local stack and registered with `"consumer_lease": true`. A fake
Telegram (an in-memory, thread-safe update log with getUpdates' offset semantics) is fed continuously,
and two consumer threads, one per color, run `ConsumerLease(...).run(poll_once)` against the stack's
DynamoDB table, committing Telegram's next offset as the lease's progress. Then, driven the way a user
drives AWS (S3 uploads, CloudWatch alarm states, Lambda invokes):

- upload v1: green is promoted, the controller hands the lease to green, and the bake ends (SUCCEEDED) only
  once green holds it;
- upload v2: blue is promoted and takes the lease; the alarm fires during the bake; the rollback hands the
  lease back to green.

Finally the producer stops, the holder drains what is left, and a tally is printed: updates handled per
color, produced, duplicates, lost, and the longest time both colors believed they held the lease at once.
Any of the last three that is not 0 is a failure (the demo then exits non-zero).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bluegreen.consumer import ConsumerLease, Grant, LeaseView, lease_holders

from bluegreen_local.bots import create_bot
from bluegreen_local.demo import Demo, bundle

APP = "pollbot"
BLUE, GREEN = f"{APP}-blue", f"{APP}-green"
HEARTBEAT = 0.5  # seconds: a hand-over takes about one poll
LONG_POLL = 0.3  # a poll must last less than a heartbeat (the lease's budget)
RESERVE = 0.1  # of that budget, kept for handling and the heartbeat write
STANDBY_LOOKS_EVERY = 0.1  # how often the color without the lease checks whether it may take it
BURST, BURST_EVERY = 5, 0.1  # the producer: 5 updates every 100 ms (about 50 a second)
WAIT = 15.0  # seconds for a lease or drain condition


# ---------------------------------------------------------------------- the fake Telegram


class FakeTelegram:
    """Numbered updates (ids from 1) served with getUpdates' semantics: `offset` confirms (forgets) every
    update below it; without one the earliest unconfirmed comes first; a long poll waits up to `timeout`
    for one. Like Telegram, a getUpdates while another is in flight is refused (Telegram's 409 Conflict;
    here it is counted in `conflicts` and answered with nothing)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._updates: list[int] = []
        self._confirmed = 1  # every id below it is confirmed
        self._in_flight = 0
        self.produced = 0
        self.conflicts = 0

    def push(self, count: int = 1) -> None:
        with self._changed:
            for _ in range(count):
                self.produced += 1
                self._updates.append(self.produced)
            self._changed.notify_all()

    def get_updates(self, offset: int | None, timeout: float, limit: int = 20) -> list[int]:
        with self._changed:
            if self._in_flight:
                self.conflicts += 1
                return []
            self._in_flight += 1
            try:
                if offset is not None and offset > self._confirmed:
                    self._confirmed = offset
                    self._updates = [u for u in self._updates if u >= offset]
                deadline = time.monotonic() + max(0.0, timeout)
                while not self._updates:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return []
                    self._changed.wait(left)
                return self._updates[:limit]
            finally:
                self._in_flight -= 1


# ---------------------------------------------------------------------- what the consumers did


@dataclass
class Journal:
    """Both colors' handled updates and holding periods, under one lock (monotonic seconds)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    handled: list[tuple[int, str]] = field(default_factory=list)  # (update id, color), in handling order
    holds: dict[str, list[list[float]]] = field(default_factory=dict)  # color -> [[start, end], ...]
    errors: list[str] = field(default_factory=list)

    def opened(self, color: str) -> None:
        with self.lock:
            self.holds.setdefault(color, []).append([time.monotonic(), float("inf")])

    def closed(self, color: str) -> None:
        with self.lock:
            periods = self.holds.get(color) or []
            if periods and periods[-1][1] == float("inf"):
                periods[-1][1] = time.monotonic()

    def count(self, color: str) -> int:
        with self.lock:
            return sum(1 for _, c in self.handled if c == color)

    def longest_overlap(self) -> float:
        """The longest time both colors held the lease at once (open periods end now)."""
        now = time.monotonic()
        with self.lock:
            blue = [(s, min(e, now)) for s, e in self.holds.get(BLUE, [])]
            green = [(s, min(e, now)) for s, e in self.holds.get(GREEN, [])]
        return max([min(b[1], g[1]) - max(b[0], g[0]) for b in blue for g in green] + [0.0])


class JournaledLease(ConsumerLease):
    """The bot's lease, with each holding period journaled as this color believed it: from the acquire's
    reply to the moment the release is sent (or the lease found lost). Another color can acquire only
    after that release is applied, so an overlap here is two colors that both believed they could poll."""

    def __init__(self, journal: Journal, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.journal = journal

    def try_acquire(self) -> Grant | None:
        grant = super().try_acquire()
        if grant is not None:
            self.journal.opened(self.environment)
            print(
                f"   lease: {self.environment} acquired it (token {grant.token}), "
                f"resumes at {f'offset {grant.progress}' if grant.progress else 'the first update'}",
                flush=True,
            )
        return grant

    def release(self, progress: str | None = None, *, why: str = "released") -> bool:
        if self.holding:
            self.journal.closed(self.environment)
            print(f"   lease: {self.environment} {why}, at offset {progress or self.progress}", flush=True)
        return super().release(progress, why=why)

    def heartbeat(self, progress: str | None = None) -> bool:
        try:
            return super().heartbeat(progress)
        finally:
            if not self.holding:
                self.journal.closed(self.environment)


class Consumer:
    """One color's bot: polls the fake Telegram from the lease's progress, only while holding the lease."""

    def __init__(self, color: str, session: Any, table: str, telegram: FakeTelegram, journal: Journal) -> None:
        self.color, self.telegram, self.journal = color, telegram, journal
        self.lease = JournaledLease(
            journal,
            table,
            APP,
            color,
            heartbeat_seconds=HEARTBEAT,
            client=session.client("dynamodb"),
            idle_seconds=STANDBY_LOOKS_EVERY,
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"consumer-{color}", daemon=True)

    def _run(self) -> None:
        try:
            self.lease.run(self.poll_once, stop=self.stop)
        except Exception as error:  # noqa: BLE001 - reported as a demo failure
            with self.journal.lock:
                self.journal.errors.append(f"{self.color}: the consumer stopped: {error!r}")

    def poll_once(self, lease: ConsumerLease) -> str | None:
        offset = int(lease.progress) if lease.progress else None
        updates = self.telegram.get_updates(offset, max(0.0, min(LONG_POLL, lease.remaining() - RESERVE)))
        next_offset: int | None = None
        for update_id in updates:
            if offset is not None and update_id < offset:
                continue  # confirmed already: never handle twice
            with self.journal.lock:
                if not lease.holding:
                    self.journal.errors.append(f"{self.color} handled update {update_id} without the lease")
                self.journal.handled.append((update_id, self.color))
            next_offset = update_id + 1
        return None if next_offset is None else str(next_offset)


# ---------------------------------------------------------------------- the scene


@dataclass
class Tally:
    handled: dict[str, int]
    produced: int
    duplicates: int
    lost: int
    overlap_seconds: float
    conflicts: int
    failures: list[str]


class PollingScene(Demo):
    """The scene, on a running local stack; `run()` prints it and returns the tally (with any failures)."""

    def status(self) -> dict[str, Any]:
        return self.invoke({"action": "status", "app": APP, "history_limit": 0})

    def upload(self, name: str, simulate: dict[str, Any] | None = None) -> None:
        self.s3.put_object(Bucket=self.info["bucket"], Key=f"{APP}/{name}.zip", Body=bundle(name, simulate))

    def alarm(self, state: str) -> None:
        self.cloudwatch.set_alarm_state(AlarmName=f"{APP}-errors", StateValue=state, StateReason=f"demo sets {state}")

    def lease_view(self) -> LeaseView:
        return lease_holders(self.dynamodb, self.info["table"], [APP])[APP]

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = WAIT) -> bool:
        begin = time.monotonic()
        while time.monotonic() - begin < timeout:
            if condition():
                print(f"   ok: {what} ({time.monotonic() - begin:.1f}s)", flush=True)
                return True
            time.sleep(0.05)
        print(f"   FAILED: {what} (not within {timeout:.0f}s)", flush=True)
        self.failures.append(what)
        return False

    def holds(self, color: str, more_than: int) -> Callable[[], bool]:
        """`color` holds the lease and has handled more than `more_than` updates."""
        return lambda: self.lease_view().holder == color and self.journal.count(color) > more_than

    def run(self) -> Tally:  # type: ignore[override]
        import boto3

        session = boto3.session.Session(region_name=self.info["region"])
        self.dynamodb = session.client("dynamodb")
        create_bot(session, APP)
        self.telegram, self.journal = FakeTelegram(), Journal()
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
                "drain_seconds": 0,  # the scene's DNS has no caches (the default is 120 s: docs/traffic.md)
                "health_grace_seconds": 2,
                "consumer_lease": True,
                "handoff_timeout_seconds": 10,
            },
        }
        print(f"\n== a bot that polls: {APP}, one consumer per color, one fake Telegram fed throughout", flush=True)
        self.step(
            f"register {APP} with consumer_lease: blue is live and the desired lease holder",
            lambda: self.invoke(register),
            lambda s: s.get("ok") is True,
            "registered",
        )
        feeding = threading.Event()

        def produce() -> None:
            while not feeding.wait(BURST_EVERY):
                self.telegram.push(BURST)

        producer = threading.Thread(target=produce, name="fake-telegram-producer", daemon=True)
        consumers = {
            color: Consumer(color, session, self.info["table"], self.telegram, self.journal) for color in (BLUE, GREEN)
        }
        producer.start()
        for consumer in consumers.values():
            consumer.thread.start()
        try:
            self.scenario()
        finally:
            feeding.set()
            producer.join(timeout=5)
            self.wait(
                lambda: len(self.journal.handled) >= self.telegram.produced,
                f"the producer stopped after {self.telegram.produced} updates; the holder drained them",
            )
            for consumer in consumers.values():
                consumer.stop.set()
            for consumer in consumers.values():
                consumer.thread.join(timeout=10)
            self.stop.set()
        return self.tally(consumers)

    def scenario(self) -> None:
        def on(name: str, state: str) -> Callable[[dict[str, Any]], bool]:
            def check(s: dict[str, Any]) -> bool:
                d = s.get("deployment") or {}
                return d.get("state") == state and d.get("artifact", {}).get("key") == f"{APP}/{name}.zip"

            return check

        self.wait(self.holds(BLUE, 10), f"{BLUE} holds the lease and consumes")
        self.step(
            "upload v1: promote green; the lease moves to green; the bake ends only once green holds it",
            lambda: self.upload("v1"),
            on("v1", "SUCCEEDED"),
            "v1 SUCCEEDED, green live",
        )
        view = self.lease_view()
        ok = view.holder == GREEN and view.desired == GREEN
        print(f"   {'ok' if ok else 'FAILED'}: at SUCCEEDED the lease is held by {view.holder} (token {view.token})")
        if not ok:
            self.failures.append(f"{GREEN} holds the lease when v1 succeeds (held by {view.holder})")
        green_before = self.journal.count(GREEN)
        self.wait(self.holds(GREEN, green_before + 10), f"{GREEN} consumes")

        self.step(
            "upload v2: promote blue; the lease moves to blue",
            lambda: self.upload("v2"),
            on("v2", "BAKING"),
            "v2 BAKING, blue live",
        )
        blue_before = self.journal.count(BLUE)
        self.wait(self.holds(BLUE, blue_before + 10), f"{BLUE} took the lease and consumes")
        self.step(
            f"alarm {APP}-errors goes to ALARM while v2 bakes: roll back, lease included",
            lambda: self.alarm("ALARM"),
            on("v2", "ROLLED_BACK"),
            "v2 ROLLED_BACK, green live again",
        )
        self.alarm("OK")
        green_before = self.journal.count(GREEN)
        self.wait(self.holds(GREEN, green_before + 10), f"{GREEN} took the lease back and consumes")

    def tally(self, consumers: dict[str, Consumer]) -> Tally:
        ids = [update_id for update_id, _ in self.journal.handled]
        counts = Counter(ids)
        produced = self.telegram.produced
        result = Tally(
            handled={color: self.journal.count(color) for color in (BLUE, GREEN)},
            produced=produced,
            duplicates=sum(n - 1 for n in counts.values() if n > 1),
            lost=sum(1 for i in range(1, produced + 1) if i not in counts),
            overlap_seconds=self.journal.longest_overlap(),
            conflicts=self.telegram.conflicts,
            failures=self.failures,
        )
        periods = sorted((s, color) for color, spans in self.journal.holds.items() for s, _ in spans)
        print(f"\n== {APP}: who handled the {produced} updates")
        for color in (BLUE, GREEN):
            print(f"   handled by {color:<14} {result.handled[color]:>6}")
        print(f"   {'total produced':<25} {produced:>6}")
        print(f"   {'duplicates':<25} {result.duplicates:>6}")
        print(f"   {'lost':<25} {result.lost:>6}")
        print(f"   {'both colors held lease':<25} {result.overlap_seconds:>6.3f}s (longest overlap)")
        print(f"   {'concurrent getUpdates':<25} {result.conflicts:>6}")
        print(f"   {'holding periods':<25} {' -> '.join(color.rsplit('-', 1)[-1] for _, color in periods)}")
        problems = [*self.journal.errors]
        if result.duplicates:
            problems.append(f"{result.duplicates} updates handled twice")
        if result.lost:
            problems.append(f"{result.lost} updates never handled")
        if result.overlap_seconds > 0:
            problems.append(f"both colors held the lease at once for {result.overlap_seconds:.3f}s")
        if result.conflicts:
            problems.append(f"{result.conflicts} getUpdates calls overlapped (Telegram's 409 Conflict)")
        for color, consumer in consumers.items():
            if result.handled[color] == 0:
                problems.append(f"{color} handled no update")
            if consumer.thread.is_alive():
                problems.append(f"{color}'s consumer did not stop")
        for problem in problems:
            print(f"   FAILED: {problem}")
        self.failures.extend(problems)
        return result
