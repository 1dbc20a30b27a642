"""An Elastic Beanstalk environment's capacity: read it, and move it to a target (the old color's standby).

After a swap the old color keeps its instances for `drain_seconds` (docs/traffic.md, "Drain and standby:
the figures"); after the bake it may go down to a standby capacity, and its previous capacity comes back
before it is deployed to again or takes traffic back in a rollback. Capacity is the Auto Scaling group's
MinSize and MaxSize in the `aws:autoscaling:asg` namespace, read with DescribeConfigurationSettings and
changed with UpdateEnvironment (a configuration update: the environment is Updating until it ends).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from bluegreen.aws.clients import client, error_code, is_transient
from bluegreen.errors import BadInput, NotFound, Transient

log = logging.getLogger("bluegreen")

ASG = "aws:autoscaling:asg"
ENVIRONMENT = "aws:elasticbeanstalk:environment"
DEFAULT_MIN, DEFAULT_MAX = 1, 4  # EB's defaults for a load-balanced environment (docs/traffic.md)
MAX_INSTANCES = 10_000
_TEXT = re.compile(r"MinSize=(\d+) MaxSize=(\d+)")


@dataclass(frozen=True)
class Capacity:
    """An Auto Scaling group's bounds, as EB's `aws:autoscaling:asg` options hold them."""

    min_size: int
    max_size: int

    def __post_init__(self) -> None:
        if not 0 <= self.min_size <= self.max_size <= MAX_INSTANCES:
            raise BadInput(
                f"capacity MinSize={self.min_size} MaxSize={self.max_size}: "
                f"need 0 <= MinSize <= MaxSize <= {MAX_INSTANCES}"
            )

    @property
    def zero(self) -> bool:
        """No instances at all: the environment reports no health (Grey) until capacity comes back."""
        return self.max_size == 0

    def as_text(self) -> str:
        """ "MinSize=1 MaxSize=4": for logs, messages and the state record (`parse` reads it back)."""
        return f"MinSize={self.min_size} MaxSize={self.max_size}"

    @classmethod
    def parse(cls, text: str) -> Capacity:
        found = _TEXT.fullmatch(text.strip())
        if found is None:
            raise BadInput(f"not a capacity: {text!r} (expected 'MinSize=<n> MaxSize=<n>')")
        return cls(int(found.group(1)), int(found.group(2)))


SINGLE_INSTANCE = Capacity(1, 1)


def _eb(eb: Any) -> Any:
    return client("elasticbeanstalk") if eb is None else eb


def _option(settings: list[dict[str, Any]], namespace: str, name: str) -> str | None:
    for option in settings:
        if option.get("Namespace") == namespace and option.get("OptionName") == name:
            value = option.get("Value")
            return None if value is None else str(value)
    return None


def _size(value: str | None, default: int, name: str, environment: str) -> int:
    if value is None or value == "":
        return default
    try:
        return int(float(value))
    except ValueError:
        raise BadInput(f"{environment}: {ASG} {name} is {value!r}, not a number") from None


def _capacity(settings: list[dict[str, Any]], environment: str) -> tuple[Capacity, bool]:
    """(capacity, single-instance) from one settings set, with EB's defaults for what is unset."""
    single = _option(settings, ENVIRONMENT, "EnvironmentType") == "SingleInstance"
    low = _size(_option(settings, ASG, "MinSize"), 1, "MinSize", environment)
    high = _size(_option(settings, ASG, "MaxSize"), 1 if single else DEFAULT_MAX, "MaxSize", environment)
    return Capacity(low, high), single


def _settings(eb: Any, application_name: str, environment: str) -> dict[str, list[dict[str, Any]]]:
    """DescribeConfigurationSettings: the environment's settings sets by DeploymentStatus ("deployed",
    and "pending" or "failed" for a draft, which EB lists while an update runs or after it failed)."""
    try:
        response = _eb(eb).describe_configuration_settings(
            ApplicationName=application_name, EnvironmentName=environment
        )
    except Exception as error:
        if is_transient(error):
            raise Transient(f"DescribeConfigurationSettings {environment}: {error}") from error
        if "No Environment found" in str(error) or "No Application named" in str(error):
            raise NotFound(
                f"Elastic Beanstalk application {application_name} has no environment {environment}"
            ) from error
        raise BadInput(f"DescribeConfigurationSettings {environment}: {error}", aws_code=error_code(error)) from error
    sets: dict[str, list[dict[str, Any]]] = {}
    for found in response.get("ConfigurationSettings", []):
        sets.setdefault(found.get("DeploymentStatus") or "deployed", found.get("OptionSettings") or [])
    if "deployed" not in sets:
        raise NotFound(f"{environment}: DescribeConfigurationSettings returned no deployed settings")
    return sets


def read_capacity(eb: Any, application_name: str, environment: str) -> Capacity:
    """The environment's deployed capacity (MinSize/MaxSize in `aws:autoscaling:asg`; EB's defaults, 1
    and 4, when unset; 1 and 1 for a single-instance environment). `eb`: a client, or None for the shared one.
    """
    capacity, _ = _capacity(_settings(eb, application_name, environment)["deployed"], environment)
    return capacity


def ensure_capacity(eb: Any, application_name: str, environment: str, capacity: Capacity) -> bool:
    """Make `capacity` the environment's capacity unless it already is (or an update to it is under way).

    A target, not an action: it reads first, so a retry after a success, or during the update it
    started, calls nothing. Otherwise one UpdateEnvironment with both MinSize and MaxSize (EB validates
    the resulting set, so the order of the two never matters). Returns True when this call started an
    update; the environment is then Updating until EB ends it (health Grey meanwhile; with MaxSize 0 it
    stays Grey, having no instances, until capacity is restored). Raises `Transient` when the
    environment is not Ready (another update runs: try again later), `BadInput` when EB refuses the
    values (its ConfigurationValidationException text is in the message) or for a single-instance
    environment (it always runs exactly one instance).
    """
    sets = _settings(eb, application_name, environment)
    current, single = _capacity(sets["deployed"], environment)
    if "pending" in sets:
        pending, _ = _capacity(sets["pending"], environment)
        if pending == capacity:
            return False
        raise Transient(f"{environment} is updating its configuration to {pending.as_text()}; cannot update it now")
    if current == capacity:
        return False
    if single:
        raise BadInput(
            f"{environment} is a single-instance environment: EB keeps exactly one instance there, so it cannot "
            f"move to {capacity.as_text()} (a standby capacity needs a load-balanced environment)"
        )
    options = [
        {"Namespace": ASG, "OptionName": "MinSize", "Value": str(capacity.min_size)},
        {"Namespace": ASG, "OptionName": "MaxSize", "Value": str(capacity.max_size)},
    ]
    try:
        _eb(eb).update_environment(
            ApplicationName=application_name, EnvironmentName=environment, OptionSettings=options
        )
    except Exception as error:
        text = str(error)
        if "Must be Ready" in text or "invalid state for this operation" in text:
            raise Transient(f"UpdateEnvironment: {environment} is not Ready: {error}") from error
        if is_transient(error):
            raise Transient(f"UpdateEnvironment {environment}: {error}") from error
        code = error_code(error)
        if code == "ConfigurationValidationException":
            raise BadInput(
                f"EB refused {capacity.as_text()} for {environment} (from {current.as_text()}): {error}",
                aws_code=code,
            ) from error
        raise BadInput(f"UpdateEnvironment {environment} to {capacity.as_text()}: {error}", aws_code=code) from error
    log.info("capacity of %s: %s -> %s", environment, current.as_text(), capacity.as_text())
    return True
