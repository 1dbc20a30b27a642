"""Who may ask for what, and what bluegreen may touch (issue 10), on moto with the real handlers:

- RegisterFunction refuses an application outside ManagedApplicationPattern, or environments without
  the opt-in tag bluegreen:managed=true, with a message that says how to fix it; it registers once both
  hold.
- StatusFunction serves status only; RegisterFunction never promotes or rolls back.
- The URL function's actor: a direct Invoke with a forged requestContext is denied by IAM, not by
  the code (the code cannot tell): the caller policy's decision is checked here.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from bluegreen.access import MANAGED_TAG_KEY, check_action, check_managed, environment_tags, matches_pattern
from bluegreen.errors import Refused
from bluegreen.settings import Settings
from bluegreen_local.stack import LambdaContext, load_function

from tests.integration.conftest import ACCOUNT, APP, BLUE, GREEN, REGION, World, sample


def settings(pattern: str) -> Settings:
    return Settings(table="bluegreen-table", managed_application_pattern=pattern)


# ---------------------------------------------------------------- the pure checks


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("bot-*", "bot-chat", True),
        ("bot-*", "bot-", True),
        ("bot-*", "xbot-chat", False),
        ("bot-?", "bot-a", True),
        ("bot-?", "bot-ab", False),
        ("mybot", "mybot", True),
        ("mybot", "MyBot", False),
        ("bot-[a]", "bot-a", False),  # IAM has no character classes
        ("bot.*", "botx", False),
        ("", "anything", False),
    ],
)
def test_the_pattern_matches_like_iam(pattern: str, name: str, expected: bool) -> None:
    assert matches_pattern(pattern, name) is expected


def test_check_managed_refuses_outside_the_pattern_or_without_the_tag() -> None:
    tagged = {BLUE: {MANAGED_TAG_KEY: "true"}, GREEN: {MANAGED_TAG_KEY: "true"}}
    check_managed("bot-chat", tagged, settings("bot-*"))
    with pytest.raises(Refused, match=r"'payments' is outside this stack's ManagedApplicationPattern 'bot-\*'"):
        check_managed("payments", tagged, settings("bot-*"))
    with pytest.raises(Refused, match="manages no application"):
        check_managed("bot-chat", tagged, settings(""))
    half = {BLUE: {MANAGED_TAG_KEY: "true"}, GREEN: {"team": "chat"}}
    with pytest.raises(Refused, match=rf"environment {GREEN} of bot-chat does not opt in.*bluegreen:managed=true"):
        check_managed("bot-chat", half, settings("bot-*"))
    wrong_value = {BLUE: {MANAGED_TAG_KEY: "yes"}, GREEN: {}}
    with pytest.raises(Refused, match=rf"environments {BLUE}, {GREEN} of bot-chat do not opt in"):
        check_managed("bot-chat", wrong_value, settings("bot-*"))


def test_each_entry_point_refuses_actions_outside_its_set() -> None:
    check_action("status", {"status"}, "StatusFunction")
    with pytest.raises(Refused, match=r"StatusFunction does not serve 'promote'.*OverrideFunctionName"):
        check_action("promote", {"status"}, "StatusFunction")
    with pytest.raises(Refused, match="RegisterFunctionName"):
        check_action("register", {"status", "promote"}, "OverrideFunction")


# ---------------------------------------------------------------- the handlers on moto


@pytest.fixture
def handlers(world: World, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from bluegreen import service

    monkeypatch.setenv("BLUEGREEN_MANAGED_APPLICATION_PATTERN", "my*")
    service.reset()
    return {name: load_function(f"functions/{name}") for name in ("status", "register")}


def call(world: World, handlers: dict[str, Any], name: str, event: Any) -> dict[str, Any]:
    function = f"{world.stack.name}-{name.capitalize()}Function"
    context = LambdaContext(
        function_name=function,
        aws_request_id=str(uuid.uuid4()),
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}",
    )
    return handlers[name].lambda_handler(event, context)  # type: ignore[no-any-return]


def tag(world: World, environment: str, value: str = "true") -> None:
    (described,) = world.eb.describe_environments(ApplicationName=APP, EnvironmentNames=[environment])["Environments"]
    world.eb.update_tags_for_resource(
        ResourceArn=described["EnvironmentArn"], TagsToAdd=[{"Key": MANAGED_TAG_KEY, "Value": value}]
    )


def untag(world: World, *environments: str) -> None:
    """The test world's bots opt in (as the local stack's do); these tests start from environments that do not."""
    for environment in environments:
        (env,) = world.eb.describe_environments(ApplicationName=APP, EnvironmentNames=[environment])["Environments"]
        world.eb.update_tags_for_resource(ResourceArn=env["EnvironmentArn"], TagsToRemove=[MANAGED_TAG_KEY])


def test_register_refuses_environments_without_the_opt_in_tag(world: World, handlers: dict[str, Any]) -> None:
    untag(world, BLUE, GREEN)
    request = sample("override/register.json")
    refused = call(world, handlers, "register", request)
    assert refused["ok"] is False and refused["error"]["code"] == "Refused"
    message = refused["error"]["message"]
    assert BLUE in message and GREEN in message and "bluegreen:managed=true" in message
    assert "update-tags-for-resource" in message
    tag(world, BLUE)
    refused = call(world, handlers, "register", request)
    assert refused["error"]["code"] == "Refused" and GREEN in refused["error"]["message"]
    assert BLUE not in refused["error"]["message"].split(" of ")[0]
    # Nothing was written while refused: the app is unknown to status.
    missing = call(world, handlers, "status", sample("override/status.json"))
    assert missing["ok"] is False and missing["error"]["code"] == "NotFound"
    tag(world, GREEN)
    registered = call(world, handlers, "register", request)
    assert registered["ok"] is True, registered
    status = call(world, handlers, "status", sample("override/status.json"))
    assert status["ok"] is True and status["live_environment"] == BLUE


def test_register_refuses_an_application_outside_the_pattern(
    world: World, handlers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bluegreen import service

    tag(world, BLUE)
    tag(world, GREEN)
    monkeypatch.setenv("BLUEGREEN_MANAGED_APPLICATION_PATTERN", "bot-*")
    service.reset()
    refused = call(world, handlers, "register", sample("override/register.json"))
    assert refused["ok"] is False and refused["error"]["code"] == "Refused"
    assert "'mybot' is outside this stack's ManagedApplicationPattern 'bot-*'" in refused["error"]["message"]


def test_environment_tags_reads_each_color(world: World) -> None:
    untag(world, BLUE, GREEN)
    tag(world, GREEN)
    tags = environment_tags(world.eb, APP, [BLUE, GREEN, "mybot-gone"])
    assert tags[GREEN][MANAGED_TAG_KEY] == "true"
    assert MANAGED_TAG_KEY not in tags[BLUE]
    assert tags["mybot-gone"] == {}


def test_status_and_register_serve_only_their_actions(world: World, handlers: dict[str, Any]) -> None:
    tag(world, BLUE)
    tag(world, GREEN)
    assert call(world, handlers, "register", sample("override/register.json"))["ok"] is True
    for action in ("promote", "rollback", "pause", "register"):
        event = sample(f"override/{action}.json")
        refused = call(world, handlers, "status", event)
        assert refused["ok"] is False and refused["error"]["code"] == "Refused", action
        assert "StatusFunction does not serve" in refused["error"]["message"]
    for action in ("promote", "rollback", "pause", "resume", "abort", "retry"):
        refused = call(world, handlers, "register", sample(f"override/{action}.json"))
        assert refused["ok"] is False and "RegisterFunction does not serve" in refused["error"]["message"], action
    # Nothing moved: still live on blue, not paused.
    status = call(world, handlers, "status", sample("override/status.json"))
    assert status["live_environment"] == BLUE and not status.get("paused")


# ---------------------------------------------------------------- the forged URL actor


def evaluate(statements: list[dict[str, Any]], action: str, context: dict[str, str]) -> str:
    """IAM's decision for one identity's policy statements (explicit deny > allow > implicit deny),
    for the condition operators the URL caller policy uses."""

    def holds(condition: dict[str, Any]) -> bool:
        for operator, tests in condition.items():
            for key, expected in tests.items():
                actual = context.get(key)
                if operator.endswith("IfExists") and actual is None:
                    continue
                if operator.startswith("Bool") and (actual is None or actual != expected):
                    return False
                if operator == "StringEquals" and actual != expected:
                    return False
        return True

    matching = [s for s in statements if s["Action"] == action and holds(s.get("Condition", {}))]
    if any(s["Effect"] == "Deny" for s in matching):
        return "Deny"
    return "Allow" if any(s["Effect"] == "Allow" for s in matching) else "ImplicitDeny"


def test_a_forged_url_actor_is_refused_by_the_caller_policy() -> None:
    from tests.template.conftest import load_source

    document = load_source()["Resources"]["OverrideUrlCallerPolicy"]["Properties"]["PolicyDocument"]
    statements = document["Statement"]
    # A real URL request: Lambda verified the SigV4 signature and fills in the caller.
    url = {"lambda:FunctionUrlAuthType": "AWS_IAM", "lambda:InvokedViaFunctionUrl": "true"}
    assert evaluate(statements, "lambda:InvokeFunctionUrl", url) == "Allow"
    assert evaluate(statements, "lambda:InvokeFunction", url) == "Allow"
    # A direct Invoke carrying a forged requestContext.authorizer.iam.userArn: denied outright, even for
    # a holder of this policy who also has lambda:InvokeFunction on "*" from elsewhere (explicit deny).
    assert evaluate(statements, "lambda:InvokeFunction", {}) == "Deny"
    assert evaluate(statements, "lambda:InvokeFunction", {"lambda:InvokedViaFunctionUrl": "false"}) == "Deny"
