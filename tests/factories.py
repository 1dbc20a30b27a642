"""Builders for states, events and observations, shared by the unit and property tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bluegreen.labels import version_label
from bluegreen.models import (
    AlarmChanged,
    AlarmObservation,
    AppConfig,
    AppState,
    Artifact,
    ArtifactUploaded,
    EnvironmentObservation,
    EnvironmentUpdated,
    HealthChanged,
    Observed,
    OverrideIssued,
    Tick,
)

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
BLUE, GREEN = "mybot-blue", "mybot-green"
CNAME = "mybot.us-east-1.elasticbeanstalk.com"
ALARM = "mybot-errors"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def config(**changes: Any) -> AppConfig:
    values: dict[str, Any] = {
        "application_name": "mybot",
        "environments": (BLUE, GREEN),
        "production_cname": CNAME,
        "alarms": (ALARM,),
        "bake_seconds": 300,
        "deploy_timeout_seconds": 900,
        "verify_timeout_seconds": 600,
    }
    values.update(changes)
    return AppConfig(**values)


def app_state(**changes: Any) -> AppState:
    values: dict[str, Any] = {
        "app": "mybot",
        "config": config(),
        "live_environment": BLUE,
        "last_good_version": "v0",
        "revision": 1,
    }
    values.update(changes)
    return AppState(**values)


def artifact(name: str = "build-1", version: str = "1") -> Artifact:
    key = f"mybot/{name}.zip"
    return Artifact(
        bucket="artifacts",
        key=key,
        version_id=version,
        etag="e" + version,
        size=10,
        label=version_label(key, version),
    )


def upload(name: str = "build-1", when: float = 0, version: str | None = None) -> ArtifactUploaded:
    art = artifact(name, version or name)
    return ArtifactUploaded(event_id=f"s3:{art.key}@{art.version_id}", at=at(when), artifact=art)


def env(
    name: str,
    version: str | None,
    *,
    status: str = "Ready",
    health: str = "Green",
    health_status: str | None = "Ok",
    live: bool = False,
) -> EnvironmentObservation:
    return EnvironmentObservation(
        name=name,
        status=status,
        health=health,
        health_status=health_status,
        version_label=version,
        cname=CNAME if live else f"{name}.us-east-1.elasticbeanstalk.com",
    )


def quiet_alarms() -> tuple[AlarmObservation, ...]:
    """The app's alarm as CloudWatch reports it when nothing is wrong."""
    return (AlarmObservation(name=ALARM, state="OK", since=T0 - timedelta(days=1)),)


def observed(
    *environments: EnvironmentObservation,
    alarms: tuple[AlarmObservation, ...] | None = None,
    alarms_error: str | None = None,
) -> Observed:
    """EB and CloudWatch as a decision sees them; the alarms are read and quiet unless said otherwise."""
    return Observed(
        environments=environments,
        alarms=quiet_alarms() if alarms is None else alarms,
        alarms_read=True,
        alarms_error=alarms_error,
    )


def healthy_green(version: str, *, live: str = BLUE) -> Observed:
    return observed(env(GREEN, version, live=live == GREEN), env(BLUE, "v0", live=live == BLUE))


def health(
    environment: str, value: str, when: float, obs: Observed | None = None, eid: str | None = None
) -> HealthChanged:
    return HealthChanged(
        event_id=eid or f"health:{environment}:{value}:{when}",
        at=at(when),
        environment=environment,
        health=value,
        observed=obs,
    )


def updated(environment: str, outcome: str, when: float, obs: Observed | None = None) -> EnvironmentUpdated:
    return EnvironmentUpdated(
        event_id=f"update:{environment}:{outcome}:{when}",
        at=at(when),
        environment=environment,
        outcome=outcome,
        observed=obs,  # type: ignore[arg-type]
    )


def alarm(when: float, state: str = "ALARM", name: str = ALARM) -> AlarmChanged:
    return AlarmChanged(event_id=f"alarm:{name}:{state}:{when}", at=at(when), alarm=name, state=state)


def tick(when: float, obs: Observed | None = None) -> Tick:
    return Tick(event_id=f"tick:{when}", at=at(when), observed=obs or observed())


def override(action: str, when: float, obs: Observed | None = None, **changes: Any) -> OverrideIssued:
    return OverrideIssued(
        event_id=f"override:{action}:{when}",
        at=at(when),
        action=action,  # type: ignore[arg-type]
        actor="alice",
        reason="because",
        observed=obs,
        **changes,
    )
