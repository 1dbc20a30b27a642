"""CloudWatch alarm behaviour moto lacks, in moto's own classes (dev-only; never shipped).

What AWS does (docs/aws-events.md, section 3) and moto 5 does not:

- `StateTransitionedTimestamp`: when the alarm's StateValue last *changed*; `StateUpdatedTimestamp`
  moves on every state update (a SetAlarmState to the same value, a new reason). moto has no
  StateTransitionedTimestamp at all.
- `PutMetricAlarm` on an existing alarm keeps its state (AWS overwrites the configuration only);
  moto resets it to OK "Unchecked: Initial alarm creation".
- `PutCompositeAlarm` (moto: not implemented). A composite alarm's state follows its `AlarmRule`
  (`ALARM(name)`, `OK(name)`, `INSUFFICIENT_DATA(name)`, `TRUE`, `FALSE`, `AND`, `OR`, `NOT`,
  parentheses; names may be quoted or ARNs) whenever a child changes state; its `StateReasonData`
  carries `triggeringAlarms` as AWS's does. It starts in INSUFFICIENT_DATA until evaluated.
- `DescribeAlarms` honours `AlarmTypes` (without it only metric alarms come back, even if composite
  alarms exist) and combines the filters (`AlarmNames`/`AlarmNamePrefix`, `StateValue`,
  `ActionPrefix`); moto applies only the first one given and always returns composites.

`install()` patches `moto.cloudwatch` classes in place (methods of `Alarm`, `CloudWatchBackend`
and `CloudWatchResponse`), so `mock_aws()` and moto's server both get it; `uninstall()` restores
moto's. Idempotent. Alarm-state events for EventBridge stay the local stack's business
(`stack.alarm_event`), which goes through `CloudWatchBackend.set_alarm_state` as before; composite
alarms change state through that same method, so they get their event too.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from typing import Any

from moto.cloudwatch.models import Alarm, CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from moto.core.utils import utcnow

ALARM_TYPES = ("CompositeAlarm", "MetricAlarm")
_originals: dict[tuple[type, str], Any] = {}
_lock = threading.RLock()
_TOKEN = re.compile(
    r'\s*(?:(?P<fn>ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(?P<arg>"[^"]*"|[^()\s]+)\s*\)'
    r"|(?P<op>AND|OR|NOT|TRUE|FALSE)\b|(?P<paren>[()]))"
)


# ---------------------------------------------------------------------------------------------- rules
def rule_children(rule: str) -> list[str]:
    """Alarm names (or ARNs' names) a rule refers to, in order."""
    return [_name(m["arg"]) for m in _TOKEN.finditer(rule) if m["fn"]]


def _name(arg: str) -> str:
    arg = arg.strip('"')
    return arg.rsplit(":alarm:", 1)[-1]


def evaluate_rule(rule: str, states: dict[str, str]) -> bool:
    """The rule's truth for child states (`name -> StateValue`); an unknown child is not in any state."""
    tokens: list[tuple[str, str]] = []
    position = 0
    for match in _TOKEN.finditer(rule):
        if rule[position : match.start()].strip():
            raise ValueError(f"cannot parse alarm rule {rule!r}")
        position = match.end()
        if match["fn"]:
            tokens.append(("fn", f"{match['fn']}|{_name(match['arg'])}"))
        elif match["op"]:
            tokens.append(("op", match["op"]))
        else:
            tokens.append(("paren", match["paren"]))
    if rule[position:].strip():
        raise ValueError(f"cannot parse alarm rule {rule!r}")

    def parse_or(i: int) -> tuple[bool, int]:
        value, i = parse_and(i)
        while i < len(tokens) and tokens[i] == ("op", "OR"):
            right, i = parse_and(i + 1)
            value = value or right
        return value, i

    def parse_and(i: int) -> tuple[bool, int]:
        value, i = parse_not(i)
        while i < len(tokens) and tokens[i] == ("op", "AND"):
            right, i = parse_not(i + 1)
            value = value and right
        return value, i

    def parse_not(i: int) -> tuple[bool, int]:
        if i < len(tokens) and tokens[i] == ("op", "NOT"):
            value, i = parse_not(i + 1)
            return not value, i
        return parse_atom(i)

    def parse_atom(i: int) -> tuple[bool, int]:
        if i >= len(tokens):
            raise ValueError(f"cannot parse alarm rule {rule!r}")
        kind, text = tokens[i]
        if kind == "paren" and text == "(":
            value, i = parse_or(i + 1)
            if i >= len(tokens) or tokens[i] != ("paren", ")"):
                raise ValueError(f"cannot parse alarm rule {rule!r}")
            return value, i + 1
        if kind == "op" and text in ("TRUE", "FALSE"):
            return text == "TRUE", i + 1
        if kind == "fn":
            state, name = text.split("|", 1)
            return states.get(name) == state, i + 1
        raise ValueError(f"cannot parse alarm rule {rule!r}")

    value, end = parse_or(0)
    if end != len(tokens):
        raise ValueError(f"cannot parse alarm rule {rule!r}")
    return value


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


# ---------------------------------------------------------------------------------------------- patches
def _alarm_init(self: Alarm, *args: Any, **kwargs: Any) -> None:
    _originals[(Alarm, "__init__")](self, *args, **kwargs)
    self.state_transitioned_timestamp = self.state_updated_timestamp  # type: ignore[attr-defined]
    if self.rule is not None:  # a composite alarm has no data until its rule is evaluated
        self.state_value = "INSUFFICIENT_DATA"
        self.state_reason = "Unchecked: Initial alarm creation"


def _alarm_update_state(self: Alarm, reason: str, reason_data: str, state_value: str) -> None:
    previous = self.state_value
    _originals[(Alarm, "update_state")](self, reason, reason_data, state_value)
    if state_value != previous:
        self.state_transitioned_timestamp = self.state_updated_timestamp  # type: ignore[attr-defined]


def _put_metric_alarm(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Alarm:
    name = kwargs.get("name", args[0] if args else None)
    existing = self.alarms.get(name) if name else None
    alarm = _originals[(CloudWatchBackend, "put_metric_alarm")](self, *args, **kwargs)
    if existing is not None and (existing.rule is None) == (alarm.rule is None):
        for field in (
            "state_value",
            "state_reason",
            "state_reason_data",
            "state_updated_timestamp",
            "state_transitioned_timestamp",
            "history",
        ):
            if hasattr(existing, field):
                setattr(alarm, field, getattr(existing, field))
    elif alarm.rule is not None:
        _evaluate_composites(self, {alarm.name})
    return alarm


def _set_alarm_state(self: CloudWatchBackend, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
    _originals[(CloudWatchBackend, "set_alarm_state")](self, alarm_name, reason, reason_data, state_value)
    _evaluate_composites(self, None, changed=alarm_name)


def _evaluate_composites(backend: CloudWatchBackend, only: set[str] | None, changed: str | None = None) -> None:
    """Re-evaluate composite alarms (those referring to `changed`, or those named in `only`)."""
    with _lock:
        states = {name: alarm.state_value for name, alarm in backend.alarms.items()}
        for alarm in list(backend.alarms.values()):
            rule = alarm.rule
            if rule is None or (only is not None and alarm.name not in only):
                continue
            children = rule_children(rule)
            if changed is not None and changed not in children:
                continue
            try:
                value = "ALARM" if evaluate_rule(rule, states) else "OK"
            except ValueError:
                continue
            if value == alarm.state_value:
                continue
            triggering = [
                {
                    "arn": backend.alarms[child].alarm_arn,
                    "state": {
                        "value": backend.alarms[child].state_value,
                        "timestamp": _stamp(backend.alarms[child].state_updated_timestamp),
                    },
                }
                for child in dict.fromkeys(children)
                if child in backend.alarms
            ]
            first = triggering[0]["arn"] if triggering else alarm.alarm_arn
            now = utcnow()
            reason = f"{first} transitioned to {value} at {now.strftime('%A %d %B, %Y %H:%M:%S')} UTC"
            data = json.dumps({"triggeringAlarms": triggering}, separators=(",", ":"))
            # Through the class attribute, so whoever watches set_alarm_state (the local stack's
            # EventBridge routing) sees the composite's change too; it recurses into parents.
            backend.set_alarm_state(alarm.name, reason, data, value)


def _describe_alarms(self: CloudWatchResponse) -> ActionResult:
    backend = self.cloudwatch_backend
    alarms = list(backend.alarms.values())
    names = self._get_param("AlarmNames", []) or []
    prefix = self._get_param("AlarmNamePrefix")
    state = self._get_param("StateValue")
    action_prefix = self._get_param("ActionPrefix")
    types = self._get_param("AlarmTypes", []) or ["MetricAlarm"]
    if names:
        alarms = [a for a in alarms if a.name in names]
    if prefix:
        alarms = [a for a in alarms if a.name.startswith(prefix)]
    if state:
        alarms = [a for a in alarms if a.state_value == state]
    if action_prefix:
        alarms = [a for a in alarms if any(action.startswith(action_prefix) for action in a.alarm_actions)]
    metric = [a for a in alarms if a.rule is None] if "MetricAlarm" in types else []
    composite = [a for a in alarms if a.rule is not None] if "CompositeAlarm" in types else []
    return ActionResult({"MetricAlarms": metric, "CompositeAlarms": composite})


def _put_composite_alarm(self: CloudWatchResponse) -> ActionResult:
    from moto.core.responses import EmptyResult

    self.cloudwatch_backend.put_metric_alarm(
        name=self._get_param("AlarmName"),
        namespace=None,  # type: ignore[arg-type]
        metric_name=None,  # type: ignore[arg-type]
        comparison_operator=None,  # type: ignore[arg-type]
        evaluation_periods=None,  # type: ignore[arg-type]
        period=None,  # type: ignore[arg-type]
        threshold=None,  # type: ignore[arg-type]
        statistic=None,  # type: ignore[arg-type]
        description=self._get_param("AlarmDescription"),
        dimensions=[],
        alarm_actions=self._get_param("AlarmActions", []),
        ok_actions=self._get_param("OKActions", []),
        insufficient_data_actions=self._get_param("InsufficientDataActions", []),
        actions_enabled=self._get_bool_param("ActionsEnabled"),
        rule=self._get_param("AlarmRule"),
        tags=self._get_param("Tags", []),
    )
    return EmptyResult()  # type: ignore[return-value]


PATCHES: dict[tuple[type, str], Any] = {
    (Alarm, "__init__"): _alarm_init,
    (Alarm, "update_state"): _alarm_update_state,
    (CloudWatchBackend, "put_metric_alarm"): _put_metric_alarm,
    (CloudWatchBackend, "set_alarm_state"): _set_alarm_state,
    (CloudWatchResponse, "describe_alarms"): _describe_alarms,
    (CloudWatchResponse, "put_composite_alarm"): _put_composite_alarm,
}


def install() -> None:
    """Patch moto's CloudWatch classes. Idempotent; composes with other wrappers of set_alarm_state."""
    with _lock:
        if _originals:
            return
        for (cls, name), patch in PATCHES.items():
            _originals[(cls, name)] = cls.__dict__.get(name)
            setattr(cls, name, patch)


def uninstall() -> None:
    with _lock:
        for (cls, name), original in _originals.items():
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)
        _originals.clear()
