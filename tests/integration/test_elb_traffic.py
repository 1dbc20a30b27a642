"""Traffic mode `alb`: the ELBv2 adapter (bluegreen.aws.elb) on moto in-process with our ELBv2 corrections
(bluegreen_local.moto_elbv2), plus botocore's Stubber for answers moto does not give (AWS's combined
forward shape, a write not visible yet, throttling)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from bluegreen.aws import elb
from bluegreen.errors import BadInput, Transient
from bluegreen_local import moto_beanstalk, moto_elbv2
from bluegreen_local.alb import create_alb_bot
from bluegreen_local.bots import create_bot
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

REGION = "us-east-1"
APP, BLUE, GREEN = "mybot", "mybot-blue", "mybot-green"
FAKE_RULE = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
FAKE_BLUE = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/mybot-blue/73e2d6bc24d8a067"
FAKE_GREEN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/mybot-green/09a4e5c2a1b5f6d7"


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",  # the ALB's VPC needs no AMIs (and loading them takes seconds)
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def aws(credentials: None) -> Iterator[Any]:
    moto_beanstalk.install()  # create_bot's EB calls (as tests/integration/conftest.py does)
    with mock_aws():
        moto_elbv2.install()
        try:
            yield boto3.session.Session(region_name=REGION)
        finally:
            moto_elbv2.uninstall()


@pytest.fixture
def bot(aws: Any) -> dict[str, Any]:
    return create_alb_bot(aws, APP)


@pytest.fixture
def elbv2(aws: Any) -> Any:
    return aws.client("elbv2")


class Counting:
    """A client that counts the calls made through it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return call


def tg(bot: dict[str, Any], color: str) -> str:
    return str(bot["target_groups"][f"{APP}-{color}"])


def rule(elbv2: Any, arn: str) -> dict[str, Any]:
    return dict(elbv2.describe_rules(RuleArns=[arn])["Rules"][0])


def default_rule(elbv2: Any, listener_arn: str) -> str:
    return next(r["RuleArn"] for r in elbv2.describe_rules(ListenerArn=listener_arn)["Rules"] if r["IsDefault"])


def stubbed() -> tuple[Any, Stubber]:
    """A client with no retries of its own (the stub answers each call once) and its Stubber."""
    client = boto3.client(
        "elbv2",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    return client, Stubber(client)


def described(actions: list[dict[str, Any]], *, is_default: bool = False) -> dict[str, Any]:
    return {
        "Rules": [
            {"RuleArn": FAKE_RULE, "Priority": "10", "Conditions": [], "Actions": actions, "IsDefault": is_default}
        ]
    }


# ---------------------------------------------------------------------------------------------- reading
def test_create_alb_bot_forwards_everything_to_blue(aws: Any, elbv2: Any) -> None:
    create_bot(aws, APP)  # the EB colors, which the target groups are named after
    bot = create_alb_bot(aws, APP)
    assert set(bot["target_groups"]) == {BLUE, GREEN}
    environments = aws.client("elasticbeanstalk").describe_environments(ApplicationName=APP)["Environments"]
    assert {e["EnvironmentName"] for e in environments} == set(bot["target_groups"])
    assert elb.read_weights(elbv2, bot["rule_arn"]) == {tg(bot, "blue"): 100, tg(bot, "green"): 0}
    assert rule(elbv2, bot["rule_arn"])["Conditions"][0]["Field"] == "host-header"
    elb.validate_alb(elbv2, bot["rule_arn"], bot["target_groups"])


def test_a_second_bot_shares_the_load_balancer(bot: dict[str, Any], aws: Any, elbv2: Any) -> None:
    other = create_alb_bot(aws, "otherbot")
    assert other["listener_arn"] == bot["listener_arn"]
    assert other["rule_arn"] != bot["rule_arn"]
    elb.validate_alb(elbv2, other["rule_arn"], other["target_groups"])


def test_read_weights_of_a_plain_target_group_arn_forward(bot: dict[str, Any], elbv2: Any) -> None:
    arn = elbv2.create_rule(
        ListenerArn=bot["listener_arn"],
        Priority=99,
        Conditions=[{"Field": "path-pattern", "Values": ["/plain/*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": tg(bot, "green")}],
    )["Rules"][0]["RuleArn"]
    assert "ForwardConfig" not in rule(elbv2, arn)["Actions"][0]  # moto's shape: TargetGroupArn only
    assert elb.read_weights(elbv2, arn) == {tg(bot, "green"): 100}


def test_read_weights_of_awss_combined_shape_and_nothing_to_do() -> None:
    """AWS describes a single-target-group forward with both TargetGroupArn and a ForwardConfig of weight 1:
    it is all the traffic, so a target of 100 there is already met (no ModifyRule)."""
    client, stub = stubbed()
    action = {
        "Type": "forward",
        "Order": 1,
        "TargetGroupArn": FAKE_BLUE,
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": FAKE_BLUE, "Weight": 1}],
            "TargetGroupStickinessConfig": {"Enabled": False},
        },
    }
    stub.add_response("describe_rules", described([action]), {"RuleArns": [FAKE_RULE]})
    stub.add_response("describe_rules", described([action]), {"RuleArns": [FAKE_RULE]})
    with stub:
        assert elb.read_weights(client, FAKE_RULE) == {FAKE_BLUE: 100}
        assert elb.ensure_weights(client, FAKE_RULE, {FAKE_BLUE: 100}) is False
    stub.assert_no_pending_responses()


def test_a_weight_left_out_reads_as_awss_default_of_one() -> None:
    client, stub = stubbed()
    action = {
        "Type": "forward",
        "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": FAKE_BLUE}, {"TargetGroupArn": FAKE_GREEN, "Weight": 3}]},
    }
    stub.add_response("describe_rules", described([action]), {"RuleArns": [FAKE_RULE]})
    with stub:
        assert elb.read_weights(client, FAKE_RULE) == {FAKE_BLUE: 1, FAKE_GREEN: 3}


def test_read_weights_of_a_missing_rule_names_it(bot: dict[str, Any], elbv2: Any) -> None:
    missing = bot["rule_arn"][:-4] + "beef"
    with pytest.raises(BadInput, match=f"listener rule {missing} does not exist") as caught:
        elb.read_weights(elbv2, missing)
    assert caught.value.details["aws_code"] == "RuleNotFound"


def test_read_weights_of_a_rule_that_does_not_forward(bot: dict[str, Any], elbv2: Any) -> None:
    arn = elbv2.create_rule(
        ListenerArn=bot["listener_arn"],
        Priority=98,
        Conditions=[{"Field": "path-pattern", "Values": ["/gone/*"]}],
        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "410"}}],
    )["Rules"][0]["RuleArn"]
    with pytest.raises(BadInput, match=rf"listener rule {arn} does not forward.*fixed-response"):
        elb.read_weights(elbv2, arn)


def test_read_weights_of_not_an_arn() -> None:
    with pytest.raises(BadInput, match="neither a listener rule ARN"):
        elb.read_weights(object(), "mybot-production")


def test_percent_to() -> None:
    assert elb.percent_to({"a": 90, "b": 10}, "b") == 10
    assert elb.percent_to({"a": 1, "b": 1}, "a") == 50
    assert elb.percent_to({"a": 0, "b": 7}, "b") == 100
    assert elb.percent_to({"a": 0, "b": 7}, "a") == 0
    assert elb.percent_to({"a": 999, "b": 1}, "b") == 1  # some traffic is never 0
    assert elb.percent_to({"a": 999, "b": 1}, "a") == 99  # and not all of it is never 100
    assert elb.percent_to({"a": 1}, "missing") == 0
    assert elb.percent_to({}, "a") == 0
    assert elb.percent_to({"a": 0, "b": 0}, "a") == 0


# ---------------------------------------------------------------------------------------------- steps
def test_weighted_steps_10_50_100(bot: dict[str, Any], elbv2: Any) -> None:
    blue, green = tg(bot, "blue"), tg(bot, "green")
    for percent in (10, 50, 100):
        weights = {blue: 100 - percent, green: percent}
        assert elb.ensure_weights(elbv2, bot["rule_arn"], weights) is True
        observed = elb.read_weights(elbv2, bot["rule_arn"])
        assert observed == weights
        assert elb.percent_to(observed, green) == percent
        assert elb.percent_to(observed, blue) == 100 - percent
    # a rollback is just another target
    assert elb.ensure_weights(elbv2, bot["rule_arn"], {blue: 100, green: 0}) is True
    assert elb.percent_to(elb.read_weights(elbv2, bot["rule_arn"]), blue) == 100


def test_a_retried_step_does_not_modify_the_rule_again(bot: dict[str, Any], elbv2: Any) -> None:
    counting = Counting(elbv2)
    weights = {tg(bot, "blue"): 50, tg(bot, "green"): 50}
    assert elb.ensure_weights(counting, bot["rule_arn"], weights) is True
    assert counting.calls == {"describe_rules": 2, "modify_rule": 1}  # observe, act, verify
    assert elb.ensure_weights(counting, bot["rule_arn"], weights) is False
    assert elb.ensure_weights(counting, bot["rule_arn"], dict(reversed(weights.items()))) is False  # order is no change
    assert counting.calls == {"describe_rules": 4, "modify_rule": 1}


def test_stickiness_and_conditions_are_kept(bot: dict[str, Any], elbv2: Any) -> None:
    blue, green = tg(bot, "blue"), tg(bot, "green")
    sticky = {"Enabled": True, "DurationSeconds": 3600}
    elbv2.modify_rule(
        RuleArn=bot["rule_arn"],
        Actions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": blue, "Weight": 100}, {"TargetGroupArn": green, "Weight": 0}],
                    "TargetGroupStickinessConfig": sticky,
                },
            }
        ],
    )
    before = rule(elbv2, bot["rule_arn"])
    assert elb.ensure_weights(elbv2, bot["rule_arn"], {blue: 90, green: 10}) is True
    after = rule(elbv2, bot["rule_arn"])
    assert after["Actions"][0]["ForwardConfig"]["TargetGroupStickinessConfig"] == sticky
    assert after["Conditions"] == before["Conditions"]
    assert after["Priority"] == before["Priority"]


def test_other_actions_and_order_are_sent_back() -> None:
    """ModifyRule replaces the whole action list: the authentication before the forward goes back as it
    was (keeping the OIDC client secret DescribeRules never shows), and the forward keeps its Order."""
    client, stub = stubbed()
    oidc = {
        "Issuer": "https://idp.example.com",
        "AuthorizationEndpoint": "https://idp.example.com/authorize",
        "TokenEndpoint": "https://idp.example.com/token",
        "UserInfoEndpoint": "https://idp.example.com/userinfo",
        "ClientId": "bots",
    }
    authenticate = {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": oidc}
    forward = {"Type": "forward", "Order": 2, "TargetGroupArn": FAKE_BLUE}
    new_forward = {
        "Type": "forward",
        "Order": 2,
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": FAKE_BLUE, "Weight": 90}, {"TargetGroupArn": FAKE_GREEN, "Weight": 10}]
        },
    }
    sent_back = {**authenticate, "AuthenticateOidcConfig": {**oidc, "UseExistingClientSecret": True}}
    stub.add_response("describe_rules", described([authenticate, forward]), {"RuleArns": [FAKE_RULE]})
    stub.add_response("modify_rule", {"Rules": []}, {"RuleArn": FAKE_RULE, "Actions": [sent_back, new_forward]})
    stub.add_response("describe_rules", described([authenticate, new_forward]), {"RuleArns": [FAKE_RULE]})
    with stub:
        assert elb.ensure_weights(client, FAKE_RULE, {FAKE_BLUE: 90, FAKE_GREEN: 10}) is True
    stub.assert_no_pending_responses()


def test_weights_not_visible_yet_are_transient() -> None:
    client, stub = stubbed()
    old = {"Type": "forward", "TargetGroupArn": FAKE_BLUE}
    stub.add_response("describe_rules", described([old]), {"RuleArns": [FAKE_RULE]})
    stub.add_response("modify_rule", {"Rules": []})
    stub.add_response("describe_rules", described([old]), {"RuleArns": [FAKE_RULE]})
    with stub, pytest.raises(Transient, match="does not show the new weights yet"):
        elb.ensure_weights(client, FAKE_RULE, {FAKE_BLUE: 50, FAKE_GREEN: 50})


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [("Throttling", 400, Transient), ("InternalFailure", 500, Transient), ("AccessDenied", 403, BadInput)],
)
def test_aws_errors_map_to_transient_or_bad_input(code: str, status: int, error: type[Exception]) -> None:
    client, stub = stubbed()
    stub.add_response(
        "describe_rules", described([{"Type": "forward", "TargetGroupArn": FAKE_BLUE}]), {"RuleArns": [FAKE_RULE]}
    )
    stub.add_client_error("modify_rule", service_error_code=code, http_status_code=status)
    with stub, pytest.raises(error, match="ModifyRule"):
        elb.ensure_weights(client, FAKE_RULE, {FAKE_BLUE: 0, FAKE_GREEN: 1})


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({}, "at least one target group"),
        ({FAKE_BLUE: 1000}, "integer from 0 to 999"),
        ({FAKE_BLUE: -1}, "integer from 0 to 999"),
        ({FAKE_BLUE: True}, "integer from 0 to 999"),
        ({FAKE_BLUE: 0, FAKE_GREEN: 0}, "every weight is 0"),
        ({"mybot-blue": 100}, "not a target group ARN"),
        ({f"{FAKE_BLUE}{i}": 1 for i in range(6)}, "at most 5"),
    ],
)
def test_bad_weights_are_refused_before_any_call(weights: dict[str, Any], message: str) -> None:
    counting = Counting(object())
    with pytest.raises(BadInput, match=message):
        elb.ensure_weights(counting, FAKE_RULE, weights)
    assert not counting.calls


def test_a_default_rule_is_refused_with_the_listener_to_use(bot: dict[str, Any], elbv2: Any) -> None:
    arn = default_rule(elbv2, bot["listener_arn"])
    with pytest.raises(BadInput, match=f"default rule of listener {bot['listener_arn']}.*register the listener ARN"):
        elb.ensure_weights(elbv2, arn, {tg(bot, "blue"): 100})
    with pytest.raises(BadInput, match="default rule"):
        elb.validate_alb(elbv2, arn, bot["target_groups"])


def test_a_listener_arn_changes_the_default_action(aws: Any, elbv2: Any) -> None:
    """A listener that forwards by its default action alone: ModifyListener's DefaultActions."""
    create_alb_bot(aws, APP)  # the shared ALB and VPC
    balancer = elbv2.describe_load_balancers()["LoadBalancers"][0]
    blue, green = (
        elbv2.create_target_group(Name=f"solo-{c}", Protocol="HTTP", Port=80, VpcId=balancer["VpcId"])["TargetGroups"][
            0
        ]["TargetGroupArn"]
        for c in ("blue", "green")
    )
    listener = elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"],
        Protocol="HTTP",
        Port=8080,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": blue}],
    )["Listeners"][0]["ListenerArn"]
    groups = {"solo-blue": blue, "solo-green": green}
    elb.validate_alb(elbv2, listener, groups)
    assert elb.read_weights(elbv2, listener) == {blue: 100}
    counting = Counting(elbv2)
    assert elb.ensure_weights(counting, listener, {blue: 50, green: 50}) is True
    assert elb.ensure_weights(counting, listener, {blue: 50, green: 50}) is False
    assert counting.calls == {"describe_listeners": 3, "modify_listener": 1}
    actions = elbv2.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"]
    assert actions[0]["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": blue, "Weight": 50},
        {"TargetGroupArn": green, "Weight": 50},
    ]
    default = next(r for r in elbv2.describe_rules(ListenerArn=listener)["Rules"] if r["IsDefault"])
    assert default["Actions"] == actions  # the default rule and the listener agree


# ---------------------------------------------------------------------------------------------- register
def test_validate_alb_refuses_a_target_group_of_another_app(bot: dict[str, Any], aws: Any, elbv2: Any) -> None:
    other = create_alb_bot(aws, "otherbot")
    mixed = {BLUE: tg(bot, "blue"), GREEN: other["target_groups"]["otherbot-green"]}
    with pytest.raises(
        BadInput, match=r"forwards to .*targetgroup/mybot-green/.* which is not one of the app's target groups"
    ):
        elb.validate_alb(elbv2, bot["rule_arn"], mixed)


def test_validate_alb_refuses_a_rule_that_does_not_forward(bot: dict[str, Any], elbv2: Any) -> None:
    elbv2.modify_rule(
        RuleArn=bot["rule_arn"],
        Actions=[{"Type": "redirect", "RedirectConfig": {"Host": "maintenance.example.com", "StatusCode": "HTTP_302"}}],
    )
    with pytest.raises(BadInput, match=r"does not forward to target groups \(its actions: redirect\)"):
        elb.validate_alb(elbv2, bot["rule_arn"], bot["target_groups"])


def test_validate_alb_refuses_a_missing_rule(bot: dict[str, Any], elbv2: Any) -> None:
    elbv2.delete_rule(RuleArn=bot["rule_arn"])
    with pytest.raises(
        BadInput, match=f"listener rule {bot['rule_arn']} does not exist.*describe-rules --listener-arn"
    ):
        elb.validate_alb(elbv2, bot["rule_arn"], bot["target_groups"])


def test_validate_alb_refuses_a_missing_target_group(bot: dict[str, Any], elbv2: Any) -> None:
    # green, at weight 0, is dropped from the rule and deleted: the app still names it
    elbv2.modify_rule(RuleArn=bot["rule_arn"], Actions=[{"Type": "forward", "TargetGroupArn": tg(bot, "blue")}])
    elbv2.delete_target_group(TargetGroupArn=tg(bot, "green"))
    with pytest.raises(BadInput, match=f"the target group of {GREEN}, .* does not exist"):
        elb.validate_alb(elbv2, bot["rule_arn"], bot["target_groups"])


def test_validate_alb_refuses_a_target_group_in_use_by_another_load_balancer(
    bot: dict[str, Any], elbv2: Any, aws: Any
) -> None:
    elbv2.modify_rule(RuleArn=bot["rule_arn"], Actions=[{"Type": "forward", "TargetGroupArn": tg(bot, "blue")}])
    balancer = elbv2.describe_load_balancers()["LoadBalancers"][0]
    subnets = [z["SubnetId"] for z in balancer["AvailabilityZones"]]
    other = elbv2.create_load_balancer(Name="another", Subnets=subnets, Type="application")["LoadBalancers"][0]
    elbv2.create_listener(
        LoadBalancerArn=other["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg(bot, "green")}],
    )
    with pytest.raises(BadInput, match=f"the target group of {GREEN}, .* is used by load balancer .*another"):
        elb.validate_alb(elbv2, bot["rule_arn"], bot["target_groups"])


def test_validate_alb_refuses_a_target_group_in_another_vpc(bot: dict[str, Any], aws: Any, elbv2: Any) -> None:
    vpc = aws.client("ec2").create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    elsewhere = elbv2.create_target_group(Name="mybot-green-2", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]
    groups = {BLUE: tg(bot, "blue"), GREEN: elsewhere["TargetGroupArn"]}
    elbv2.modify_rule(RuleArn=bot["rule_arn"], Actions=[{"Type": "forward", "TargetGroupArn": tg(bot, "blue")}])
    with pytest.raises(BadInput, match=f"is in {vpc} but the load balancer is in"):
        elb.validate_alb(elbv2, bot["rule_arn"], groups)


@pytest.mark.parametrize(
    "groups",
    [
        {BLUE: FAKE_BLUE},
        {BLUE: FAKE_BLUE, GREEN: FAKE_BLUE},
        {BLUE: FAKE_BLUE, GREEN: FAKE_GREEN, "x": FAKE_GREEN + "0"},
        {BLUE: FAKE_BLUE, GREEN: "mybot-green"},
    ],
)
def test_validate_alb_needs_two_target_group_arns(groups: dict[str, str]) -> None:
    with pytest.raises(BadInput, match="target group"):
        elb.validate_alb(Counting(object()), FAKE_RULE, groups)


# ---------------------------------------------------------------------------------------------- moto
def _forward(*groups: tuple[str, int]) -> list[dict[str, Any]]:
    return [
        {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": a, "Weight": w} for a, w in groups]}}
    ]


def test_moto_refuses_a_weight_out_of_range_like_aws(bot: dict[str, Any], elbv2: Any) -> None:
    for weight in (1000, -1):
        with pytest.raises(ClientError) as caught:
            elbv2.modify_rule(RuleArn=bot["rule_arn"], Actions=_forward((tg(bot, "blue"), weight)))
        assert caught.value.response["Error"]["Code"] == "ValidationError"
        assert "between 0 and 999" in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError, match="between 0 and 999"):
        elbv2.modify_listener(ListenerArn=bot["listener_arn"], DefaultActions=_forward((tg(bot, "blue"), 1000)))
    assert elb.read_weights(elbv2, bot["rule_arn"]) == {tg(bot, "blue"): 100, tg(bot, "green"): 0}  # unchanged


def test_moto_refuses_more_than_five_target_groups_per_action(bot: dict[str, Any], elbv2: Any) -> None:
    vpc = elbv2.describe_target_groups(TargetGroupArns=[tg(bot, "blue")])["TargetGroups"][0]["VpcId"]
    extra = [
        elbv2.create_target_group(Name=f"extra-{i}", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
            "TargetGroupArn"
        ]
        for i in range(4)
    ]
    groups = [(a, 1) for a in [tg(bot, "blue"), tg(bot, "green"), *extra]]
    with pytest.raises(ClientError, match="at most 5 target groups"):
        elbv2.modify_rule(RuleArn=bot["rule_arn"], Actions=_forward(*groups))
    elbv2.modify_rule(RuleArn=bot["rule_arn"], Actions=_forward(*groups[:5]))  # five is fine


def test_moto_refuses_modify_rule_on_a_default_rule(bot: dict[str, Any], elbv2: Any) -> None:
    arn = default_rule(elbv2, bot["listener_arn"])
    with pytest.raises(ClientError) as caught:
        elbv2.modify_rule(RuleArn=arn, Actions=[{"Type": "forward", "TargetGroupArn": tg(bot, "blue")}])
    assert caught.value.response["Error"]["Code"] == "OperationNotPermitted"
    assert isinstance(caught.value, elbv2.exceptions.OperationNotPermittedException)
    assert rule(elbv2, arn)["Actions"][0]["Type"] == "fixed-response"


def test_moto_checks_modify_listener_actions(bot: dict[str, Any], elbv2: Any) -> None:
    missing = tg(bot, "blue").replace("mybot-blue", "nobody")
    with pytest.raises(ClientError) as caught:
        elbv2.modify_listener(
            ListenerArn=bot["listener_arn"], DefaultActions=[{"Type": "forward", "TargetGroupArn": missing}]
        )
    assert caught.value.response["Error"]["Code"] == "TargetGroupNotFound"


def test_moto_refuses_a_forward_config_that_disagrees_with_target_group_arn(bot: dict[str, Any], elbv2: Any) -> None:
    action = {**_forward((tg(bot, "green"), 1))[0], "TargetGroupArn": tg(bot, "blue")}
    with pytest.raises(ClientError, match="ForwardConfig can name only that target group"):
        elbv2.modify_rule(RuleArn=bot["rule_arn"], Actions=[action])


def test_moto_keeps_a_target_group_on_one_load_balancer(bot: dict[str, Any], elbv2: Any) -> None:
    balancer = elbv2.describe_load_balancers()["LoadBalancers"][0]
    subnets = [z["SubnetId"] for z in balancer["AvailabilityZones"]]
    other = elbv2.create_load_balancer(Name="another", Subnets=subnets, Type="application")["LoadBalancers"][0]
    with pytest.raises(ClientError) as caught:
        elbv2.create_listener(
            LoadBalancerArn=other["LoadBalancerArn"],
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg(bot, "blue")}],
        )
    assert caught.value.response["Error"]["Code"] == "TargetGroupAssociationLimit"


def test_moto_load_balancer_arns_follow_the_rules(bot: dict[str, Any], elbv2: Any) -> None:
    def associated() -> dict[str, list[str]]:
        groups = elbv2.describe_target_groups(TargetGroupArns=list(bot["target_groups"].values()))["TargetGroups"]
        return {g["TargetGroupName"]: g["LoadBalancerArns"] for g in groups}

    balancer = elbv2.describe_load_balancers()["LoadBalancers"][0]["LoadBalancerArn"]
    assert associated() == {BLUE: [balancer], GREEN: [balancer]}
    elbv2.modify_rule(RuleArn=bot["rule_arn"], Actions=[{"Type": "forward", "TargetGroupArn": tg(bot, "blue")}])
    assert associated() == {BLUE: [balancer], GREEN: []}
    elb.ensure_weights(elbv2, bot["rule_arn"], {tg(bot, "blue"): 90, tg(bot, "green"): 10})
    assert associated() == {BLUE: [balancer], GREEN: [balancer]}  # once each, though two rules could name it


def test_uninstall_gives_back_moto_as_it_was(bot: dict[str, Any], elbv2: Any) -> None:
    moto_elbv2.uninstall()
    try:
        elbv2.modify_rule(RuleArn=bot["rule_arn"], Actions=_forward((tg(bot, "blue"), 5000)))  # moto's own: accepted
        assert elb.read_weights(elbv2, bot["rule_arn"]) == {tg(bot, "blue"): 100}
    finally:
        moto_elbv2.install()
        moto_elbv2.install()  # idempotent
    with pytest.raises(ClientError, match="between 0 and 999"):
        elbv2.modify_rule(RuleArn=bot["rule_arn"], Actions=_forward((tg(bot, "blue"), 5000)))
