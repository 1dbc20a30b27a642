"""Smoke test of the benchmark's report logic (issue 14): scorecard keys, targets and rendering, on made-up
figures; nothing is measured here (`make bench` does that)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import issue14  # noqa: E402

TARGETS: dict[str, Any] = {
    "cold_invocation_ratio": 1.3,
    "watchdog_calls": {1: 4, 10: 5, 100: 8},
    "reconcile_calls_10000": 50,
    "calls_before_swap": 4,
    "rollback_total_calls": 6,
    "reaction_p95_s": {"alarm_to_swap": 1.0, "upload_to_deploying": 1.0, "healthy_to_baking": 1.0},
    "artifact_margin": 2.0,
}


def tick(in_flight: int, calls: int, detail: dict[str, int]) -> dict[str, Any]:
    return {
        "registered": 10_000,
        "in_flight": in_flight,
        "eb_environments": 20_000,
        "median_s": 0.5,
        "bare_median_s": None,
        "calls": calls,
        "calls_per_tick": [calls],
        "operations": {},
        "operations_detail": detail,
    }


def test_scorecard_and_render() -> None:
    swap = "elasticbeanstalk.SwapEnvironmentCNAMEs"
    warm = {
        "rollback": {"operations": ["dynamodb.GetItem", "dynamodb.TransactWriteItems", swap, "events.PutEvents"]},
        "promote": {"operations": ["dynamodb.GetItem"]},
    }
    data: dict[str, Any] = {
        "watchdog": {
            "10000/10": tick(10, 31, {"dynamodb.Query[InFlight]": 1, "dynamodb.GetItem": 10}),
            "10000/100": tick(100, 6, {"dynamodb.Query[InFlight]": 1, "dynamodb.BatchGetItem[100 keys]": 1}),
        },
        "reconcile": {"10000": tick(0, 1, {"dynamodb.Query[InFlight]": 1})},
        "calls_until_swap": issue14.calls_until_swap(warm),
        "reaction_times": {"error": "boom"},
    }
    rows = {row["key"]: row for row in issue14.scorecard(data, TARGETS)}
    assert rows["watchdog.10000/10.calls"]["met"] is False
    assert rows["watchdog.10000/100.calls"]["met"] is True
    assert rows["reconcile.10000.calls"]["met"] is False  # no idle-app reconcile: reported as missed
    assert rows["calls_until_swap.rollback.before_swap"]["value"] == 2
    assert rows["calls_until_swap.promote.before_swap"]["met"] is False  # no swap at all
    assert rows["reaction_times"]["met"] is False
    data["scorecard"] = list(rows.values())
    text = "\n".join(issue14.render(data, TARGETS))
    assert "## 8. Watchdog cost" in text and "`watchdog.10000/10.calls`" in text
    assert "Not measured: boom" in text
