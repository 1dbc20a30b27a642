"""The `bluegreen` CLI against the local stack: the commands an operator types, and one-line errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bluegreen_local.demo import bundle

from tests.e2e.conftest import running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    descriptor = tmp_path_factory.mktemp("local") / "stack.json"
    with running_stack(app="clibot", update_seconds=0.3, tick_seconds=0.5, descriptor=descriptor) as stack:
        yield stack


@pytest.fixture
def cli(local: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    from bluegreen import cli as module

    # found as `bluegreen local up` leaves it; the CLI goes there only with --local
    monkeypatch.setenv("BLUEGREEN_LOCAL_DIR", str(Path(local.descriptor).parent))

    def run(*argv: str) -> tuple[int, str, str]:
        code = module.main(["--local", *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_register_status_history_and_overrides(local: Any, cli: Any) -> None:
    code, out, _ = cli(
        "register",
        "clibot",
        "--environments",
        "clibot-blue",
        "clibot-green",
        "--live-environment",
        "clibot-blue",
        "--alarm",
        "clibot-errors",
        "--bake-seconds",
        "600",
        "--drain-seconds",
        "0",
        "--by",
        "pytest",
    )
    assert code == 0 and "clibot-blue" in out
    code, out, _ = cli("pause", "clibot", "--by", "pytest")
    assert code == 0 and "paused by pytest" in out
    code, out, err = cli("pause", "clibot")
    assert code == 1 and "bluegreen: Refused: already paused" in err
    cli("resume", "clibot", "-m", "go")
    code, out, _ = cli("status", "clibot", "--json")
    assert code == 0 and json.loads(out)["live_environment"] == "clibot-blue"
    code, out, _ = cli("history", "clibot", "-n", "10")
    assert code == 0 and "registered by pytest" in out and "paused by pytest" in out


def test_watch_prints_the_timeline(local: Any, cli: Any) -> None:
    import boto3

    s3 = boto3.session.Session(region_name="us-east-1").client("s3")
    lines: dict[str, Any] = {}

    def watch() -> None:
        lines["result"] = cli("watch", "clibot", "--seconds", "6")

    thread = threading.Thread(target=watch)
    thread.start()
    time.sleep(1.0)
    s3.put_object(Bucket=local.describe()["bucket"], Key="clibot/w1.zip", Body=bundle("w1"))
    thread.join(timeout=20)
    code, out, _ = lines["result"]
    assert code == 0
    assert "- -> DEPLOYING" in out and "DEPLOYING -> VERIFYING" in out and "VERIFYING -> BAKING" in out


def test_errors_are_one_line(cli: Any) -> None:
    code, _, err = cli("status", "nobody")
    # (the in-process stack's own log lines may share stderr here; the CLI's answer is one line)
    (line,) = [line for line in err.splitlines() if line.startswith("bluegreen:")]
    assert code == 1 and line == "bluegreen: NotFound: unknown app 'nobody': register it first"


def test_rules_prints_the_table(cli: Any) -> None:
    code, out, _ = cli("rules")
    assert code == 0 and "rollback_on_alarm" in out and "abort_unhealthy_idle" in out


def test_wait_status_rollback_and_report(local: Any, cli: Any) -> None:
    """A CI-style run: finish the bake, upload, wait until live, roll back, wait fails, the report counts it."""
    import boto3

    code, out, _ = cli("status", "clibot", "--json")
    if json.loads(out)["deployment"]["state"] == "BAKING":  # w1 from the watch test
        assert cli("finish-bake", "clibot", "-m", "looks good", "--by", "pytest")[0] == 0
        assert cli("wait", "clibot", "--timeout", "10", "--interval", "0.2")[0] == 0
    s3 = boto3.session.Session(region_name="us-east-1").client("s3")
    s3.put_object(Bucket=local.describe()["bucket"], Key="clibot/w2.zip", Body=bundle("w2"))
    code, out, err = cli("wait", "clibot", "--artifact", "clibot/w2.zip", "--for", "BAKING", "--timeout", "20",
                         "--interval", "0.2")  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[-1].endswith("BAKING")
    code, out, _ = cli("status", "clibot")
    assert code == 0 and "deployment clibot-" in out and "waits for the bake to end" in out and "config alarms" in out
    assert cli("rollback", "clibot", "-m", "errors in the logs", "--by", "pytest")[0] == 0
    code, _, err = cli("wait", "clibot", "--timeout", "10", "--interval", "0.2")
    assert code == 1 and "ended ROLLED_BACK" in err
    code, out, _ = cli("report", "clibot", "--since", "1d", "--json")
    figures = json.loads(out)["apps"]["clibot"]
    assert code == 0 and figures["deployments"] >= 2 and figures["rolled_back"] == 1
    code, out, _ = cli("report", "clibot")
    assert code == 0 and "Definitions" in out and "clibot" in out
