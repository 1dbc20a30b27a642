"""Deprecated for new bots: use `bluegreen.consumer.ConsumerLease` (docs/consumer-lease.md).

`LiveColor` answers "am I the live color?" from the controller's state; it stays for bots that already
use it. It leaves an overlap of up to one poll plus its cache age (the old color may be mid-poll, or
hold a cached answer, when the live color changes) and carries no resume point. `ConsumerLease` hands a
lease over instead:
the holder finishes its poll, commits its progress (e.g. Telegram's offset) and releases before the
new color can acquire, so two colors never poll at once, and it carries a fencing token.

Use (legacy): `LiveColor(table, "mybot").is_live(os.environ["EB_ENVIRONMENT_NAME"])` before each poll;
the instance role needs `dynamodb:GetItem` on the table, limited to `dynamodb:LeadingKeys` = `APP#mybot`.
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
