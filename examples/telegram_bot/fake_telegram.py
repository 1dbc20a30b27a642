"""A fake Telegram for tests and demos: numbered updates fed by `push`, served by `get_updates` with the
Bot API's semantics (an update is confirmed, and forgotten, once getUpdates is called with an offset
above its id; without an offset, the earliest unconfirmed update comes first; a long poll waits up to
`timeout` seconds for one). Like Telegram, it refuses a second getUpdates while one is in flight (the
real API answers 409 Conflict; here the newer call raises and `conflicts` counts it)."""

from __future__ import annotations

import threading
import time
from typing import Any

from bot import TelegramConflict, Update


class FakeTelegram:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._updates: list[Update] = []
        self._next_id = 1
        self._confirmed = 1  # every id below it is confirmed (forgotten)
        self._in_flight = 0
        self.conflicts = 0
        self.calls = 0

    def push(self, text: str = "hello", chat_id: int = 42) -> int:
        with self._changed:
            update_id = self._next_id
            self._next_id += 1
            message: dict[str, Any] = {"message_id": update_id, "chat": {"id": chat_id}, "text": text}
            self._updates.append({"update_id": update_id, "message": message})
            self._changed.notify_all()
            return update_id

    @property
    def pushed(self) -> int:
        return self._next_id - 1

    def get_updates(self, offset: int | None, timeout: float, limit: int = 100) -> list[Update]:
        with self._changed:
            self.calls += 1
            if self._in_flight:
                self.conflicts += 1
                raise TelegramConflict("getUpdates: 409 Conflict: terminated by other getUpdates request")
            self._in_flight += 1
        try:
            with self._changed:
                if offset is not None and offset > self._confirmed:
                    self._confirmed = offset
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                deadline = time.monotonic() + max(0.0, timeout)
                while True:
                    if self._updates:
                        return [dict(u) for u in self._updates[:limit]]
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return []
                    self._changed.wait(left)
        finally:
            with self._changed:
                self._in_flight -= 1
