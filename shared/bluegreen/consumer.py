"""The consumer lease: a hand-over with no overlap for bots that poll (Telegram getUpdates, a queue) or
hold a gateway connection (Discord, Slack Socket Mode).

One item per app in the state table, `pk = LEASE#<app>`, `sk = LEASE`, a partition of its own so a
bot's IAM (`dynamodb:LeadingKeys`) and the table's resource policy can grant it exactly that item:

- `desired` (S): the environment that should hold the lease; written only by the controller
  (`hand_over`, at promotion and rollback).
- `holder` (S): the environment holding it; absent when free.
- `token` (N): the fencing token, +1 on every acquire, never decreases.
- `heartbeat_at` (N): epoch milliseconds of the holder's last heartbeat.
- `progress` (S, optional): the opaque resume point the holder commits (Telegram's next `offset`), so
  the next holder resumes exactly there.

`holder` is one attribute and acquiring requires it free, ours, or expired (a conditional write), so two
colors never hold the lease at once; the holder stops polling as soon as a heartbeat finds `desired`
moved (committing its progress) or the lease lost (committing nothing). docs/consumer-lease.md is the
protocol for bots in other languages.

Controller side: `hand_over` (the target "desired = X") and `lease_holders` (the watchdog's check).
Bot side: `ConsumerLease(table, app, environment).run(poll_once)`, or `with ConsumerLease(...) as lease:`.
This module needs only boto3 (no pydantic), so a bot can vendor it (examples/telegram_bot/bundle.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple

from bluegreen.aws.clients import error_code, is_transient
from bluegreen.errors import Transient

LEASE_SK = "LEASE"
BATCH_GET = 100  # BatchGetItem's limit
CONDITION_FAILED = "ConditionalCheckFailedException"

log = logging.getLogger("bluegreen.consumer")

# Every attribute goes through a placeholder, so no name can collide with DynamoDB's reserved words.
NAMES = {
    "#desired": "desired",
    "#holder": "holder",
    "#token": "token",
    "#hb": "heartbeat_at",
    "#progress": "progress",
}
ACQUIRE_UPDATE = "SET #holder = :me, #token = if_not_exists(#token, :zero) + :one, #hb = :now"
ACQUIRE_CONDITION = "#desired = :me AND (attribute_not_exists(#holder) OR #holder = :me OR #hb < :expired)"
HEARTBEAT_UPDATE = "SET #hb = :now"
HEARTBEAT_CHECKPOINT_UPDATE = "SET #hb = :now, #progress = :p"
HOLDER_CONDITION = "#holder = :me AND #token = :token"
RELEASE_UPDATE = "REMOVE #holder SET #progress = :p"
RELEASE_KEEP_PROGRESS_UPDATE = "REMOVE #holder"
HAND_OVER_UPDATE = "SET #desired = :desired"


def lease_key(app: str) -> dict[str, Any]:
    return {"pk": {"S": f"LEASE#{app}"}, "sk": {"S": LEASE_SK}}


def _names(*placeholders: str) -> dict[str, str]:
    return {p: NAMES[p] for p in placeholders}


def _call(client: Any, operation: str, **kwargs: Any) -> Any:
    """Throttling, 5xx and network errors (after botocore's own retries) become `Transient`."""
    try:
        return getattr(client, operation)(**kwargs)
    except Exception as error:
        if is_transient(error):
            raise Transient(f"DynamoDB {operation}: {error}") from error
        raise


@dataclass(frozen=True)
class LeaseView:
    """The lease item as read (an app without one: nobody desired, nobody holding, token 0)."""

    app: str
    holder: str | None = None
    desired: str | None = None
    token: int = 0
    heartbeat_at: int | None = None  # epoch milliseconds
    progress: str | None = None

    @classmethod
    def from_item(cls, app: str, item: dict[str, Any] | None) -> LeaseView:
        item = item or {}
        return cls(
            app=app,
            holder=_s(item, "holder"),
            desired=_s(item, "desired"),
            token=_n(item, "token") or 0,
            heartbeat_at=_n(item, "heartbeat_at"),
            progress=_s(item, "progress"),
        )

    def expired(self, now_ms: int, expiry_ms: int) -> bool:
        return self.heartbeat_at is None or self.heartbeat_at < now_ms - expiry_ms

    def held_by(self, environment: str, *, now_ms: int | None = None, expiry_ms: int | None = None) -> bool:
        """`environment` holds it (and, given `now_ms` and `expiry_ms`, its heartbeat is fresh)."""
        if self.holder != environment:
            return False
        return now_ms is None or expiry_ms is None or not self.expired(now_ms, expiry_ms)

    @property
    def settled(self) -> bool:
        """The hand-over is done: the desired environment holds the lease."""
        return self.desired is not None and self.holder == self.desired


def _s(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return str(value["S"]) if value and "S" in value else None


def _n(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if value and "N" in value else None


# ====================================================================== controller side


def hand_over(dynamodb_client: Any, table: str, app: str, environment: str) -> None:
    """The target "desired = environment": idempotent, creates the item if absent. The holder sees it at
    its next heartbeat, commits its progress and releases; only then can `environment` acquire."""
    _call(
        dynamodb_client,
        "update_item",
        TableName=table,
        Key=lease_key(app),
        UpdateExpression=HAND_OVER_UPDATE,
        ExpressionAttributeNames=_names("#desired"),
        ExpressionAttributeValues={":desired": {"S": environment}},
    )


def lease_holders(dynamodb_client: Any, table: str, apps: list[str]) -> dict[str, LeaseView]:
    """Every app's lease (strongly consistent BatchGetItem, 100 keys a call, unprocessed keys retried).
    Each requested app gets a view; an app with no lease item gets an empty one."""
    names = sorted(set(apps))
    found: dict[str, LeaseView] = {app: LeaseView(app=app) for app in names}
    for start in range(0, len(names), BATCH_GET):
        request: dict[str, Any] = {
            table: {"Keys": [lease_key(a) for a in names[start : start + BATCH_GET]], "ConsistentRead": True}
        }
        for attempt in range(8):
            response = _call(dynamodb_client, "batch_get_item", RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                app = item["pk"]["S"].removeprefix("LEASE#")
                found[app] = LeaseView.from_item(app, item)
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise Transient(f"DynamoDB batch_get_item: keys still unprocessed after retries ({table})")
    return found


# ====================================================================== bot side


class Grant(NamedTuple):
    """What an acquire returns: the fencing token and the progress the previous holder committed."""

    token: int
    progress: str | None


PollOnce = Callable[["ConsumerLease"], "str | None"]


class ConsumerLease:
    """The bot's side of the lease. Conditional writes only; never polls without holding the lease.

    `run(poll_once)` loops until `stop` is set: wait until this environment is `desired` and the lease
    is free (or expired), acquire it, then call `poll_once(lease)` (one bounded long poll that handles
    what it got and returns the progress to commit, or None) and heartbeat after each poll. A heartbeat
    that finds `desired` moved releases with the progress (a hand-over); one whose condition fails means
    the lease was lost: polling stops at once and nothing is committed. Either way the loop goes back to
    waiting, so the old color takes the lease back on a rollback.

    Timing: a poll starts only within `heartbeat_seconds` of the last confirmed write, and must itself
    last less than `heartbeat_seconds` (use `remaining()` as the long-poll timeout budget); another color
    may take an unreleased lease only after `expiry_factor * heartbeat_seconds`, so expiry_factor > 2
    (the default 3 leaves one heartbeat for clock skew between instances).

    The lease is per color: run one consumer process per color (a second process of the same color
    waits for the first one's lease to be released or to expire).
    """

    def __init__(
        self,
        table: str,
        app: str,
        environment: str,
        *,
        heartbeat_seconds: float = 5.0,
        expiry_factor: float = 3,
        client: Any = None,
        clock: Callable[[], float] = time.time,
        idle_seconds: float | None = None,
    ) -> None:
        if heartbeat_seconds <= 0:
            raise ValueError("heartbeat_seconds must be positive")
        if expiry_factor <= 2:
            raise ValueError("expiry_factor must be more than 2 (a poll may start a heartbeat after the last one)")
        self.table, self.app, self.environment = table, app, environment
        self.heartbeat_seconds = float(heartbeat_seconds)
        self.expiry_factor = float(expiry_factor)
        self.idle_seconds = min(1.0, self.heartbeat_seconds) if idle_seconds is None else float(idle_seconds)
        self.clock = clock
        self._client = client
        self.token: int | None = None  # the fencing token while holding; None otherwise
        self.progress: str | None = None  # the latest progress: committed, or returned by the last poll
        self.ended: str | None = None  # why the last holding period ended: "handed over", "released", "lost"
        self._confirmed_at = float("-inf")  # clock() just before the last write that confirmed the lease
        self._unconfirmed = False  # the last heartbeat could not be confirmed (a transient error)
        self._seen: dict[str, Any] | None = None  # the item a failed condition saw (ALL_OLD)
        self._attempted_at: int | None = None  # heartbeat_at of an acquire whose reply was lost

    # ------------------------------------------------------------------ plumbing
    @property
    def client(self) -> Any:
        if self._client is None:
            from bluegreen.aws.clients import client

            self._client = client("dynamodb")
        return self._client

    @property
    def holding(self) -> bool:
        return self.token is not None

    @property
    def expiry_seconds(self) -> float:
        return self.expiry_factor * self.heartbeat_seconds

    def remaining(self) -> float:
        """Seconds the next poll may take: one heartbeat after the last confirmed write (0 if not held)."""
        if not self.holding:
            return 0.0
        return max(0.0, self.heartbeat_seconds - (self.clock() - self._confirmed_at))

    def _update(self, **kwargs: Any) -> dict[str, Any] | None:
        """One conditional UpdateItem on the lease item; None when its condition failed (the item as it
        was, if DynamoDB returned it, is in `self._seen`)."""
        self._seen = None
        try:
            response: dict[str, Any] = _call(
                self.client,
                "update_item",
                TableName=self.table,
                Key=lease_key(self.app),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **kwargs,
            )
            return response
        except Transient:
            raise
        except Exception as error:
            if error_code(error) == CONDITION_FAILED:
                self._seen = getattr(error, "response", {}).get("Item")
                return None
            raise

    def view(self) -> LeaseView:
        """The lease item, strongly consistent."""
        item = _call(self.client, "get_item", TableName=self.table, Key=lease_key(self.app), ConsistentRead=True)
        return LeaseView.from_item(self.app, item.get("Item"))

    def _end(self, why: str) -> None:
        if self.token is not None:
            log.info("%s: %s the consumer lease of %s (token %d)", self.environment, why, self.app, self.token)
        self.token, self.ended, self._unconfirmed = None, why, False

    # ------------------------------------------------------------------ acquire
    def acquirable(self, lease: LeaseView | None = None) -> bool:
        """Whether an acquire would be worth trying: we are desired and the lease is free or expired. A
        fresh lease held by our own color is someone else's (a second process of the color; wait for it
        to be released or to expire), unless it is this process's own acquire whose reply was lost."""
        lease = lease or self.view()
        if lease.desired != self.environment:
            return False
        if lease.holder is None:
            return True
        now_ms = int(self.clock() * 1000)
        if lease.expired(now_ms, int(self.expiry_seconds * 1000)):
            return True
        if lease.holder != self.environment:
            return False
        # Ours after all: this process's acquire went through but its reply was lost (a retry is safe).
        return lease.heartbeat_at is not None and lease.heartbeat_at == self._attempted_at

    def try_acquire(self) -> Grant | None:
        """One attempt: a consistent read, then the conditional write if the lease looks acquirable.
        Returns the grant (fencing token, committed progress), or None. Raises `Transient`."""
        if not self.acquirable():
            return None
        now = self.clock()
        now_ms = int(now * 1000)
        self._attempted_at = now_ms
        response = self._update(
            UpdateExpression=ACQUIRE_UPDATE,
            ConditionExpression=ACQUIRE_CONDITION,
            ExpressionAttributeNames=_names("#desired", "#holder", "#token", "#hb"),
            ExpressionAttributeValues={
                ":me": {"S": self.environment},
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
                ":now": {"N": str(now_ms)},
                ":expired": {"N": str(now_ms - int(self.expiry_seconds * 1000))},
            },
            ReturnValues="ALL_NEW",
        )
        if response is None:
            return None
        lease = LeaseView.from_item(self.app, response.get("Attributes"))
        self.token, self.progress, self.ended, self._attempted_at = lease.token, lease.progress, None, None
        self._confirmed_at, self._unconfirmed = now, False
        log.info(
            "%s: acquired the consumer lease of %s (token %d, progress %r)",
            self.environment,
            self.app,
            lease.token,
            lease.progress,
        )
        return Grant(lease.token, lease.progress)

    def acquire(self, *, timeout: float | None = None, stop: threading.Event | None = None) -> Grant:
        """Wait (checking every `idle_seconds`) until the lease is ours. Raises TimeoutError after
        `timeout` seconds, or when `stop` is set."""
        deadline = None if timeout is None else time.monotonic() + timeout
        stop = stop or threading.Event()
        while True:
            try:
                grant = self.try_acquire()
            except Transient as error:
                log.warning("%s: acquiring the consumer lease: %s", self.environment, error)
                grant = None
            if grant is not None:
                return grant
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{self.environment} did not acquire the consumer lease of {self.app}")
            if stop.wait(self.idle_seconds):
                raise TimeoutError(f"{self.environment}: stopped while waiting for the consumer lease")

    # ------------------------------------------------------------------ heartbeat and release
    def heartbeat(self, progress: str | None = None) -> bool:
        """Renew the lease (and checkpoint `progress` if given, under the same condition). True: keep
        polling. False: stop polling; `ended` says why: "handed over" (`desired` moved; the progress was
        committed and the lease released) or "lost" (the lease expired and was taken; nothing committed).
        Raises `Transient` (the lease is then unconfirmed: do not poll until a heartbeat succeeds)."""
        if self.token is None:
            return False
        if progress is not None:
            self.progress = progress
        now = self.clock()
        values: dict[str, Any] = {
            ":now": {"N": str(int(now * 1000))},
            ":me": {"S": self.environment},
            ":token": {"N": str(self.token)},
        }
        names = _names("#hb", "#holder", "#token")
        update = HEARTBEAT_UPDATE
        if progress is not None:
            update, values[":p"], names["#progress"] = HEARTBEAT_CHECKPOINT_UPDATE, {"S": progress}, "progress"
        try:
            response = self._update(
                UpdateExpression=update,
                ConditionExpression=HOLDER_CONDITION,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except Transient:
            self._unconfirmed = True
            if self.clock() - self._confirmed_at > self.expiry_seconds:
                self._end("lost")  # another color may have taken it by now: never poll on it again
            raise
        if response is None:
            self._end("lost")
            return False
        self._confirmed_at, self._unconfirmed = now, False
        lease = LeaseView.from_item(self.app, response.get("Attributes"))
        if lease.desired != self.environment:
            try:
                self.release(self.progress, why="handed over")
            except Transient:
                self._unconfirmed = True  # no poll until a heartbeat sees the hand-over again and releases
                raise
            return False
        return True

    def release(self, progress: str | None = None, *, why: str = "released") -> bool:
        """Commit `progress` (default: the latest progress) and free the lease. False if the lease was
        already lost (nothing committed). Raises `Transient`; a retry after an unknown outcome is safe."""
        if self.token is None:
            return False
        progress = self.progress if progress is None else progress
        values: dict[str, Any] = {":me": {"S": self.environment}, ":token": {"N": str(self.token)}}
        names = _names("#holder", "#token")
        update = RELEASE_KEEP_PROGRESS_UPDATE
        if progress is not None:
            update, values[":p"], names["#progress"] = RELEASE_UPDATE, {"S": progress}, "progress"
        response = self._update(
            UpdateExpression=update,
            ConditionExpression=HOLDER_CONDITION,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        if response is None:
            # Our own earlier release (a retry after a lost response) left it free with our token.
            seen = LeaseView.from_item(self.app, self._seen)
            done = seen.holder is None and seen.token == self.token and (progress is None or seen.progress == progress)
            self._end(why if done else "lost")
            return done
        self.progress = progress
        self._end(why)
        return True

    # ------------------------------------------------------------------ the loop
    def _confirm(self, progress: str | None, stop: threading.Event) -> bool:
        """A heartbeat; transient errors leave the lease unconfirmed (the caller does not poll)."""
        try:
            return self.heartbeat(progress)
        except Transient as error:
            log.warning("%s: consumer lease heartbeat: %s", self.environment, error)
            stop.wait(min(self.idle_seconds, self.heartbeat_seconds / 2))
            return False

    def _confirmed_for_a_poll(self, stop: threading.Event) -> bool:
        """A poll starts only within one heartbeat of a confirmed write; otherwise heartbeat first
        (checkpointing the progress a failed heartbeat did not commit)."""
        if not self._unconfirmed and self.clock() - self._confirmed_at < self.heartbeat_seconds:
            return True
        return self._confirm(self.progress if self._unconfirmed else None, stop)

    def run(self, poll_once: PollOnce, *, stop: threading.Event | None = None) -> None:
        """Hold the lease whenever this environment is desired and poll only while holding it, until
        `stop` is set (then release with the latest progress). An exception from `poll_once` releases
        with the progress of the polls before it, then propagates."""
        stop = stop or threading.Event()
        while not stop.is_set():
            if not self.holding:
                try:
                    granted = self.try_acquire() is not None
                except Transient as error:
                    log.warning("%s: acquiring the consumer lease: %s", self.environment, error)
                    granted = False
                if not granted:
                    stop.wait(self.idle_seconds)
                continue
            if not self._confirmed_for_a_poll(stop):
                continue
            started = self.clock()
            try:
                progress = poll_once(self)
            except BaseException:
                self._release_quietly()
                raise
            took = self.clock() - started
            if took > self.heartbeat_seconds:
                log.warning(
                    "%s: a poll took %.1fs, more than heartbeat_seconds=%.1fs: shorten it (use lease.remaining())",
                    self.environment,
                    took,
                    self.heartbeat_seconds,
                )
            self._confirm(progress, stop)
        self._release_quietly()

    def _release_quietly(self) -> None:
        if not self.holding:
            return
        try:
            self.release()
        except Exception as error:  # noqa: BLE001 - the lease expires on its own
            log.warning("%s: releasing the consumer lease: %s (it expires on its own)", self.environment, error)
            self._end("lost")

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> ConsumerLease:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._release_quietly()
