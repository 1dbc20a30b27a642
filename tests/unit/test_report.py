"""DORA report on a hand-built history: every figure below is computed by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bluegreen import report

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2026, 1, 15, tzinfo=UTC)  # 14 days


def t(text: str) -> str:
    return f"2026-{text}:00+00:00"


class History:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.revision: dict[str, int] = {}

    def add(self, app: str, at: str, *moves: tuple[str | None, str | None], dep: str | None,
            cause: dict[str, Any] | None = None, **extra: Any) -> None:  # fmt: skip
        revision = self.revision[app] = self.revision.get(app, 0) + 1
        cause = cause or {"type": "health", "id": "e", "actor": None, "reason": None}
        notes = [
            {
                "app": app,
                "deployment_id": dep,
                "version": f"{dep}-v",
                "from_state": a,
                "to_state": b,
                "live_environment": f"{app}-blue",
                "idle_environment": f"{app}-green",
                "reason": "r",
                "cause": cause,
                "at": at,
                "transition_id": f"{app}:{revision}:{i}",
                **extra,
            }
            for i, (a, b) in enumerate(moves)
        ]
        self.records.append(
            {
                "app": app,
                "revision": revision,
                "at": at,
                "event_kind": cause["type"],
                "event_id": f"e{revision}",
                "rule": "r",
                "summary": "s",
                "cause": cause,
                "transitions": notes,
            }
        )


ALARM = {"type": "alarm", "id": "a-errors", "actor": None, "reason": "Threshold Crossed"}


@pytest.fixture
def history() -> History:
    h = History()
    # a-0: live before the window: not counted.
    h.add("a", "2025-12-30T10:00:00+00:00", (None, "DEPLOYING"), dep="a-0")
    h.add("a", "2025-12-30T10:05:00+00:00", ("DEPLOYING", "VERIFYING"), ("VERIFYING", "BAKING"), dep="a-0")
    h.add("a", "2025-12-30T10:15:00+00:00", ("BAKING", "SUCCEEDED"), dep="a-0")
    # a-1: uploaded 09:58 (carried by the notification), live 10:10 -> lead 12 min = 720 s. A pause (an event).
    h.add("a", t("01-02T10:00"), (None, "DEPLOYING"), dep="a-1", uploaded_at=t("01-02T09:58"))
    h.add("a", t("01-02T10:05"), ("DEPLOYING", "VERIFYING"), dep="a-1")
    h.add("a", t("01-02T10:10"), ("VERIFYING", "BAKING"), dep="a-1")
    h.add("a", t("01-02T10:12"), ("BAKING", "BAKING"), dep="a-1", cause={"type": "override", "id": "pause"})
    h.add("a", t("01-02T10:20"), ("BAKING", "SUCCEEDED"), dep="a-1")
    # a-2: started 12:00, live 12:06 -> lead 360 s; rolled back on an alarm at 12:09 (no alarm time carried):
    # failure start = live 12:06, traffic back 12:09 -> 180 s; next success (a-3) 13:13 -> 67 min = 4020 s.
    h.add("a", t("01-03T12:00"), (None, "DEPLOYING"), dep="a-2")
    h.add("a", t("01-03T12:04"), ("DEPLOYING", "VERIFYING"), dep="a-2")
    h.add("a", t("01-03T12:06"), ("VERIFYING", "BAKING"), dep="a-2")
    h.add("a", t("01-03T12:09"), ("BAKING", "ROLLED_BACK"), dep="a-2", cause=ALARM)
    # a-3: started 13:00, live 13:03 -> lead 180 s; succeeded 13:13; then an alarm on 01-04 08:00 while it is
    # live (a note, not a transition) and a-4 goes live at 09:02: fixed forward. Start 08:00, traffic back
    # 09:02 -> 3720 s, next success 09:12 -> 4320 s.
    h.add("a", t("01-03T13:00"), (None, "DEPLOYING"), dep="a-3")
    h.add("a", t("01-03T13:02"), ("DEPLOYING", "VERIFYING"), dep="a-3")
    h.add("a", t("01-03T13:03"), ("VERIFYING", "BAKING"), dep="a-3")
    h.add("a", t("01-03T13:13"), ("BAKING", "SUCCEEDED"), dep="a-3")
    h.add("a", t("01-04T08:00"), ("SUCCEEDED", "SUCCEEDED"), dep="a-3", cause=ALARM)
    # a-4: started 09:00, live 09:02 -> lead 120 s; succeeded.
    h.add("a", t("01-04T09:00"), (None, "DEPLOYING"), dep="a-4")
    h.add("a", t("01-04T09:01"), ("DEPLOYING", "VERIFYING"), dep="a-4")
    h.add("a", t("01-04T09:02"), ("VERIFYING", "BAKING"), dep="a-4")
    h.add("a", t("01-04T09:12"), ("BAKING", "SUCCEEDED"), dep="a-4")
    # a-5: aborted before promotion: never live, not a deployment, not a failure.
    h.add("a", t("01-05T09:00"), (None, "DEPLOYING"), dep="a-5")
    h.add("a", t("01-05T09:03"), ("DEPLOYING", "ABORTED"), dep="a-5")
    # a rejected upload: no deployment; ignored.
    h.add("a", t("01-05T10:00"), (None, None), dep=None, cause={"type": "artifact", "id": "s3://b/a/x.txt"})
    # b-1: uploaded 01-09 23:00 (given by the caller, as the CLI does from status), live 01-10 00:30 -> 5400 s.
    # Rolled back at 01:00 on an alarm whose own time (00:50) the notification carries: 600 s. No success after.
    h.add("b", t("01-10T00:00"), (None, "DEPLOYING"), dep="b-1")
    h.add("b", t("01-10T00:30"), ("VERIFYING", "BAKING"), dep="b-1")
    h.add("b", t("01-10T01:00"), ("BAKING", "ROLLED_BACK"), dep="b-1", cause={**ALARM, "at": t("01-10T00:50")})
    return h


def test_per_app_and_overall(history: History) -> None:
    result = report.compute(
        history.records, since=SINCE, until=UNTIL, uploaded_at={"b-1": datetime(2026, 1, 9, 23, tzinfo=UTC)}
    )
    a, b, overall = result.apps["a"], result.apps["b"], result.overall

    assert a.deployments == 4  # a-1..a-4 (a-0 before the window, a-5 never live)
    assert a.per_week == pytest.approx(4 / 14 * 7)  # 2.0
    assert sorted(a.lead_times) == [120, 180, 360, 720]
    assert a.lead_time_median == 270  # (180 + 360) / 2
    assert [(f.deployment_id, f.kind) for f in a.failures] == [("a-2", "rolled back"), ("a-3", "fixed forward")]
    assert a.change_failure_rate == 0.5
    assert a.restore_traffic_median == (180 + 3720) / 2
    assert a.restore_success_median == (4020 + 4320) / 2
    assert a.open_failures == 0

    assert b.deployments == 1 and b.per_week == pytest.approx(0.5)
    assert b.lead_times == [5400]
    assert b.change_failure_rate == 1.0
    assert b.restore_traffic_median == 600
    assert b.restore_success_median is None and b.open_failures == 1

    assert overall.deployments == 5 and overall.per_week == pytest.approx(2.5)
    assert overall.lead_time_median == 360  # median of 120, 180, 360, 720, 5400
    assert overall.change_failure_rate == pytest.approx(3 / 5)
    assert overall.restore_traffic_median == 600  # median of 180, 3720, 600
    assert overall.restore_success_median == 4170
    assert overall.open_failures == 1


def test_window_excludes_earlier_deployments(history: History) -> None:
    result = report.compute(history.records, since=datetime(2026, 1, 4, tzinfo=UTC), until=UNTIL)
    a = result.apps["a"]
    assert a.deployments == 1 and a.failures == []  # only a-4 went live after 01-04 00:00
    assert result.apps["b"].lead_times == [1800]  # no upload time given: from its start (00:00 -> 00:30)


def test_alarm_on_the_last_build_is_a_failure_not_yet_fixed() -> None:
    h = History()
    h.add("c", t("01-02T10:00"), (None, "DEPLOYING"), dep="c-1")
    h.add("c", t("01-02T10:10"), ("VERIFYING", "BAKING"), dep="c-1")
    h.add("c", t("01-02T10:20"), ("BAKING", "SUCCEEDED"), dep="c-1")
    h.add("c", t("01-02T11:00"), ("SUCCEEDED", "SUCCEEDED"), dep="c-1", cause=ALARM)
    metrics = report.compute(h.records, since=SINCE, until=UNTIL).apps["c"]
    assert [f.kind for f in metrics.failures] == ["alarm, not yet fixed"]
    assert metrics.restore_traffic_median is None and metrics.open_failures == 1


def test_no_deployments_gives_no_rate() -> None:
    result = report.compute([], since=SINCE, until=UNTIL)
    assert result.overall.deployments == 0 and result.overall.change_failure_rate is None
    assert "(overall)" in report.render(result)


def test_render_prints_the_table_and_the_definitions(history: History) -> None:
    text = report.render(report.compute(history.records, since=SINCE, until=UNTIL))
    assert "50% (2/4)" in text and "change failure rate" in text and "lead time" in text
    assert text.index("(overall)") < text.index("Definitions")
    data = report.compute(history.records, since=SINCE, until=UNTIL).as_dict()
    assert data["apps"]["a"]["fixed_forward"] == 1 and data["apps"]["a"]["rolled_back"] == 1


@pytest.mark.parametrize(
    ("text", "delta"), [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("2w", timedelta(weeks=2))]
)
def test_parse_since(text: str, delta: timedelta) -> None:
    assert report.parse_since(text, UNTIL) == UNTIL - delta


def test_parse_since_date_and_garbage() -> None:
    assert report.parse_since("2026-01-01", UNTIL) == SINCE
    with pytest.raises(ValueError, match="duration"):
        report.parse_since("yesterday", UNTIL)


def test_duration() -> None:
    assert [report.duration(s) for s in (None, 59, 61, 3720, 90000)] == ["-", "59s", "1m 01s", "1h 02m", "1d 01h"]
