"""Read template.yaml and create what it declares on an emulated AWS (moto), with no second copy.

Used by the integration tests (in-process moto) and the local stack (moto's server). It understands
the subset of the template the stack uses: the table with its keys and indexes, the bus, the bucket,
the functions with their environment and their EventBridge and schedule events (SAM `EventBridgeRule`,
`CloudWatchEvent`, `Schedule`/`ScheduleV2`, or explicit `AWS::Events::Rule` resources).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """PyYAML that keeps CloudFormation short-form tags as their long form (`!Ref X` -> {"Ref": "X"})."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass
class RuleSpec:
    name: str
    function: str
    bus: str
    pattern: dict[str, Any] | None = None
    schedule: str | None = None
    max_retries: int = 2


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: str
    handler: str
    environment: dict[str, str] = field(default_factory=dict)
    timeout: int = 30


@dataclass
class Stack:
    """Names of what was created, and the wiring read from the template."""

    name: str
    table: str
    bus: str
    bucket: str
    functions: dict[str, FunctionSpec]
    rules: list[RuleSpec]
    account: str = "123456789012"
    region: str = "us-east-1"

    def function_name(self, logical_id: str) -> str:
        return f"{self.name}-{logical_id}"

    def environment(self, logical_id: str) -> dict[str, str]:
        return dict(self.functions[logical_id].environment)


LOCAL_PARAMETERS = {
    "ManagedApplicationPattern": "*",
    "UploaderPrincipalArns": "arn:aws:iam::123456789012:role/ci",
}


class Resolver:
    """Resolve the intrinsics the stack uses to local names."""

    def __init__(self, stack_name: str, names: dict[str, str], template: dict[str, Any], account: str, region: str):
        self.stack_name = stack_name
        self.names = names
        self.params = {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
        # Parameters a real deployment must choose (no default): the local stack's own values. Every
        # bot the local stack creates opts in with the bluegreen:managed tag, as on AWS.
        self.params.update({k: v for k, v in LOCAL_PARAMETERS.items() if not self.params.get(k)})
        self.pseudo = {
            "AWS::StackName": stack_name,
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }

    def ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        return self.names.get(name, name)

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            if "Ref" in value:
                return self.ref(value["Ref"])
            if "Fn::GetAtt" in value:
                logical, attribute = value["Fn::GetAtt"]
                name = self.names.get(logical, logical)
                if attribute == "Arn":
                    return f"arn:aws:local:::{name}"
                return name
            if "Fn::Sub" in value:
                text = value["Fn::Sub"]
                variables: dict[str, Any] = {}
                if isinstance(text, list):
                    text, variables = text
                return re.sub(
                    r"\$\{([^}!]+)\}",
                    lambda m: str(self(variables[m[1]]) if m[1] in variables else self._sub_name(m[1])),
                    text,
                )
            if "Fn::Join" in value:
                separator, parts = value["Fn::Join"]
                return separator.join(str(self(p)) for p in parts)
            if "Fn::If" in value:
                return self(value["Fn::If"][1])
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value

    def _sub_name(self, name: str) -> str:
        if "." in name:
            return str(self({"Fn::GetAtt": name.split(".", 1)}))
        return self.ref(name)


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == kind}


def read_stack(
    stack_name: str = "bluegreen",
    template: dict[str, Any] | None = None,
    account: str = "123456789012",
    region: str = "us-east-1",
) -> tuple[Stack, Resolver]:
    """Work out local names for the stack's resources and read its wiring."""
    template = template or load_template()
    names: dict[str, str] = {}
    (table_id,) = _resources(template, "AWS::DynamoDB::Table")
    (bus_id,) = _resources(template, "AWS::Events::EventBus")
    (bucket_id,) = _resources(template, "AWS::S3::Bucket")
    names[table_id] = f"{stack_name}-{table_id}"
    names[bucket_id] = f"{stack_name}-artifacts-{account}".lower()
    for logical_id in _resources(template, "AWS::Serverless::Function"):
        names[logical_id] = f"{stack_name}-{logical_id}"
    for logical_id in _resources(template, "AWS::SQS::Queue"):
        names[logical_id] = f"{stack_name}-{logical_id}"
    for logical_id in _resources(template, "AWS::SecretsManager::Secret"):
        names[logical_id] = f"{stack_name}-{logical_id}"  # Ref gives the ARN on AWS; the name works as SecretId
    resolve = Resolver(stack_name, names, template, account, region)
    bus_props = template["Resources"][bus_id]["Properties"]
    names[bus_id] = str(resolve(bus_props.get("Name", f"{stack_name}-bus")))

    globals_ = template.get("Globals", {}).get("Function", {})
    functions: dict[str, FunctionSpec] = {}
    rules: list[RuleSpec] = []
    for logical_id, resource in _resources(template, "AWS::Serverless::Function").items():
        props = resource["Properties"]
        env = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=str(props.get("CodeUri", "")).rstrip("/"),
            handler=str(props.get("Handler", globals_.get("Handler", "app.lambda_handler"))),
            environment={k: str(resolve(v)) for k, v in env.items()},
            timeout=int(props.get("Timeout", globals_.get("Timeout", 30))),
        )
        for event_id, event in props.get("Events", {}).items():
            kind, event_props = event.get("Type"), event.get("Properties", {})
            retries = int(event_props.get("RetryPolicy", {}).get("MaximumRetryAttempts", 2))
            if kind in ("EventBridgeRule", "CloudWatchEvent"):
                bus = str(resolve(event_props.get("EventBusName", "default")))
                rules.append(
                    RuleSpec(
                        f"{logical_id}-{event_id}",
                        logical_id,
                        bus,
                        resolve(event_props["Pattern"]),
                        None,
                        retries,
                    )
                )
            elif kind in ("Schedule", "ScheduleV2"):
                expression = event_props.get("Schedule") or event_props.get("ScheduleExpression")
                rules.append(
                    RuleSpec(f"{logical_id}-{event_id}", logical_id, "default", None, str(expression), retries)
                )
    for logical_id, resource in _resources(template, "AWS::Events::Rule").items():
        props = resource["Properties"]
        for target in props.get("Targets", []):
            arn = target.get("Arn", {})
            if isinstance(arn, dict) and "Fn::GetAtt" in arn and arn["Fn::GetAtt"][0] in functions:
                bus = str(resolve(props.get("EventBusName", "default")))
                pattern = resolve(props["EventPattern"]) if "EventPattern" in props else None
                schedule = props.get("ScheduleExpression")
                rules.append(RuleSpec(logical_id, arn["Fn::GetAtt"][0], bus, pattern, schedule))
    stack = Stack(
        name=stack_name,
        table=names[table_id],
        bus=names[bus_id],
        bucket=names[bucket_id],
        functions=functions,
        rules=rules,
        account=account,
        region=region,
    )
    return stack, resolve


def provision(session: Any, stack_name: str = "bluegreen", template: dict[str, Any] | None = None) -> Stack:
    """Create the table, bus and bucket as the template declares them. Rules are the caller's business
    (the local stack routes them into queues; in-process tests call handlers directly)."""
    template = template or load_template()
    stack, _ = read_stack(stack_name, template)
    table_props = next(iter(_resources(template, "AWS::DynamoDB::Table").values()))["Properties"]
    dynamodb = session.client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": stack.table,
        "KeySchema": table_props["KeySchema"],
        "AttributeDefinitions": table_props["AttributeDefinitions"],
        "BillingMode": table_props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if table_props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = [
            {k: v for k, v in index.items() if k in ("IndexName", "KeySchema", "Projection")}
            for index in table_props["GlobalSecondaryIndexes"]
        ]
    dynamodb.create_table(**kwargs)
    secrets = session.client("secretsmanager")
    for logical_id in _resources(template, "AWS::SecretsManager::Secret"):
        secrets.create_secret(Name=f"{stack.name}-{logical_id}", SecretString=secrets_token())
    events = session.client("events")
    if stack.bus != "default":
        events.create_event_bus(Name=stack.bus)
    s3 = session.client("s3")
    s3.create_bucket(Bucket=stack.bucket)
    bucket_props = next(iter(_resources(template, "AWS::S3::Bucket").values()))["Properties"]
    if bucket_props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=stack.bucket, VersioningConfiguration={"Status": "Enabled"})
    if bucket_props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration"):
        s3.put_bucket_notification_configuration(
            Bucket=stack.bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    return stack


def secrets_token() -> str:
    """What GenerateSecretString makes (64 letters and digits), for the local stack's secrets."""
    import secrets

    return secrets.token_hex(32)


def pattern_json(rule: RuleSpec) -> str:
    return json.dumps(rule.pattern)
