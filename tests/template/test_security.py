"""template.yaml's trust model (issue 10): who may upload, what the controller may touch, who may
override, artifacts at rest, operations alarms, the state table's resource policy, the hash-locked layer.

The bucket policy is also evaluated (a small evaluator of its Deny statements, with IAM's ArnLike and
policy-variable semantics), so "an upload by a principal outside the allow-list is denied" is checked
as a decision, not only as the presence of a statement.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import CONDITIONAL_CONTROLLER_FUNCTIONS, EFFECT_FUNCTIONS, FUNCTIONS, ROOT, resources_of, statements

ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"
BUCKET = "bluegreen-artifactbucket-abc"


def by_sid(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements(document) if "Sid" in s}


def policy(template: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    return by_sid(template["Resources"][name]["Properties"]["PolicyDocument"])


def role_policy(template: dict[str, Any], function: str) -> dict[str, dict[str, Any]]:
    role = template["Resources"][f"{function}Role"]["Properties"]
    result: dict[str, dict[str, Any]] = {}
    for inline in role.get("Policies", []):
        result.update(by_sid(inline["PolicyDocument"]))
    for arn in role.get("ManagedPolicyArns", []):
        result.update(policy(template, arn["Ref"]))
    return result


def actions(statement: dict[str, Any]) -> set[str]:
    value = statement["Action"]
    return set(value if isinstance(value, list) else [value])


def allowed(template: dict[str, Any], function: str) -> set[str]:
    return {a for s in role_policy(template, function).values() if s["Effect"] == "Allow" for a in actions(s)}


# ---------------------------------------------------------------- a tiny resolver and evaluator


class Resolver:
    """Resolves the intrinsics the bucket policy uses, for given parameter values and conditions."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, Any], conditions: dict[str, bool]) -> None:
        self.template = template
        self.parameters = parameters
        self.conditions = conditions

    def ref(self, name: str) -> Any:
        pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name == "ArtifactBucket":
            return BUCKET
        return name

    def getatt(self, logical: str, attribute: str) -> str:
        if logical == "ArtifactBucket" and attribute == "Arn":
            return f"arn:aws:s3:::{BUCKET}"
        if logical.endswith("Role") and attribute == "Arn":
            return f"arn:aws:iam::{ACCOUNT}:role/bluegreen/bluegreen/{logical}-X1"
        raise AssertionError(f"unexpected GetAtt {logical}.{attribute}")

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            resolved = [self(v) for v in value]
            return [v for v in resolved if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            return NO_VALUE if value["Ref"] == "AWS::NoValue" else self.ref(value["Ref"])
        if "Fn::GetAtt" in value:
            return self.getatt(*value["Fn::GetAtt"])
        if "Fn::If" in value:
            name, yes, no = value["Fn::If"]
            return self(yes if self.conditions[name] else no)
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            parts = self(parts)
            return separator.join(str(p) for p in parts)
        if "Fn::Split" in value:
            separator, text = value["Fn::Split"]
            return str(self(text)).split(separator)
        if "Fn::Sub" in value:
            text = value["Fn::Sub"]

            def substitute(match: re.Match[str]) -> str:
                name = match[1]
                if name.startswith("!"):
                    return "${" + name[1:] + "}"
                if "." in name:
                    return self.getatt(*name.split(".", 1))
                return str(self.ref(name))

            return re.sub(r"\$\{([^}]+)\}", substitute, text)
        return {k: self(v) for k, v in value.items()}


NO_VALUE = object()


def arn_like(pattern: str, value: str) -> bool:
    from bluegreen.access import matches_pattern

    return matches_pattern(pattern, value)


def variables(text: str, context: dict[str, str]) -> str | None:
    """Substitute policy variables; None when one has no value (the element then matches nothing)."""
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        if match[1] not in context:
            missing = True
            return ""
        return context[match[1]]

    result = re.sub(r"\$\{([^}]+)\}", substitute, text)
    return None if missing else result


def condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            values = expected if isinstance(expected, list) else [expected]
            actual = context.get(key)
            if operator == "ArnNotLike":
                if actual is not None and any(arn_like(v, actual) for v in values):
                    return False
            elif operator == "ArnNotEquals":
                if actual is not None and actual in values:
                    return False
            elif operator == "Null":
                if (actual is None) != (str(values[0]).lower() == "true"):
                    return False
            elif operator == "Bool":
                if actual is None or actual.lower() != str(values[0]).lower():
                    return False
            else:
                raise AssertionError(f"evaluator does not know {operator}")
    return True


def denied(document: list[dict[str, Any]], action: str, resource: str, context: dict[str, str]) -> list[str]:
    """The Sids of the Deny statements that match (an explicit deny wins over any allow)."""
    hits = []
    for statement in document:
        if statement["Effect"] != "Deny" or statement.get("Principal") != "*":
            continue
        statement_actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if not any(arn_like(a, action) for a in statement_actions):
            continue
        if "Resource" in statement:
            patterns = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if not any(p is not None and arn_like(p, resource) for p in (variables(x, context) for x in patterns)):
                continue
        else:
            patterns = (
                statement["NotResource"] if isinstance(statement["NotResource"], list) else [statement["NotResource"]]
            )
            resolved = [variables(x, context) for x in patterns]
            if any(p is not None and arn_like(p, resource) for p in resolved):
                continue
        if condition_holds(statement.get("Condition", {}), context):
            hits.append(statement["Sid"])
    return hits


@pytest.fixture(scope="module")
def bucket_policy(source: dict[str, Any]) -> list[dict[str, Any]]:
    resolve = Resolver(
        source,
        {"UploaderPrincipalArns": [f"arn:aws:iam::{ACCOUNT}:role/ci-*", f"arn:aws:iam::{ACCOUNT}:role/release"]},
        {"OverrideUrlEnabled": True},
    )
    document = source["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]
    return [resolve(s) for s in document["Statement"]]


def put(
    bucket_policy: list[dict[str, Any]],
    principal: str,
    key: str,
    *,
    tag: str | None = None,
    action: str = "s3:PutObject",
) -> list[str]:
    context = {"aws:PrincipalArn": principal, "aws:SecureTransport": "true"}
    if tag is not None:
        context["aws:PrincipalTag/bluegreen-app"] = tag
    return denied(bucket_policy, action, f"arn:aws:s3:::{BUCKET}/{key}", context)


# ---------------------------------------------------------------- 1. who may upload


def test_uploads_need_an_allow_listed_principal_and_the_parameter_has_no_default(source: dict[str, Any]) -> None:
    parameter = source["Parameters"]["UploaderPrincipalArns"]
    assert parameter["Type"] == "CommaDelimitedList"
    assert "Default" not in parameter, "deploying must say who may upload"
    deny = by_sid(source["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"])["DenyUploadsByOthers"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:PutObject"
    assert "UploaderPrincipalArns" in str(deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"])


def test_an_upload_by_a_principal_outside_the_allow_list_is_denied(bucket_policy: list[dict[str, Any]]) -> None:
    intruder = f"arn:aws:iam::{ACCOUNT}:role/AdministratorAccess-dev"
    assert "DenyUploadsByOthers" in put(bucket_policy, intruder, "mybot/build.zip")
    assert "DenyUploadsByOthers" in put(bucket_policy, "arn:aws:iam::999999999999:role/ci-bot", "mybot/build.zip")
    assert put(bucket_policy, f"arn:aws:iam::{ACCOUNT}:role/ci-bot", "mybot/build.zip") == []
    assert put(bucket_policy, f"arn:aws:iam::{ACCOUNT}:role/release", "otherbot/build.zip") == []


def test_a_tagged_uploader_may_upload_its_own_app_only(bucket_policy: list[dict[str, Any]]) -> None:
    ci = f"arn:aws:iam::{ACCOUNT}:role/ci-bot-a"
    assert put(bucket_policy, ci, "botA/build.zip", tag="botA") == []
    assert put(bucket_policy, ci, "botA/build.zip.sha256", tag="botA") == []
    assert "DenyUploadsOutsideTheUploadersApp" in put(bucket_policy, ci, "botB/build.zip", tag="botA")
    assert "DenyUploadsOutsideTheUploadersApp" in put(bucket_policy, ci, "botAB/build.zip", tag="botA")


def test_pinned_copies_are_written_by_the_controller_only_and_never_deleted(
    bucket_policy: list[dict[str, Any]],
) -> None:
    pinned = "_bluegreen/versions/mybot/build-1-abc.zip"
    ci = f"arn:aws:iam::{ACCOUNT}:role/ci-bot"
    assert "PinnedVersionsOnlyByTheController" in put(bucket_policy, ci, pinned)
    assert "PinnedVersionsOnlyByTheController" in put(bucket_policy, ci, pinned, action="s3:DeleteObject")
    for function in EFFECT_FUNCTIONS | CONDITIONAL_CONTROLLER_FUNCTIONS:
        controller = f"arn:aws:iam::{ACCOUNT}:role/bluegreen/bluegreen/{function}Role-X1"
        assert put(bucket_policy, controller, pinned) == [], function
        assert "PinnedVersionsAreNeverDeleted" in put(
            bucket_policy, controller, pinned, action="s3:DeleteObjectVersion"
        )
    for function in ("StatusFunction", "RegisterFunction"):
        other = f"arn:aws:iam::{ACCOUNT}:role/bluegreen/bluegreen/{function}Role-X1"
        assert "PinnedVersionsOnlyByTheController" in put(bucket_policy, other, pinned), function


def test_the_uploader_policy_confines_a_ci_role_to_its_tagged_app(source: dict[str, Any]) -> None:
    (statement,) = policy(source, "ArtifactUploaderPolicy").values()
    assert statement["Effect"] == "Allow" and statement["Action"] == "s3:PutObject"
    assert statement["Resource"] == {"Fn::Sub": "${ArtifactBucket.Arn}/${!aws:PrincipalTag/bluegreen-app}/*"}


def test_signature_verification_rights_are_verify_only_on_the_listed_keys(source: dict[str, Any]) -> None:
    assert source["Parameters"]["ArtifactSigningKeyArns"]["Default"] == ""
    (conditional,) = [
        s
        for s in source["Resources"]["ControllerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if "Fn::If" in s and s["Fn::If"][0] == "HasSigningKeys"
    ]
    name, statement, otherwise = conditional["Fn::If"]
    assert name == "HasSigningKeys" and otherwise == {"Ref": "AWS::NoValue"}
    assert statement["Action"] == "kms:Verify"
    assert statement["Resource"] == {"Ref": "ArtifactSigningKeyArns"}
    assert statement["Condition"] == {"StringEquals": {"kms:MessageType": "DIGEST"}}
    for name in resources_of(source, "AWS::IAM::Role"):
        kms = {a for s in role_policy(source, name.removesuffix("Role")).values() for a in actions(s) if "kms:" in a}
        assert kms <= {"kms:Verify"}, name


# ---------------------------------------------------------------- 2. what bluegreen may touch


def test_the_managed_pattern_has_no_match_everything_default(source: dict[str, Any]) -> None:
    parameter = source["Parameters"]["ManagedApplicationPattern"]
    assert "Default" not in parameter
    allowed_pattern = re.compile(parameter["AllowedPattern"])
    for bad in ("*", "**", "?*", "*-prod", "", "a/b"):
        assert not allowed_pattern.fullmatch(bad), bad
    for good in ("bot-*", "mybot", "team-a-*-prod"):
        assert allowed_pattern.fullmatch(good), good


def test_deploy_and_swap_need_the_opt_in_tag_and_a_version(source: dict[str, Any]) -> None:
    controller = policy(source, "ControllerPolicy")
    deploy = controller["DeployVersionsToOptedInEnvironments"]
    assert actions(deploy) == {"elasticbeanstalk:UpdateEnvironment"}
    assert deploy["Condition"]["StringEquals"] == {"aws:ResourceTag/bluegreen:managed": "true"}
    version = deploy["Condition"]["ArnLike"]["elasticbeanstalk:FromApplicationVersion"]["Fn::Sub"]
    assert version.endswith(":applicationversion/${ManagedApplicationPattern}/*")
    swap = controller["SwapOptedInEnvironments"]
    assert actions(swap) == {"elasticbeanstalk:SwapEnvironmentCNAMEs"}
    assert swap["Condition"] == {"StringEquals": {"aws:ResourceTag/bluegreen:managed": "true"}}
    # Standby capacity (a configuration-only update): only if the stack enables it, and only with the tag.
    statements = source["Resources"]["ControllerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (standby,) = [s for s in statements if "Fn::If" in s and s["Fn::If"][0] == "StandbyCapacityEnabled"]
    _, capacity, otherwise = standby["Fn::If"]
    assert otherwise == {"Ref": "AWS::NoValue"} and source["Parameters"]["EnableStandbyCapacity"]["Default"] == "false"
    assert actions(capacity) == {"elasticbeanstalk:UpdateEnvironment"}
    assert capacity["Condition"] == {"StringEquals": {"aws:ResourceTag/bluegreen:managed": "true"}}
    # No other statement allows either action without the tag.
    for sid, statement in controller.items():
        if statement["Effect"] == "Allow" and sid not in (
            "DeployVersionsToOptedInEnvironments",
            "SwapOptedInEnvironments",
            "StandbyCapacityOfOptedInEnvironments",
        ):
            assert not actions(statement) & {
                "elasticbeanstalk:UpdateEnvironment",
                "elasticbeanstalk:SwapEnvironmentCNAMEs",
            }


@pytest.mark.parametrize(
    "key",
    [
        "elasticbeanstalk:FromPlatform",
        "elasticbeanstalk:FromSolutionStack",
        "elasticbeanstalk:FromConfigurationTemplate",
    ],
)
def test_update_environment_may_change_the_version_only(source: dict[str, Any], key: str) -> None:
    denies = [
        s
        for s in policy(source, "DeploymentGuardrailsPolicy").values()
        if s["Effect"] == "Deny" and actions(s) == {"elasticbeanstalk:UpdateEnvironment"}
    ]
    assert any(s["Condition"] == {"Null": {key: "false"}} and s["Resource"] == "*" for s in denies), key
    for function in EFFECT_FUNCTIONS:
        roles = source["Resources"][f"{function}Role"]["Properties"]["ManagedPolicyArns"]
        assert {"Ref": "DeploymentGuardrailsPolicy"} in roles, function


def test_the_deployment_policy_touches_only_elastic_beanstalks_own_resources(source: dict[str, Any]) -> None:
    text = str(source["Resources"]["BeanstalkDeploymentPolicy"])
    assert ":stack/eb-*" not in text and "Name/eb-*" not in text and ":eb-*" not in text, "eb-* is not an EB prefix"
    deployment = policy(source, "BeanstalkDeploymentPolicy")
    assert deployment["EnvironmentStacks"]["Resource"]["Fn::Sub"].endswith(":stack/awseb-e-*")
    granted = {a for s in deployment.values() if s["Effect"] == "Allow" for a in actions(s)}
    assert not granted & {"s3:PutBucketPolicy", "s3:CreateBucket", "s3:DeleteBucketPolicy", "s3:PutBucketAcl"}
    launch_templates = deployment["EnvironmentLaunchTemplates"]
    assert actions(launch_templates) == {
        "ec2:CreateLaunchTemplateVersion",
        "ec2:DeleteLaunchTemplate",
        "ec2:DeleteLaunchTemplateVersions",
    }
    assert "stack/awseb-e-*" in str(launch_templates["Condition"]["StringLike"])
    guardrails = policy(source, "DeploymentGuardrailsPolicy")
    images = guardrails["DenyImagesOfOtherOwners"]
    assert actions(images) == {"ec2:RunInstances"} and images["Resource"]["Fn::Sub"].endswith("::image/*")
    assert images["Condition"] == {"StringNotEquals": {"ec2:Owner": {"Ref": "BeanstalkImageOwners"}}}
    assert source["Parameters"]["BeanstalkImageOwners"]["Default"] == "amazon"
    foreign = guardrails["DenyForeignLaunchTemplates"]
    assert "stack/awseb-e-*" in str(foreign["Condition"]["StringNotLike"])
    bucket_rules = guardrails["DenyBucketAccessRuleChanges"]
    assert {"s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:CreateBucket"} <= actions(bucket_rules)


def test_read_only_and_register_functions_hold_no_deployment_rights(source: dict[str, Any]) -> None:
    deploying = {
        "elasticbeanstalk:UpdateEnvironment",
        "elasticbeanstalk:SwapEnvironmentCNAMEs",
        "elasticbeanstalk:CreateApplicationVersion",
        "cloudformation:UpdateStack",
        "ec2:RunInstances",
        "iam:PassRole",
        "s3:PutObject",
    }
    status = allowed(source, "StatusFunction")
    assert status == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "elasticbeanstalk:DescribeEnvironments",  # status shows both colors as EB reports them
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
    }
    register = allowed(source, "RegisterFunction")
    assert not register & deploying
    assert {
        "elasticbeanstalk:ListTagsForResource",
        "elasticbeanstalk:DescribeEnvironments",
        "dynamodb:PutItem",
    } <= register


def test_watchdog_reads_composite_alarms_and_the_regions_environments(source: dict[str, Any]) -> None:
    watchdog = role_policy(source, "WatchdogFunction")
    assert watchdog["ObserveAlarms"]["Resource"] == "*"
    assert watchdog["ObserveEnvironmentsOfTheRegion"]["Resource"]["Fn::Sub"].endswith(":environment/*")
    controller = policy(source, "ControllerPolicy")
    assert "elasticbeanstalk:DeleteApplicationVersion" in actions(controller["ApplicationVersions"])
    assert actions(controller["PinArtifactVersions"]) == {"s3:PutObject", "s3:DeleteObject"}
    assert controller["PinArtifactVersions"]["Resource"] == {"Fn::Sub": "${ArtifactBucket.Arn}/_bluegreen/versions/*"}


# ---------------------------------------------------------------- 3. who may override


def test_only_url_invocations_reach_the_url_function(source: dict[str, Any], transformed: dict[str, Any]) -> None:
    caller = policy(source, "OverrideUrlCallerPolicy")
    url = caller["InvokeTheUrl"]
    assert url["Action"] == "lambda:InvokeFunctionUrl"
    assert url["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}
    invoke = caller["InvokeTheFunctionThroughTheUrlOnly"]
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert invoke["Condition"] == {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}
    deny = caller["DenyDirectInvokes"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "lambda:InvokeFunction"
    assert deny["Condition"] == {"BoolIfExists": {"lambda:InvokedViaFunctionUrl": "false"}}
    # No resource-based permission lets anyone invoke the URL function in another way.
    for permission in resources_of(transformed, "AWS::Lambda::Permission").values():
        target = str(permission["Properties"]["FunctionName"])
        assert "OverrideUrlFunction" not in target or permission["Properties"].get("InvokedViaFunctionUrl") is True
    assert source["Resources"]["OverrideUrlFunction"]["Properties"]["FunctionUrlConfig"] == {"AuthType": "AWS_IAM"}


def test_read_only_mutating_and_register_are_granted_separately(source: dict[str, Any]) -> None:
    targets = {
        "StatusCallerPolicy": "StatusFunction",
        "OverrideCallerPolicy": "OverrideFunction",
        "RegisterCallerPolicy": "RegisterFunction",
    }
    for name, function in targets.items():
        invokes = [s for s in policy(source, name).values() if "lambda:InvokeFunction" in actions(s)]
        assert [s["Resource"] for s in invokes] == [{"Fn::GetAtt": [function, "Arn"]}], name
    watch = policy(source, "StatusCallerPolicy")
    assert watch["WatchQueue"]["Resource"]["Fn::Sub"].endswith(":bluegreen-watch-*")
    assert watch["WatchRule"]["Resource"]["Fn::Sub"].endswith(":rule/${Bus.Name}/bluegreen-watch-*")
    outputs = source["Outputs"]
    assert outputs["StatusFunctionName"]["Value"] == {"Ref": "StatusFunction"}
    assert outputs["RegisterFunctionName"]["Value"] == {"Ref": "RegisterFunction"}
    assert outputs["OverrideFunctionName"]["Value"] == {"Ref": "OverrideFunction"}


def test_each_entry_point_serves_its_own_actions() -> None:
    from bluegreen import access

    assert {"status", "apps"} == access.STATUS_ACTIONS
    assert "register" not in access.OVERRIDE_ACTIONS and "register" not in access.URL_ACTIONS
    assert {"register", "status", "apps"} == access.REGISTER_FUNCTION_ACTIONS
    assert access.MUTATING_ACTIONS <= access.OVERRIDE_ACTIONS
    assert not access.MUTATING_ACTIONS & access.REGISTER_FUNCTION_ACTIONS
    for directory, constant in (("status", "STATUS_ACTIONS"), ("register", "REGISTER_FUNCTION_ACTIONS")):
        assert f"check_action(request.action, {constant}" in (ROOT / "functions" / directory / "app.py").read_text()


# ---------------------------------------------------------------- 4. artifacts at rest, audit


def test_access_logging_and_data_events_are_parameters(source: dict[str, Any]) -> None:
    bucket = source["Resources"]["ArtifactBucket"]["Properties"]
    condition, logging, otherwise = bucket["LoggingConfiguration"]["Fn::If"]
    assert condition == "HasAccessLogBucket" and otherwise == {"Ref": "AWS::NoValue"}
    assert logging["DestinationBucketName"] == {"Ref": "ArtifactAccessLogBucket"}
    store = source["Resources"]["AuditEventDataStore"]
    assert store["Condition"] == "ArtifactDataEventsEnabled"
    selectors = {s["Name"]: s["FieldSelectors"] for s in store["Properties"]["AdvancedEventSelectors"]}
    assert len(selectors) == 2
    text = str(selectors)
    assert "AWS::S3::Object" in text and "AWS::Lambda::Function" in text
    assert "'Data'" in text and "OverrideFunction" in text


# ---------------------------------------------------------------- 5. operations alarms


@pytest.mark.parametrize("queue", ["RuleDeadLetterQueue", "FunctionFailureQueue"])
def test_every_dead_letter_queue_has_an_alarm(source: dict[str, Any], queue: str) -> None:
    alarm = source["Resources"][f"{queue}Alarm"]["Properties"]
    assert alarm["Namespace"] == "AWS/SQS" and alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_function_errors_and_throttles_have_alarms_over_every_function(source: dict[str, Any], metric: str) -> None:
    alarm = source["Resources"][f"Function{metric}Alarm"]["Properties"]
    watched = {
        m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
        for m in alarm["Metrics"]
        if "MetricStat" in m and m["MetricStat"]["Metric"]["MetricName"] == metric
    }
    assert watched == set(FUNCTIONS)
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_a_stopped_watchdog_alarms_and_rollback_never_starves(source: dict[str, Any]) -> None:
    stopped = source["Resources"]["WatchdogStoppedAlarm"]["Properties"]
    assert stopped["MetricName"] == "Invocations" and stopped["TreatMissingData"] == "breaching"
    resources = source["Resources"]
    assert resources["AlarmFunction"]["Properties"]["ReservedConcurrentExecutions"] == {
        "Ref": "AlarmFunctionReservedConcurrency"
    }
    assert resources["WatchdogFunction"]["Properties"]["ReservedConcurrentExecutions"] == {
        "Ref": "WatchdogFunctionReservedConcurrency"
    }


# ---------------------------------------------------------------- 6. smaller items


def test_the_state_table_accepts_writes_only_from_the_functions(source: dict[str, Any]) -> None:
    document = source["Resources"]["StateTable"]["Properties"]["ResourcePolicy"]["PolicyDocument"]
    (deny,) = statements(document)
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"} <= actions(
        deny
    )
    assert {"dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"} <= actions(deny)
    path = deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]["Fn::Sub"]
    assert path.endswith(":role/bluegreen/${AWS::StackName}/*")
    for name, role in resources_of(source, "AWS::IAM::Role").items():
        if name.removesuffix("Role") in FUNCTIONS or name.removesuffix("Role") in CONDITIONAL_CONTROLLER_FUNCTIONS:
            assert role["Properties"]["Path"] == {"Fn::Sub": "/bluegreen/${AWS::StackName}/"}, name


def test_the_layer_is_built_from_hash_locked_requirements() -> None:
    shared = ROOT / "shared"
    pins = {}
    for line in (shared / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.strip()
    locked: dict[str, tuple[str, int]] = {}
    current = None
    for line in (shared / "requirements.lock").read_text().splitlines():
        requirement = re.match(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)", line)
        if requirement:
            current = requirement[1].lower()
            locked[current] = (requirement[2], 0)
        elif "--hash=sha256:" in line and current:
            version, hashes = locked[current]
            locked[current] = (version, hashes + 1)
    assert locked, "requirements.lock is empty"
    for name, version in pins.items():
        assert locked.get(name, ("", 0))[0] == version, f"{name}=={version} is not locked at that version"
    # Transitive dependencies are locked too (pydantic's core, powertools' jmespath).
    assert {"pydantic-core", "annotated-types", "typing-extensions", "jmespath"} <= set(locked)
    assert all(hashes >= 1 for _, hashes in locked.values()), locked
    makefile = (shared / "Makefile").read_text()
    build = makefile.split("build-BluegreenLayer:", 1)[1].split("\n\n", 1)[0]
    assert "--require-hashes" in build and "-r requirements.lock" in build and "--no-deps" in build


def test_every_accepted_checkov_finding_has_its_reason() -> None:
    import json

    baseline = json.loads((ROOT / ".checkov.baseline").read_text())
    accepted = {c for f in baseline["failed_checks"] for finding in f["findings"] for c in finding["check_ids"]}
    assert accepted, "an empty baseline: remove the file instead"
    reasons = baseline["reasons"]
    assert accepted <= set(reasons), f"no reason for {sorted(accepted - set(reasons))}"
    assert all(len(reason) > 40 for reason in reasons.values())
    makefile = (ROOT / "Makefile").read_text()
    assert "--baseline .checkov.baseline" in makefile
    assert re.search(r"^test: .*\bcheckov\b", makefile, re.M), "make test runs checkov"
