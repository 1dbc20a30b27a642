"""template.yaml as written (source) and as CloudFormation receives it (after the SAM transform).

The transform runs offline, the way `sam package` + CloudFormation would: local CodeUri/ContentUri
paths become S3 URIs first, and the managed-policy loader is a fake that knows no AWS managed
policies (the template needs none; asking for one fails the test).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"

# The functions and their code directories: five triggers, plus the read-only and register entry points.
FUNCTIONS = {
    "ArtifactFunction": "functions/artifact",
    "HealthFunction": "functions/health",
    "AlarmFunction": "functions/alarm",
    "OverrideFunction": "functions/override",
    "StatusFunction": "functions/status",
    "RegisterFunction": "functions/register",
    "WatchdogFunction": "functions/watchdog",
    "CheckFunction": "functions/check",
}
# Functions that run the controller's effects (deploy, swap): they hold the deployment policies.
EFFECT_FUNCTIONS = {
    "ArtifactFunction",
    "HealthFunction",
    "AlarmFunction",
    "OverrideFunction",
    "WatchdogFunction",
    "CheckFunction",
}
# Optional, behind the EnableOverrideUrl and EnableChatNotifications conditions.
CONDITIONAL_FUNCTIONS = {"OverrideUrlFunction": "functions/override_url", "ChatFunction": "functions/chat"}
# Conditional functions that run the controller (the chat formatter only publishes to its topic).
CONDITIONAL_CONTROLLER_FUNCTIONS = {"OverrideUrlFunction"}


def load_source() -> dict[str, Any]:
    """template.yaml with CloudFormation's short-form tags in long form (cfn-lint's own loader)."""
    from cfnlint.decode import cfn_yaml

    return json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE))))


class FakeManagedPolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader (which lists AWS managed policies via IAM)."""

    def __init__(self) -> None:
        self.calls = 0

    def load(self) -> dict[str, str]:
        self.calls += 1
        return {}


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    """What `sam package` does to the template: local code paths become S3 URIs."""
    result = copy.deepcopy(template)
    for resource in result["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://example-bucket/{properties[key].strip('/')}.zip"
    return result


def sam_transform(template: dict[str, Any], loader: FakeManagedPolicyLoader) -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    with pytest.MonkeyPatch.context() as patch:
        # samtranslator reads the pseudo-parameter region from a boto3 session.
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.delenv("AWS_REGION", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        return transform(packaged(template), {}, loader)


@pytest.fixture(scope="session")
def source() -> dict[str, Any]:
    return load_source()


@pytest.fixture(scope="session")
def policy_loader() -> FakeManagedPolicyLoader:
    return FakeManagedPolicyLoader()


@pytest.fixture(scope="session")
def transformed(source: dict[str, Any], policy_loader: FakeManagedPolicyLoader) -> dict[str, Any]:
    return sam_transform(source, policy_loader)


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy document's statements, with `Fn::If` statements taken as their first branch (the
    statement as it is when its condition holds) and `AWS::NoValue` dropped."""
    result = []
    for statement in document["Statement"]:
        if isinstance(statement, dict) and "Fn::If" in statement:
            statement = statement["Fn::If"][1]
        if statement == {"Ref": "AWS::NoValue"}:
            continue
        result.append(statement)
    return result
