"""examples/telegram_bot: the bot's poll (offset from the lease's progress, next offset returned, a failing
handler skipped, a spent budget stopping the batch), the fake Telegram's Bot API semantics, and the EB
bundle (it imports with boto3 alone: no pydantic in a bot's bundle)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "telegram_bot"
sys.path.insert(0, str(EXAMPLE))
from bot import Bot, TelegramApi, TelegramConflict, Update  # noqa: E402
from bundle import build  # noqa: E402
from fake_telegram import FakeTelegram  # noqa: E402


class Held:
    """What Bot.poll_once reads of the lease."""

    def __init__(self, progress: str | None = None, budgets: list[float] | None = None) -> None:
        self.progress, self.budgets = progress, budgets or []

    def remaining(self) -> float:
        return self.budgets.pop(0) if self.budgets else 5.0


def test_poll_resumes_at_the_committed_offset_and_returns_the_next_one() -> None:
    telegram, seen = FakeTelegram(), []
    for _ in range(5):
        telegram.push()
    bot = Bot(telegram, lambda u: seen.append(u["update_id"]), long_poll_seconds=0, reserve_seconds=0)
    assert bot.poll_once(Held("3")) == "6"  # type: ignore[arg-type]
    assert seen == [3, 4, 5]
    assert bot.poll_once(Held("6")) is None and seen == [3, 4, 5]  # nothing new: nothing to commit
    assert telegram.get_updates(2, 0) == []  # 1..5 were confirmed by offset=6: gone, like on Telegram


def test_a_failing_handler_is_skipped_and_a_spent_budget_leaves_the_rest_for_the_next_poll() -> None:
    telegram, seen = FakeTelegram(), []
    for _ in range(4):
        telegram.push()

    def handle(update: Update) -> None:
        if update["update_id"] == 1:
            raise RuntimeError("bad update")
        seen.append(update["update_id"])

    bot = Bot(telegram, handle, long_poll_seconds=0, reserve_seconds=0)
    # budgets: the long-poll timeout, then after each update; spent after the second one.
    assert bot.poll_once(Held(None, [5.0, 1.0, 0.0])) == "3"  # type: ignore[arg-type]
    assert seen == [2]
    assert bot.poll_once(Held("3")) == "5" and seen == [2, 3, 4]  # type: ignore[arg-type]


def test_the_fake_refuses_a_concurrent_get_updates_like_telegram() -> None:
    import threading

    telegram = FakeTelegram()
    waiting = threading.Thread(target=telegram.get_updates, args=(None, 0.3))
    waiting.start()
    while telegram.calls == 0:
        pass
    with pytest.raises(TelegramConflict):
        telegram.get_updates(None, 0)
    waiting.join()
    assert telegram.conflicts == 1


def test_telegram_api_maps_409_to_conflict(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import urllib.error
    import urllib.request

    def conflict(request: Any, timeout: float) -> Any:
        body = b'{"ok": false, "error_code": 409, "description": "Conflict: terminated by other getUpdates request"}'
        raise urllib.error.HTTPError(request.full_url, 409, "Conflict", {}, io.BytesIO(body))  # type: ignore[arg-type]

    monkeypatch.setattr(urllib.request, "urlopen", conflict)
    with pytest.raises(TelegramConflict, match="409"):
        TelegramApi("123:abc").get_updates(7, 4)


def test_the_bundle_runs_with_boto3_alone(tmp_path: Path) -> None:
    bundle = build(tmp_path / "mybot.zip")
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "app")
    assert {"bot.py", "Procfile", "requirements.txt", "bluegreen/consumer.py"} <= names
    assert (tmp_path / "app" / "Procfile").read_text().strip() == "web: python bot.py"
    check = (
        "import sys; sys.modules['pydantic'] = None; sys.modules['aws_lambda_powertools'] = None; "
        f"sys.path.insert(0, {str(tmp_path / 'app')!r}); "
        "import bot, bluegreen.consumer as c; assert c.__file__.startswith(sys.path[0]), c.__file__"
    )
    subprocess.run([sys.executable, "-c", check], check=True, cwd=tmp_path)
