"""A Telegram long-polling bot that runs as two Elastic Beanstalk colors and hands over with no overlap.

Only the color holding bluegreen's consumer lease calls `getUpdates`; the other one waits. The lease's
`progress` is Telegram's next `offset` (the highest handled `update_id` + 1): the holder commits it when
it hands over, the next holder polls from exactly there, so every update is handled once and the two
colors never long-poll at once (no "409 Conflict: terminated by other getUpdates request").

Run on EB with `Procfile` (`web: python bot.py`): environment properties `BLUEGREEN_TABLE` (the state
table), `BLUEGREEN_APP` (the registered app), `BOT_TOKEN_SECRET_ID` (the token's Secrets Manager name or
ARN, or an SSM parameter name starting with "/"; docs/secrets.md) and, per color, `BLUEGREEN_ENVIRONMENT`
(else EB's own environment name is asked of the platform). A tiny HTTP server on `PORT` (8000) answers
the platform's health check and shows whether this color holds the lease.

Tests inject a fake updates source (fake_telegram.FakeTelegram) in place of `TelegramApi`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from bluegreen.consumer import ConsumerLease

log = logging.getLogger("telegram_bot")

Update = dict[str, Any]
Handler = Callable[[Update], None]


class TelegramError(Exception):
    """The Bot API answered `ok: false` (or not at all)."""


class TelegramConflict(TelegramError):
    """409: another getUpdates (or a webhook) is active for this bot token."""


class UpdatesSource(Protocol):
    def get_updates(self, offset: int | None, timeout: float, limit: int = 100) -> list[Update]: ...


class TelegramApi:
    """The real Bot API over HTTPS (urllib: no dependency beyond the standard library)."""

    def __init__(self, token: str, *, base_url: str = "https://api.telegram.org") -> None:
        self._url = f"{base_url}/bot{token}/"  # holds the token: never log it

    def call(self, method: str, params: dict[str, Any], *, timeout: float) -> Any:
        request = urllib.request.Request(  # noqa: S310 - a fixed https URL
            self._url + method,
            data=json.dumps(params).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                body = json.load(response)
        except urllib.error.HTTPError as error:
            try:
                body = json.load(error)
            except ValueError:
                body = {"ok": False, "error_code": error.code, "description": error.reason}
        if not body.get("ok"):
            description = f"{method}: {body.get('error_code')} {body.get('description')}"
            raise (TelegramConflict if body.get("error_code") == 409 else TelegramError)(description)
        return body["result"]

    def get_updates(self, offset: int | None, timeout: float, limit: int = 100) -> list[Update]:
        """Updates with `update_id >= offset`; calling with `offset` confirms (forgets) every update
        below it. `timeout` is Telegram's long-poll wait in whole seconds (0: answer at once)."""
        params: dict[str, Any] = {"timeout": int(timeout), "limit": limit}
        if offset is not None:
            params["offset"] = offset
        result: list[Update] = self.call("getUpdates", params, timeout=int(timeout) + 2)
        return result

    def send_message(self, chat_id: int, text: str) -> None:
        self.call("sendMessage", {"chat_id": chat_id, "text": text}, timeout=5)


def echo(api: TelegramApi) -> Handler:
    """The example's business logic: answer a text message with its own text."""

    def handle(update: Update) -> None:
        message = update.get("message") or {}
        if "text" in message:
            api.send_message(message["chat"]["id"], message["text"])

    return handle


class Bot:
    """`poll_once(lease)`: one bounded long poll from the lease's progress, every update handled in
    order, the next offset returned for the lease to commit."""

    def __init__(
        self,
        source: UpdatesSource,
        handle: Handler,
        *,
        long_poll_seconds: float = 25.0,
        reserve_seconds: float = 3.0,
        limit: int = 100,
    ) -> None:
        self.source, self.handle = source, handle
        self.long_poll_seconds = long_poll_seconds
        self.reserve_seconds = reserve_seconds  # of the lease's budget, kept for handling and the network
        self.limit = limit

    def poll_once(self, lease: ConsumerLease) -> str | None:
        offset = int(lease.progress) if lease.progress else None
        timeout = max(0.0, min(self.long_poll_seconds, lease.remaining() - self.reserve_seconds))
        try:
            updates = self.source.get_updates(offset, timeout, self.limit)
        except TelegramConflict as error:
            # Someone else polls with this token (a webhook, a stray process): not us, we hold the lease.
            log.error("%s (is a webhook set, or another process using the token?)", error)
            time.sleep(min(1.0, lease.remaining()))
            return None
        except (TelegramError, OSError) as error:
            log.warning("getUpdates: %s", error)
            time.sleep(min(1.0, lease.remaining()))
            return None
        next_offset: int | None = None
        for update in sorted(updates, key=lambda u: int(u["update_id"])):
            update_id = int(update["update_id"])
            if offset is not None and update_id < offset:
                continue  # already confirmed: never handle twice
            try:
                self.handle(update)
            except Exception:  # one bad update must not stop the bot (logged, skipped)
                log.exception("update %d: the handler failed; skipped", update_id)
            next_offset = update_id + 1
            if lease.remaining() <= 0:
                break  # out of budget: the rest comes back on the next poll (not confirmed yet)
        return None if next_offset is None else str(next_offset)


# ---------------------------------------------------------------------- running on Elastic Beanstalk


def bot_token() -> str:
    """`TELEGRAM_BOT_TOKEN` for local runs; on EB the secret named by `BOT_TOKEN_SECRET_ID`."""
    token = os.environ.get("TELEGRAM_BOT_TOKEN")
    if token:
        return token
    import boto3

    ref = os.environ["BOT_TOKEN_SECRET_ID"]
    if ref.startswith("/"):
        value = boto3.client("ssm").get_parameter(Name=ref, WithDecryption=True)["Parameter"]["Value"]
    else:
        value = boto3.client("secretsmanager").get_secret_value(SecretId=ref)["SecretString"]
    return str(value)


def environment_name() -> str:
    """This color's EB environment name: `BLUEGREEN_ENVIRONMENT`, else the platform's own record."""
    name = os.environ.get("BLUEGREEN_ENVIRONMENT")
    if name:
        return name
    found = subprocess.run(  # a fixed path on EB's Amazon Linux platforms
        ["/opt/elasticbeanstalk/bin/get-config", "container", "-k", "environment_name"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return found.stdout.strip()


def serve_health(lease: ConsumerLease, port: int) -> ThreadingHTTPServer:
    """200 for the platform's health check (both colors are healthy; only one holds the lease)."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(
                {"environment": lease.environment, "holding": lease.holding, "token": lease.token}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: no access log
            return

    server = ThreadingHTTPServer(("", port), Health)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    heartbeat = float(os.environ.get("LEASE_HEARTBEAT_SECONDS", "10"))
    lease = ConsumerLease(
        os.environ["BLUEGREEN_TABLE"], os.environ["BLUEGREEN_APP"], environment_name(), heartbeat_seconds=heartbeat
    )
    api = TelegramApi(bot_token())
    bot = Bot(api, echo(api), long_poll_seconds=25.0, reserve_seconds=min(3.0, heartbeat / 3))
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    serve_health(lease, int(os.environ.get("PORT", "8000")))
    log.info("%s: waiting for the consumer lease of %s", lease.environment, lease.app)
    lease.run(bot.poll_once, stop=stop)  # on SIGTERM: finish the poll, commit the offset, release


if __name__ == "__main__":
    main()
