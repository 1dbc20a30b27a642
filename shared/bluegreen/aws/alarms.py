"""CloudWatch adapter: the app's alarms as CloudWatch reports them now, metric and composite alike.

`DescribeAlarms` returns only metric alarms unless `AlarmTypes` names composite ones too, and it takes
at most 100 names a call. "Since" is `StateTransitionedTimestamp` (the last change of state value);
`StateUpdatedTimestamp` also moves when only the reason or data changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bluegreen.aws.clients import client, error_code, is_transient
from bluegreen.errors import BadInput, Transient
from bluegreen.models import AlarmObservation

NAMES_PER_CALL = 100
ALARM_TYPES = ["MetricAlarm", "CompositeAlarm"]


class Alarms:
    def __init__(self, cloudwatch: Any = None) -> None:
        self._cloudwatch = cloudwatch

    @property
    def cloudwatch(self) -> Any:
        if self._cloudwatch is None:
            self._cloudwatch = client("cloudwatch")
        return self._cloudwatch

    def describe(self, names: Iterable[str]) -> tuple[AlarmObservation, ...]:
        """The named alarms that exist (a name CloudWatch does not return is missing: callers fail closed)."""
        wanted = sorted(set(names))
        found: list[AlarmObservation] = []
        for start in range(0, len(wanted), NAMES_PER_CALL):
            kwargs: dict[str, Any] = {
                "AlarmNames": wanted[start : start + NAMES_PER_CALL],
                "AlarmTypes": ALARM_TYPES,
                "MaxRecords": NAMES_PER_CALL,
            }
            while True:
                try:
                    response = self.cloudwatch.describe_alarms(**kwargs)
                except Exception as error:
                    if is_transient(error):
                        raise Transient(f"DescribeAlarms: {error}") from error
                    raise BadInput(f"DescribeAlarms: {error}", aws_code=error_code(error)) from error
                for alarm in [*response.get("MetricAlarms", []), *response.get("CompositeAlarms", [])]:
                    found.append(
                        AlarmObservation(
                            name=alarm["AlarmName"],
                            state=alarm["StateValue"],
                            since=alarm.get("StateTransitionedTimestamp") or alarm.get("StateUpdatedTimestamp"),
                        )
                    )
                token = response.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        return tuple(found)
