"""template.yaml: cfn-lint clean, the SAM transform succeeds, and the transformed stack keeps its contracts
(functions and their environment, IAM without wildcards, failure destinations, rule retries and DLQs)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    CONDITIONAL_CONTROLLER_FUNCTIONS,
    CONDITIONAL_FUNCTIONS,
    EFFECT_FUNCTIONS,
    FUNCTIONS,
    ROOT,
    TEMPLATE,
    FakeManagedPolicyLoader,
    resources_of,
    statements,
)

ALL_FUNCTIONS = {**FUNCTIONS, **CONDITIONAL_FUNCTIONS}
ASYNC_RETRIES = {
    "ArtifactFunction": 2,
    "HealthFunction": 2,
    "AlarmFunction": 2,
    "WatchdogFunction": 2,
    # Synchronous by design: an accidental async invoke is not retried behind the operator's back.
    "OverrideFunction": 0,
    "StatusFunction": 0,
    "RegisterFunction": 0,
}
EXPECTED_ENVIRONMENT = {
    "BLUEGREEN_TABLE": {"Ref": "StateTable"},
    "BLUEGREEN_BUS": {"Fn::GetAtt": ["Bus", "Name"]},
    "BLUEGREEN_BUCKET": {"Ref": "ArtifactBucket"},
    "BLUEGREEN_EFFECT_LEASE_SECONDS": "60",
    "BLUEGREEN_RECONCILE_EVERY_MINUTES": "5",
    "BLUEGREEN_MANAGED_APPLICATION_PATTERN": {"Ref": "ManagedApplicationPattern"},
    "BLUEGREEN_CALLBACK_SECRET_ARN": {"Ref": "CallbackSecret"},
    "BLUEGREEN_CHECK_FUNCTION": {"Fn::Sub": "${AWS::StackName}-CheckFunction"},
    "POWERTOOLS_SERVICE_NAME": "bluegreen",
    "POWERTOOLS_LOG_LEVEL": {"Ref": "LogLevel"},
}
SHARED_POLICIES = [
    {"Ref": "ControllerPolicy"},
    {"Ref": "BeanstalkDeploymentPolicy"},
    {"Ref": "DeploymentGuardrailsPolicy"},
]
EXPECTED_OUTPUTS = {
    "ArtifactFunctionName",
    "CheckFunctionName",
    "HealthFunctionName",
    "AlarmFunctionName",
    "AlarmFunctionArn",
    "OverrideFunctionName",
    "StatusFunctionName",
    "RegisterFunctionName",
    "StatusCallerPolicyArn",
    "OverrideCallerPolicyArn",
    "RegisterCallerPolicyArn",
    "OverrideUrlCallerPolicyArn",
    "ArtifactUploaderPolicyArn",
    "OverrideUrl",
    "WatchdogFunctionName",
    "BusName",
    "BusArn",
    "ArtifactBucketName",
    "StateTableName",
    "RuleDeadLetterQueueUrl",
    "FunctionFailureQueueUrl",
    # Observability (issue 13).
    "DashboardName",
    "DashboardUrl",
    "ChatTopicArn",
}
# Regions the stack is linted for (cfn-lint's default is us-east-1 alone).
LINT_REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1"]


# ---------------------------------------------------------------- helpers


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@cache
def iam_actions() -> dict[str, dict[str, Any]]:
    """IAM's actions per service prefix (lower case), from the data cfn-lint ships."""
    import cfnlint

    data = json.loads((Path(cfnlint.__file__).parent / "data" / "AdditionalSpecs" / "Policies.json").read_text())
    return {prefix: {k.lower(): v for k, v in service["Actions"].items()} for prefix, service in data.items()}


def action_info(action: str) -> dict[str, Any] | None:
    prefix, _, name = action.partition(":")
    return iam_actions().get(prefix, {}).get(name.lower())


def identity_policies(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, policy document) of every identity policy in the stack."""
    documents = []
    for name, role in resources_of(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            documents.append((f"{name}/{policy['PolicyName']}", policy["PolicyDocument"]))
    for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
        for name, resource in resources_of(template, kind).items():
            documents.append((name, resource["Properties"]["PolicyDocument"]))
    return documents


def role_statements(template: dict[str, Any], role_name: str) -> list[dict[str, Any]]:
    """Every statement that applies to the role: its inline policies and its in-stack managed policies."""
    role = template["Resources"][role_name]["Properties"]
    result = [s for p in role.get("Policies", []) for s in statements(p["PolicyDocument"])]
    for arn in role.get("ManagedPolicyArns", []):
        managed = template["Resources"][arn["Ref"]]["Properties"]["PolicyDocument"]
        result.extend(statements(managed))
    return result


def allowed_actions(template: dict[str, Any], role_name: str) -> set[str]:
    return {
        action
        for statement in role_statements(template, role_name)
        if statement["Effect"] == "Allow"
        for action in as_list(statement["Action"])
    }


def resources_for(template: dict[str, Any], role_name: str, action: str) -> list[Any]:
    return [
        resource
        for statement in role_statements(template, role_name)
        if statement["Effect"] == "Allow" and action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]


def role_of(template: dict[str, Any], function: str) -> str:
    role = template["Resources"][function]["Properties"]["Role"]
    assert role == {"Fn::GetAtt": [f"{function}Role", "Arn"]}, role
    return f"{function}Role"


# ---------------------------------------------------------------- lint and transform


def test_cfn_lint_is_clean() -> None:
    from cfnlint.api import ManualArgs, lint

    matches = lint(
        TEMPLATE.read_text(),
        config=ManualArgs(include_checks=["I"], include_experimental=True, regions=LINT_REGIONS),
    )
    assert not matches, "\n".join(str(m) for m in matches)


def test_the_sam_transform_needs_no_aws_managed_policy(
    transformed: dict[str, Any], policy_loader: FakeManagedPolicyLoader
) -> None:
    assert "Transform" not in transformed
    assert not [r for r in transformed["Resources"].values() if r["Type"].startswith("AWS::Serverless::")]
    assert policy_loader.calls == 0


def test_code_locations_exist(source: dict[str, Any]) -> None:
    for name, directory in ALL_FUNCTIONS.items():
        properties = source["Resources"][name]["Properties"]
        assert properties["CodeUri"].rstrip("/") == directory
        assert properties["Handler"] == "app.lambda_handler"
        assert (ROOT / directory / "app.py").is_file()
    layer = source["Resources"]["BluegreenLayer"]
    assert layer["Properties"]["ContentUri"].rstrip("/") == "shared"
    # shared/Makefile builds it (BuildMethod makefile) so that the layer ships compiled bytecode.
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert "build-BluegreenLayer:" in (ROOT / "shared" / "Makefile").read_text()
    assert set(layer["Properties"]["CompatibleRuntimes"]) >= {"python3.12", "python3.13"}
    assert (ROOT / "shared" / "requirements.txt").is_file()
    assert (ROOT / "shared" / "bluegreen" / "__init__.py").is_file()


def test_globals(source: dict[str, Any]) -> None:
    function = source["Globals"]["Function"]
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["arm64"]
    assert function["Timeout"] == 30
    assert function["MemorySize"] == 256
    assert function["Layers"] == [{"Ref": "BluegreenLayer"}]
    assert function["Environment"]["Variables"] == EXPECTED_ENVIRONMENT


# ---------------------------------------------------------------- functions


def test_the_five_functions_with_their_environment_and_the_layer(transformed: dict[str, Any]) -> None:
    functions = resources_of(transformed, "AWS::Lambda::Function")
    assert set(functions) == set(ALL_FUNCTIONS)
    assert {n for n, f in functions.items() if "Condition" not in f} == set(FUNCTIONS)
    (layer,) = [n for n in resources_of(transformed, "AWS::Lambda::LayerVersion") if n.startswith("BluegreenLayer")]
    for name, function in functions.items():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.12", name
        assert properties["Architectures"] == ["arm64"], name
        assert properties["MemorySize"] == 256, name
        assert properties["Handler"] == "app.lambda_handler", name
        assert properties["Layers"] == [{"Ref": layer}], name
        assert properties["Environment"]["Variables"] == EXPECTED_ENVIRONMENT, name
        assert properties["Code"]["S3Key"] == f"{ALL_FUNCTIONS[name]}.zip", name


def test_environment_variables_are_the_settings_the_code_reads(transformed: dict[str, Any]) -> None:
    from bluegreen.settings import PREFIX, Settings

    fields = set(Settings.model_fields)
    for name in EXPECTED_ENVIRONMENT:
        if name.startswith(PREFIX):
            assert name[len(PREFIX) :].lower() in fields, name
    lease = int(str(EXPECTED_ENVIRONMENT["BLUEGREEN_EFFECT_LEASE_SECONDS"]))
    for name, function in resources_of(transformed, "AWS::Lambda::Function").items():
        # A live invocation's pending effects must never be taken over by another one. CheckFunction
        # runs its HTTP check (at most 300 s) before it decides: its pending effects are claimed within
        # the last 30 s of its 330.
        timeout = function["Properties"]["Timeout"]
        assert (timeout - 300 if name == "CheckFunction" else timeout) < lease, name


def test_every_function_logs_to_its_own_group_with_a_retention(transformed: dict[str, Any]) -> None:
    for name in ALL_FUNCTIONS:
        group = f"{name}LogGroup"
        assert transformed["Resources"][name]["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": group}
        assert transformed["Resources"][group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert resources_for(transformed, role_of(transformed, name), "logs:PutLogEvents") == [
            {"Fn::GetAtt": [group, "Arn"]}
        ]


def test_every_async_function_has_a_failure_destination(transformed: dict[str, Any]) -> None:
    configs = resources_of(transformed, "AWS::Lambda::EventInvokeConfig")
    for name, retries in ASYNC_RETRIES.items():
        config = configs[f"{name}EventInvokeConfig"]["Properties"]
        assert config["FunctionName"] == {"Ref": name}
        assert config["MaximumRetryAttempts"] == retries
        destination = config["DestinationConfig"]["OnFailure"]["Destination"]
        assert destination == {"Fn::GetAtt": ["FunctionFailureQueue", "Arn"]}
        # Lambda writes to the destination with the function's own role.
        assert destination in resources_for(transformed, role_of(transformed, name), "sqs:SendMessage")


def test_alarms_may_invoke_the_alarm_function_directly(transformed: dict[str, Any]) -> None:
    permission = transformed["Resources"]["AlarmActionPermission"]["Properties"]
    assert permission["FunctionName"] == {"Fn::GetAtt": ["AlarmFunction", "Arn"]}
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["Principal"] == "lambda.alarms.cloudwatch.amazonaws.com"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}


# ---------------------------------------------------------------- rules


def test_every_rule_target_retries_and_has_a_dead_letter_queue(transformed: dict[str, Any]) -> None:
    rules = resources_of(transformed, "AWS::Events::Rule")
    assert set(rules) == {
        "ArtifactFunctionObjectCreated",
        "HealthFunctionEnvironment",
        "AlarmFunctionAlarmStateChange",
        "WatchdogFunctionTick",
        # On the stack's own bus (the chat notifications, behind EnableChatNotifications).
        "ChatFunctionNotification",
    }
    for name, rule in rules.items():
        targets = rule["Properties"]["Targets"]
        assert len(targets) == 1, name
        (target,) = targets
        assert set(target.get("RetryPolicy", {})) == {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"}, name
        assert target.get("DeadLetterConfig") == {"Arn": {"Fn::GetAtt": ["RuleDeadLetterQueue", "Arn"]}}, name
        if name == "ChatFunctionNotification":
            assert rule["Properties"]["EventBusName"] == {"Fn::GetAtt": ["Bus", "Name"]}
        else:
            assert "EventBusName" not in rule["Properties"], f"{name}: AWS events arrive on the default bus"
    assert rules["WatchdogFunctionTick"]["Properties"]["ScheduleExpression"] == "rate(1 minute)"


def test_only_this_stacks_rules_may_write_to_the_rule_dead_letter_queue(transformed: dict[str, Any]) -> None:
    rules = resources_of(transformed, "AWS::Events::Rule")
    policy = transformed["Resources"]["RuleDeadLetterQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "RuleDeadLetterQueue"}]
    (allow,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == {"Fn::GetAtt": ["RuleDeadLetterQueue", "Arn"]}
    sources = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    # A conditional rule's ARN is listed when its condition holds.
    sources = [s["Fn::If"][1] if "Fn::If" in s else s for s in sources]
    assert sorted(s["Fn::GetAtt"][0] for s in sources) == sorted(rules)
    assert all(s["Fn::GetAtt"][1] == "Arn" for s in sources)


# ---------------------------------------------------------------- IAM


def test_no_wildcard_actions_and_only_justified_wildcard_resources(transformed: dict[str, Any]) -> None:
    problems = []
    documents = identity_policies(transformed)
    assert documents
    for where, document in documents:
        for statement in statements(document):
            sid = f"{where}/{statement.get('Sid', '?')}"
            assert "NotAction" not in statement and "NotResource" not in statement, sid
            if statement["Effect"] != "Allow":
                continue
            actions = as_list(statement["Action"])
            for action in actions:
                if "*" in action or "?" in action:
                    problems.append(f"{sid}: wildcard action {action}")
                elif action_info(action) is None:
                    problems.append(f"{sid}: {action} is not an IAM action")
            if "*" in as_list(statement["Resource"]):
                # Allowed only where IAM cannot scope the action to a resource at all, where a
                # condition does the scoping (tags on launch, bound by ec2:CreateAction), and for
                # DescribeAlarms, which returns composite alarms only to callers allowed on "*".
                scopable = [a for a in actions if (action_info(a) or {}).get("Resources")]
                justified = (statement.get("Condition") and set(actions) == {"ec2:CreateTags"}) or set(actions) == {
                    "cloudwatch:DescribeAlarms"
                }
                if scopable and not justified:
                    problems.append(f'{sid}: Resource "*" for scopable actions {scopable}')
    assert not problems, "\n".join(problems)


def test_roles_use_only_the_stacks_own_policies(transformed: dict[str, Any]) -> None:
    roles = resources_of(transformed, "AWS::IAM::Role")
    assert set(roles) == {f"{name}Role" for name in ALL_FUNCTIONS}
    for name, role in roles.items():
        properties = role["Properties"]
        assert properties["AssumeRolePolicyDocument"]["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ], name
        function = name.removesuffix("Role")
        if function in FUNCTIONS or function in CONDITIONAL_CONTROLLER_FUNCTIONS:
            # The state table's resource policy recognises the functions by this path.
            assert properties["Path"] == {"Fn::Sub": "/bluegreen/${AWS::StackName}/"}, name
        # No AWS managed policy (AWSLambdaBasicExecutionRole & co. grant logs on Resource "*").
        if function in EFFECT_FUNCTIONS or function in CONDITIONAL_CONTROLLER_FUNCTIONS:
            assert properties["ManagedPolicyArns"] == SHARED_POLICIES, name
        else:
            # The read-only, register and chat functions hold no deployment rights at all.
            assert "ManagedPolicyArns" not in properties, name


def test_every_function_can_run_every_effect(transformed: dict[str, Any]) -> None:
    """Any invocation may take over another's pending effects (the outbox), so each role can run them all."""
    needed = {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:Query",
        "events:PutEvents",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "elasticbeanstalk:CreateApplicationVersion",
        "elasticbeanstalk:DescribeEnvironments",
        "elasticbeanstalk:UpdateEnvironment",
        "elasticbeanstalk:SwapEnvironmentCNAMEs",
        "cloudformation:UpdateStack",
        "autoscaling:SuspendProcesses",
        "autoscaling:ResumeProcesses",
    }
    for name in EFFECT_FUNCTIONS | CONDITIONAL_CONTROLLER_FUNCTIONS:
        role = role_of(transformed, name)
        missing = needed - allowed_actions(transformed, role)
        assert not missing, f"{role} lacks {sorted(missing)}"
    # Every function whose decisions may read alarms can (machine.observation_needs: the tick, health before
    # promotion, promote/approve/finish_bake, a passed check), and register (the alarms must exist).
    readers = EFFECT_FUNCTIONS | CONDITIONAL_CONTROLLER_FUNCTIONS | {"RegisterFunction"}
    for name in ALL_FUNCTIONS:
        can = "cloudwatch:DescribeAlarms" in allowed_actions(transformed, role_of(transformed, name))
        assert can == (name in readers), name


def test_resources_are_scoped_to_the_stack_and_the_managed_applications(transformed: dict[str, Any]) -> None:
    role = role_of(transformed, "ArtifactFunction")
    assert resources_for(transformed, role, "dynamodb:PutItem") == [{"Fn::GetAtt": ["StateTable", "Arn"]}]
    assert {"Fn::Sub": "${StateTable.Arn}/index/InFlight"} in resources_for(transformed, role, "dynamodb:Query")
    assert {"Fn::Sub": "${StateTable.Arn}/index/Apps"} in resources_for(transformed, role, "dynamodb:Query")
    assert resources_for(transformed, role, "events:PutEvents") == [{"Fn::GetAtt": ["Bus", "Arn"]}]
    assert {"Fn::Sub": "${ArtifactBucket.Arn}/*"} in resources_for(transformed, role, "s3:GetObject")
    for action in (
        "elasticbeanstalk:CreateApplicationVersion",
        "elasticbeanstalk:DescribeApplicationVersions",
        "elasticbeanstalk:DeleteApplicationVersion",
        "elasticbeanstalk:DescribeEnvironments",
        "elasticbeanstalk:UpdateEnvironment",
        "elasticbeanstalk:SwapEnvironmentCNAMEs",
    ):
        resources = resources_for(transformed, role, action)
        assert resources, action
        for resource in resources:
            arn = resource["Fn::Sub"]
            assert re.fullmatch(
                r"arn:\$\{AWS::Partition\}:elasticbeanstalk:\$\{AWS::Region\}:\$\{AWS::AccountId\}:"
                r"(application|applicationversion|environment)/\$\{ManagedApplicationPattern\}(/\*)?",
                arn,
            ), arn


def test_managed_policies_fit_iams_size_limit(transformed: dict[str, Any]) -> None:
    """IAM caps a managed policy at 6,144 characters (whitespace not counted); measured with long values."""
    values = {
        "AWS::Partition": "aws-us-gov",
        "AWS::Region": "ap-southeast-5",
        "AWS::AccountId": "123456789012",
        "ManagedApplicationPattern": "p" * 40,
        "BeanstalkPassRolePattern": "r" * 64,
    }

    def resolve(value: Any) -> Any:
        if isinstance(value, dict) and "Fn::Sub" in value:
            return re.sub(r"\$\{([^}]+)\}", lambda m: values.get(m[1], "x" * 120), value["Fn::Sub"])
        if isinstance(value, dict) and ("Fn::GetAtt" in value or "Ref" in value):
            return "x" * 120
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    for name, policy in resources_of(transformed, "AWS::IAM::ManagedPolicy").items():
        size = len(json.dumps(resolve(policy["Properties"]["PolicyDocument"]), separators=(",", ":")))
        assert size < 6144, f"{name}: {size} characters"


# ---------------------------------------------------------------- state, bus, bucket, outputs


def test_state_table(source: dict[str, Any]) -> None:
    table = source["Resources"]["StateTable"]
    properties = table["Properties"]
    assert table["DeletionPolicy"] == "Retain"
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]} == {
        "pk": "S",
        "sk": "S",
        "in_flight": "S",
        "registered": "S",
    }
    index, apps = properties["GlobalSecondaryIndexes"]
    # Sparse: only app STATE items carry `registered`; projected so listing apps needs no GetItem.
    assert apps == {
        "IndexName": "Apps",
        "KeySchema": [{"AttributeName": "registered", "KeyType": "HASH"}],
        "Projection": {
            "ProjectionType": "INCLUDE",
            "NonKeyAttributes": ["live_environment", "production_cname", "environments", "phase", "paused"],
        },
    }
    assert index == {
        "IndexName": "InFlight",
        "KeySchema": [
            {"AttributeName": "in_flight", "KeyType": "HASH"},
            {"AttributeName": "pk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    from bluegreen.store import IN_FLIGHT_INDEX

    assert index["IndexName"] == IN_FLIGHT_INDEX


def test_bus_and_artifact_bucket(source: dict[str, Any]) -> None:
    assert source["Resources"]["Bus"]["Properties"] == {"Name": {"Fn::Sub": "${AWS::StackName}-bus"}}
    bucket = source["Resources"]["ArtifactBucket"]
    properties = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert properties["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    (rule,) = properties["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": {"Ref": "ArtifactRetentionDays"}}
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1
    deny = source["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("queue", ["RuleDeadLetterQueue", "FunctionFailureQueue"])
def test_queues_are_encrypted_and_keep_messages_for_14_days(source: dict[str, Any], queue: str) -> None:
    properties = source["Resources"][queue]["Properties"]
    assert properties["SqsManagedSseEnabled"] is True
    assert properties["MessageRetentionPeriod"] == 1209600


def test_outputs(transformed: dict[str, Any]) -> None:
    assert set(transformed["Outputs"]) == EXPECTED_OUTPUTS
    outputs = transformed["Outputs"]
    assert outputs["BusName"]["Value"] == {"Fn::GetAtt": ["Bus", "Name"]}
    for name in FUNCTIONS:
        assert outputs[f"{name}Name"]["Value"] == {"Ref": name}
    # The CLI finds the override function and the bus by these two names.
    assert outputs["OverrideFunctionName"] and outputs["BusName"]
