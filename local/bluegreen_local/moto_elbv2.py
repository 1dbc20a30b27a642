"""ELBv2 behaviour moto is looser about than AWS, in moto's own classes (dev-only; never shipped).

moto 5.2.1 already keeps a weighted `ForwardConfig` (weights and `TargetGroupStickinessConfig`) through
CreateRule/ModifyRule/DescribeRules and ModifyListener/DescribeListeners. What AWS does and moto does not:

- `TargetGroupTuple.Weight` is 0 to 999 (ELBv2 API reference): AWS answers ValidationError "The weight
  for each target group must be between 0 and 999, inclusive"; moto stores any number.
- An ALB forward action names at most 5 target groups (quota "Target Groups per Action per Application
  Load Balancer": 5, not adjustable); moto takes any number. (The error code here is ValidationError.)
- `TargetGroupArn` together with `ForwardConfig`: ForwardConfig may then name only that one target
  group (API reference, Action.ForwardConfig); moto silently uses TargetGroupArn.
- ModifyRule on a listener's default rule: AWS changes a default rule only through ModifyListener's
  DefaultActions; moto changes the rule's actions and leaves the listener's DefaultActions as they
  were (two answers for one rule). Refused here with OperationNotPermitted, a ModifyRule error.
- ModifyListener checks its DefaultActions like CreateListener does (moto: no check, any ARN goes).
- A target group can be used by only one load balancer (quota "Load balancers per target group": 1;
  TargetGroupAssociationLimit). Its `LoadBalancerArns` follows the rules and default actions that
  forward to it (moto: appended on create only, with duplicates, never after ModifyRule/ModifyListener).

`install()` patches `moto.elbv2.models.ELBv2Backend` methods in place, so `mock_aws()` and moto's
server both get it; `uninstall()` restores moto's. Idempotent. Production code never imports this.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from moto.elbv2.exceptions import ELBClientError, ValidationError
from moto.elbv2.models import ELBv2Backend, FakeAction, FakeListener

MAX_WEIGHT = 999
MAX_TARGET_GROUPS_PER_ACTION = 5
WEIGHT_MESSAGE = "The weight for each target group must be between 0 and 999, inclusive"

_originals: dict[tuple[type, str], Any] = {}
_lock = threading.RLock()


class OperationNotPermittedError(ELBClientError):
    code = "OperationNotPermitted"


class TargetGroupAssociationLimitError(ELBClientError):
    code = "TargetGroupAssociationLimit"


# ---------------------------------------------------------------------------------------------- checks
def check_forward(data: dict[str, Any]) -> None:
    """AWS's checks of one forward action (the request's dict)."""
    config = data.get("ForwardConfig") or {}
    groups = config.get("TargetGroups") or []
    if len(groups) > MAX_TARGET_GROUPS_PER_ACTION:
        raise ValidationError(
            f"A forward action can have at most {MAX_TARGET_GROUPS_PER_ACTION} target groups; {len(groups)} were given"
        )
    for group in groups:
        weight = group.get("Weight")
        if weight is not None and not 0 <= int(weight) <= MAX_WEIGHT:
            raise ValidationError(WEIGHT_MESSAGE)
    arn = data.get("TargetGroupArn")
    if arn and groups and [g.get("TargetGroupArn") for g in groups] != [arn]:
        raise ValidationError(
            "If you specify both ForwardConfig and TargetGroupArn, ForwardConfig can name only that target group"
        )


def _forwarded(actions: list[FakeAction]) -> set[str]:
    arns: set[str] = set()
    for action in actions:
        if action.type != "forward":
            continue
        if action.data.get("TargetGroupArn"):
            arns.add(action.data["TargetGroupArn"])
        for group in (action.data.get("ForwardConfig") or {}).get("TargetGroups") or []:
            arns.add(group["TargetGroupArn"])
    return arns


def _listener(backend: ELBv2Backend, listener_arn: str) -> FakeListener | None:
    for balancer in backend.load_balancers.values():
        listener = balancer.listeners.get(listener_arn)
        if listener is not None:
            return listener
    return None


def _check_association(backend: ELBv2Backend, balancer_arn: str, actions: list[dict[str, Any]]) -> None:
    for arn in sorted(_forwarded([FakeAction(_copy(a)) for a in actions])):
        group = backend.target_groups.get(arn)
        if group is None:
            continue  # moto's own check answers TargetGroupNotFound
        others = sorted(set(group.load_balancer_arns) - {balancer_arn})
        if others:
            raise TargetGroupAssociationLimitError(
                f"The following target groups cannot be associated with more than one load balancer: {arn}"
            )


def _sync_associations(backend: ELBv2Backend) -> None:
    """Each target group's LoadBalancerArns: the load balancers whose rules or default actions forward to it."""
    used: dict[str, list[str]] = {}
    for balancer_arn, balancer in backend.load_balancers.items():
        for listener in balancer.listeners.values():
            for rule in listener.rules.values():
                for arn in _forwarded(rule.actions):
                    if balancer_arn not in used.setdefault(arn, []):
                        used[arn].append(balancer_arn)
    for arn, group in backend.target_groups.items():
        group.load_balancer_arns = used.get(arn, [])


def _copy(action: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(action)  # FakeAction fills in defaults in place


# ---------------------------------------------------------------------------------------------- patches
def _validate_actions(self: ELBv2Backend, actions: list[FakeAction]) -> None:
    for action in actions:
        if action.type == "forward":
            check_forward(action.data)
    _originals[(ELBv2Backend, "_validate_actions")](self, actions)


def _create_rule(self: ELBv2Backend, listener_arn: str, *args: Any, **kwargs: Any) -> Any:
    actions = kwargs.get("actions", args[2] if len(args) > 2 else [])
    listener = _listener(self, listener_arn)
    if listener is not None:
        _check_association(self, listener.load_balancer_arn, actions)
    rule = _originals[(ELBv2Backend, "create_rule")](self, listener_arn, *args, **kwargs)
    _sync_associations(self)
    return rule


def _create_listener(self: ELBv2Backend, load_balancer_arn: str, *args: Any, **kwargs: Any) -> Any:
    actions = kwargs.get("actions", args[4] if len(args) > 4 else [])
    _check_association(self, load_balancer_arn, actions)
    listener = _originals[(ELBv2Backend, "create_listener")](self, load_balancer_arn, *args, **kwargs)
    _sync_associations(self)
    return listener


def _modify_rule(
    self: ELBv2Backend, rule_arn: str, conditions: list[dict[str, Any]], actions: list[dict[str, Any]]
) -> Any:
    for balancer in self.load_balancers.values():
        for listener in balancer.listeners.values():
            for rule in listener.rules.values():
                if rule.arn != rule_arn:
                    continue
                if rule.is_default:
                    raise OperationNotPermittedError(
                        f"Default rule '{rule_arn}' cannot be modified; "
                        "use ModifyListener to change the listener's default actions"
                    )
                if actions:
                    _check_association(self, listener.load_balancer_arn, actions)
    rule = _originals[(ELBv2Backend, "modify_rule")](self, rule_arn, conditions, actions)
    _sync_associations(self)
    return rule


def _modify_listener(self: ELBv2Backend, arn: str, *args: Any, **kwargs: Any) -> Any:
    actions = kwargs.get("actions", args[4] if len(args) > 4 else None)
    listener = _listener(self, arn)
    if actions and listener is not None:
        self._validate_actions([FakeAction(_copy(a)) for a in actions])
        _check_association(self, listener.load_balancer_arn, actions)
    result = _originals[(ELBv2Backend, "modify_listener")](self, arn, *args, **kwargs)
    _sync_associations(self)
    return result


PATCHES: dict[tuple[type, str], Any] = {
    (ELBv2Backend, "_validate_actions"): _validate_actions,
    (ELBv2Backend, "create_rule"): _create_rule,
    (ELBv2Backend, "create_listener"): _create_listener,
    (ELBv2Backend, "modify_rule"): _modify_rule,
    (ELBv2Backend, "modify_listener"): _modify_listener,
}


def install() -> None:
    """Patch moto's ELBv2 backend. Idempotent."""
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
