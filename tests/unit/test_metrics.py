"""bluegreen.metrics: which metrics each transition emits, their values, the EMF on stdout, and that
metrics never raise nor load powertools before the first transition."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from bluegreen import metrics
from bluegreen.models import AppState, Cause, Deployment, DeploymentState, Notification

from tests.factories import BLUE, GREEN, T0, app_state, artifact, at

UPLOADED = T0 - timedelta(seconds=30)


def deployment(state: DeploymentState, *, uploaded: bool = True, **changes: Any) -> Deployment:
    art = artifact().model_copy(update={"uploaded_at": UPLOADED if uploaded else None})
    values: dict[str, Any] = {
        "id": "mybot-1",
        "artifact": art,
        "state": state,
        "target_environment": GREEN,
        "previous_environment": BLUE,
        "started_at": T0,
        "state_since": T0,
    }
    values.update(changes)
    return Deployment(**values)


def note(
    from_state: str | None, to_state: str | None, when: float, cause: str = "health", deployment_id: str = "mybot-1"
) -> Notification:
    return Notification(
        app="mybot",
        deployment_id=deployment_id,
        version="build-1-abc",
        from_state=from_state,
        to_state=to_state,
        live_environment=GREEN,
        idle_environment=BLUE,
        reason='a reason with "quotes"',
        cause=Cause(type=cause, id="x"),  # type: ignore[arg-type]
        at=at(when).isoformat(),
        transition_id=f"mybot:1:{when}",
    )


def state_with(d: Deployment | None) -> AppState:
    return app_state(deployment=d, live_environment=GREEN)


def names(data: list[metrics.Datum]) -> dict[str, float]:
    return {d.name: d.value for d in data}


def test_upload_starts_a_deployment() -> None:
    data = metrics.transition_metrics(
        state_with(deployment(DeploymentState.DEPLOYING)), [note(None, "DEPLOYING", 0, "artifact")], T0
    )
    assert names(data) == {"DeploymentStarted": 1.0}


def test_promotion_measures_upload_to_live_from_s3_upload_time() -> None:
    d = deployment(DeploymentState.BAKING)
    data = metrics.transition_metrics(state_with(d), [note("VERIFYING", "BAKING", 12.5)], at(12.5))
    assert names(data) == {"UploadToLiveSeconds": 42.5}  # 30 s before T0 -> 12.5 s after


def test_upload_to_live_falls_back_to_the_deployment_start() -> None:
    d = deployment(DeploymentState.BAKING, uploaded=False)
    data = metrics.transition_metrics(state_with(d), [note("SWAP_REFUSED", "BAKING", 20)], at(20))
    assert names(data) == {"UploadToLiveSeconds": 20.0}


def test_success_counts_and_measures_upload_to_success() -> None:
    d = deployment(DeploymentState.SUCCEEDED)
    data = metrics.transition_metrics(state_with(d), [note("BAKING", "SUCCEEDED", 330, "timeout")], at(330))
    assert names(data) == {"DeploymentSucceeded": 1.0, "UploadToSuccessSeconds": 360.0}


def test_alarm_rollback_measures_alarm_to_traffic_back_from_the_event_time() -> None:
    d = deployment(DeploymentState.ROLLED_BACK)
    alarm_fired = at(100)
    data = metrics.transition_metrics(state_with(d), [note("BAKING", "ROLLED_BACK", 101.25, "alarm")], alarm_fired)
    assert names(data) == {"DeploymentRolledBack": 1.0, "AlarmToTrafficBackSeconds": 1.25}


def test_operator_rollback_is_counted_but_not_timed_as_an_alarm() -> None:
    d = deployment(DeploymentState.ROLLED_BACK)
    data = metrics.transition_metrics(state_with(d), [note("BAKING", "ROLLED_BACK", 50, "override")], at(50))
    assert names(data) == {"DeploymentRolledBack": 1.0}


def test_refused_rollback_that_goes_through_later_counts_as_traffic_back() -> None:
    d = deployment(DeploymentState.ROLLED_BACK)
    # the retry is the alarm's redelivery: its time is the alarm's
    data = metrics.transition_metrics(state_with(d), [note("ROLLBACK_REFUSED", "ROLLED_BACK", 70, "alarm")], at(10))
    assert names(data) == {"DeploymentRolledBack": 1.0, "AlarmToTrafficBackSeconds": 60.0}


def test_refused_rollback_uses_the_alarm_time_the_deployment_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    d = deployment(DeploymentState.ROLLED_BACK)
    object.__setattr__(d, "alarm_at", at(5))  # a field the core may add; read with getattr
    data = metrics.transition_metrics(state_with(d), [note("ROLLBACK_REFUSED", "ROLLED_BACK", 65, "reconcile")], at(64))
    assert names(data)["AlarmToTrafficBackSeconds"] == 60.0


def test_abort_and_supersede_are_counted() -> None:
    new = deployment(DeploymentState.DEPLOYING, id="mybot-2")
    notes = [
        note("DEPLOYING", "SUPERSEDED", 5, "artifact"),
        note(None, "DEPLOYING", 5, "artifact", deployment_id="mybot-2"),
    ]
    assert names(metrics.transition_metrics(state_with(new), notes, at(5))) == {
        "DeploymentSuperseded": 1.0,
        "DeploymentStarted": 1.0,
    }
    aborted = deployment(DeploymentState.ABORTED)
    assert names(metrics.transition_metrics(state_with(aborted), [note("DEPLOYING", "ABORTED", 9)], at(9))) == {
        "DeploymentAborted": 1.0
    }


def test_non_transitions_and_registrations_emit_nothing() -> None:
    d = deployment(DeploymentState.BAKING)
    notes = [note("BAKING", "BAKING", 5, "override"), note(None, None, 5, "override", deployment_id="")]
    assert metrics.transition_metrics(state_with(d), notes, at(5)) == []
    assert metrics.transition_metrics(state_with(d), [note("VERIFYING", "SWAP_REFUSED", 5)], at(5)) == []


def test_emits_one_emf_record_per_call_without_a_service_dimension(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "bluegreen")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    d = deployment(DeploymentState.SUCCEEDED)
    metrics.record_transitions(state_with(d), [note("BAKING", "SUCCEEDED", 330, "timeout")], at(330))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    record = lines[0]
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "bluegreen"
    assert directive["Dimensions"] == [["app"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "DeploymentSucceeded": "Count",
        "UploadToSuccessSeconds": "Seconds",
    }
    assert (
        record["app"] == "mybot"
        and record["DeploymentSucceeded"] == [1.0]
        and record["UploadToSuccessSeconds"] == [360.0]
    )
    assert "service" not in record


def test_notification_failures(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    metrics.record_notification_failures("mybot", 0)
    assert capsys.readouterr().out == ""
    metrics.record_notification_failures("mybot", 3)
    record = json.loads(capsys.readouterr().out)
    assert record["NotificationFailures"] == [3.0] and record["app"] == "mybot"


def test_never_raises(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    metrics.record_transitions(None, [object()], None)  # type: ignore[arg-type]
    monkeypatch.setattr(metrics, "_emit", lambda app, data: 1 / 0)
    metrics.record_notification_failures("mybot", 1)
    d = deployment(DeploymentState.ABORTED)
    metrics.record_transitions(state_with(d), [note("DEPLOYING", "ABORTED", 9)], at(9))
    assert sum("metrics: could not" in r.getMessage() for r in caplog.records) == 3


def test_silenced_by_powertools_switch(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics.record_notification_failures("mybot", 2)
    assert capsys.readouterr().out == ""


def test_importing_bluegreen_metrics_does_not_load_powertools() -> None:
    code = "import sys, bluegreen.metrics; print('aws_lambda_powertools' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
