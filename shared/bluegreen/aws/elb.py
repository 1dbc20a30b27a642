"""Elastic Load Balancing v2 adapter: production traffic split between the two colors at a shared ALB.

In `alb` traffic mode the production listener rule forwards to one target group per color, and a step
of the rollout is a set of weights (10%, 50%, 100% to the new color) rather than a CNAME swap.

What AWS says (ELBv2 API reference and the ALB user guide):

- A forward action has two shapes: a plain `TargetGroupArn` (one target group), or `ForwardConfig`
  with `TargetGroups` (`TargetGroupArn`, `Weight`) and an optional `TargetGroupStickinessConfig`.
  When both are given, ForwardConfig may name only that one target group. DescribeRules may return
  either shape (or both); a forward to a single target group sends it all the traffic.
- `Weight` is 0 to 999 (TargetGroupTuple) and defaults to 1; an ALB action forwards to at most 5 target
  groups (quota "Target Groups per Action per Application Load Balancer", not adjustable).
- ModifyRule replaces the whole action list, so the other actions (authentication) are sent back as
  they were. A listener's default rule (`IsDefault`) is changed with ModifyListener's `DefaultActions`,
  not ModifyRule: `ensure_weights` takes that listener's ARN instead.
- A target group can be used by only one load balancer (quota "Load balancers per target group": 1).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

from bluegreen.aws.clients import client, error_code, is_transient
from bluegreen.errors import BadInput, Transient

log = logging.getLogger("bluegreen")

MAX_WEIGHT = 999  # TargetGroupTuple.Weight: 0 to 999
DEFAULT_WEIGHT = 1  # a TargetGroupTuple without Weight
MAX_TARGET_GROUPS = 5  # target groups per forward action on an Application Load Balancer
ALB_PROTOCOLS = ("HTTP", "HTTPS")
TARGET_TYPES = ("instance", "ip")  # what an Elastic Beanstalk environment registers


@dataclass(frozen=True)
class _Routing:
    """A listener rule, or a listener's default actions, as ELBv2 describes them now."""

    arn: str  # what the caller named: a rule ARN or a listener ARN
    listener_arn: str
    actions: tuple[dict[str, Any], ...]
    is_listener: bool
    is_default: bool  # a listener rule that is the listener's default rule

    @property
    def what(self) -> str:
        return f"listener {self.arn} (default actions)" if self.is_listener else f"listener rule {self.arn}"


def _elbv2(elbv2: Any) -> Any:
    return client("elbv2") if elbv2 is None else elbv2


def _wrap(error: Exception, what: str, hint: str = "") -> Exception:
    if is_transient(error):
        return Transient(f"{what}: {error}")
    return BadInput(f"{what}: {error}{hint}", aws_code=error_code(error))


def is_listener_arn(arn: str) -> bool:
    return ":listener/" in arn


def listener_of(rule_arn: str) -> str:
    """The listener a rule belongs to: `...:listener-rule/app/<lb>/<lb-id>/<listener-id>/<rule-id>`
    is a rule of `...:listener/app/<lb>/<lb-id>/<listener-id>` (the ARN formats ELBv2 documents)."""
    if is_listener_arn(rule_arn):
        return rule_arn
    if ":listener-rule/" not in rule_arn or rule_arn.count("/") < 5:
        raise BadInput(
            f"{rule_arn!r} is neither a listener rule ARN (arn:aws:elasticloadbalancing:<region>:<account>:"
            "listener-rule/app/...) nor a listener ARN: register the production rule's ARN",
            arn=rule_arn,
        )
    return rule_arn.replace(":listener-rule/", ":listener/", 1).rsplit("/", 1)[0]


def _describe(elbv2: Any, arn: str) -> _Routing:
    if is_listener_arn(arn):
        try:
            listeners = elbv2.describe_listeners(ListenerArns=[arn]).get("Listeners", [])
        except Exception as error:
            if error_code(error) == "ListenerNotFound":
                raise BadInput(
                    f"listener {arn} does not exist: register the ARN of the shared ALB's production listener",
                    arn=arn,
                    aws_code="ListenerNotFound",
                ) from error
            raise _wrap(error, f"DescribeListeners {arn}") from error
        if not listeners:
            raise BadInput(f"listener {arn} does not exist: register the ARN of the shared ALB's listener", arn=arn)
        listener = listeners[0]
        return _Routing(arn, arn, tuple(listener.get("DefaultActions", [])), is_listener=True, is_default=False)
    listener_arn = listener_of(arn)
    try:
        rules = elbv2.describe_rules(RuleArns=[arn]).get("Rules", [])
    except Exception as error:
        if error_code(error) == "RuleNotFound":
            raise BadInput(
                f"listener rule {arn} does not exist: register the ARN of the production listener rule "
                f"(aws elbv2 describe-rules --listener-arn {listener_arn})",
                arn=arn,
                aws_code="RuleNotFound",
            ) from error
        raise _wrap(error, f"DescribeRules {arn}") from error
    rule = next((r for r in rules if r.get("RuleArn") == arn), None)
    if rule is None:
        raise BadInput(f"listener rule {arn} does not exist: register the production listener rule's ARN", arn=arn)
    return _Routing(
        arn, listener_arn, tuple(rule.get("Actions", [])), is_listener=False, is_default=bool(rule.get("IsDefault"))
    )


def _forward(routing: _Routing) -> tuple[int, dict[str, Any]]:
    """The one forward action (its index among the actions)."""
    forwards = [(i, a) for i, a in enumerate(routing.actions) if a.get("Type") == "forward"]
    if len(forwards) != 1:
        kinds = ", ".join(str(a.get("Type")) for a in routing.actions) or "none"
        raise BadInput(
            f"{routing.what} does not forward to target groups (its actions: {kinds}): "
            "alb traffic mode needs a rule whose action is forward to the app's target groups",
            arn=routing.arn,
        )
    return forwards[0]


def _weights_of(action: dict[str, Any]) -> dict[str, int]:
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
    if groups:
        weights = {str(g["TargetGroupArn"]): int(g.get("Weight", DEFAULT_WEIGHT)) for g in groups}
    elif action.get("TargetGroupArn"):
        weights = {str(action["TargetGroupArn"]): 100}
    else:
        weights = {}
    return _canonical(weights)


def _canonical(weights: dict[str, int]) -> dict[str, int]:
    """A single target group gets all the traffic whatever its weight: it reads as 100."""
    if len(weights) == 1:
        return dict.fromkeys(weights, 100)
    return dict(weights)


def read_weights(elbv2: Any, rule_arn: str) -> dict[str, int]:
    """Target-group ARN -> weight of the rule's forward action (a listener ARN: its default action).

    A plain `TargetGroupArn` forward, or a ForwardConfig with one target group, reads as {arn: 100}."""
    elbv2 = _elbv2(elbv2)
    routing = _describe(elbv2, rule_arn)
    _, action = _forward(routing)
    weights = _weights_of(action)
    if not weights:
        raise BadInput(f"{routing.what} forwards to no target group: point it at the app's target groups")
    return weights


def percent_to(weights: dict[str, int], target_group: str) -> int:
    """The share of requests (0..100) `target_group` gets. 0 and 100 are exact (none, all); a share in
    between rounds to the nearest percent but never to 0 or 100 (1/1000 is 1, 999/1000 is 99)."""
    total = sum(w for w in weights.values() if w > 0)
    weight = weights.get(target_group, 0)
    if total <= 0 or weight <= 0:
        return 0
    if weight >= total:
        return 100
    return min(99, max(1, round(100 * weight / total)))


def _check_weights(weights: dict[str, int]) -> None:
    if not weights:
        raise BadInput("weights: name at least one target group ARN and its weight")
    if len(weights) > MAX_TARGET_GROUPS:
        raise BadInput(
            f"weights: {len(weights)} target groups; an ALB forward action takes at most {MAX_TARGET_GROUPS}",
            weights=weights,
        )
    for arn, weight in weights.items():
        if not isinstance(arn, str) or ":targetgroup/" not in arn:
            raise BadInput(f"weights: {arn!r} is not a target group ARN", weights=weights)
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT:
            raise BadInput(
                f"weights: the weight of {arn} is {weight!r}; ELBv2 takes an integer from 0 to {MAX_WEIGHT}",
                weights=weights,
            )
    if sum(weights.values()) <= 0:
        raise BadInput("weights: every weight is 0, so no target group would get requests", weights=weights)


def _resubmittable(action: dict[str, Any]) -> dict[str, Any]:
    """An action as DescribeRules returned it, fit to send back in ModifyRule/ModifyListener: DescribeRules
    never returns an OIDC client secret, so the rule keeps the one it has."""
    action = copy.deepcopy(action)
    oidc = action.get("AuthenticateOidcConfig")
    if isinstance(oidc, dict) and "ClientSecret" not in oidc:
        oidc["UseExistingClientSecret"] = True
    return action


def _forward_action(current: dict[str, Any], weights: dict[str, int]) -> dict[str, Any]:
    config: dict[str, Any] = {"TargetGroups": [{"TargetGroupArn": arn, "Weight": w} for arn, w in weights.items()]}
    stickiness = (current.get("ForwardConfig") or {}).get("TargetGroupStickinessConfig")
    if stickiness:
        config["TargetGroupStickinessConfig"] = copy.deepcopy(stickiness)
    action: dict[str, Any] = {"Type": "forward", "ForwardConfig": config}
    if "Order" in current:
        action["Order"] = current["Order"]
    return action


def ensure_weights(elbv2: Any, rule_arn: str, weights: dict[str, int]) -> bool:
    """Make the rule (or, given a listener ARN, the listener's default action) forward with exactly
    these weights. Idempotent: returns False when it already does (no write), True after a verified
    ModifyRule/ModifyListener. Raises Transient when ELBv2 does not show the new weights yet."""
    elbv2 = _elbv2(elbv2)
    _check_weights(weights)
    wanted = _canonical(weights)
    routing = _describe(elbv2, rule_arn)
    if routing.is_default:
        raise BadInput(
            f"listener rule {rule_arn} is the default rule of listener {routing.listener_arn}: ModifyRule "
            "cannot change a default rule; register the listener ARN instead (its default action is changed "
            "with ModifyListener), or a non-default rule",
            arn=rule_arn,
            listener_arn=routing.listener_arn,
        )
    index, current = _forward(routing)
    if _weights_of(current) == wanted:
        return False
    actions = [_resubmittable(a) for a in routing.actions]
    actions[index] = _forward_action(current, weights)
    try:
        if routing.is_listener:
            elbv2.modify_listener(ListenerArn=rule_arn, DefaultActions=actions)
        else:
            elbv2.modify_rule(RuleArn=rule_arn, Actions=actions)
    except Exception as error:
        call = "ModifyListener" if routing.is_listener else "ModifyRule"
        hint = ""
        if error_code(error) == "TargetGroupAssociationLimit":
            hint = " (a target group can be used by only one load balancer: use target groups of this ALB)"
        elif error_code(error) == "TargetGroupNotFound":
            hint = " (one of the target groups does not exist: check the app's registered target groups)"
        raise _wrap(error, f"{call} {rule_arn}", hint) from error
    log.info("ELBv2 %s now forwards %s", routing.what, weights)
    observed = _weights_of(_forward(_describe(elbv2, rule_arn))[1])
    if observed != wanted:
        raise Transient(f"{routing.what} does not show the new weights yet: {observed}, wanted {wanted}")
    return True


def _describe_target_group(elbv2: Any, environment: str, arn: str) -> dict[str, Any]:
    try:
        groups = elbv2.describe_target_groups(TargetGroupArns=[arn]).get("TargetGroups", [])
    except Exception as error:
        if error_code(error) in ("TargetGroupNotFound", "ValidationError") and not is_transient(error):
            raise BadInput(
                f"the target group of {environment}, {arn}, does not exist: create it in the shared ALB's VPC "
                "(or fix the ARN) and register the app again",
                environment=environment,
                target_group=arn,
                aws_code=error_code(error),
            ) from error
        raise _wrap(error, f"DescribeTargetGroups {arn}") from error
    if not groups:
        raise BadInput(f"the target group of {environment}, {arn}, does not exist", target_group=arn)
    return dict(groups[0])


def validate_alb(elbv2: Any, rule_arn: str, target_groups: dict[str, str]) -> None:
    """For `register`: the rule (or listener) exists, forwards only to the app's two target groups
    (`{color environment name: target group ARN}`), and both target groups exist, are in the load
    balancer's VPC and are used by no other load balancer. Raises BadInput saying what to fix."""
    elbv2 = _elbv2(elbv2)
    arns = list(target_groups.values())
    if len(target_groups) != 2 or len(set(arns)) != 2:
        raise BadInput(
            f"target groups: name two different target groups, one per color environment; got {target_groups}",
            target_groups=target_groups,
        )
    for environment, arn in target_groups.items():
        if not isinstance(arn, str) or ":targetgroup/" not in arn:
            raise BadInput(f"target group of {environment}: {arn!r} is not a target group ARN", environment=environment)
    routing = _describe(elbv2, rule_arn)
    if routing.is_default:
        raise BadInput(
            f"listener rule {rule_arn} is the default rule of listener {routing.listener_arn}: ModifyRule cannot "
            "change it; register the listener ARN instead, or a non-default rule",
            arn=rule_arn,
            listener_arn=routing.listener_arn,
        )
    _, action = _forward(routing)
    forwarded = _weights_of(action)
    foreign = sorted(set(forwarded) - set(arns))
    if not forwarded or foreign:
        raise BadInput(
            f"{routing.what} forwards to {', '.join(foreign) or 'no target group'}, which is not one of the app's "
            f"target groups ({', '.join(f'{e}: {a}' for e, a in target_groups.items())}): make it forward only "
            "to those (e.g. 100 to the live color, 0 to the other)",
            arn=rule_arn,
            forwards=sorted(forwarded),
        )
    try:
        listeners = elbv2.describe_listeners(ListenerArns=[routing.listener_arn]).get("Listeners", [])
        balancer_arn = str(listeners[0]["LoadBalancerArn"])
        balancers = elbv2.describe_load_balancers(LoadBalancerArns=[balancer_arn]).get("LoadBalancers", [])
    except Exception as error:
        raise _wrap(error, f"DescribeListeners/DescribeLoadBalancers for {routing.listener_arn}") from error
    balancer = balancers[0]
    if balancer.get("Type", "application") != "application":
        raise BadInput(
            f"load balancer {balancer_arn} is a {balancer.get('Type')} load balancer: weighted traffic needs "
            "an Application Load Balancer",
            load_balancer=balancer_arn,
        )
    for environment, arn in target_groups.items():
        group = _describe_target_group(elbv2, environment, arn)
        others = sorted(set(group.get("LoadBalancerArns", [])) - {balancer_arn})
        if others:
            raise BadInput(
                f"the target group of {environment}, {arn}, is used by load balancer {', '.join(others)}; a target "
                f"group can be used by only one load balancer: give {environment} its own target group on "
                f"{balancer_arn}",
                environment=environment,
                target_group=arn,
            )
        if group.get("VpcId") and balancer.get("VpcId") and group["VpcId"] != balancer["VpcId"]:
            raise BadInput(
                f"the target group of {environment}, {arn}, is in {group['VpcId']} but the load balancer is in "
                f"{balancer['VpcId']}: create the target group in the load balancer's VPC",
                environment=environment,
                target_group=arn,
            )
        if group.get("TargetType", "instance") not in TARGET_TYPES or group.get("Protocol") not in ALB_PROTOCOLS:
            raise BadInput(
                f"the target group of {environment}, {arn}, has target type {group.get('TargetType')} and protocol "
                f"{group.get('Protocol')}: an environment's ALB target group is HTTP or HTTPS with instance or ip "
                "targets",
                environment=environment,
                target_group=arn,
            )


def is_opted_in(elbv2: Any, arn: str) -> bool:
    """The rule (or listener) carries the tag `bluegreen:managed=true` that the controller's IAM policy
    requires before it may change the rule's weights."""
    try:
        described = _elbv2(elbv2).describe_tags(ResourceArns=[arn])
    except Exception as error:
        raise _wrap(error, f"DescribeTags {arn}") from error
    for entry in described.get("TagDescriptions", []):
        for tag in entry.get("Tags", []):
            if tag.get("Key") == "bluegreen:managed" and tag.get("Value") == "true":
                return True
    return False
