"""Release gates through the real handlers on moto (issue 11): HTTP checks against the idle color's own URL
(the EB router stands in for it), Lambda hooks invoked asynchronously and reporting with `report_check`,
approval, per-release policy from `bluegreen.json`, and a release that forbids rollback rolled forward."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from bluegreen_local.router import Router

from tests.integration.conftest import ALARM, BLUE, GREEN, Clock, World, details
from tests.integration.gates_world import (  # noqa: F401 - fixtures
    HookRunner,
    eb_router_fixture,
    hook_runner_fixture,
)

HOOK = "bluegreen-hook-smoke"
HTTP_CHECK = {"type": "http", "name": "healthz", "path": "/healthz", "expect_body": "ok", "attempts": 1}
HOOK_CHECK = {"type": "lambda", "name": "smoke", "function": HOOK, "timeout_seconds": 60}


def build(*, manifest: dict[str, Any] | None = None, http: dict[str, Any] | None = None) -> bytes:
    """A build; `http` is how the simulated bot answers (the EB router reads it), `manifest` its bluegreen.json."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bot.py", "print('bot')\n")
        if http is not None:
            archive.writestr("bluegreen-simulate.json", json.dumps({"http": http}))
        if manifest is not None:
            archive.writestr("bluegreen.json", json.dumps(manifest))
    return buffer.getvalue()


class Gates:
    """The World plus the stack's check function and the hooks, as Lambda would run them."""

    def __init__(self, world: World, runner: HookRunner) -> None:
        self.world = world
        self.runner = runner
        self.check_function = world.stack.function_name("CheckFunction")
        runner.create_function(world.session, self.check_function)
        runner.create_function(world.session, HOOK)

    def run_checks(self) -> list[dict[str, Any]]:
        """Run the HTTP checks the controller queued in the check function (Lambda would, asynchronously)."""
        answers = []
        for invoke in self.runner.pending:
            if invoke.function == self.check_function:
                invoke.done = True
                answers.append(self.world.invoke("check", invoke.event))
        return answers

    def hook_invokes(self) -> list[Any]:
        return [invoke for invoke in self.runner.pending if invoke.function == HOOK]

    def report(self, result: str = "pass", reason: str = "", **fields: Any) -> dict[str, Any]:
        (invoke,) = self.hook_invokes()
        answer = self.runner.deliver(
            lambda p: self.world.invoke("override", p), result=result, reason=reason, invoke=invoke, **fields
        )
        return dict(answer)

    def deploy(self, name: str, body: bytes) -> dict[str, Any]:
        """Upload, and let EB finish the idle color's update (healthy)."""
        response = self.world.upload(name, body)
        assert response["ok"], response
        target = self.world.status()["deployment"]["target_environment"]
        self.world.complete_update(target, health="Ok")
        return self.world.status()


@pytest.fixture
def gates(world: World, eb_router: Router, hook_runner: HookRunner) -> Gates:
    return Gates(world, hook_runner)


def register(world: World, **config: Any) -> None:
    response = world.register(**{"bake_seconds": 300, **config})
    assert response["ok"], response
    world.notifications()


# ---------------------------------------------------------------- HTTP checks against the idle color's URL


def test_a_passing_http_check_lets_the_deployment_be_promoted(gates: Gates, eb_router: Router) -> None:
    world = gates.world
    register(world, checks={"pre": [HTTP_CHECK]})
    status = gates.deploy("build-1", build())
    assert status["deployment"]["state"] == "VERIFYING"  # the check runs first
    assert world.live() == BLUE
    (answer,) = gates.run_checks()
    assert answer["ok"] and answer["outcome"] == "accepted", answer
    assert world.deployment_state() == "BAKING" and world.live() == GREEN
    (hit,) = [h for h in eb_router.requests if h.path == "/healthz"]
    assert hit.host == "mybot-green.us-east-1.elasticbeanstalk.com"  # the idle color's own CNAME
    reasons = [d["reason"] for d in details(world)]
    assert any("running pre-promotion checks on mybot-green: healthz (GET /healthz)" in r for r in reasons)
    assert any(r.startswith("pre-promotion check healthz passed: GET http://mybot-green") for r in reasons)
    history = world.override("status", history_limit=20)["history"]
    assert any(
        h["check"] == {"name": "healthz", "passed": True, "reason": h["check"]["reason"], "source": "http"}
        for h in history
        if h.get("check")
    )


def test_a_failing_http_check_aborts_before_traffic_moves(gates: Gates) -> None:
    world = gates.world
    register(world, checks={"pre": [HTTP_CHECK]})
    gates.deploy("build-1", build(http={"/healthz": {"status": 503, "body": "db down"}}))
    gates.run_checks()
    deployment = world.status()["deployment"]
    assert deployment["state"] == "ABORTED" and world.live() == BLUE
    assert world.eb_backend.swap_count == 0
    assert (
        "pre-promotion check healthz failed: GET http://mybot-green.us-east-1.elasticbeanstalk.com/healthz: 503"
        in (deployment["reason"])
    )
    assert "traffic never moved" in deployment["reason"]


def test_a_post_promotion_check_that_fails_rolls_back(gates: Gates) -> None:
    world = gates.world
    register(world, checks={"post": [{"type": "http", "name": "after-swap", "path": "/ready", "attempts": 1}]})
    gates.deploy("build-1", build(http={"/ready": {"status": 500, "body": "no"}}))
    assert world.deployment_state() == "BAKING" and world.live() == GREEN
    gates.run_checks()
    deployment = world.status()["deployment"]
    assert deployment["state"] == "ROLLED_BACK" and world.live() == BLUE
    # the new color's own load balancer: DNS caches may still send the production CNAME to the old one
    assert deployment["reason"].startswith("post-promotion check after-swap failed: GET http://awseb-")
    assert ".elb.amazonaws.com/ready: 500" in deployment["reason"]


def test_the_bake_does_not_end_before_the_post_checks_pass(gates: Gates) -> None:
    world = gates.world
    register(
        world,
        bake_seconds=60,
        checks={"post": [{"type": "http", "name": "after-swap", "path": "/ready", "attempts": 1}]},
    )
    gates.deploy("build-1", build())
    Clock(world).advance(61)  # the bake is over; the check's result may still come (its deadline is later)
    world.tick()
    status = world.status()
    assert status["deployment"]["state"] == "BAKING"
    assert "post-promotion check after-swap has not reported yet" in status["deployment"]["held"]
    gates.run_checks()
    world.tick()
    assert world.deployment_state() == "SUCCEEDED"


# ---------------------------------------------------------------- Lambda hooks


def test_a_hook_is_invoked_asynchronously_and_its_pass_promotes(gates: Gates) -> None:
    world = gates.world
    register(world, checks={"pre": [HOOK_CHECK]})
    gates.deploy("build-1", build())
    (invoke,) = gates.hook_invokes()
    event = invoke.event
    assert event["app"] == "mybot" and event["environment"] == GREEN and event["phase"] == "pre"
    assert event["url"] == "http://mybot-green.us-east-1.elasticbeanstalk.com" and event["check"] == "smoke"
    assert event["token"].startswith("bg1.") and event["version"] == world.status()["deployment"]["artifact"]["label"]
    assert world.deployment_state() == "VERIFYING"
    answer = gates.report("pass", "getMe ok")
    assert answer["ok"] and answer["outcome"] == "accepted", answer
    assert world.deployment_state() == "BAKING"
    reasons = [d["reason"] for d in details(world)]
    assert any("pre-promotion check smoke passed (reported by unknown): getMe ok" in r for r in reasons)


def test_a_hook_that_reports_fail_aborts_with_its_reason(gates: Gates) -> None:
    world = gates.world
    register(world, checks={"pre": [HOOK_CHECK]})
    gates.deploy("build-1", build())
    gates.report("fail", "/start did not answer in 5 s")
    deployment = world.status()["deployment"]
    assert deployment["state"] == "ABORTED" and world.live() == BLUE
    assert (
        "pre-promotion check smoke failed (reported by unknown): /start did not answer in 5 s" in deployment["reason"]
    )


def test_a_hook_that_never_reports_fails_at_its_deadline_and_a_late_report_is_ignored(gates: Gates) -> None:
    world = gates.world
    register(world, checks={"pre": [HOOK_CHECK]})
    gates.deploy("build-1", build())
    (invoke,) = gates.hook_invokes()
    Clock(world).advance(61)
    world.tick()
    deployment = world.status()["deployment"]
    assert deployment["state"] == "ABORTED"
    assert "pre-promotion check smoke failed: no report from the hook within 60s" in deployment["reason"]
    late = gates.runner.deliver(lambda p: world.invoke("override", p), result="pass", invoke=invoke)
    assert late["ok"] and late["outcome"] == "ignored", late
    assert world.deployment_state() == "ABORTED"


def test_a_second_report_is_ignored_and_a_forged_token_is_refused(gates: Gates) -> None:
    world = gates.world
    register(world, checks={"pre": [HOOK_CHECK, {**HOOK_CHECK, "name": "second"}]})
    gates.deploy("build-1", build())
    first, second = gates.hook_invokes()
    token = first.event["token"]
    gates.runner.deliver(lambda p: world.invoke("override", p), result="pass", invoke=first)
    again = world.invoke("override", {"action": "report_check", "app": "mybot", "token": token, "result": "fail"})
    assert again["ok"] and again["outcome"] == "ignored" and "already has its result" in again["reason"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = world.invoke("override", {"action": "report_check", "app": "mybot", "token": forged, "result": "fail"})
    assert refused["ok"] is False and "bad signature" in refused["error"]["message"]
    assert world.deployment_state() == "VERIFYING"  # waits for "second"
    gates.runner.deliver(lambda p: world.invoke("override", p), result="pass", invoke=second)
    assert world.deployment_state() == "BAKING"


def test_a_hook_the_controller_cannot_invoke_fails_the_check(gates: Gates) -> None:
    world = gates.world
    register(world, checks={"pre": [{**HOOK_CHECK, "function": "bluegreen-hook-missing"}]})
    gates.deploy("build-1", build())
    deployment = world.status()["deployment"]
    assert deployment["state"] == "ABORTED"
    assert "does not exist" in deployment["reason"] and "bluegreen-hook-missing" in deployment["reason"]


# ---------------------------------------------------------------- approval


def test_approval_waits_for_the_checks_then_for_a_person(gates: Gates) -> None:
    world = gates.world
    register(world, auto_promote=False, checks={"pre": [HTTP_CHECK]})
    gates.deploy("build-1", build())
    early = world.override("approve")
    assert early["ok"] is False and "checks have not all passed" in early["error"]["message"]
    gates.run_checks()
    status = world.status()
    assert status["deployment"]["state"] == "VERIFYING"
    assert "awaiting approval until" in status["waiting_for"]["what"]
    assert world.override("approve")["ok"]
    assert world.deployment_state() == "BAKING"


# ---------------------------------------------------------------- the release manifest


def test_the_manifest_tightens_the_policy_and_is_recorded(gates: Gates) -> None:
    world = gates.world
    register(world)
    manifest = {"bake_seconds": 900, "checks": {"pre": [HTTP_CHECK]}, "notes": "new /stats"}
    gates.deploy("build-1", build(manifest=manifest))
    status = world.status()
    deployment = status["deployment"]
    assert deployment["policy"]["bake_seconds"] == 900 and deployment["state"] == "VERIFYING"
    assert "release policy: bake 900s; adds checks healthz; notes: new /stats" in deployment["reason"] or any(
        "release policy: bake 900s" in h["summary"] for h in world.override("status", history_limit=5)["history"]
    )
    history = world.override("status", history_limit=20)["history"]
    (recorded,) = [h["manifest"] for h in history if h.get("manifest")]
    assert recorded["bake_seconds"] == 900 and recorded["notes"] == "new /stats"
    gates.run_checks()
    deployment = world.status()["deployment"]
    assert deployment["state"] == "BAKING"
    assert deployment["bake_until"] > deployment["promoted_at"]


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"rolback": "forbid"}, "bluegreen.json: rolback: Extra inputs are not permitted"),
        ({"bake_seconds": "600"}, "bluegreen.json: bake_seconds"),
        (
            {"checks": {"pre": [{**HOOK_CHECK, "name": "other", "function": "someone-elses-function"}]}},
            "not one of the app's hook functions",
        ),
    ],
)
def test_an_invalid_manifest_rejects_the_build(gates: Gates, manifest: dict[str, Any], message: str) -> None:
    world = gates.world
    register(world, checks={"pre": [HOOK_CHECK]})
    response = world.upload("build-1", build(manifest=manifest))
    (result,) = response["results"]
    assert result["ok"] is False and result["error"]["code"] == "BadArtifact"
    assert message in result["error"]["message"]
    assert world.status()["deployment"] is None
    assert any("artifact rejected" in d["reason"] for d in details(world))


def test_a_release_that_forbids_rollback_is_rolled_forward(gates: Gates) -> None:
    world = gates.world
    register(world, drain_seconds=0)  # the fix may update blue at once (tests/integration/test_traffic_modes.py)
    gates.deploy("build-1", build(manifest={"rollback": "forbid", "notes": "adds column x"}))
    assert world.deployment_state() == "BAKING" and world.live() == GREEN
    world.set_alarm("ALARM")
    deployment = world.status()["deployment"]
    assert deployment["state"] == "FIX_FORWARD" and world.live() == GREEN  # no swap back
    assert deployment["reason"].startswith(f"ACTION NEEDED: alarm {ALARM} is in ALARM")
    assert "rollback forbidden by this release" in deployment["reason"] and "deploy a fix" in deployment["reason"]
    assert world.eb_backend.swap_count == 1
    refused = world.override("rollback")
    assert refused["ok"] is False and "forbids rollback" in refused["error"]["message"]

    # The fix deploys to blue and is promoted although the alarm still fires (it fired before the fix).
    details(world)
    fixed = gates.deploy("build-2", build())
    assert fixed["deployment"]["target_environment"] == BLUE
    reasons = [d["reason"] for d in details(world)]
    assert any("a fix rolled forward past alarm mybot-errors@" in r for r in reasons), reasons
    assert world.deployment_state() == "BAKING" and world.live() == BLUE
    # ...and it is still judged: the alarm firing again (a new transition) rolls the fix back.
    world.set_alarm("OK")
    world.set_alarm("ALARM")
    assert world.deployment_state() == "ROLLED_BACK" and world.live() == GREEN
