"""DORA metrics from bluegreen's history: pure computation over `HistoryRecord` dicts, no I/O.

The CLI (`bluegreen report`) fetches the history and prints `render(...)`; the definitions printed
under the table are `DEFINITIONS`, and the code below follows them line by line.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

LIVE = "BAKING"
SUCCEEDED = "SUCCEEDED"
ROLLBACK_STATES = ("ROLLED_BACK", "ROLLBACK_REFUSED")

DEFINITIONS = """\
Definitions (from the history of accepted events; times are the controller's):
  deployment          a build that went live: its deployment entered BAKING (the production CNAME moved
                      to it). Counted in the window when it went live inside it.
  deployments/week    deployments / window length in days * 7 (the whole window, even before the first).
  lead time           went live - uploaded: the artifact's S3 upload time when the history carries it,
                      else the deployment's start (its first transition). Median over the deployments.
  change failure      a deployment that went live and then was rolled back (ROLLED_BACK or
                      ROLLBACK_REFUSED), or was fixed forward: one of the app's alarms fired (an
                      accepted alarm event) while it was the live build, before the next build went live.
  change failure rate failures / deployments.
  restore (traffic)   failure start -> traffic on a good build again: the ROLLED_BACK transition, or for a
                      fix forward the next deployment going live. Failure start: the alarm's own time
                      when the notification carries it (cause.at), else when the failing build went live;
                      for a fix forward, the first alarm while it was live. Median.
  restore (success)   failure start -> the app's next SUCCEEDED deployment. Median; a failure with no
                      success after it yet is counted as open."""


@dataclass
class DeploymentFacts:
    app: str
    deployment_id: str
    version: str | None = None
    started_at: datetime | None = None
    uploaded_at: datetime | None = None
    live_at: datetime | None = None
    succeeded_at: datetime | None = None
    rolled_back_at: datetime | None = None  # traffic back (ROLLED_BACK)
    rollback_refused_at: datetime | None = None
    alarm_at: datetime | None = None  # the alarm's own time, when a rollback notification carries it

    @property
    def rolled_back(self) -> bool:
        return self.rolled_back_at is not None or self.rollback_refused_at is not None


@dataclass
class Failure:
    app: str
    deployment_id: str
    kind: str  # "rolled back" | "fixed forward" | "alarm, not yet fixed"
    started_at: datetime
    restored_at: datetime | None
    succeeded_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "deployment_id": self.deployment_id,
            "kind": self.kind,
            "started_at": self.started_at.isoformat(),
            "restored_at": self.restored_at.isoformat() if self.restored_at else None,
            "succeeded_at": self.succeeded_at.isoformat() if self.succeeded_at else None,
            "restore_traffic_seconds": _seconds(self.started_at, self.restored_at),
            "restore_success_seconds": _seconds(self.started_at, self.succeeded_at),
        }


@dataclass
class Metrics:
    deployments: int = 0
    per_day: float = 0.0
    per_week: float = 0.0
    lead_times: list[float] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def lead_time_median(self) -> float | None:
        return statistics.median(self.lead_times) if self.lead_times else None

    @property
    def change_failure_rate(self) -> float | None:
        return len(self.failures) / self.deployments if self.deployments else None

    @property
    def restore_traffic_median(self) -> float | None:
        values = [s for f in self.failures if (s := _seconds(f.started_at, f.restored_at)) is not None]
        return statistics.median(values) if values else None

    @property
    def restore_success_median(self) -> float | None:
        values = [s for f in self.failures if (s := _seconds(f.started_at, f.succeeded_at)) is not None]
        return statistics.median(values) if values else None

    @property
    def open_failures(self) -> int:
        return sum(1 for f in self.failures if f.succeeded_at is None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "deployments": self.deployments,
            "deployments_per_day": round(self.per_day, 4),
            "deployments_per_week": round(self.per_week, 4),
            "lead_time_median_seconds": self.lead_time_median,
            "lead_times_seconds": self.lead_times,
            "change_failures": len(self.failures),
            "rolled_back": sum(1 for f in self.failures if f.kind == "rolled back"),
            "fixed_forward": sum(1 for f in self.failures if f.kind == "fixed forward"),
            "change_failure_rate": self.change_failure_rate,
            "restore_traffic_median_seconds": self.restore_traffic_median,
            "restore_success_median_seconds": self.restore_success_median,
            "open_failures": self.open_failures,
            "failures": [f.as_dict() for f in self.failures],
        }


@dataclass
class Report:
    since: datetime
    until: datetime
    apps: dict[str, Metrics]
    overall: Metrics
    warnings: list[str] = field(default_factory=list)

    @property
    def days(self) -> float:
        return (self.until - self.since).total_seconds() / 86400

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "days": self.days,
            "apps": {app: metrics.as_dict() for app, metrics in self.apps.items()},
            "overall": self.overall.as_dict(),
            "warnings": self.warnings,
            "definitions": DEFINITIONS,
        }


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def parse_time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str, now: datetime) -> datetime:
    """`30d`, `12h`, `2w`, `90m`, `45s`, or an ISO date/time (UTC when it has no zone)."""
    match = _DURATION.match(value)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--since {value!r}: give a duration such as 30d, 12h, 2w, or an ISO date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=now.tzinfo)


def _transitions(records: Iterable[Mapping[str, Any]]) -> list[tuple[datetime, int, int, Mapping[str, Any]]]:
    out = []
    for record in records:
        for index, note in enumerate(record.get("transitions") or ()):
            at = parse_time(note.get("at")) or parse_time(record.get("at"))
            if at is not None:
                out.append((at, int(record.get("revision", 0)), index, note))
    out.sort(key=lambda item: (item[0], item[1], item[2]))
    return out


def deployments_of(
    records: Iterable[Mapping[str, Any]], uploaded_at: Mapping[str, datetime] | None = None
) -> dict[str, list[DeploymentFacts]]:
    """Per app, the deployments the history mentions, in the order they started."""
    uploaded_at = uploaded_at or {}
    facts: dict[tuple[str, str], DeploymentFacts] = {}
    for at, _, _, note in _transitions(records):
        deployment_id = note.get("deployment_id")
        if not deployment_id:
            continue
        key = (str(note.get("app")), str(deployment_id))
        fact = facts.setdefault(key, DeploymentFacts(app=key[0], deployment_id=key[1]))
        fact.version = fact.version or note.get("version")
        if fact.started_at is None:
            fact.started_at = at
        upload = parse_time(note.get("uploaded_at"))
        if upload is not None and fact.uploaded_at is None:
            fact.uploaded_at = upload
        source, target = note.get("from_state"), note.get("to_state")
        if source == target:
            continue  # an event (pause, queue, note), not a transition
        if target == LIVE and fact.live_at is None:
            fact.live_at = at
        elif target == SUCCEEDED and fact.succeeded_at is None:
            fact.succeeded_at = at
        elif target == "ROLLED_BACK" and fact.rolled_back_at is None:
            fact.rolled_back_at = at
            cause = note.get("cause") or {}
            fact.alarm_at = parse_time(cause.get("at")) if cause.get("type") == "alarm" else None
        elif target == "ROLLBACK_REFUSED" and fact.rollback_refused_at is None:
            fact.rollback_refused_at = at
    for (_, deployment_id), fact in facts.items():
        if deployment_id in uploaded_at:
            fact.uploaded_at = uploaded_at[deployment_id]
    by_app: dict[str, list[DeploymentFacts]] = defaultdict(list)
    for fact in facts.values():
        by_app[fact.app].append(fact)
    for items in by_app.values():
        items.sort(key=lambda f: f.started_at or datetime.max)
    return dict(by_app)


def _alarm_times(records: Iterable[Mapping[str, Any]]) -> dict[str, list[datetime]]:
    """Per app, when an alarm event was accepted (any accepted alarm event: it fired)."""
    out: dict[str, list[datetime]] = defaultdict(list)
    for record in records:
        cause = record.get("cause") or {}
        at = parse_time(record.get("at"))
        if cause.get("type") == "alarm" and at is not None:
            out[str(record.get("app"))].append(at)
    for times in out.values():
        times.sort()
    return out


def _failures(app: str, deployments: list[DeploymentFacts], alarms: list[datetime]) -> dict[str, Failure]:
    live = sorted((d for d in deployments if d.live_at is not None), key=lambda d: d.live_at or datetime.max)
    successes = sorted((d.succeeded_at, d.deployment_id) for d in deployments if d.succeeded_at is not None)

    def next_success(failed: DeploymentFacts, start: datetime, restored: datetime | None) -> datetime | None:
        """The app's next success of another deployment, after the failure started and traffic came back."""
        after = max(start, restored) if restored else start
        return next((at for at, ident in successes if at > after and ident != failed.deployment_id), None)

    failures: dict[str, Failure] = {}
    for index, deployment in enumerate(live):
        assert deployment.live_at is not None
        following = live[index + 1] if index + 1 < len(live) else None
        if deployment.rolled_back:
            start = deployment.alarm_at or deployment.live_at
            restored = deployment.rolled_back_at
            failures[deployment.deployment_id] = Failure(
                app, deployment.deployment_id, "rolled back", start, restored, next_success(deployment, start, restored)
            )
            continue
        end = following.live_at if following else None
        fired = [a for a in alarms if a >= deployment.live_at and (end is None or a < end)]
        if fired:
            start = fired[0]
            restored = following.live_at if following else None
            kind = "fixed forward" if following else "alarm, not yet fixed"
            failures[deployment.deployment_id] = Failure(
                app, deployment.deployment_id, kind, start, restored, next_success(deployment, start, restored)
            )
    return failures


def compute(
    records: Iterable[Mapping[str, Any]],
    *,
    since: datetime,
    until: datetime,
    uploaded_at: Mapping[str, datetime] | None = None,
) -> Report:
    """DORA metrics per app and overall, for deployments that went live in [since, until]."""
    records = list(records)
    days = max((until - since).total_seconds() / 86400, 1e-9)
    by_app = deployments_of(records, uploaded_at)
    alarms = _alarm_times(records)
    apps: dict[str, Metrics] = {}
    overall = Metrics()
    for app in sorted(by_app):
        failures = _failures(app, by_app[app], alarms.get(app, []))
        metrics = Metrics()
        for deployment in by_app[app]:
            if deployment.live_at is None or not since <= deployment.live_at <= until:
                continue
            metrics.deployments += 1
            upload = deployment.uploaded_at or deployment.started_at
            if upload is not None:
                metrics.lead_times.append((deployment.live_at - upload).total_seconds())
            if deployment.deployment_id in failures:
                metrics.failures.append(failures[deployment.deployment_id])
        metrics.per_day = metrics.deployments / days
        metrics.per_week = metrics.per_day * 7
        apps[app] = metrics
        overall.deployments += metrics.deployments
        overall.lead_times.extend(metrics.lead_times)
        overall.failures.extend(metrics.failures)
    overall.per_day = overall.deployments / days
    overall.per_week = overall.per_day * 7
    return Report(since=since, until=until, apps=apps, overall=overall)


# ------------------------------------------------------------------ text


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def _rate(metrics: Metrics) -> str:
    rate = metrics.change_failure_rate
    if rate is None:
        return "-"
    return f"{rate * 100:.0f}% ({len(metrics.failures)}/{metrics.deployments})"


def render(report: Report) -> str:
    header = ("app", "deployments", "per week", "lead time", "failure rate", "restore: traffic", "success", "open")
    rows = [
        (
            name,
            str(m.deployments),
            f"{m.per_week:.2f}",
            duration(m.lead_time_median),
            _rate(m),
            duration(m.restore_traffic_median),
            duration(m.restore_success_median),
            str(m.open_failures),
        )
        for name, m in [*report.apps.items(), ("(overall)", report.overall)]
    ]
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    lines = [
        f"DORA metrics, {report.since.isoformat(timespec='seconds')} to {report.until.isoformat(timespec='seconds')}"
        f" ({report.days:g} days; medians)",
        "",
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    for warning in report.warnings:
        lines.append(f"warning: {warning}")
    lines += ["", DEFINITIONS]
    return "\n".join(lines)
