"""A bot behind a shared Application Load Balancer (traffic mode `alb`), as a team would set it up:
a VPC with two subnets, one ALB, an HTTP:80 listener, a target group per color and a production
listener rule forwarding all requests to blue. Used by the local stack and the tests (dev-only).

The bot's EB environments come from `bots.create_bot`; this adds the load balancer side only.
"""

from __future__ import annotations

from typing import Any

from bluegreen_local.bots import REGION

VPC_CIDR = "10.20.0.0/16"
SUBNETS = (("10.20.1.0/24", f"{REGION}a"), ("10.20.2.0/24", f"{REGION}b"))  # an ALB needs two AZs
SHARED_ALB = "bluegreen-shared"
PRODUCTION_PRIORITY = 10


def _shared_alb(ec2: Any, elbv2: Any) -> tuple[str, str, str]:
    """(load balancer ARN, VPC id, HTTP:80 listener ARN) of the shared ALB, created on first use."""
    try:
        balancer = elbv2.describe_load_balancers(Names=[SHARED_ALB])["LoadBalancers"][0]
    except elbv2.exceptions.LoadBalancerNotFoundException:
        vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
            for cidr, zone in SUBNETS
        ]
        balancer = elbv2.create_load_balancer(
            Name=SHARED_ALB, Subnets=subnets, Type="application", Scheme="internet-facing"
        )["LoadBalancers"][0]
    balancer_arn = balancer["LoadBalancerArn"]
    listeners = [
        listener
        for listener in elbv2.describe_listeners(LoadBalancerArn=balancer_arn)["Listeners"]
        if listener["Port"] == 80
    ]
    if listeners:
        listener_arn = listeners[0]["ListenerArn"]
    else:
        listener_arn = elbv2.create_listener(
            LoadBalancerArn=balancer_arn,
            Protocol="HTTP",
            Port=80,
            DefaultActions=[
                {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"}}
            ],
        )["Listeners"][0]["ListenerArn"]
    return balancer_arn, balancer["VpcId"], listener_arn


def create_alb_bot(session: Any, app: str, *, host: str | None = None) -> dict[str, Any]:
    """Target groups `<app>-blue` and `<app>-green` on the shared ALB and a production rule (host header
    `<app>.example.com`, or `host`) forwarding 100 to blue and 0 to green. Returns
    {"listener_arn", "rule_arn", "target_groups": {"<app>-blue": arn, "<app>-green": arn}}."""
    ec2, elbv2 = session.client("ec2"), session.client("elbv2")
    _, vpc, listener_arn = _shared_alb(ec2, elbv2)
    target_groups: dict[str, str] = {}
    for color in ("blue", "green"):
        name = f"{app}-{color}"
        target_groups[name] = elbv2.create_target_group(
            Name=name[:32],  # the target group name limit
            Protocol="HTTP",
            Port=80,
            VpcId=vpc,
            TargetType="instance",
            HealthCheckPath="/",
        )["TargetGroups"][0]["TargetGroupArn"]
    taken = {
        int(rule["Priority"])
        for rule in elbv2.describe_rules(ListenerArn=listener_arn)["Rules"]
        if rule["Priority"] != "default"
    }
    priority = next(p for p in range(PRODUCTION_PRIORITY, 50_000) if p not in taken)
    rule_arn = elbv2.create_rule(
        ListenerArn=listener_arn,
        Priority=priority,
        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": [host or f"{app}.example.com"]}}],
        Actions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": target_groups[f"{app}-blue"], "Weight": 100},
                        {"TargetGroupArn": target_groups[f"{app}-green"], "Weight": 0},
                    ],
                    "TargetGroupStickinessConfig": {"Enabled": False},
                },
            }
        ],
        Tags=[{"Key": "bluegreen:managed", "Value": "true"}],  # opts in: the controller may shift its weights
    )["Rules"][0]["RuleArn"]
    return {"listener_arn": listener_arn, "rule_arn": rule_arn, "target_groups": target_groups}
