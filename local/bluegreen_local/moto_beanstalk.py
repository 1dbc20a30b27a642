"""Elastic Beanstalk deployment calls for moto, in moto's own style (dev-only; never shipped).

moto 5 implements EB applications and environments but not the deployment calls bluegreen makes, and
its DescribeEnvironments ignores filters and returns no CNAME. `install()` swaps in a subclass of
moto's EB backend and response class that adds them, plus a small simulation of what EB does
asynchronously: an environment update takes `update_seconds`, then EB reports it with the same
EventBridge events AWS sends ("Elastic Beanstalk resource status change", "Health status change").

Production code never imports this module: it only talks to an EB endpoint through boto3.
"""

from __future__ import annotations

import io
import json
import random
import string
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import moto.elasticbeanstalk as moto_eb
import moto.elasticbeanstalk.models as eb_models
import moto.elasticbeanstalk.responses as eb_responses
import moto.elasticbeanstalk.urls as eb_urls
from moto.core.base_backend import BackendDict
from moto.core.responses import ActionResult, EmptyResult
from moto.elasticbeanstalk.exceptions import InvalidParameterValueError
from moto.elasticbeanstalk.models import EBBackend, Environment

MARKER = "bluegreen-simulate.json"
COLORS = {"Ok": "Green", "Info": "Green", "Warning": "Yellow", "Degraded": "Red", "Severe": "Red", "Pending": "Grey"}
Listener = Callable[[dict[str, Any]], None]


@dataclass
class Outcome:
    """How an update to a version ends in the simulation."""

    health: str = "Ok"
    fail: bool = False
    degrade_after_seconds: float | None = None
    degrade_to: str = "Degraded"


@dataclass
class ApplicationVersion:
    application_name: str
    label: str
    bucket: str
    key: str
    description: str
    created: datetime


@dataclass
class Update:
    label: str
    due: float


def _now() -> datetime:
    return datetime.now(UTC)


class SimulatedEBBackend(EBBackend):
    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.versions: dict[tuple[str, str], ApplicationVersion] = {}
        self.outcomes: dict[tuple[str, str], Outcome] = {}
        self.updates: dict[str, Update] = {}
        self.degradations: dict[str, tuple[float, str]] = {}
        self.events: list[dict[str, Any]] = []
        self.listeners: list[Listener] = []
        self.update_seconds = 0.0
        self.swap_count = 0
        self.lock = threading.RLock()

    @property
    def _url_module(self) -> Any:
        return eb_urls

    # ------------------------------------------------------------------ look-ups
    def environments(self) -> list[Environment]:
        return [env for app in self.applications.values() for env in app.environments.values()]

    def environment(self, name: str | None = None, environment_id: str | None = None) -> Environment:
        for env in self.environments():
            if (name and env.environment_name == name) or (environment_id and env.environment_id == environment_id):
                return env
        raise InvalidParameterValueError(f"No Environment found for EnvironmentName = '{name or environment_id}'.")

    # ------------------------------------------------------------------ environments
    def create_environment(  # type: ignore[override]
        self,
        app: Any,
        environment_name: str,
        stack_name: str,
        tags: dict[str, str],
        cname_prefix: str | None = None,
        version_label: str | None = None,
    ) -> Environment:
        prefix = cname_prefix or environment_name
        cname = f"{prefix}.{self.region_name}.elasticbeanstalk.com"
        if any(env.cname == cname for env in self.environments()):
            raise InvalidParameterValueError(f"DNS name ({cname}) is not available.")
        if version_label and (app.application_name, version_label) not in self.versions:
            raise InvalidParameterValueError(f"No Application Version named '{version_label}' found.")
        env = super().create_environment(app, environment_name, stack_name, tags)
        env.environment_id = "e-" + "".join(random.choices(string.ascii_lowercase + string.digits, k=10))
        env.cname = cname
        env.endpoint_url = f"awseb-{env.environment_id}.{self.region_name}.elb.amazonaws.com"
        env.version_label = version_label
        env.solution_stack_name = stack_name
        env.status, env.health, env.health_status = "Ready", "Green", "Ok"
        return env

    def describe(self, filters: dict[str, Any]) -> list[Environment]:
        found = self.environments()
        if filters.get("ApplicationName"):
            found = [e for e in found if e.application_name == filters["ApplicationName"]]
        if filters.get("EnvironmentNames"):
            found = [e for e in found if e.environment_name in filters["EnvironmentNames"]]
        if filters.get("EnvironmentIds"):
            found = [e for e in found if e.environment_id in filters["EnvironmentIds"]]
        if filters.get("VersionLabel"):
            found = [e for e in found if e.version_label == filters["VersionLabel"]]
        return found

    # ------------------------------------------------------------------ versions
    def create_application_version(
        self, application_name: str, label: str, bucket: str, key: str, description: str
    ) -> ApplicationVersion:
        if application_name not in self.applications:
            raise InvalidParameterValueError(f"No Application named '{application_name}' found.")
        if not 1 <= len(label) <= 100:
            raise InvalidParameterValueError("Version label must be 1 to 100 characters.")
        if (application_name, label) in self.versions:
            raise InvalidParameterValueError(f"Application Version {label} already exists.")
        body = self._read_bundle(bucket, key)
        if body is None:
            raise InvalidParameterValueError(
                f"Unable to download from S3 location (Bucket: {bucket}  Key: {key}). Reason: Not Found"
            )
        version = ApplicationVersion(application_name, label, bucket, key, description, _now())
        with self.lock:
            self.versions[(application_name, label)] = version
            self.outcomes.setdefault((application_name, label), self._outcome_from_bundle(body))
        return version

    def _read_bundle(self, bucket: str, key: str) -> bytes | None:
        from moto.s3.models import s3_backends

        try:
            return bytes(s3_backends[self.account_id]["aws"].get_object(bucket, key).value)
        except Exception:  # noqa: BLE001 - any S3 miss is EB's "Unable to download"
            return None

    @staticmethod
    def _outcome_from_bundle(body: bytes) -> Outcome:
        """A `bluegreen-simulate.json` inside the zip says how the version behaves once deployed."""
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                marker = json.loads(archive.read(MARKER))
        except (zipfile.BadZipFile, KeyError, ValueError):
            return Outcome()
        return Outcome(
            health=str(marker.get("health", "Ok")) if "degrade_after_seconds" not in marker else "Ok",
            fail=bool(marker.get("fail", False)),
            degrade_after_seconds=marker.get("degrade_after_seconds"),
            degrade_to=str(marker.get("health", "Degraded")),
        )

    def set_version_outcome(self, application_name: str, label: str, *, health: str = "Ok", fail: bool = False) -> None:
        with self.lock:
            self.outcomes[(application_name, label)] = Outcome(health=health, fail=fail)

    # ------------------------------------------------------------------ update, swap
    def update_environment(self, env: Environment, label: str | None) -> Environment:
        emitted: list[dict[str, Any]] = []
        with self.lock:
            if label is not None and (env.application_name, label) not in self.versions:
                raise InvalidParameterValueError(f"No Application Version named '{label}' found.")
            if env.status != "Ready":
                raise InvalidParameterValueError(
                    f"Environment named {env.environment_name} is in an invalid state for this operation. "
                    "Must be Ready."
                )
            if label is None:
                return env
            env.status, env.abortable_operation_in_progress = "Updating", True
            self.updates[env.environment_name] = Update(label, time.monotonic() + self.update_seconds)
            self.degradations.pop(env.environment_name, None)
            emitted.append(
                self._status_event(env, "Environment update started", "Environment update is starting.", "INFO")
            )
            emitted.extend(self._set_health(env, "Info", "Application update in progress on 1 instance."))
        self._emit(emitted)
        return env

    def complete_update(
        self, environment_name: str, *, health: str | None = None, fail: bool | None = None
    ) -> list[dict[str, Any]]:
        """Finish the environment's running update now (the outcome defaults to the version's)."""
        emitted: list[dict[str, Any]] = []
        with self.lock:
            env = self.environment(environment_name)
            update = self.updates.pop(environment_name, None)
            if update is None:
                return []
            outcome = self.outcomes.get((env.application_name, update.label), Outcome())
            failed = outcome.fail if fail is None else fail
            env.status, env.abortable_operation_in_progress = "Ready", False
            env.date_updated = _now()
            if failed:
                emitted.append(
                    self._status_event(env, "Environment update failed", "Failed to deploy application.", "ERROR")
                )
                emitted.extend(self._set_health(env, "Degraded", "Command failed on all instances."))
            else:
                env.version_label = update.label
                final = health or outcome.health
                emitted.append(
                    self._status_event(
                        env, "Environment update successful", "Environment update completed successfully.", "INFO"
                    )
                )
                emitted.extend(self._set_health(env, final, "Application update completed."))
                if outcome.degrade_after_seconds is not None and health is None:
                    self.degradations[environment_name] = (
                        time.monotonic() + outcome.degrade_after_seconds,
                        outcome.degrade_to,
                    )
        self._emit(emitted)
        return emitted

    def abort_update(self, env: Environment) -> None:
        emitted: list[dict[str, Any]] = []
        with self.lock:
            if self.updates.pop(env.environment_name, None) is None:
                raise InvalidParameterValueError(f"Environment {env.environment_name} has no update to abort.")
            env.status, env.abortable_operation_in_progress = "Ready", False
            emitted.append(
                self._status_event(env, "Environment update failed", "The environment update was aborted.", "ERROR")
            )
            emitted.extend(self._set_health(env, "Ok", "Update aborted; previous version restored."))
        self._emit(emitted)

    def advance(self, now: float | None = None) -> list[dict[str, Any]]:
        """Complete every update whose time has come, and apply scheduled degradations."""
        moment = time.monotonic() if now is None else now
        with self.lock:
            due = [name for name, update in self.updates.items() if update.due <= moment]
            degrading = [(name, to) for name, (when, to) in self.degradations.items() if when <= moment]
        emitted: list[dict[str, Any]] = []
        for name in due:
            emitted.extend(self.complete_update(name))
        for name, to in degrading:
            with self.lock:
                self.degradations.pop(name, None)
            emitted.extend(self.set_health(name, to))
        return emitted

    def set_health(self, environment_name: str, health: str) -> list[dict[str, Any]]:
        with self.lock:
            emitted = self._set_health(self.environment(environment_name), health, "")
        self._emit(emitted)
        return emitted

    def swap(self, source: Environment, destination: Environment) -> None:
        with self.lock:
            for env in (source, destination):
                if env.status != "Ready":
                    raise InvalidParameterValueError(
                        f"Environment named {env.environment_name} is in an invalid state for this operation. "
                        "Must be Ready."
                    )
            source.cname, destination.cname = destination.cname, source.cname
            self.swap_count += 1
            for env in (source, destination):
                self.events.append(
                    self._record(
                        env,
                        f"Completed swapping CNAMEs for environments '{source.environment_name}' "
                        f"and '{destination.environment_name}'.",
                        "INFO",
                    )
                )

    # ------------------------------------------------------------------ events
    def add_listener(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def _emit(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            for listener in list(self.listeners):
                listener(event)

    def _set_health(self, env: Environment, health: str, detail: str) -> list[dict[str, Any]]:
        previous = env.health_status
        env.health_status, env.health = health, COLORS.get(health, "Grey")
        if previous == health:
            return []
        message = f"Environment health has transitioned from {previous} to {health}." + (f" {detail}" if detail else "")
        severity = "WARN" if health in ("Warning", "Degraded", "Severe") else "INFO"
        return [self._event(env, "Health status change", "Environment health changed", message, severity)]

    def _status_event(self, env: Environment, status: str, message: str, severity: str) -> dict[str, Any]:
        return self._event(env, "Elastic Beanstalk resource status change", status, message, severity)

    def _event(self, env: Environment, detail_type: str, status: str, message: str, severity: str) -> dict[str, Any]:
        now = _now()
        self.events.append(self._record(env, message, severity))
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": "aws.elasticbeanstalk",
            "account": self.account_id,
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region_name,
            "resources": [env.environment_arn],
            "detail": {
                "Status": status,
                "EventDate": int(now.timestamp() * 1000),
                "ApplicationName": env.application_name,
                "Message": message,
                "EnvironmentName": env.environment_name,
                "Severity": severity,
            },
        }

    def _record(self, env: Environment, message: str, severity: str) -> dict[str, Any]:
        return {
            "EventDate": _now(),
            "Message": message,
            "ApplicationName": env.application_name,
            "EnvironmentName": env.environment_name,
            "VersionLabel": env.version_label,
            "Severity": severity,
        }


def _describe(env: Environment) -> dict[str, Any]:
    return {
        "EnvironmentName": env.environment_name,
        "EnvironmentId": env.environment_id,
        "ApplicationName": env.application_name,
        "VersionLabel": env.version_label,
        "SolutionStackName": env.solution_stack_name,
        "EndpointURL": env.endpoint_url,
        "CNAME": env.cname,
        "DateCreated": env.date_created,
        "DateUpdated": env.date_updated,
        "Status": env.status,
        "AbortableOperationInProgress": env.abortable_operation_in_progress,
        "Health": env.health,
        "HealthStatus": env.health_status,
        "Tier": env.tier,
        "EnvironmentArn": env.environment_arn,
    }


class SimulatedEBResponse(eb_responses.EBResponse):
    @property
    def elasticbeanstalk_backend(self) -> SimulatedEBBackend:
        return sim_backends[self.current_account][self.region]  # type: ignore[no-any-return]

    def _environment_param(self, prefix: str = "") -> Environment:
        return self.elasticbeanstalk_backend.environment(
            self._get_param(f"{prefix}EnvironmentName"), self._get_param(f"{prefix}EnvironmentId")
        )

    def create_environment(self) -> ActionResult:
        application_name = self._get_param("ApplicationName")
        backend = self.elasticbeanstalk_backend
        if application_name not in backend.applications:
            raise InvalidParameterValueError(f"No Application named '{application_name}' found.")
        env = backend.create_environment(
            backend.applications[application_name],
            environment_name=self._get_param("EnvironmentName"),
            stack_name=self._get_param("SolutionStackName"),
            tags={tag["Key"]: tag["Value"] for tag in self._get_param("Tags", [])},
            cname_prefix=self._get_param("CNAMEPrefix"),
            version_label=self._get_param("VersionLabel"),
        )
        return ActionResult(_describe(env))

    def describe_environments(self) -> ActionResult:
        filters = {
            name: self._get_param(name)
            for name in ("ApplicationName", "EnvironmentNames", "EnvironmentIds", "VersionLabel")
        }
        backend = self.elasticbeanstalk_backend
        return ActionResult({"Environments": [_describe(env) for env in backend.describe(filters)]})

    def create_application_version(self) -> ActionResult:
        bundle = self._get_param("SourceBundle") or {}
        version = self.elasticbeanstalk_backend.create_application_version(
            self._get_param("ApplicationName"),
            self._get_param("VersionLabel"),
            bundle.get("S3Bucket", ""),
            bundle.get("S3Key", ""),
            self._get_param("Description") or "",
        )
        return ActionResult({"ApplicationVersion": _version(version)})

    def describe_application_versions(self) -> ActionResult:
        application_name = self._get_param("ApplicationName")
        labels = self._get_param("VersionLabels") or []
        versions = [
            _version(v)
            for (app, label), v in self.elasticbeanstalk_backend.versions.items()
            if (not application_name or app == application_name) and (not labels or label in labels)
        ]
        return ActionResult({"ApplicationVersions": versions})

    def update_environment(self) -> ActionResult:
        env = self.elasticbeanstalk_backend.update_environment(
            self._environment_param(), self._get_param("VersionLabel")
        )
        return ActionResult(_describe(env))

    def swap_environment_cnames(self) -> EmptyResult:
        backend = self.elasticbeanstalk_backend
        backend.swap(self._environment_param("Source"), self._environment_param("Destination"))
        return EmptyResult()

    # moto derives the method name from the action: SwapEnvironmentCNAMEs -> swap_environment_cnam_es
    swap_environment_cnam_es = swap_environment_cnames

    def abort_environment_update(self) -> EmptyResult:
        self.elasticbeanstalk_backend.abort_update(self._environment_param())
        return EmptyResult()

    def describe_environment_health(self) -> ActionResult:
        env = self._environment_param()
        return ActionResult(
            {
                "EnvironmentName": env.environment_name,
                "HealthStatus": env.health_status,
                "Status": env.status,
                "Color": env.health,
                "Causes": [] if env.health == "Green" else [f"Environment health is {env.health_status}."],
                "RefreshedAt": _now(),
            }
        )

    def describe_events(self) -> ActionResult:
        backend = self.elasticbeanstalk_backend
        wanted = {name: self._get_param(name) for name in ("ApplicationName", "EnvironmentName", "VersionLabel")}
        start = self._get_param("StartTime")
        found = [
            e
            for e in reversed(backend.events)
            if all(not value or e.get(name) == value for name, value in wanted.items())
        ]
        if start:
            since = start if isinstance(start, datetime) else datetime.fromisoformat(str(start).replace("Z", "+00:00"))
            found = [e for e in found if e["EventDate"] >= since]
        limit = int(self._get_param("MaxRecords") or 1000)
        return ActionResult({"Events": found[:limit]})


def _version(version: ApplicationVersion) -> dict[str, Any]:
    return {
        "ApplicationName": version.application_name,
        "VersionLabel": version.label,
        "Description": version.description,
        "SourceBundle": {"S3Bucket": version.bucket, "S3Key": version.key},
        "DateCreated": version.created,
        "DateUpdated": version.created,
        "Status": "UNPROCESSED",
    }


sim_backends = BackendDict(SimulatedEBBackend, "elasticbeanstalk")
_installed = False


def install() -> None:
    """Make moto (mock_aws and the server) serve EB through the extension. Idempotent."""
    global _installed
    if _installed:
        return
    moto_eb.eb_backends = sim_backends  # type: ignore[attr-defined]  # what moto.backends.get_backend reads
    eb_models.eb_backends = sim_backends
    eb_responses.eb_backends = sim_backends
    for path in list(eb_urls.url_paths):
        eb_urls.url_paths[path] = SimulatedEBResponse.dispatch
    _installed = True


def backend(account_id: str = "123456789012", region: str = "us-east-1") -> SimulatedEBBackend:
    install()
    return sim_backends[account_id][region]  # type: ignore[no-any-return]
