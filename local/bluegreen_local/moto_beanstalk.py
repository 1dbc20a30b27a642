"""Elastic Beanstalk deployment calls for moto, in moto's own style (dev-only; never shipped).

moto 5 models EB applications and environments but not the calls a blue-green controller makes:
application versions, UpdateEnvironment, SwapEnvironmentCNAMEs, AbortEnvironmentUpdate, health and
events; its DescribeEnvironments ignores filters and returns no CNAME. This module subclasses moto's
EB backend, models and response class to add them, plus a small simulation of what EB does
asynchronously: an update takes `update_seconds` and ends when `advance()` (or `complete_update()`)
runs, and EB reports it with the EventBridge events AWS sends ("Elastic Beanstalk resource status
change", "Health status change") to listeners registered with `add_listener()`.

What a simulated update does (the facts: docs/aws-events.md, section 1). A version's behaviour comes
from a `bluegreen-simulate.json` file in its zip, or `set_version_outcome()` (which wins):

Marker keys (the same names as keywords of `set_version_outcome`):

- `health`: an enhanced health status (default "Ok"), the health once the update ends.
- `fail` (bool): "Environment update failed" / "Failed to deploy application.", old version, Degraded.
- `degrade_after_seconds` (number): ends Ok, then `health` (default Degraded) that much later.
- `result`: "ok" (default); "errors": "Update environment operation is complete, but with errors.
  ..." (ERROR), the old version stays, Degraded "Command failed on 1 out of N instances. Incorrect
  application version found on ..."; the per-instance "Command failed on instance" lines go to
  DescribeEvents only. "old_version": "Environment update successful" while EB keeps the old
  VersionLabel.
- `instances` (1..100, default 1): N in "Application update in progress on 1 out of N instances."
- `rolling` (bool): health dips during the update: Info, then at 40 % of it Degraded ("Incorrect
  application version found on 1 out of N instances. Expected version "L" (deployment K).").
- `severe_during_update` (bool): with `rolling`, a brief Severe at 70 % ("ELB health is failing or
  not available for all instances."), before the update settles.

Backend helpers (besides the API): `advance(now=None)`, `complete_update(environment_name, *,
health=None, fail=None)`, `set_health(environment_name, health)`, `set_version_outcome(app, label, *,
health="Ok", fail=False, degrade_after_seconds=None, result="ok", instances=1, rolling=False,
severe_during_update=False)`, `start_managed_update(environment_name, *, fail=False, seconds=None)`
(detail-type "Managed update status change": "Managed updated started" ... "Managed update
successful"/"Managed update failed"; Updating meanwhile, so swaps and updates are refused),
`add_listener(fn)` / `remove_listener(fn)`. `CreateEnvironment(Tier={"Name": "Worker", ...})` makes
a worker: no CNAME, a CNAMEPrefix is refused ("Environment does not support a cname"), and so is a
swap with it. Environment tags (`Tags`, `ListTagsForResource`, `UpdateTagsForResource`) are moto's.

Option settings and capacity (the facts and their sources: docs/traffic.md). Each environment keeps
its deployed option settings; `DescribeConfigurationSettings` returns them over EB's defaults
(`aws:autoscaling:asg` MinSize 1 and MaxSize 4, or 1 and 1 when `aws:elasticbeanstalk:environment`
EnvironmentType is SingleInstance), with the Auto Scaling options under ResourceName
"AWSEBAutoScalingGroup". `UpdateEnvironment(OptionSettings=..., OptionsToRemove=...)` is validated
at once on the resulting set, like EB ("ConfigurationValidationException", HTTP 400): MinSize and
MaxSize 0..10000 ("Invalid option value: '-1' (Namespace: 'aws:autoscaling:asg', OptionName:
'MinSize'): Value is less than minimum allowed value: 0"), MinSize <= MaxSize (that text is
inferred), and, when `aws:autoscaling:updatepolicy:rollingupdate` RollingUpdateEnabled is true, EB's
two rolling-update refusals of a zero size (MinInstancesInService not below MaxSize; MaxBatchSize,
a third of MinSize, below 1). Accepted, it is a configuration update: Updating, a second settings set
with DeploymentStatus "pending" (the draft) beside the "deployed" one, Ready when it ends; a failed
update leaves the draft as "failed"; an aborted one drops it. An environment whose deployed MaxSize
is 0 has no instances: health Grey / "NoData" with the cause "There are no instances. Auto Scaling
group desired capacity is set to 0." (modelled on EB's documented message for a group with no
instances), whatever else happens, until an update restoring capacity ends.

`install()` points moto's own `eb_backends` at the subclass, so `mock_aws()` and moto's server
(started after `install()`) both serve EB through it. Production code never imports this module:
it only talks to an EB endpoint through boto3.
"""

from __future__ import annotations

import io
import json
import logging
import string
import sys
import threading
import time
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, TypeVar

import moto.elasticbeanstalk.urls as eb_urls
from moto.core.base_backend import backend_lock
from moto.core.common_models import BaseModel
from moto.core.exceptions import ServiceException
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult, EmptyResult
from moto.elasticbeanstalk.exceptions import InvalidParameterValueError
from moto.elasticbeanstalk.models import Application, EBBackend, Environment, eb_backends
from moto.elasticbeanstalk.responses import EBResponse
from moto.elasticbeanstalk.utils import make_arn
from moto.moto_api._internal import mock_random as random

log = logging.getLogger(__name__)

MARKER = "bluegreen-simulate.json"
"""A file of this name inside a version's zip says how the version behaves once deployed."""

HEALTH_STATUSES = ("NoData", "Unknown", "Pending", "Ok", "Info", "Warning", "Degraded", "Severe", "Suspended")
COLORS = {"Ok": "Green", "Info": "Green", "Warning": "Yellow", "Degraded": "Red", "Severe": "Red"}
CAUSES = {
    "Warning": "15.0 % of the requests are failing with HTTP 5xx.",
    "Degraded": "50.0 % of the requests are failing with HTTP 5xx.",
    "Severe": "100.0 % of the requests are failing with HTTP 5xx.",
}
SEVERITY_ORDER = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
STATUS_CHANGE = "Elastic Beanstalk resource status change"
MANAGED_CHANGE = "Managed update status change"
RESULTS = ("ok", "errors", "old_version")
COMPLETE_WITH_ERRORS = (
    "Update environment operation is complete, but with errors. "
    "For more information, see troubleshooting documentation."
)
HEALTH_CHANGE = "Health status change"
MAX_EVENTS = 10_000

Listener = Callable[[dict[str, Any]], None]
T = TypeVar("T")


ASG = "aws:autoscaling:asg"
ASG_RESOURCE = "AWSEBAutoScalingGroup"
ENVIRONMENT = "aws:elasticbeanstalk:environment"
ROLLING = "aws:autoscaling:updatepolicy:rollingupdate"
SIZE_RANGE = (0, 10_000)  # EB's documented range says 1..10000, yet it accepts 0 on an existing environment
NO_INSTANCES = "There are no instances. Auto Scaling group desired capacity is set to 0."


class ConfigurationValidationError(ServiceException):
    """EB's synchronous refusal of an option setting (an HTTP 400, like InvalidParameterValue)."""

    code = "ConfigurationValidationException"


def _invalid_option(value: str, namespace: str, option: str, reason: str) -> ConfigurationValidationError:
    return ConfigurationValidationError(
        f"Configuration validation exception: Invalid option value: '{value}' (Namespace: '{namespace}', "
        f"OptionName: '{option}'): {reason}"
    )


def _option(settings: Iterable[dict[str, str]], namespace: str, name: str) -> str | None:
    """The value of an option in a settings list (whatever its ResourceName), or None."""
    for option in settings:
        if option.get("Namespace") == namespace and option.get("OptionName") == name:
            return option.get("Value")
    return None


def _defaults(settings: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    single = _option(settings, ENVIRONMENT, "EnvironmentType") == "SingleInstance"
    return [
        {"Namespace": ENVIRONMENT, "OptionName": "EnvironmentType", "Value": "LoadBalanced"},
        {"ResourceName": ASG_RESOURCE, "Namespace": ASG, "OptionName": "MinSize", "Value": "1"},
        {"ResourceName": ASG_RESOURCE, "Namespace": ASG, "OptionName": "MaxSize", "Value": "1" if single else "4"},
        {"ResourceName": ASG_RESOURCE, "Namespace": ASG, "OptionName": "Cooldown", "Value": "360"},
    ]


def _effective(settings: list[dict[str, str]]) -> list[dict[str, str]]:
    """EB's defaults overlaid with the stored settings (the shape DescribeConfigurationSettings lists)."""

    def key(option: dict[str, str]) -> tuple[str | None, str | None, str | None]:
        resource = option.get("ResourceName") or (ASG_RESOURCE if option.get("Namespace") == ASG else None)
        return resource, option.get("Namespace"), option.get("OptionName")

    found = {key(o): o for o in _defaults(settings)}
    for option in settings:
        found[key(option)] = {
            k: v for k, v in option.items() if k in ("ResourceName", "Namespace", "OptionName", "Value")
        }
    listed = []
    for (resource, _, _), option in found.items():
        listed.append({**option, "ResourceName": resource} if resource else option)
    return listed


def capacity_of(settings: list[dict[str, str]]) -> tuple[int, int]:
    """(MinSize, MaxSize) of a settings list, with EB's defaults; raises like EB on bad values."""
    effective = _effective(settings)
    sizes = []
    for name in ("MinSize", "MaxSize"):
        raw = _option(effective, ASG, name) or ""
        try:
            number = int(raw)
        except ValueError:
            raise _invalid_option(raw, ASG, name, "Value is not an integer.") from None  # inferred text
        if number < SIZE_RANGE[0]:
            raise _invalid_option(raw, ASG, name, f"Value is less than minimum allowed value: {SIZE_RANGE[0]}")
        if number > SIZE_RANGE[1]:
            raise _invalid_option(raw, ASG, name, f"Value is greater than maximum allowed value: {SIZE_RANGE[1]}")
        sizes.append(number)
    return sizes[0], sizes[1]


def validate_settings(settings: list[dict[str, str]]) -> None:
    """What EB checks when it accepts UpdateEnvironment/CreateEnvironment option settings (the capacity part)."""
    low, high = capacity_of(settings)
    if low > high:  # inferred text, in the words of EB's rolling-update message below
        raise _invalid_option(
            str(low),
            ASG,
            "MinSize",
            f"The minimum instance count for the Autoscaling group ({low}) should be less than or equal to "
            f"the maximum instance count for the Autoscaling group ({high}).",
        )
    if (_option(settings, ROLLING, "RollingUpdateEnabled") or "").lower() != "true":
        return
    explicit = _option(settings, ROLLING, "MinInstancesInService")
    in_service = explicit if explicit is not None else str(float(max(0, min(low, high - 1))))
    if float(in_service) >= high:  # EB's text (aws-elastic-beanstalk-cli issue 74)
        raise _invalid_option(
            in_service,
            ROLLING,
            "MinInstancesInService",
            f"The minimum instances in service for rolling updates ({int(float(in_service))}) should be less "
            f"than the maximum instance count for the Autoscaling group ({high}).",
        )
    batch = _option(settings, ROLLING, "MaxBatchSize")
    if batch is None and -(-low // 3) < 1:  # EB's text (eb_deployer pull request 44)
        raise _invalid_option(str(-(-low // 3)), ROLLING, "MaxBatchSize", "Value is less than minimum allowed value: 1")


def _invalid_state(env: Environment) -> InvalidParameterValueError:
    return InvalidParameterValueError(
        f"Environment named {env.environment_name} is in an invalid state for this operation. Must be Ready."
    )


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _page(items: Sequence[T], max_records: int | None, next_token: str | None) -> tuple[list[T], str | None]:
    """EB's MaxRecords/NextToken paging over an already ordered list."""
    try:
        start = int(next_token) if next_token else 0
    except ValueError:
        raise InvalidParameterValueError("Invalid NextToken.") from None
    if max_records is None:
        return list(items[start:]), None
    end = start + max_records
    return list(items[start:end]), (str(end) if end < len(items) else None)


# ---------------------------------------------------------------------------------------------- models
@dataclass
class Outcome:
    """How an update to a version ends in the simulation: healthy `Ok` unless told otherwise."""

    health: str = "Ok"
    fail: bool = False
    degrade_after_seconds: float | None = None
    degrade_to: str = "Degraded"
    result: str = "ok"
    instances: int = 1
    rolling: bool = False
    severe_during_update: bool = False

    @classmethod
    def from_marker(cls, marker: Any) -> Outcome:
        if not isinstance(marker, dict):
            return cls()
        health = marker.get("health")
        if health is not None and health not in HEALTH_STATUSES:
            return cls()
        extra = cls._extra(marker)
        after = marker.get("degrade_after_seconds")
        if isinstance(after, int | float) and not isinstance(after, bool):
            return cls("Ok", bool(marker.get("fail", False)), float(after), health or "Degraded", **extra)
        return cls(health or "Ok", bool(marker.get("fail", False)), **extra)

    @staticmethod
    def _extra(marker: dict[str, Any]) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if marker.get("result") in RESULTS:
            extra["result"] = marker["result"]
        instances = marker.get("instances")
        if isinstance(instances, int) and not isinstance(instances, bool) and 1 <= instances <= 100:
            extra["instances"] = instances
        for key in ("rolling", "severe_during_update"):
            if isinstance(marker.get(key), bool):
                extra[key] = marker[key]
        return extra

    @classmethod
    def from_bundle(cls, body: bytes | None) -> Outcome:
        """Read `bluegreen-simulate.json` from a zip; anything unreadable gets the default outcome."""
        if not body:
            return cls()
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                names = sorted(
                    (n for n in archive.namelist() if n.rsplit("/", 1)[-1] == MARKER), key=lambda n: n.count("/")
                )
                if not names:
                    return cls()
                return cls.from_marker(json.loads(archive.read(names[0])))
        except (zipfile.BadZipFile, OSError, ValueError, KeyError, RuntimeError, NotImplementedError):
            return cls()


@dataclass
class Update:
    """An update in progress on one environment (`label` None: a configuration-only update)."""

    label: str | None
    started: float
    due: float
    previous_health: str
    kind: str = "deploy"  # or "managed" (a managed platform update)
    fail: bool = False
    dips: list[tuple[float, str, list[str]]] = field(default_factory=list)  # (when, health, causes)


class ApplicationVersion(BaseModel):
    def __init__(
        self,
        backend: BlueGreenEBBackend,
        application_name: str,
        version_label: str,
        source_bundle: dict[str, str] | None,
        description: str | None,
        process: bool,
        created: datetime,
    ) -> None:
        self.application_name = application_name
        self.version_label = version_label
        self.source_bundle = source_bundle
        self.description = description
        self.status = "Processed" if process else "Unprocessed"
        self.date_created = self.date_updated = created
        self.application_version_arn = make_arn(
            backend.region_name, backend.account_id, "applicationversion", f"{application_name}/{version_label}"
        )


class BlueGreenApplication(Application):
    def __init__(self, backend: BlueGreenEBBackend, application_name: str, description: str | None = None) -> None:
        super().__init__(backend, application_name)
        self.description = description
        self.date_created = self.date_updated = backend.now()

    @property
    def application_arn(self) -> str:
        return self.arn

    @property
    def versions(self) -> list[str]:
        """Labels of this application's versions, newest first (ApplicationDescription.Versions)."""
        found = [v for (app, _), v in self.backend.versions.items() if app == self.application_name]
        return [v.version_label for v in reversed(found)]


class BlueGreenEnvironment(Environment):
    def __init__(
        self,
        application: BlueGreenApplication,
        environment_name: str,
        *,
        solution_stack_name: str | None,
        platform_arn: str | None,
        tags: dict[str, str],
        cname_prefix: str | None,
        version_label: str | None,
        description: str | None,
        tier: dict[str, str] | None,
        option_settings: list[dict[str, str]],
        created: datetime,
    ) -> None:
        super().__init__(application, environment_name, solution_stack_name or "", tags)
        self._application_name: str = application.application_name
        self._region: str = application.region
        self._account_id: str = application.account_id
        self.solution_stack_name = solution_stack_name  # type: ignore[assignment]  # moto's sets "None"
        self._platform_arn = platform_arn
        self.environment_id = "e-" + "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(10))
        self.cname: str | None = f"{cname_prefix}.{self._region}.elasticbeanstalk.com" if cname_prefix else None
        self.deployment = 1 if version_label else 0
        suffix = "".join(random.choice(string.ascii_uppercase + string.digits) for _ in range(12))
        number = "".join(random.choice(string.digits) for _ in range(10))
        self.load_balancer = f"awseb-{self.environment_id}-AWSEBLoa-{suffix}"
        self.endpoint_url = f"{self.load_balancer}-{number}.{self._region}.elb.amazonaws.com"
        self.version_label = version_label
        self.description = description
        if tier:
            self.tier = {**self.tier, **tier}
        self.option_settings = list(option_settings)
        self.draft: list[dict[str, str]] | None = None  # settings of an update in progress, or of a failed one
        self.draft_status: str | None = None  # "pending" or "failed" (DescribeConfigurationSettings)
        self.status = "Ready"
        self.health = "Green"
        self.health_status = "Ok"
        self.causes: list[str] = []
        self.abortable_operation_in_progress = False
        self.date_created = self.date_updated = created
        self.date_terminated: datetime | None = None

    @property  # type: ignore[override]
    def version_label(self) -> str | None:  # moto's Environment starts it at the int 1
        return self._version_label

    @version_label.setter
    def version_label(self, value: str | int | None) -> None:
        self._version_label = value if isinstance(value, str) else None

    # moto's Environment reads these through a weak proxy to its application; an environment outlives
    # its application once terminated or deleted, so they are kept on the environment itself.
    @property
    def application_name(self) -> str:
        return self._application_name

    @property
    def region(self) -> str:
        return self._region

    @property
    def environment_arn(self) -> str:
        return make_arn(
            self._region, self._account_id, "environment", f"{self._application_name}/{self.environment_name}"
        )

    @property
    def platform_arn(self) -> str | None:  # type: ignore[override]
        return self._platform_arn

    @property
    def resources(self) -> dict[str, Any]:
        return {
            "LoadBalancer": {
                "LoadBalancerName": self.load_balancer,
                "Domain": self.endpoint_url,
                "Listeners": [{"Protocol": "http", "Port": 80}],
            }
        }

    def merged_option_settings(
        self, settings: Iterable[dict[str, str]], remove: Iterable[dict[str, str]]
    ) -> list[dict[str, str]]:
        """The deployed settings with an update's changes applied (Namespace and OptionName identify one;
        EB lists the Auto Scaling ones under a ResourceName a caller need not repeat)."""

        def key(option: dict[str, str]) -> tuple[str | None, str | None, str | None]:
            resource = option.get("ResourceName")
            if option.get("Namespace") == ASG and resource == ASG_RESOURCE:
                resource = None
            return resource, option.get("Namespace"), option.get("OptionName")

        merged = {key(o): o for o in self.option_settings}
        for option in remove:
            merged.pop(key(option), None)
        for option in settings:
            merged[key(option)] = dict(option)
        return list(merged.values())

    @property
    def capacity(self) -> tuple[int, int]:
        """(MinSize, MaxSize) as deployed."""
        return capacity_of(self.option_settings)

    @property
    def no_instances(self) -> bool:
        return self.capacity[1] == 0

    def configuration_settings(self) -> list[dict[str, Any]]:
        """DescribeConfigurationSettings' sets: the deployed one, and a draft while one exists."""
        common = {
            "SolutionStackName": self.solution_stack_name,
            "PlatformArn": self.platform_arn,
            "ApplicationName": self.application_name,
            "EnvironmentName": self.environment_name,
            "DateCreated": self.date_created,
            "DateUpdated": self.date_updated,
        }
        sets = [{**common, "DeploymentStatus": "deployed", "OptionSettings": _effective(self.option_settings)}]
        if self.draft is not None:
            sets.append({**common, "DeploymentStatus": self.draft_status, "OptionSettings": _effective(self.draft)})
        return sets


# ---------------------------------------------------------------------------------------------- backend
class BlueGreenEBBackend(EBBackend):
    """moto's EB backend plus versions, updates, CNAME swaps, health, events, and a clock to drive them."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.lock = threading.RLock()
        self.clock: Callable[[], float] = time.time
        self.update_seconds = 0.0
        self.swap_count = 0
        self.versions: dict[tuple[str, str], ApplicationVersion] = {}
        self.outcomes: dict[tuple[str, str], Outcome] = {}
        self.updates: dict[str, Update] = {}  # environment name -> update in progress
        self.degradations: dict[str, tuple[float, str]] = {}  # environment name -> (when, health)
        self.terminated: list[BlueGreenEnvironment] = []
        self.events: list[dict[str, Any]] = []  # DescribeEvents shape, oldest first
        self.listeners: list[Listener] = []

    @property
    def _url_module(self) -> ModuleType:
        # moto derives "<package>.urls" from the backend's module name; ours lives outside moto, and
        # this module carries the url_bases/url_paths that route EB requests to BlueGreenEBResponse.
        return sys.modules[__name__]

    def now(self, at: float | None = None) -> datetime:
        return datetime.fromtimestamp(self.clock() if at is None else at, UTC)

    # ------------------------------------------------------------------ look-ups
    def environments(self) -> list[BlueGreenEnvironment]:
        """Live (not terminated) environments of every application."""
        return [env for app in self.applications.values() for env in app.environments.values()]  # type: ignore[misc]

    def environment(self, name: str | None = None, environment_id: str | None = None) -> BlueGreenEnvironment:
        if not name and not environment_id:
            raise InvalidParameterValueError("You must specify either EnvironmentName or EnvironmentId.")
        with self.lock:
            for env in self.environments():
                if (environment_id and env.environment_id == environment_id) or (
                    not environment_id and env.environment_name == name
                ):
                    return env
        if environment_id:
            raise InvalidParameterValueError(f"No Environment found for EnvironmentId = '{environment_id}'.")
        raise InvalidParameterValueError(f"No Environment found for EnvironmentName = '{name}'.")

    def _application(self, application_name: str | None) -> BlueGreenApplication:
        app = self.applications.get(application_name or "")
        if app is None:
            raise InvalidParameterValueError(f"No Application named '{application_name}' found.")
        return app  # type: ignore[return-value]

    # ------------------------------------------------------------------ applications, environments
    def create_application(self, application_name: str, description: str | None = None) -> BlueGreenApplication:
        with self.lock:
            if application_name in self.applications:
                raise InvalidParameterValueError(f"Application {application_name} already exists.")
            app = BlueGreenApplication(self, application_name, description)
            self.applications[application_name] = app
            return app

    def delete_application(self, application_name: str) -> None:
        with self.lock:
            app = self.applications.pop(application_name, None)
            if app is None:
                return
            for env in app.environments.values():
                self.updates.pop(env.environment_name, None)
                self.degradations.pop(env.environment_name, None)
            for key in [k for k in self.versions if k[0] == application_name]:
                self.versions.pop(key)
                self.outcomes.pop(key, None)

    def create_environment(
        self,
        app: Application | str,
        environment_name: str,
        stack_name: str | None = None,
        tags: dict[str, str] | None = None,
        *,
        cname_prefix: str | None = None,
        version_label: str | None = None,
        description: str | None = None,
        platform_arn: str | None = None,
        tier: dict[str, str] | None = None,
        option_settings: list[dict[str, str]] | None = None,
    ) -> BlueGreenEnvironment:
        with self.lock:
            application = self._application(app if isinstance(app, str) else app.application_name)
            if not environment_name:
                raise InvalidParameterValueError("Environment name must be specified.")
            if any(env.environment_name == environment_name for env in self.environments()):
                raise InvalidParameterValueError(f"Environment {environment_name} already exists.")
            if version_label and (application.application_name, version_label) not in self.versions:
                raise InvalidParameterValueError(f"No Application Version named '{version_label}' found.")
            validate_settings(list(option_settings or []))
            worker = bool(tier) and (tier or {}).get("Name") == "Worker"
            if worker:  # a worker environment has no CNAME and refuses a prefix
                if cname_prefix:
                    raise InvalidParameterValueError("Environment does not support a cname")
                tier = {"Type": "SQS/HTTP", "Version": "2.0", **(tier or {})}
            prefix = None if worker else (cname_prefix or environment_name)
            cname = f"{prefix}.{self.region_name}.elasticbeanstalk.com".lower()
            if prefix and any(env.cname and env.cname.lower() == cname for env in self.environments()):
                raise InvalidParameterValueError(f"DNS name ({cname}) is not available.")
            env = BlueGreenEnvironment(
                application,
                environment_name,
                solution_stack_name=stack_name,
                platform_arn=platform_arn,
                tags=dict(tags or {}),
                cname_prefix=prefix,
                version_label=version_label or None,
                description=description,
                tier=tier,
                option_settings=option_settings or [],
                created=self.now(),
            )
            application.environments[environment_name] = env
            return env

    def describe_environments(  # type: ignore[override]
        self,
        application_name: str | None = None,
        environment_names: Sequence[str] | None = None,
        environment_ids: Sequence[str] | None = None,
        version_label: str | None = None,
        include_deleted: bool = True,
        included_deleted_back_to: datetime | None = None,
    ) -> list[BlueGreenEnvironment]:
        with self.lock:
            found = self.environments()
            if include_deleted:
                back_to = _as_utc(included_deleted_back_to) if included_deleted_back_to else None
                found += [
                    env
                    for env in self.terminated
                    if back_to is None or (env.date_terminated is not None and env.date_terminated >= back_to)
                ]
        if application_name:
            found = [e for e in found if e.application_name == application_name]
        if environment_names:
            found = [e for e in found if e.environment_name in environment_names]
        if environment_ids:
            found = [e for e in found if e.environment_id in environment_ids]
        if version_label:
            found = [e for e in found if e.version_label == version_label]
        return found

    def terminate_environment(self, env: BlueGreenEnvironment) -> BlueGreenEnvironment:
        """Terminated at once (EB takes minutes); no events are emitted for it."""
        with self.lock:
            app = self.applications.get(env.application_name)
            if app is not None and app.environments.get(env.environment_name) is env:
                del app.environments[env.environment_name]
            self.updates.pop(env.environment_name, None)
            self.degradations.pop(env.environment_name, None)
            env.status, env.health, env.abortable_operation_in_progress = "Terminated", "Grey", False
            env.date_updated = env.date_terminated = self.now()
            self.terminated.append(env)
            return env

    # ------------------------------------------------------------------ application versions
    def create_application_version(
        self,
        application_name: str,
        version_label: str,
        source_bundle: dict[str, str] | None = None,
        description: str | None = None,
        process: bool = False,
        auto_create_application: bool = False,
    ) -> ApplicationVersion:
        with self.lock:
            if application_name not in self.applications:
                if not auto_create_application:
                    raise InvalidParameterValueError(f"No Application named '{application_name}' found.")
                self.create_application(application_name)
            if not version_label or len(version_label) > 100:
                raise InvalidParameterValueError(
                    f"1 validation error detected: Value '{version_label}' at 'versionLabel' failed to satisfy "
                    "constraint: Member must have length less than or equal to 100"
                )
            if (application_name, version_label) in self.versions:
                raise InvalidParameterValueError(f"Application Version {version_label} already exists.")
        bundle = None
        body = None
        if source_bundle:
            bundle = {"S3Bucket": source_bundle.get("S3Bucket", ""), "S3Key": source_bundle.get("S3Key", "")}
            body = self._read_bundle(bundle["S3Bucket"], bundle["S3Key"])
            if body is None:
                raise InvalidParameterValueError(
                    f"Unable to download from S3 location (Bucket: {bundle['S3Bucket']}  Key: {bundle['S3Key']}). "
                    "Reason: Not Found"
                )
        outcome = Outcome.from_bundle(body)
        with self.lock:
            if (application_name, version_label) in self.versions:  # lost a race with the same label
                raise InvalidParameterValueError(f"Application Version {version_label} already exists.")
            version = ApplicationVersion(
                self, application_name, version_label, bundle, description, process, self.now()
            )
            self.versions[(application_name, version_label)] = version
            self.outcomes.setdefault((application_name, version_label), outcome)
            return version

    def _read_bundle(self, bucket: str, key: str) -> bytes | None:
        """The object from moto's S3 in the same account, or None when EB could not download it."""
        from moto.s3.exceptions import S3ClientError
        from moto.s3.models import s3_backends

        try:
            found = s3_backends[self.account_id][self.partition].get_object(bucket, key)
        except S3ClientError:
            return None
        return None if found is None else bytes(found.value)

    def describe_application_versions(
        self, application_name: str | None = None, version_labels: Sequence[str] | None = None
    ) -> list[ApplicationVersion]:
        with self.lock:
            found = list(reversed(self.versions.values()))  # newest first, as EB lists them
        return [
            v
            for v in found
            if (not application_name or v.application_name == application_name)
            and (not version_labels or v.version_label in version_labels)
        ]

    def delete_application_version(self, application_name: str, version_label: str, delete_source_bundle: bool) -> None:
        """EB refuses to delete a version an environment runs or is deploying ("Unable to delete
        application version ... because it is being used by environment(s) ...")."""
        with self.lock:
            if (application_name, version_label) not in self.versions:
                raise InvalidParameterValueError(
                    f"Application Version {version_label} does not exist for application {application_name}."
                )
            users = [
                env.environment_name
                for env in self.environments()
                if env.application_name == application_name
                and (
                    env.version_label == version_label
                    or getattr(self.updates.get(env.environment_name), "label", None) == version_label
                )
            ]
            if users:
                raise InvalidParameterValueError(
                    f"Unable to delete application version {version_label} because it is being used by "
                    f"environment(s) {', '.join(users)}."
                )
            version = self.versions.pop((application_name, version_label))
        if delete_source_bundle and version.source_bundle:
            from moto.s3.models import s3_backends

            backend = s3_backends[self.account_id][self.partition]
            backend.delete_object(version.source_bundle["S3Bucket"], version.source_bundle["S3Key"])

    def set_version_outcome(
        self,
        application_name: str,
        version_label: str,
        *,
        health: str = "Ok",
        fail: bool = False,
        degrade_after_seconds: float | None = None,
        result: str = "ok",
        instances: int = 1,
        rolling: bool = False,
        severe_during_update: bool = False,
    ) -> None:
        """How updates to this version end (overrides a marker file; may be set before the version exists).

        With `degrade_after_seconds`, the update succeeds healthy and `health` arrives that much later.
        `result`: "ok"; "errors" (EB's "Update environment operation is complete, but with errors.", the
        old version stays, Degraded); "old_version" (reported successful, but EB kept the old VersionLabel).
        `instances`: how many instances the messages count. `rolling`: health dips during the update
        (Info -> Degraded "Incorrect application version found on 1 out of N instances"), and with
        `severe_during_update` a brief Severe while instances restart, before the end.
        """
        if health not in HEALTH_STATUSES:
            raise ValueError(f"unknown health status {health!r}")
        if result not in RESULTS:
            raise ValueError(f"unknown result {result!r}")
        extra = {
            "result": result,
            "instances": instances,
            "rolling": rolling,
            "severe_during_update": severe_during_update,
        }
        if degrade_after_seconds is None:
            outcome = Outcome(health=health, fail=fail, **extra)
        else:
            outcome = Outcome("Ok", fail, float(degrade_after_seconds), health, **extra)
        with self.lock:
            self.outcomes[(application_name, version_label)] = outcome

    # ------------------------------------------------------------------ updates
    def update_environment(
        self,
        env: BlueGreenEnvironment,
        version_label: str | None = None,
        *,
        option_settings: list[dict[str, str]] | None = None,
        options_to_remove: list[dict[str, str]] | None = None,
        description: str | None = None,
        redeploy_configuration: bool = False,
    ) -> BlueGreenEnvironment:
        """Start an update (a new version and/or configuration); it ends on `advance()`/`complete_update()`."""
        emitted: list[dict[str, Any]] = []
        with self.lock:
            if version_label is not None and (env.application_name, version_label) not in self.versions:
                raise InvalidParameterValueError(f"No Application Version named '{version_label}' found.")
            if env.status != "Ready":
                raise _invalid_state(env)
            if description is not None:
                env.description = description
                env.date_updated = self.now()
            if version_label is None and not option_settings and not options_to_remove and not redeploy_configuration:
                return env  # a description-only update takes effect at once
            if option_settings or options_to_remove:
                draft = env.merged_option_settings(option_settings or [], options_to_remove or [])
                validate_settings(draft)  # EB refuses bad settings at once, before the update starts
                env.draft, env.draft_status = draft, "pending"
            started = self.clock()
            outcome = self._outcome(env.application_name, version_label)
            update = Update(version_label, started, started + self.update_seconds, env.health_status)
            if version_label is not None:
                env.deployment += 1
            if version_label is not None and outcome.rolling:
                update.dips = self._dips(env, version_label, outcome, started)
            self.updates[env.environment_name] = update
            self.degradations.pop(env.environment_name, None)
            env.status, env.abortable_operation_in_progress = "Updating", True
            env.date_updated = self.now(started)
            what = "Application" if version_label is not None else "Configuration"
            emitted.append(
                self._status_event(
                    env, "Environment update started", "Environment update is starting.", "INFO", version_label
                )
            )
            emitted += self._set_health(env, "Info", [self._in_progress(what, outcome.instances)], version_label)
        self._emit(emitted)
        return env

    def _outcome(self, application_name: str, version_label: str | None) -> Outcome:
        if version_label is None:
            return Outcome()
        return self.outcomes.get((application_name, version_label), Outcome())

    @staticmethod
    def _in_progress(what: str, instances: int) -> str:
        if instances == 1:
            return f"{what} update in progress on 1 instance."
        return f"{what} update in progress on 1 out of {instances} instances."

    def _dips(
        self, env: BlueGreenEnvironment, label: str, outcome: Outcome, started: float
    ) -> list[tuple[float, str, list[str]]]:
        """EB's health during a rolling deployment: Degraded while instances run the old version,
        then (optionally) a brief Severe while they restart; the update's end settles it."""
        n, span = outcome.instances, self.update_seconds
        wrong = "1 out of " + str(n) + " instances" if n > 1 else "all instances"
        dips = [
            (
                started + span * 0.4,
                "Degraded",
                [
                    self._in_progress("Application", n),
                    f'Incorrect application version found on {wrong}. Expected version "{label}" '
                    f"(deployment {env.deployment}).",
                ],
            )
        ]
        if outcome.severe_during_update:
            dips.append((started + span * 0.7, "Severe", ["ELB health is failing or not available for all instances."]))
        return dips

    def _due_dips(self, env: BlueGreenEnvironment, update: Update, moment: float) -> list[dict[str, Any]]:
        emitted: list[dict[str, Any]] = []
        while update.dips and update.dips[0][0] <= moment:
            when, health, causes = update.dips.pop(0)
            emitted += self._set_health(env, health, causes, update.label, when, causes=causes)
        return emitted

    # ------------------------------------------------------------------ managed platform updates
    def start_managed_update(
        self, environment_name: str, *, fail: bool = False, seconds: float | None = None
    ) -> list[dict[str, Any]]:
        """A managed platform update begins on the environment (EB's maintenance window): Updating, with
        the "Managed update status change" and "Environment update started" events; it ends like any
        update (`advance()` after `seconds`, default `update_seconds`, or `complete_update()`), back to
        Ready on the same version. `fail=True`: "Managed update failed, retrying in 5 minutes."."""
        with self.lock:
            env = self.environment(environment_name)
            if env.status != "Ready":
                raise _invalid_state(env)
            started = self.clock()
            span = self.update_seconds if seconds is None else seconds
            self.updates[env.environment_name] = Update(
                None, started, started + span, env.health_status, kind="managed", fail=fail
            )
            env.status, env.abortable_operation_in_progress = "Updating", False
            env.date_updated = self.now(started)
            emitted = [
                self._event(
                    env,
                    MANAGED_CHANGE,
                    "Managed updated started",  # sic: AWS's own spelling
                    "Managed platform update is in-progress.",
                    "INFO",
                    env.version_label,
                    started,
                ),
                self._status_event(env, "Environment update started", "Environment update is starting.", "INFO", None),
                *self._set_health(env, "Info", ["Command is executing on 1 out of 1 instance."], env.version_label),
            ]
        self._emit(emitted)
        return emitted

    def _finish_managed(self, env: BlueGreenEnvironment, update: Update, now: float) -> list[dict[str, Any]]:
        env.status, env.abortable_operation_in_progress = "Ready", False
        env.date_updated = self.now(now)
        label = env.version_label
        if update.fail:
            return [
                self._event(
                    env,
                    MANAGED_CHANGE,
                    "Managed update failed",
                    "Managed update failed, retrying in 5 minutes.",
                    "INFO",
                    label,
                    now,
                ),
                self._status_event(
                    env, "Environment update failed", "Failed to deploy configuration.", "ERROR", None, now
                ),
                *self._set_health(
                    env, update.previous_health, [], label, now, causes=CAUSES.get(update.previous_health)
                ),
            ]
        took = max(0, round(now - update.started))
        return [
            self._status_event(
                env, "Environment update successful", "Environment update completed successfully.", "INFO", None, now
            ),
            self._event(
                env,
                MANAGED_CHANGE,
                "Managed update successful",  # not in AWS's table: inferred (docs/aws-events.md 1.5)
                "Managed platform update completed successfully.",
                "INFO",
                label,
                now,
            ),
            *self._set_health(
                env, "Ok", [f"Configuration update completed 0 seconds ago and took {took} seconds."], label, now
            ),
        ]

    def complete_update(
        self, environment_name: str, *, health: str | None = None, fail: bool | None = None
    ) -> list[dict[str, Any]]:
        """Finish the environment's update now and return the events emitted ([] if none is running).

        `health` ("Ok" -> Green, "Warning" -> Yellow, "Degraded"/"Severe" -> Red) and `fail` default to the
        version's outcome (healthy "Ok" unless `set_version_outcome` or the bundle's marker says otherwise).
        `fail=True`: the update fails, the old version stays, health goes to Degraded.
        """
        if health is not None and health not in HEALTH_STATUSES:
            raise ValueError(f"unknown health status {health!r}")
        with self.lock:
            env = self.environment(environment_name)
            update = self.updates.pop(env.environment_name, None)
            if update is None:
                return []
            emitted = self._finish(env, update, self.clock(), health, fail)
        self._emit(emitted)
        return emitted

    def _finish(
        self, env: BlueGreenEnvironment, update: Update, now: float, health: str | None, fail: bool | None
    ) -> list[dict[str, Any]]:
        emitted = self._due_dips(env, update, float("inf"))  # a dip not yet seen still happened
        if update.kind == "managed":
            return [*emitted, *self._finish_managed(env, update, now)]
        return [*emitted, *self._finish_deploy(env, update, now, health, fail)]

    def _finish_deploy(
        self, env: BlueGreenEnvironment, update: Update, now: float, health: str | None, fail: bool | None
    ) -> list[dict[str, Any]]:
        outcome = self._outcome(env.application_name, update.label)
        failed = outcome.fail if fail is None else fail
        env.status, env.abortable_operation_in_progress = "Ready", False
        env.date_updated = self.now(now)
        if not failed and update.label is not None and outcome.result == "errors":
            return self._finish_with_errors(env, update, outcome, now)
        if env.draft_status == "pending":
            if failed:
                env.draft_status = "failed"
            else:  # the new settings are deployed (an instance count of 0 included)
                env.option_settings, env.draft, env.draft_status = env.draft or [], None, None
        if failed:
            status = self._status_event(
                env, "Environment update failed", "Failed to deploy application.", "ERROR", update.label, now
            )
            causes = ["Command failed on all instances."]
            if update.label is not None:
                causes.append(
                    f'Incorrect application version found on all instances. Expected version "{update.label}".'
                )
            return [status, *self._set_health(env, "Degraded", causes, update.label, now)]
        if update.label is not None and outcome.result != "old_version":
            env.version_label = update.label
        message = "Environment update completed successfully."
        status = self._status_event(env, "Environment update successful", message, "INFO", update.label, now)
        final = health or outcome.health
        took = max(0, round(now - update.started))
        what = "Application" if update.label is not None else "Configuration"
        detail = [f"{what} update completed 0 seconds ago and took {took} seconds."]
        if health is None and outcome.degrade_after_seconds is not None:
            self.degradations[env.environment_name] = (now + outcome.degrade_after_seconds, outcome.degrade_to)
        return [status, *self._set_health(env, final, detail, update.label, now, causes=CAUSES.get(final))]

    def _finish_with_errors(
        self, env: BlueGreenEnvironment, update: Update, outcome: Outcome, now: float
    ) -> list[dict[str, Any]]:
        """EB's "complete, but with errors": the command failed on an instance, the old version stays."""
        if env.draft_status == "pending":
            env.draft_status = "failed"
        n = outcome.instances
        instance = "i-0" + "".join(random.choice(string.hexdigits.lower()[:16]) for _ in range(16))
        # These two are DescribeEvents entries; EB does not forward per-instance lines to EventBridge.
        self._event(
            env,
            STATUS_CHANGE,
            "Environment update failed",
            f"[Instance: {instance}] Command failed on instance. Return code: 1 Output: Engine execution has "
            "encountered an error..",
            "ERROR",
            update.label,
            now,
        )
        self._event(
            env,
            STATUS_CHANGE,
            "Environment update failed",
            f"Command execution completed on all instances. Summary: [Successful: {n - 1}, Failed: 1].",
            "INFO",
            update.label,
            now,
        )
        status = self._status_event(env, "Environment update failed", COMPLETE_WITH_ERRORS, "ERROR", update.label, now)
        wrong = "1 out of " + str(n) + " instances" if n > 1 else "all instances"
        failed_on = "1 out of " + str(n) + " instances" if n > 1 else "all instances"
        causes = [
            f"Command failed on {failed_on}.",
            f'Incorrect application version found on {wrong}. Expected version "{env.version_label}" '
            f"(deployment {max(env.deployment - 1, 1)}).",
        ]
        return [status, *self._set_health(env, "Degraded", causes, update.label, now, causes=causes)]

    def abort_environment_update(self, env: BlueGreenEnvironment) -> list[dict[str, Any]]:
        """Cancel the update in progress: Ready again on the old version, with the health it had before."""
        with self.lock:
            update = self.updates.pop(env.environment_name, None)
            if update is None or env.status != "Updating":
                raise InvalidParameterValueError(
                    f"Environment named {env.environment_name} has no abortable operation in progress."
                )
            env.status, env.abortable_operation_in_progress = "Ready", False
            env.draft, env.draft_status = None, None
            env.date_updated = self.now()
            emitted = [
                self._status_event(
                    env, "Environment update failed", "The environment update was aborted.", "ERROR", update.label
                ),
                *self._set_health(
                    env,
                    update.previous_health,
                    ["Update aborted; the previous version is running."],
                    update.label,
                    causes=CAUSES.get(update.previous_health),
                ),
            ]
        self._emit(emitted)
        return emitted

    def advance(self, now: float | None = None) -> list[dict[str, Any]]:
        """Complete every update that is due (by `now`, default the clock) and apply due health changes."""
        emitted: list[dict[str, Any]] = []
        with self.lock:
            moment = self.clock() if now is None else now
            for name, update in sorted(self.updates.items(), key=lambda item: item[1].due):
                if update.due > moment and update.dips:
                    emitted += self._due_dips(self.environment(name), update, moment)
                if update.due <= moment:
                    del self.updates[name]
                    emitted += self._finish(self.environment(name), update, moment, None, None)
            for name, (when, health) in sorted(self.degradations.items(), key=lambda item: item[1][0]):
                if when <= moment:
                    del self.degradations[name]
                    env = self.environment(name)
                    emitted += self._set_health(env, health, [], env.version_label, moment, causes=CAUSES.get(health))
        self._emit(emitted)
        return emitted

    def set_health(self, environment_name: str, health: str) -> list[dict[str, Any]]:
        """Change an environment's health now (emits a Health status change event if it changed)."""
        if health not in HEALTH_STATUSES:
            raise ValueError(f"unknown health status {health!r}")
        with self.lock:
            env = self.environment(environment_name)
            self.degradations.pop(env.environment_name, None)
            emitted = self._set_health(env, health, [], env.version_label, causes=CAUSES.get(health))
        self._emit(emitted)
        return emitted

    # ------------------------------------------------------------------ swap
    def swap_environment_cnames(self, source: BlueGreenEnvironment, destination: BlueGreenEnvironment) -> None:
        with self.lock:
            if source is destination:
                raise InvalidParameterValueError("The source and destination environments must be different.")
            for env in (source, destination):
                if env.status != "Ready":
                    raise _invalid_state(env)
            for env in (source, destination):
                if not env.cname:  # a worker: the text is inferred (docs/aws-events.md 1.7)
                    raise InvalidParameterValueError("Environment does not support a cname")
            source.cname, destination.cname = destination.cname, source.cname
            source.date_updated = destination.date_updated = self.now()
            self.swap_count += 1

    # ------------------------------------------------------------------ configuration settings
    def describe_configuration_settings(
        self, application_name: str | None, environment_name: str | None, template_name: str | None
    ) -> list[dict[str, Any]]:
        """The environment's settings sets (saved configuration templates are not modelled)."""
        with self.lock:
            self._application(application_name)
            if template_name:
                raise InvalidParameterValueError(
                    f"No Configuration Template named '{application_name}/{template_name}' found."
                )
            env = self.environment(environment_name)
            if env.application_name != application_name:
                raise InvalidParameterValueError(f"No Environment found for EnvironmentName = '{environment_name}'.")
            return env.configuration_settings()

    # ------------------------------------------------------------------ health and events
    def describe_environment_health(self, env: BlueGreenEnvironment) -> dict[str, Any]:
        with self.lock:
            instances = dict.fromkeys(HEALTH_STATUSES[:-1], 0)  # InstanceHealthSummary has no Suspended
            if not env.no_instances:
                instances["NoData" if env.health_status == "Suspended" else env.health_status] = 1
            return {
                "EnvironmentName": env.environment_name,
                "HealthStatus": env.health_status,
                "Status": env.status,
                "Color": env.health,
                "Causes": list(env.causes),
                "InstancesHealth": instances,
                "RefreshedAt": self.now(),
            }

    def describe_events(
        self,
        application_name: str | None = None,
        environment_name: str | None = None,
        environment_id: str | None = None,
        version_label: str | None = None,
        severity: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Recorded events, newest first (StartTime inclusive, EndTime exclusive, Severity = that or worse)."""
        with self.lock:
            found = list(reversed(self.events))
        wanted = {
            "ApplicationName": application_name,
            "EnvironmentName": environment_name,
            "EnvironmentId": environment_id,
            "VersionLabel": version_label,
        }
        found = [e for e in found if all(not value or e.get(key) == value for key, value in wanted.items())]
        if severity in SEVERITY_ORDER:
            floor = SEVERITY_ORDER.index(severity)
            found = [e for e in found if SEVERITY_ORDER.index(e["Severity"]) >= floor]
        if start_time is not None:
            found = [e for e in found if e["EventDate"] >= _as_utc(start_time)]
        if end_time is not None:
            found = [e for e in found if e["EventDate"] < _as_utc(end_time)]
        return found

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(event)` with every EventBridge-shaped event this backend emits."""
        with self.lock:
            self.listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self.lock:
            if listener in self.listeners:
                self.listeners.remove(listener)

    def _emit(self, events: list[dict[str, Any]]) -> None:
        """Deliver outside the lock; like EventBridge, best effort: a failing listener fails no API call."""
        if not events:
            return
        with self.lock:
            listeners = list(self.listeners)
        for event in events:
            for listener in listeners:
                try:
                    listener(event)
                except Exception:  # one listener's failure must not break the simulation
                    log.exception("EB event listener %r failed", listener)

    def _set_health(
        self,
        env: BlueGreenEnvironment,
        health: str,
        detail: list[str],
        version_label: str | None,
        at: float | None = None,
        *,
        causes: str | list[str] | None = None,
    ) -> list[dict[str, Any]]:
        previous = env.health_status
        if env.no_instances:  # nothing runs, so nothing reports: Grey, whatever was asked
            health, detail, causes = "NoData", [NO_INSTANCES], [NO_INSTANCES]
        env.health_status = health
        # EB suspends health checks during an update: the legacy colour is Grey until it ends.
        env.health = "Grey" if env.status != "Ready" else COLORS.get(health, "Grey")
        if causes is None:
            env.causes = list(detail) if health not in ("Ok",) else []
        else:
            env.causes = [causes] if isinstance(causes, str) else list(causes)
        if previous == health:
            return []
        sentences = detail or env.causes
        message = " ".join([f"Environment health has transitioned from {previous} to {health}.", *sentences])
        severity = "WARN" if health in ("Warning", "Degraded", "Severe") else "INFO"
        return [self._event(env, HEALTH_CHANGE, "Environment health changed", message, severity, version_label, at)]

    def _status_event(
        self,
        env: BlueGreenEnvironment,
        status: str,
        message: str,
        severity: str,
        version_label: str | None,
        at: float | None = None,
    ) -> dict[str, Any]:
        return self._event(env, STATUS_CHANGE, status, message, severity, version_label, at)

    def _event(
        self,
        env: BlueGreenEnvironment,
        detail_type: str,
        status: str,
        message: str,
        severity: str,
        version_label: str | None,
        at: float | None,
    ) -> dict[str, Any]:
        """Record the event for DescribeEvents and return it in the EventBridge shape AWS uses."""
        moment = self.now(at)
        self.events.append(
            {
                "EventDate": moment,
                "Message": message,
                "ApplicationName": env.application_name,
                "VersionLabel": version_label,
                "EnvironmentName": env.environment_name,
                "EnvironmentId": env.environment_id,  # for the EnvironmentId filter; not serialized
                # No RequestId: moto's _enrich_response rewrites everything between the first <RequestId>
                # and the last </RequestId> of a response, which would swallow the rest of the list.
                "Severity": severity,
            }
        )
        del self.events[:-MAX_EVENTS]
        return {
            "version": "0",
            "id": str(random.uuid4()),
            "detail-type": detail_type,
            "source": "aws.elasticbeanstalk",
            "account": self.account_id,
            "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region_name,
            "resources": [env.environment_arn],
            "detail": {
                "Status": status,
                "EventDate": int(moment.timestamp() * 1000),
                "ApplicationName": env.application_name,
                "Message": message,
                "EnvironmentName": env.environment_name,
                "Severity": severity,
            },
        }


# ---------------------------------------------------------------------------------------------- responses
class BlueGreenEBResponse(EBResponse):
    @property
    def elasticbeanstalk_backend(self) -> BlueGreenEBBackend:
        return eb_backends[self.current_account][self.region]  # type: ignore[return-value]

    def _environment_param(self, prefix: str = "") -> BlueGreenEnvironment:
        return self.elasticbeanstalk_backend.environment(
            self._get_param(f"{prefix}EnvironmentName"), self._get_param(f"{prefix}EnvironmentId")
        )

    def create_application(self) -> ActionResult:
        app = self.elasticbeanstalk_backend.create_application(
            self._get_param("ApplicationName"), self._get_param("Description")
        )
        return ActionResult({"Application": app})

    def create_environment(self) -> ActionResult:
        env = self.elasticbeanstalk_backend.create_environment(
            self._get_param("ApplicationName"),
            environment_name=self._get_param("EnvironmentName"),
            stack_name=self._get_param("SolutionStackName"),
            tags={tag["Key"]: tag["Value"] for tag in self._get_param("Tags", [])},
            cname_prefix=self._get_param("CNAMEPrefix"),
            version_label=self._get_param("VersionLabel"),
            description=self._get_param("Description"),
            platform_arn=self._get_param("PlatformArn"),
            tier=self._get_param("Tier"),
            option_settings=self._get_param("OptionSettings", []),
        )
        return ActionResult(env)

    def describe_environments(self) -> ActionResult:
        envs = self.elasticbeanstalk_backend.describe_environments(
            application_name=self._get_param("ApplicationName"),
            environment_names=self._get_param("EnvironmentNames"),
            environment_ids=self._get_param("EnvironmentIds"),
            version_label=self._get_param("VersionLabel"),
            include_deleted=self._get_param("IncludeDeleted", True),
            included_deleted_back_to=self._get_param("IncludedDeletedBackTo"),
        )
        page, token = _page(envs, self._get_param("MaxRecords"), self._get_param("NextToken"))
        return ActionResult({"Environments": page, "NextToken": token})

    def terminate_environment(self) -> ActionResult:
        backend = self.elasticbeanstalk_backend
        return ActionResult(backend.terminate_environment(self._environment_param()))

    def create_application_version(self) -> ActionResult:
        version = self.elasticbeanstalk_backend.create_application_version(
            self._get_param("ApplicationName"),
            self._get_param("VersionLabel"),
            source_bundle=self._get_param("SourceBundle"),
            description=self._get_param("Description"),
            process=bool(self._get_param("Process", False)),
            auto_create_application=bool(self._get_param("AutoCreateApplication", False)),
        )
        return ActionResult({"ApplicationVersion": version})

    def describe_application_versions(self) -> ActionResult:
        versions = self.elasticbeanstalk_backend.describe_application_versions(
            self._get_param("ApplicationName"), self._get_param("VersionLabels")
        )
        page, token = _page(versions, self._get_param("MaxRecords"), self._get_param("NextToken"))
        return ActionResult({"ApplicationVersions": page, "NextToken": token})

    def delete_application_version(self) -> EmptyResult:
        self.elasticbeanstalk_backend.delete_application_version(
            self._get_param("ApplicationName"),
            self._get_param("VersionLabel"),
            str(self._get_param("DeleteSourceBundle", False)).lower() == "true",
        )
        return EmptyResult()

    def update_environment(self) -> ActionResult:
        env = self.elasticbeanstalk_backend.update_environment(
            self._environment_param(),
            self._get_param("VersionLabel"),
            option_settings=self._get_param("OptionSettings"),
            options_to_remove=self._get_param("OptionsToRemove"),
            description=self._get_param("Description"),
            redeploy_configuration=any(
                self._get_param(name) for name in ("TemplateName", "SolutionStackName", "PlatformArn", "Tier")
            ),
        )
        return ActionResult(env)

    def swap_environment_cnames(self) -> EmptyResult:
        backend = self.elasticbeanstalk_backend
        backend.swap_environment_cnames(self._environment_param("Source"), self._environment_param("Destination"))
        return EmptyResult()

    # moto names the handler after the action with camelcase_to_underscores: "SwapEnvironmentCNAMEs"
    # becomes "swap_environment_cnam_es".
    swap_environment_cnam_es = swap_environment_cnames

    def abort_environment_update(self) -> EmptyResult:
        self.elasticbeanstalk_backend.abort_environment_update(self._environment_param())
        return EmptyResult()

    def describe_configuration_settings(self) -> ActionResult:
        sets = self.elasticbeanstalk_backend.describe_configuration_settings(
            self._get_param("ApplicationName"), self._get_param("EnvironmentName"), self._get_param("TemplateName")
        )
        return ActionResult({"ConfigurationSettings": sets})

    def describe_environment_health(self) -> ActionResult:
        health = self.elasticbeanstalk_backend.describe_environment_health(self._environment_param())
        wanted = set(self._get_param("AttributeNames") or [])
        if "All" not in wanted:  # like EB: without AttributeNames, only the name comes back
            health = {k: v for k, v in health.items() if k == "EnvironmentName" or k in wanted}
        return ActionResult(health)

    def describe_events(self) -> ActionResult:
        events = self.elasticbeanstalk_backend.describe_events(
            application_name=self._get_param("ApplicationName"),
            environment_name=self._get_param("EnvironmentName"),
            environment_id=self._get_param("EnvironmentId"),
            version_label=self._get_param("VersionLabel"),
            severity=self._get_param("Severity"),
            start_time=self._get_param("StartTime"),
            end_time=self._get_param("EndTime"),
        )
        page, token = _page(events, self._get_param("MaxRecords"), self._get_param("NextToken"))
        return ActionResult({"Events": page, "NextToken": token})


# What BaseBackend.urls/url_paths/flask_paths read (through BlueGreenEBBackend._url_module): moto's EB
# endpoint, answered by our response class.
url_bases = eb_urls.url_bases
url_paths = {"{0}/$": BlueGreenEBResponse.dispatch}


# ---------------------------------------------------------------------------------------------- wiring
def install() -> None:
    """Serve EB from BlueGreenEBBackend in mock_aws() and in moto servers started afterwards. Idempotent.

    moto keeps one BackendDict per service (`moto.elasticbeanstalk.eb_backends`, what `get_backend`
    returns) and builds each account/region backend lazily from its `backend` class; both the
    in-process stub and the server route a request through that backend's `urls`. Pointing the class
    at the subclass is all it takes; backends built before install() (plain moto ones) are dropped.

    It also installs the other local-AWS fixes (`s3_events`: S3 notifications in AWS's shapes;
    `moto_cloudwatch`: alarm timestamps, AlarmTypes, composite alarms; `moto_elbv2`: weighted forward
    actions checked as ELB checks them), so one call gives the whole local AWS.
    """
    from bluegreen_local import moto_cloudwatch, moto_elbv2, s3_events

    # EB's ConfigurationValidationException is not an error shape in botocore's model; moto serializes
    # it all the same (code, message, HTTP 400) after warning that it could not find the shape.
    warnings.filterwarnings("ignore", message=r"Exception\(ConfigurationValidationError\)", category=UserWarning)
    _set_backend_class(BlueGreenEBBackend)
    s3_events.install()
    moto_cloudwatch.install()
    moto_elbv2.install()


def uninstall() -> None:
    """Back to moto's own EB, S3 notifications, CloudWatch and ELBv2 (drops the extension's EB backends)."""
    from bluegreen_local import moto_cloudwatch, moto_elbv2, s3_events

    _set_backend_class(EBBackend)
    s3_events.uninstall()
    moto_cloudwatch.uninstall()
    moto_elbv2.uninstall()


def _set_backend_class(cls: type[EBBackend]) -> None:
    with backend_lock:
        if eb_backends.backend is cls and all(a.backend is cls for a in eb_backends.values()):
            return
        eb_backends.backend = cls
        for account in eb_backends.values():
            account.backend = cls
            for region in [r for r, b in account.items() if type(b) is not cls]:
                del account[region]


def backend(account_id: str = DEFAULT_ACCOUNT_ID, region: str = "us-east-1") -> BlueGreenEBBackend:
    """The extension's backend for an account and region (installs the extension if needed)."""
    install()
    found = eb_backends[account_id][region]
    assert isinstance(found, BlueGreenEBBackend)
    return found
