"""For polling bots: "am I the live color?", read from the controller's state.

A polling bot (Telegram getUpdates, a queue consumer) must not consume from both colors at once, and
a CNAME swap does not stop the old color from polling. The app item's `live_environment` changes in
the same conditional write that decides a promotion or rollback, before the swap runs, so the old
color stops polling first: there can be a gap of a few seconds, never an overlap (beyond the bot's own
`max_age` and its in-flight long poll; keep both shorter than you can tolerate).

Use: `LiveColor(table, "mybot").is_live(os.environ["EB_ENVIRONMENT_NAME"])` before each poll; the
instance role needs `dynamodb:GetItem` on the table, limited to `dynamodb:LeadingKeys` = `APP#mybot`.
"""

from __future__ import annotations

import json
import time
from typing import Any


class LiveColor:
    def __init__(self, table: str, app: str, *, max_age: float = 2.0, client: Any = None) -> None:
        self.table, self.app, self.max_age = table, app, max_age
        self._client = client
        self._value: str | None = None
        self._read_at = float("-inf")

    @property
    def client(self) -> Any:
        if self._client is None:
            from bluegreen.aws.clients import client

            self._client = client("dynamodb")
        return self._client

    def live_environment(self) -> str | None:
        if time.monotonic() - self._read_at > self.max_age:
            item = self.client.get_item(
                TableName=self.table,
                Key={"pk": {"S": f"APP#{self.app}"}, "sk": {"S": "STATE"}},
                ConsistentRead=True,
                ProjectionExpression="#s",
                ExpressionAttributeNames={"#s": "state"},
            ).get("Item")
            self._value = json.loads(item["state"]["S"])["live_environment"] if item else None
            self._read_at = time.monotonic()
        return self._value

    def is_live(self, environment: str) -> bool:
        """Unknown app or unreadable state: not live (a bot that cannot tell must not poll)."""
        try:
            return self.live_environment() == environment
        except Exception:  # noqa: BLE001 - fail closed
            return False
