"""Terminal helpers for the CLI: color only on a terminal (and never with NO_COLOR), ISO times with zone."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import IO

GOOD = frozenset({"SUCCEEDED"})
BAD = frozenset({"ABORTED", "ROLLED_BACK", "ROLLBACK_REFUSED", "FIX_FORWARD"})
MOVING = frozenset({"DEPLOYING", "VERIFYING", "BAKING", "SWAP_REFUSED", "ROLLBACK_WARMING"})

_CODES = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "dim": "2", "bold": "1", "cyan": "36"}


def wants_color(stream: IO[str], choice: str = "auto") -> bool:
    """`always`/`never`, or `auto`: a terminal, unless NO_COLOR is set (https://no-color.org) or TERM=dumb."""
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Style:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def paint(self, text: str, *styles: str) -> str:
        if not self.enabled or not styles:
            return text
        codes = ";".join(_CODES[s] for s in styles if s in _CODES)
        return f"\x1b[{codes}m{text}\x1b[0m" if codes else text

    def state(self, value: str | None, text: str | None = None) -> str:
        shown = text if text is not None else (value or "-")
        if value in GOOD:
            return self.paint(shown, "green")
        if value in BAD:
            return self.paint(shown, "red", "bold")
        if value in MOVING:
            return self.paint(shown, "yellow")
        if value == "SUPERSEDED":
            return self.paint(shown, "dim")
        return shown

    def health(self, value: str | None) -> str:
        shown = value or "-"
        if value in ("Green", "Ok"):
            return self.paint(shown, "green")
        if value in ("Red", "Severe", "Degraded"):
            return self.paint(shown, "red")
        if value in ("Yellow", "Warning"):
            return self.paint(shown, "yellow")
        return shown


def parse_iso(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(value: object) -> str:
    """An ISO-8601 time with its zone, to the second: `2026-11-28T12:00:00+00:00`."""
    parsed = parse_iso(value)
    if parsed is None:
        return str(value) if value else "-"
    return parsed.isoformat(timespec="seconds")


def now() -> datetime:
    return datetime.now(UTC)


def until(value: object, at: datetime | None = None) -> str:
    """`2026-11-28T12:10:00+00:00 (in 4m 12s)` or `(... ago)`."""
    from bluegreen.report import duration

    parsed = parse_iso(value)
    if parsed is None:
        return "-"
    delta = (parsed - (at or now())).total_seconds()
    relative = f"in {duration(delta)}" if delta >= 0 else f"{duration(-delta)} ago"
    return f"{parsed.isoformat(timespec='seconds')} ({relative})"


def short(label: str | None, width: int = 24) -> str:
    if not label:
        return "-"
    return label if len(label) <= width else label[: width - 1] + "…"
