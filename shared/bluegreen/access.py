"""Who may ask for what, and what bluegreen may touch: checks that back the IAM policies up in code.

- Each override entry point serves a fixed set of actions (`STATUS_ACTIONS`, `OVERRIDE_ACTIONS`,
  `REGISTER_ACTIONS`, `URL_ACTIONS`) and refuses the rest with `check_action`. The sets are constants
  of the code, not environment variables: granting `lambda:InvokeFunction` on one function grants
  exactly its set, whatever its configuration says. IAM decides who may invoke which function.
- `register` manages an Elastic Beanstalk environment only if its application matches the stack's
  `ManagedApplicationPattern` AND the environment carries the opt-in tag `bluegreen:managed=true`
  (`check_managed`). The functions' IAM policies require the same two things (the pattern in every
  Elastic Beanstalk ARN, the tag as `aws:ResourceTag` condition of UpdateEnvironment and
  SwapEnvironmentCNAMEs), so a register that passed here cannot be refused by AWS later, and a
  register that would be refused by AWS later is refused here, with a message that says why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from bluegreen import models
from bluegreen.errors import BadInput, Refused, Transient
from bluegreen.settings import Settings

# ---------------------------------------------------------------- actions per entry point

READ_ONLY_ACTIONS = frozenset(models.READ_ONLY_ACTIONS)
MUTATING_ACTIONS = frozenset(models.MUTATING_ACTIONS)
REGISTER_ACTIONS = frozenset({"register"})

# StatusFunction: read-only (status and history), grantable to anyone who may watch.
STATUS_ACTIONS = READ_ONLY_ACTIONS
# OverrideFunction: operating deployments; reading the state is part of operating it.
OVERRIDE_ACTIONS = MUTATING_ACTIONS | READ_ONLY_ACTIONS | {"report_check"}  # a hook reports through it
# RegisterFunction: onboarding an app, i.e. choosing what bluegreen deploys to (platform team only).
REGISTER_FUNCTION_ACTIONS = REGISTER_ACTIONS | READ_ONLY_ACTIONS
# OverrideUrlFunction: the operator override over SigV4; register stays on its own function.
URL_ACTIONS = OVERRIDE_ACTIONS


def check_action(action: str, allowed: Iterable[str], entry_point: str) -> None:
    """Refuse an action that this entry point does not serve (before any AWS call)."""
    allowed_set = frozenset(allowed)
    if action not in allowed_set:
        raise Refused(
            f"{entry_point} does not serve {action!r}; it serves {', '.join(sorted(allowed_set))}. {_where(action)}"
        )


def _where(action: str) -> str:
    if action in REGISTER_ACTIONS:
        return "Invoke the stack's RegisterFunctionName for register."
    if action in MUTATING_ACTIONS:
        return f"Invoke the stack's OverrideFunctionName for {', '.join(sorted(MUTATING_ACTIONS))}."
    return "Invoke the stack's StatusFunctionName for status and apps."


# ---------------------------------------------------------------- what bluegreen may manage

MANAGED_TAG_KEY = "bluegreen:managed"
MANAGED_TAG_VALUE = "true"


@lru_cache(maxsize=32)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """IAM's wildcard matching of an ARN segment: `*` any run of characters, `?` one; case-sensitive."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def matches_pattern(pattern: str, name: str) -> bool:
    return bool(pattern) and _pattern_regex(pattern).fullmatch(name) is not None


def check_managed(
    application_name: str,
    environment_tags: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    """Refuse to manage an application outside the stack's pattern, or environments without the opt-in tag.

    `environment_tags`: environment name -> its tags (from `ListTagsForResource`, see
    `environment_tags`), one entry per color that `register` names."""
    pattern = settings.managed_application_pattern
    if not pattern:
        raise Refused(
            "this controller manages no application: BLUEGREEN_MANAGED_APPLICATION_PATTERN is empty "
            "(deploy the stack with ManagedApplicationPattern set)"
        )
    if not matches_pattern(pattern, application_name):
        raise Refused(
            f"Elastic Beanstalk application {application_name!r} is outside this stack's "
            f"ManagedApplicationPattern {pattern!r}: bluegreen may not deploy to it"
        )
    if not environment_tags:
        raise BadInput("register names no environment to check")
    missing = sorted(
        name for name, tags in environment_tags.items() if (tags or {}).get(MANAGED_TAG_KEY) != MANAGED_TAG_VALUE
    )
    if missing:
        raise Refused(
            f"environment{'s' if len(missing) > 1 else ''} {', '.join(missing)} of {application_name} "
            f"{'do' if len(missing) > 1 else 'does'} not opt in to bluegreen: tag "
            f"{'them' if len(missing) > 1 else 'it'} {MANAGED_TAG_KEY}={MANAGED_TAG_VALUE} "
            "(aws elasticbeanstalk update-tags-for-resource --resource-arn <environment ARN> "
            f"--tags-to-add Key={MANAGED_TAG_KEY},Value={MANAGED_TAG_VALUE}); the controller's IAM policy "
            "requires that tag to deploy or swap"
        )


def environment_tags(eb_client: Any, application_name: str, environments: Iterable[str]) -> dict[str, dict[str, str]]:
    """The tags of each named environment (DescribeEnvironments for the ARNs, then ListTagsForResource).

    An environment that does not exist maps to no tags; `register` has already refused it anyway."""
    from bluegreen.aws.clients import error_code, is_transient

    names = list(environments)
    try:
        described = eb_client.describe_environments(
            ApplicationName=application_name, EnvironmentNames=names, IncludeDeleted=False
        )["Environments"]
        arns = {e["EnvironmentName"]: e["EnvironmentArn"] for e in described if e.get("Status") != "Terminated"}
        result: dict[str, dict[str, str]] = {}
        for name in names:
            arn = arns.get(name)
            if arn is None:
                result[name] = {}
                continue
            tags = eb_client.list_tags_for_resource(ResourceArn=arn).get("ResourceTags", [])
            result[name] = {str(t["Key"]): str(t.get("Value", "")) for t in tags}
        return result
    except Exception as error:
        if is_transient(error):
            raise Transient(f"reading the environments' tags: {error}") from error
        raise Refused(
            f"cannot read the tags of {', '.join(names)}: {error_code(error) or error}; "
            "bluegreen manages only environments it can verify"
        ) from None
