"""Watchdog: every minute, enforce timeouts, end bakes, start queued artifacts and reconcile with EB."""

from typing import Any

from bluegreen.entry import lambda_entry
from bluegreen.parsing import parse_schedule
from bluegreen.service import controller


@lambda_entry("watchdog")
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    tick_id, at = parse_schedule(event, context)
    return controller().watchdog(tick_id, at)
