"""`bluegreen dashboard` in a real headless Chromium, on the local stack.

The page shows an app, then a deployment moving through its states after an upload; a click on
Rollback (with a reason typed into the page's prompt) goes through the override function, and
Elastic Beanstalk (DescribeEnvironments on the local endpoint) shows traffic back on the old color.
Screenshots are kept in .pytest-artifacts/browser/.
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import require_browser
from tests.e2e.conftest import running_stack

pytestmark = pytest.mark.e2e
APP = "webbot"
ACTOR = "browser-test"
REASON = 'errors in the logs "after" the swap'


def make_target(stack: Any) -> Any:
    """The CLI's Target for the local stack, whichever shape bluegreen.cli.Target has."""
    from bluegreen import cli

    described = stack.describe()
    fields = {f.name for f in dataclasses.fields(cli.Target)}
    if "functions" in fields:
        functions = described.get("functions") or {}
        return cli.Target(
            functions={
                "override": described["override_function"],
                "status": functions.get("StatusFunction", ""),
                "register": functions.get("RegisterFunction", ""),
            },
            bus=described["bus"],
            endpoint_url=described["endpoint_url"],
            region=described["region"],
            local=True,
        )
    return cli.Target(described["override_function"], described["bus"], described["endpoint_url"], described["region"])


def opt_in(stack: Any) -> None:
    """Tag both colors bluegreen:managed=true, as a team does before registering (docs/iam.md)."""
    import boto3

    eb = boto3.session.Session(region_name="us-east-1").client("elasticbeanstalk", endpoint_url=stack.endpoint_url)
    for environment in eb.describe_environments(ApplicationName=APP)["Environments"]:
        eb.update_tags_for_resource(
            ResourceArn=environment["EnvironmentArn"], TagsToAdd=[{"Key": "bluegreen:managed", "Value": "true"}]
        )


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    require_browser()  # before the stack: no point starting it without a browser
    with running_stack(app=APP, update_seconds=3.0, tick_seconds=0.5) as local:
        import os

        from bluegreen import cli, service

        if not os.environ.get("BLUEGREEN_MANAGED_APPLICATION_PATTERN", "x"):
            # A template without a default for ManagedApplicationPattern: the local stack gives "".
            os.environ["BLUEGREEN_MANAGED_APPLICATION_PATTERN"] = APP
            service.reset()

        target = make_target(local)
        opt_in(local)
        registered = cli.invoke(
            target,
            {
                "action": "register",
                "app": APP,
                "reason": "browser test",
                "requested_by": ACTOR,
                "config": {
                    "environments": [f"{APP}-blue", f"{APP}-green"],
                    "live_environment": f"{APP}-blue",
                    "alarms": [f"{APP}-errors"],
                    "bake_seconds": 600,
                },
            },
        )
        assert registered["live_environment"] == f"{APP}-blue"
        local.target = target
        yield local


@pytest.fixture(scope="module")
def dashboard(stack: Any) -> Iterator[Any]:
    from bluegreen import cli
    from bluegreen.dashboard import serve

    server = serve(stack.target, cli.invoke, actor=ACTOR, apps=[APP])
    try:
        yield server
    finally:
        server.stop()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as error:
            last = error
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def text(browser: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.ID, element_id).text)


def shot(browser: Any, artifacts: Path, name: str) -> None:
    assert browser.save_screenshot(str(artifacts / f"{name}.png"))


def production_holder(stack: Any) -> str:
    """Which color holds the production CNAME, as Elastic Beanstalk says (DescribeEnvironments)."""
    import boto3

    eb = boto3.session.Session(region_name="us-east-1").client("elasticbeanstalk", endpoint_url=stack.endpoint_url)
    environments = eb.describe_environments(ApplicationName=APP)["Environments"]
    (holder,) = [e["EnvironmentName"] for e in environments if e["CNAME"].startswith(f"{APP}.")]
    return str(holder)


def test_the_page_shows_a_deployment_and_a_rollback_click_moves_traffic_back(
    stack: Any, dashboard: Any, browser: Any, artifacts: Path
) -> None:
    import boto3
    from bluegreen_local.bots import bundle
    from selenium.webdriver.common.by import By

    browser.get(dashboard.url)
    wait_for(lambda: text(browser, "live-color") == f"{APP}-blue", "the app and its live color")
    assert text(browser, "app-name") == APP
    assert ACTOR in text(browser, "actor")
    rows = browser.find_elements(By.CSS_SELECTOR, "#colors tbody tr")
    assert [r.get_attribute("data-environment") for r in rows] == [f"{APP}-blue", f"{APP}-green"] or len(rows) == 2
    shot(browser, artifacts, "01-registered")

    # Upload a build: the page follows the deployment through its states.
    s3 = boto3.session.Session(region_name="us-east-1").client("s3", endpoint_url=stack.endpoint_url)
    s3.put_object(Bucket=stack.describe()["bucket"], Key=f"{APP}/build-1.zip", Body=bundle())
    wait_for(lambda: text(browser, "deployment-state") == "DEPLOYING", "DEPLOYING on the page", timeout=15)
    assert "waiting for" in text(browser, "waiting")
    shot(browser, artifacts, "02-deploying")
    wait_for(lambda: text(browser, "deployment-state") == "BAKING", "BAKING on the page", timeout=30)
    wait_for(lambda: text(browser, "live-color") == f"{APP}-green", "the new color live")
    steps = [li.get_attribute("data-state") for li in browser.find_elements(By.CSS_SELECTOR, "#timeline li")]
    assert steps[0] == "DEPLOYING" and steps[-1] == "BAKING" and "VERIFYING" in steps, steps
    current = browser.find_element(By.CSS_SELECTOR, "#timeline li.current")
    assert current.get_attribute("data-state") == "BAKING" and "so far" in current.text
    assert "bake" in text(browser, "waiting")
    assert production_holder(stack) == f"{APP}-green"
    shot(browser, artifacts, "03-baking")

    # Rollback: the button asks for a reason, then goes through the override as the actor.
    button = browser.find_element(By.ID, "btn-rollback")
    wait_for(button.is_enabled, "the rollback button enabled")
    button.click()
    dialog = browser.find_element(By.ID, "reason-dialog")
    wait_for(lambda: dialog.get_attribute("open") is not None, "the reason prompt")
    browser.find_element(By.ID, "reason-input").send_keys(REASON)
    shot(browser, artifacts, "04-rollback-prompt")
    browser.find_element(By.ID, "reason-confirm").click()
    wait_for(lambda: text(browser, "deployment-state") == "ROLLED_BACK", "ROLLED_BACK on the page", timeout=20)
    wait_for(lambda: text(browser, "live-color") == f"{APP}-blue", "the old color live again")
    assert "rollback" in text(browser, "message")
    shot(browser, artifacts, "05-rolled-back")

    # Traffic moved back, as Elastic Beanstalk reports it, and the history names the actor and reason.
    assert production_holder(stack) == f"{APP}-blue"
    from bluegreen import cli

    status = cli.invoke(stack.target, {"action": "status", "app": APP, "history_limit": 50})
    rollback = [n for r in status["history"] for n in r.get("transitions") or [] if n.get("to_state") == "ROLLED_BACK"]
    assert rollback and rollback[-1]["cause"]["actor"].startswith(ACTOR) and rollback[-1]["cause"]["reason"] == REASON
    history_text = text(browser, "history")
    assert "BAKING → ROLLED_BACK" in history_text
    severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not severe, severe  # no script error, no CSP violation


def test_the_server_protects_the_override_from_other_pages(dashboard: Any) -> None:
    """Actions need the page's token (a cross-site page cannot send it) and a loopback Host header."""
    url = dashboard.url + "api/action"
    body = json.dumps({"app": APP, "action": "pause", "reason": "csrf"}).encode()

    def post(headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    assert post({"Content-Type": "application/json"})[0] == 403
    assert post({"Content-Type": "text/plain", "X-Bluegreen-Token": "wrong"})[0] == 403
    token = dashboard.dashboard.token
    assert post({"Content-Type": "text/plain", "X-Bluegreen-Token": token})[0] == 415
    assert post({"Content-Type": "application/json", "X-Bluegreen-Token": token, "Host": "evil.example:80"})[0] == 403
    status, answer = post({"Content-Type": "application/json", "X-Bluegreen-Token": token})
    assert status == 200 and answer["ok"] is True  # the real page's request: paused
    status, answer = post({"Content-Type": "application/json", "X-Bluegreen-Token": token})
    assert answer["ok"] is False and answer["error"]  # refused by the core, one line
    body = json.dumps({"app": APP, "action": "resume", "reason": "done"}).encode()
    assert post({"Content-Type": "application/json", "X-Bluegreen-Token": token})[1]["ok"] is True
