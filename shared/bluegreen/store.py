"""DynamoDB single-table persistence: one app item updated only by conditional writes, history, look-ups.

Items (pk / sk):
- `APP#<app>` / `STATE`: the app state as JSON, its `revision`, and `in_flight` (a sparse GSI key)
  while a deployment, a queued artifact, pending effects or undelivered notifications need the
  watchdog. It also carries `registered` (the `Apps` GSI key) with `live_environment`,
  `production_cname` and `environments` projected, so the watchdog compares every app's believed live
  color with EB's CNAME owner by paging one index, never by reading apps one by one.
- `APP#<app>` / `HIST#<revision>`: one history record per accepted event, ordered by revision.
- `ENV#<environment>` / `LOOKUP` and `ALARM#<alarm>` / `LOOKUP`: O(1) resolution to the app.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bluegreen.errors import Conflict, Transient
from bluegreen.models import AppState, HistoryRecord

if TYPE_CHECKING:
    from bluegreen.settings import Settings

STATE_SK = "STATE"
LOOKUP_SK = "LOOKUP"
IN_FLIGHT_INDEX = "InFlight"
APPS_INDEX = "Apps"
LOOKUP_CACHE_SIZE = 10_000
BATCH_GET = 100  # BatchGetItem's limit


@dataclass(frozen=True)
class AppSummary:
    """What the idle reconcile needs of an app, from the `Apps` index."""

    app: str
    live_environment: str
    production_cname: str
    environments: tuple[str, ...]
    phase: str = "NONE"
    paused: bool = False


def app_key(app: str) -> dict[str, Any]:
    return {"pk": {"S": f"APP#{app}"}, "sk": {"S": STATE_SK}}


class Store(Protocol):
    def load(self, app: str) -> AppState | None: ...
    def app_for_environment(self, environment: str) -> str | None: ...
    def app_for_alarm(self, alarm: str) -> str | None: ...
    def lookup(self, kind: str, name: str, *, fresh: bool = False) -> str | None: ...
    def commit(self, previous_revision: int, state: AppState, history: HistoryRecord | None = None) -> None: ...
    def register(self, previous: AppState | None, state: AppState, history: HistoryRecord) -> None: ...
    def history(self, app: str, limit: int = 20) -> list[HistoryRecord]: ...
    def apps_needing_watch(self) -> list[str]: ...
    def load_many(self, apps: Iterable[str]) -> dict[str, AppState]: ...
    def app_summaries(self) -> list[AppSummary]: ...


def needs_watch(state: AppState) -> bool:
    return (
        state.in_flight is not None
        or state.queued is not None
        or state.pending is not None
        or bool(state.outbox.notifications)
        or state.standby_due is not None  # the old color goes to standby after the bake and the window
    )


class DynamoStore:
    """The one Store implementation. Every write of the app item is conditional on its revision."""

    def __init__(self, settings: Settings, client: Any = None) -> None:
        self.table = settings.table
        self.history_ttl_seconds = settings.history_ttl_days * 86400
        self._client = client
        self._lookups: dict[tuple[str, str], str] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            from bluegreen.aws.clients import client

            self._client = client("dynamodb")
        return self._client

    def _call(self, operation: str, **kwargs: Any) -> Any:
        """Every DynamoDB call: throttling, 5xx and network errors (after botocore's retries) are Transient."""
        from bluegreen.aws.clients import is_transient

        try:
            return getattr(self.client, operation)(**kwargs)
        except Exception as error:
            if is_transient(error):
                raise Transient(f"DynamoDB {operation}: {error}") from error
            raise

    # ------------------------------------------------------------------ reads
    def load(self, app: str) -> AppState | None:
        item = self._call("get_item", TableName=self.table, Key=app_key(app), ConsistentRead=True).get("Item")
        if item is None:
            return None
        return AppState.model_validate_json(item["state"]["S"])

    def lookup(self, kind: str, name: str, *, fresh: bool = False) -> str | None:
        """`ENV`/`ALARM` name -> app, one GetItem. Found mappings are cached for the container's life
        (callers verify them against the app's config and ask again with `fresh=True` if it moved)."""
        cached = self._lookups.get((kind, name))
        if cached is not None and not fresh:
            return cached
        key = {"pk": {"S": f"{kind}#{name}"}, "sk": {"S": LOOKUP_SK}}
        item = self._call("get_item", TableName=self.table, Key=key).get("Item")
        app = item["app"]["S"] if item else None
        if app is None:
            self._lookups.pop((kind, name), None)
        elif len(self._lookups) < LOOKUP_CACHE_SIZE:
            self._lookups[(kind, name)] = app
        return app

    def app_for_environment(self, environment: str) -> str | None:
        return self.lookup("ENV", environment, fresh=True)

    def app_for_alarm(self, alarm: str) -> str | None:
        return self.lookup("ALARM", alarm, fresh=True)

    def history(self, app: str, limit: int = 20) -> list[HistoryRecord]:
        response = self._call(
            "query",
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :hist)",
            ExpressionAttributeValues={":pk": {"S": f"APP#{app}"}, ":hist": {"S": "HIST#"}},
            ScanIndexForward=False,
            Limit=max(limit, 1),
            ConsistentRead=True,
        )
        records = [HistoryRecord.model_validate_json(item["record"]["S"]) for item in response.get("Items", [])]
        return list(reversed(records))[-limit:] if limit else []

    def load_many(self, apps: Iterable[str]) -> dict[str, AppState]:
        """Strongly consistent BatchGetItem, 100 keys a call, retrying what DynamoDB leaves unprocessed."""
        names = sorted(set(apps))
        found: dict[str, AppState] = {}
        for start in range(0, len(names), BATCH_GET):
            request: dict[str, Any] = {
                self.table: {"Keys": [app_key(a) for a in names[start : start + BATCH_GET]], "ConsistentRead": True}
            }
            for attempt in range(8):
                response = self._call("batch_get_item", RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    state = AppState.model_validate_json(item["state"]["S"])
                    found[state.app] = state
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise Transient("DynamoDB BatchGetItem left keys unprocessed")
        return found

    def app_summaries(self) -> list[AppSummary]:
        """Every registered app's believed live color, from the sparse `Apps` index, paginated."""
        summaries: list[AppSummary] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": APPS_INDEX,
            "KeyConditionExpression": "registered = :yes",
            "ExpressionAttributeValues": {":yes": {"S": "1"}},
        }
        while True:
            response = self._call("query", **kwargs)
            for item in response.get("Items", []):
                summaries.append(
                    AppSummary(
                        app=item["pk"]["S"].removeprefix("APP#"),
                        live_environment=item.get("live_environment", {}).get("S", ""),
                        production_cname=item.get("production_cname", {}).get("S", ""),
                        environments=tuple(json.loads(item.get("environments", {}).get("S", "[]"))),
                        phase=item.get("phase", {}).get("S", "NONE"),
                        paused=bool(item.get("paused", {}).get("BOOL", False)),
                    )
                )
            if "LastEvaluatedKey" not in response:
                return summaries
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def apps_needing_watch(self) -> list[str]:
        """Apps with a deployment in flight, a queued artifact or pending effects: never a scan."""
        apps: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": IN_FLIGHT_INDEX,
            "KeyConditionExpression": "in_flight = :yes",
            "ExpressionAttributeValues": {":yes": {"S": "1"}},
        }
        while True:
            response = self._call("query", **kwargs)
            apps.extend(item["pk"]["S"].removeprefix("APP#") for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return apps
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # ------------------------------------------------------------------ writes
    def _state_item(self, state: AppState) -> dict[str, Any]:
        item: dict[str, Any] = {
            **app_key(state.app),
            "app": {"S": state.app},
            "revision": {"N": str(state.revision)},
            "state": {"S": state.model_dump_json()},
            "registered": {"S": "1"},
            "live_environment": {"S": state.live_environment},
            "production_cname": {"S": state.config.production_cname},
            "environments": {"S": json.dumps(list(state.config.environments))},
            "phase": {"S": state.deployment.state.value if state.deployment else "NONE"},
            "paused": {"BOOL": state.paused},
        }
        if needs_watch(state):
            item["in_flight"] = {"S": "1"}
        return item

    def _history_item(self, record: HistoryRecord) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": {"S": f"APP#{record.app}"},
            "sk": {"S": f"HIST#{record.revision:012d}"},
            "record": {"S": record.model_dump_json()},
        }
        if self.history_ttl_seconds:
            item["expires_at"] = {"N": str(int(time.time()) + self.history_ttl_seconds)}
        return item

    @staticmethod
    def _revision_condition(previous_revision: int) -> dict[str, Any]:
        if previous_revision == 0:
            return {"ConditionExpression": "attribute_not_exists(pk)"}
        return {
            "ConditionExpression": "revision = :previous",
            "ExpressionAttributeValues": {":previous": {"N": str(previous_revision)}},
        }

    def commit(self, previous_revision: int, state: AppState, history: HistoryRecord | None = None) -> None:
        put = {
            "TableName": self.table,
            "Item": self._state_item(state),
            **self._revision_condition(previous_revision),
        }
        if history is None:
            self._guarded(lambda: self._call("put_item", **put))
            return
        items = [{"Put": put}, {"Put": {"TableName": self.table, "Item": self._history_item(history)}}]
        self._guarded(lambda: self._call("transact_write_items", TransactItems=items))

    def register(self, previous: AppState | None, state: AppState, history: HistoryRecord) -> None:
        """Write the app with its look-ups in one transaction; drop look-ups it no longer owns."""
        previous_revision = previous.revision if previous else 0
        put = {
            "TableName": self.table,
            "Item": self._state_item(state),
            **self._revision_condition(previous_revision),
        }
        items: list[dict[str, Any]] = [
            {"Put": put},
            {"Put": {"TableName": self.table, "Item": self._history_item(history)}},
        ]
        wanted = {f"ENV#{e}" for e in state.config.environments} | {f"ALARM#{a}" for a in state.config.all_alarms()}
        for key in sorted(wanted):
            # Claim the name only if nobody else holds it: two concurrent registers cannot share a color.
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": self._lookup_item(key, state.app),
                        "ConditionExpression": "attribute_not_exists(pk) OR app = :app",
                        "ExpressionAttributeValues": {":app": {"S": state.app}},
                    }
                }
            )
        if previous is not None:
            old = {f"ENV#{e}" for e in previous.config.environments} | {
                f"ALARM#{a}" for a in previous.config.all_alarms()
            }
            for key in sorted(old - wanted):
                items.append({"Delete": {"TableName": self.table, "Key": {"pk": {"S": key}, "sk": {"S": LOOKUP_SK}}}})
        self._guarded(lambda: self._call("transact_write_items", TransactItems=items))

    @staticmethod
    def _lookup_item(key: str, app: str) -> dict[str, Any]:
        return {"pk": {"S": key}, "sk": {"S": LOOKUP_SK}, "app": {"S": app}}

    def _guarded(self, write: Any) -> None:
        try:
            write()
        except self.client.exceptions.ConditionalCheckFailedException as error:
            raise Conflict("the app changed since it was read") from error
        except self.client.exceptions.TransactionCanceledException as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons or "TransactionConflict" in reasons:
                raise Conflict("the app changed since it was read", reasons=reasons) from error
            raise Transient(f"DynamoDB transaction cancelled: {reasons}") from error


def dumps(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)
