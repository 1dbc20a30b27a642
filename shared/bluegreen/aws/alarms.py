"""CloudWatch adapter: the watchdog's one DescribeAlarms call per app in flight."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bluegreen.aws.clients import client, is_transient
from bluegreen.errors import BadInput, Transient
from bluegreen.models import AlarmObservation


class Alarms:
    def __init__(self, cloudwatch: Any = None) -> None:
        self._cloudwatch = cloudwatch

    @property
    def cloudwatch(self) -> Any:
        if self._cloudwatch is None:
            self._cloudwatch = client("cloudwatch")
        return self._cloudwatch

    def describe(self, names: Sequence[str]) -> tuple[AlarmObservation, ...]:
        if not names:
            return ()
        try:
            response = self.cloudwatch.describe_alarms(AlarmNames=list(names)[:100])
        except Exception as error:
            if is_transient(error):
                raise Transient(f"DescribeAlarms: {error}") from error
            raise BadInput(f"DescribeAlarms: {error}") from error
        found = []
        for alarm in [*response.get("MetricAlarms", []), *response.get("CompositeAlarms", [])]:
            found.append(
                AlarmObservation(
                    name=alarm["AlarmName"],
                    state=alarm["StateValue"],
                    since=alarm.get("StateUpdatedTimestamp"),
                )
            )
        return tuple(found)
