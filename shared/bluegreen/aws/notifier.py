"""EventBridge adapter: "Deployment State Change" events on the stack's bus."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bluegreen.aws.clients import client, error_code, is_transient
from bluegreen.errors import BluegreenError
from bluegreen.models import Notification

SOURCE = "bluegreen"
DETAIL_TYPE = "Deployment State Change"
BATCH = 10  # PutEvents takes at most 10 entries
# Entry-level error codes PutEvents reports that a later try can fix (the rest are permanent).
RETRYABLE_ENTRY_ERRORS = frozenset({"ThrottlingException", "InternalFailure", "InternalException"})


class NotifyFailed(BluegreenError):
    """Notifications were not delivered. Never raised through an effect: rollbacks never wait on it."""

    code = "NotifyFailed"

    def __init__(self, message: str, *, permanent: bool, delivered: int = 0) -> None:
        super().__init__(message, permanent=permanent)
        self.permanent = permanent
        self.delivered = delivered


class Notifier:
    def __init__(self, bus: str, events: Any = None) -> None:
        self.bus = bus
        self._events = events

    @property
    def events(self) -> Any:
        if self._events is None:
            self._events = client("events")
        return self._events

    def publish(self, notifications: Sequence[Notification]) -> None:
        """Publish in order. Raises `NotifyFailed` (permanent for AccessDenied, a deleted bus, a
        validation error; transient for throttling, 5xx, network) with how many went out first."""
        for start in range(0, len(notifications), BATCH):
            entries = [
                {
                    "Source": SOURCE,
                    "DetailType": DETAIL_TYPE,
                    "EventBusName": self.bus,
                    "Resources": [],
                    "Detail": n.model_dump_json(),
                }
                for n in notifications[start : start + BATCH]
            ]
            try:
                response = self.events.put_events(Entries=entries)
            except Exception as error:
                permanent = not is_transient(error)
                code = error_code(error) or type(error).__name__
                raise NotifyFailed(f"PutEvents: {code}: {error}", permanent=permanent, delivered=start) from error
            if response.get("FailedEntryCount"):
                codes = {e.get("ErrorCode") for e in response.get("Entries", []) if e.get("ErrorCode")}
                permanent = not codes or not codes <= RETRYABLE_ENTRY_ERRORS
                failed = response["FailedEntryCount"]
                raise NotifyFailed(
                    f"PutEvents failed for {failed} entries: {', '.join(sorted(map(str, codes)))}",
                    permanent=permanent,
                    delivered=start,
                )
