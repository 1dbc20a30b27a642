"""EventBridge adapter: "Deployment State Change" events on the stack's bus."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bluegreen.aws.clients import client
from bluegreen.errors import Transient
from bluegreen.models import Notification

SOURCE = "bluegreen"
DETAIL_TYPE = "Deployment State Change"
BATCH = 10  # PutEvents takes at most 10 entries


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
                raise Transient(f"PutEvents: {error}") from error
            if response.get("FailedEntryCount"):
                raise Transient(f"PutEvents failed for {response['FailedEntryCount']} entries")
