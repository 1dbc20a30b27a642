"""The CLI's commands against a fake stack: what each prints, sends, and exits with."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from bluegreen import cli

NOW = "2026-11-28T12:00:00+00:00"


def deployment(state: str, **changes: Any) -> dict[str, Any]:
    return {
        "id": "mybot-3",
        "artifact": {"bucket": "b", "key": "mybot/v2.zip", "label": "v2-bb75aa", "uploaded_at": NOW},
        "state": state,
        "target_environment": "mybot-green",
        "previous_environment": "mybot-blue",
        "previous_version": "v1-3c5e",
        "update_started": True,
        "started_at": NOW,
        "state_since": NOW,
        "promote_at": None,
        "bake_until": "2999-01-01T00:00:00+00:00",
        "reason": "the reason",
        "paused_seconds": 0,
        **changes,
    }


def app_state(dep: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    return {
        "ok": True,
        "app": "mybot",
        "revision": 7,
        "live_environment": "mybot-blue",
        "idle_environment": "mybot-green",
        "production_cname": "mybot.example.com",
        "last_good_version": "v1-3c5e",
        "paused": False,
        "queued": None,
        "pending_effects": [],
        "deployment": dep,
        "config": {
            "alarms": ["mybot-errors"],
            "bake_seconds": 600,
            "auto_promote": True,
            "promote_delay_seconds": 0,
            "deploy_timeout_seconds": 1800,
            "verify_timeout_seconds": 900,
            "rollback_window_seconds": 0,
            "health_grace_seconds": 60,
        },
        "history": [],
        **changes,
    }


COLORS = [
    {"name": "mybot-blue", "status": "Ready", "health": "Green", "health_status": "Ok", "version_label": "v1-3c5e",
     "cname": "mybot.example.com", "live": True},
    {"name": "mybot-green", "status": "Ready", "health": "Red", "health_status": "Severe",
     "version_label": "v2-bb75aa", "cname": "x", "live": False},
]  # fmt: skip


class FakeTarget(cli.Target):
    """Answers invokes from `answer(payload)`; `events` yields the scripted batches."""

    def __init__(
        self, answer: Callable[[dict[str, Any]], dict[str, Any]], batches: list[list[dict[str, Any]]] | None = None
    ):
        super().__init__({"override": "Override"}, "bus", None, None, local=True)
        self.answer = answer
        self.sent: list[dict[str, Any]] = []
        self.batches = list(batches or [])
        self.subscribed: list[str | None] = []

    def invoke(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.sent.append(payload)
        body = self.answer(payload)
        if not body.get("ok", True):
            error = body["error"]
            raise cli.CliError(f"{error['code']}: {error['message']}", error["code"])
        return body

    @contextmanager
    def events(self, app: str | None) -> Iterator[Callable[[float], list[dict[str, Any]]]]:
        self.subscribed.append(app)

        def receive(wait: float) -> list[dict[str, Any]]:
            cli._sleep(wait)  # the test's clock moves as a long poll would
            return self.batches.pop(0) if self.batches else []

        yield receive


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    def run(target: FakeTarget, *argv: str) -> tuple[int, str, str]:
        monkeypatch.setattr(cli, "resolve_target", lambda args: target)
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_status_shows_both_colors_config_and_what_it_waits_for(run: Any) -> None:
    state = app_state(deployment("BAKING"), colors=COLORS)
    code, out, _ = run(FakeTarget(lambda p: state), "status", "mybot")
    assert code == 0
    assert "live mybot-blue" in out and "v1-3c5e" in out and "Green/Ok" in out and "holds mybot.example.com" in out
    assert "idle mybot-green" in out and "Red/Severe" in out
    assert "waits for the bake to end with no alarm until 2999-01-01T00:00:00+00:00 (in " in out
    assert "config alarms mybot-errors; bake 600s; auto-promote after 0s" in out and "health grace 60s" in out
    assert "\x1b[" not in out  # no color when not a terminal


def test_status_uses_the_cores_waiting_for_and_says_what_the_idle_color_runs_after_an_abort(run: Any) -> None:
    state = app_state(deployment("ABORTED"), colors=COLORS, waiting_for=None)
    code, out, _ = run(FakeTarget(lambda p: state), "status", "mybot")
    assert code == 0 and "waits for" not in out
    assert "idle color mybot-green runs v2-bb75aa (the build that did not go live); the next build replaces it" in out
    state = app_state(deployment("VERIFYING"), waiting_for={"what": "approval", "until": "2999-01-01T00:00:00Z"})
    _, out, _ = run(FakeTarget(lambda p: state), "status", "mybot")
    assert "waits for approval until 2999-01-01T00:00:00+00:00" in out


def test_status_without_the_new_fields_derives_what_it_waits_for(run: Any) -> None:
    state = app_state(deployment("VERIFYING"), config={**app_state()["config"], "auto_promote": False})
    _, out, _ = run(FakeTarget(lambda p: state), "status", "mybot")
    assert "waits for approval: bluegreen approve mybot -m REASON until 2026-11-28T12:15:00+00:00" in out
    assert "  live mybot-blue " in out and "  idle mybot-green" in out
    _, out, _ = run(FakeTarget(lambda p: app_state(deployment("ABORTED"))), "status", "mybot")
    assert "idle color mybot-green may run v2-bb75aa" in out


@pytest.mark.parametrize("argv", [("status", "mybot", "--json"), ("--json", "status", "mybot")])
def test_json_anywhere(run: Any, argv: tuple[str, ...]) -> None:
    code, out, _ = run(FakeTarget(lambda p: app_state(deployment("BAKING"))), *argv)
    assert code == 0 and json.loads(out)["deployment"]["state"] == "BAKING"


def test_every_command_takes_json() -> None:
    parser = cli.build_parser()
    skip = {"completion", "local", "dashboard"}  # a shell script; the local stack; a web page
    for name, sub in cli._subparsers(parser).items():
        if name in skip:
            continue
        assert any("--json" in a.option_strings for a in sub._actions), name


def test_history_never_draws_an_arrow_for_an_event(run: Any) -> None:
    cause = {"type": "override", "id": "pause", "actor": "alice", "reason": "lunch"}
    note = {"from_state": "BAKING", "to_state": "BAKING", "reason": "paused by alice: lunch", "at": NOW, "cause": cause}
    move = {"from_state": "VERIFYING", "to_state": "BAKING", "reason": "promoted", "at": NOW, "cause": cause}
    history = [{"revision": 3, "at": NOW, "summary": "s", "transitions": [move, note]}]
    code, out, _ = run(FakeTarget(lambda p: app_state(history=history)), "history", "mybot")
    assert code == 0
    first, second = out.splitlines()
    assert "VERIFYING -> BAKING" in first and first.startswith("2026-11-28T12:00:00+00:00")
    assert "->" not in second and "* BAKING" in second and "paused by alice: lunch (by alice)" in second


def test_apps(run: Any) -> None:
    apps = [
        {"app": "mybot", "live_environment": "mybot-blue", "deployment_state": "BAKING", "paused": False},
        {"app": "other", "live_environment": "other-green", "deployment_state": None, "paused": True},
    ]
    target = FakeTarget(lambda p: {"ok": True, "apps": apps})
    code, out, _ = run(target, "apps")
    assert code == 0 and target.sent[0]["action"] == "apps"
    assert out.splitlines()[1].split() == ["mybot", "mybot-blue", "BAKING"]
    assert out.splitlines()[2].split() == ["other", "other-green", "-", "paused"]
    _, out, _ = run(target, "apps", "--json")
    assert json.loads(out) == apps


def test_apps_on_a_stack_without_the_action(run: Any) -> None:
    refused = {"ok": False, "error": {"code": "BadInput", "message": "action: Input should be 'status', ..."}}
    code, _, err = run(FakeTarget(lambda p: refused), "apps")
    assert (
        code == 1
        and err == "bluegreen: this stack cannot list apps yet (its functions have no `apps` action): name the app\n"
    )


@pytest.mark.parametrize(
    ("argv", "sent"),
    [
        (["promote", "mybot", "-m", "hotfix", "--force"], {"action": "promote", "force": True}),
        (["approve", "mybot", "-m", "ok"], {"action": "approve"}),
        (["finish-bake", "mybot", "-m", "good"], {"action": "finish_bake"}),
        (["finish_bake", "mybot", "-m", "good"], {"action": "finish_bake"}),
        (
            ["rollback", "mybot", "-m", "bad", "--deployment-id", "mybot-3"],
            {"action": "rollback", "deployment_id": "mybot-3"},
        ),
        (["pause", "mybot", "--by", "alice"], {"action": "pause", "requested_by": "alice"}),
    ],
)
def test_override_actions(run: Any, argv: list[str], sent: dict[str, Any]) -> None:
    target = FakeTarget(lambda p: {"ok": True, "reason": "done it", "state": app_state()})
    code, out, _ = run(target, *argv)
    assert code == 0 and out.startswith(f"{sent['action']}: done it")
    assert sent.items() <= target.sent[0].items()
    assert "force" in target.sent[0] if "--force" in argv else "force" not in target.sent[0]


def test_register_sends_only_what_was_given(run: Any) -> None:
    target = FakeTarget(lambda p: app_state())
    code, _, _ = run(target, "register", "mybot", "--bake-seconds", "300", "--health-grace-seconds", "30", "--by", "me")
    assert code == 0
    assert target.sent[0]["config"] == {"bake_seconds": 300, "health_grace_seconds": 30}
    run(target, "register", "mybot", "--environments", "a-blue", "a-green", "--no-auto-promote", "--alarm", "x",
        "--version-retention", "5", "--signing-key-arn", "arn:aws:kms:k")  # fmt: skip
    assert target.sent[1]["config"] == {
        "environments": ["a-blue", "a-green"], "alarms": ["x"], "auto_promote": False, "version_retention": 5,
        "signing_key_arn": "arn:aws:kms:k",
    }  # fmt: skip


def test_register_sends_per_color_alarms_and_the_consumer_lease(run: Any) -> None:
    target = FakeTarget(lambda p: app_state())
    code, _, _ = run(
        target, "register", "mybot", "--color-alarm", "mybot-green=g-5xx", "--color-alarm", "mybot-blue=b-5xx",
        "--color-alarm", "mybot-green=g-latency", "--consumer-lease", "--handoff-timeout-seconds", "60",
    )  # fmt: skip
    assert code == 0
    assert target.sent[0]["config"] == {
        "color_alarms": {"mybot-green": ["g-5xx", "g-latency"], "mybot-blue": ["b-5xx"]},
        "consumer_lease": True, "handoff_timeout_seconds": 60,
    }  # fmt: skip
    code, _, err = run(target, "register", "mybot", "--color-alarm", "no-equals-sign")
    assert code != 0 and "ENVIRONMENT=ALARM" in err


def test_register_sends_the_traffic_mode_its_steps_the_drain_and_the_standby(run: Any) -> None:
    target = FakeTarget(lambda p: app_state())
    code, _, err = run(
        target, "register", "mybot", "--traffic", "alb", "--alb-rule", "arn:rule", "--alb-target-group",
        "mybot-blue=arn:tg-b", "--alb-target-group", "mybot-green=arn:tg-g", "--steps", "10,50,100",
        "--step-seconds", "120", "--drain-seconds", "90", "--standby", "1/1",
    )  # fmt: skip
    assert code == 0, err
    assert target.sent[0]["config"] == {
        "traffic": "alb", "drain_seconds": 90, "standby": {"min_size": 1, "max_size": 1},
        "alb": {"rule_arn": "arn:rule", "target_groups": {"mybot-blue": "arn:tg-b", "mybot-green": "arn:tg-g"},
                "steps": [10, 50, 100], "step_seconds": 120},
    }  # fmt: skip
    code, _, _ = run(target, "register", "mybot", "--standby", "none")
    assert code == 0 and target.sent[1]["config"] == {"standby": None}
    for bad, message in (
        (["--standby", "1-1"], "MIN/MAX"),
        (["--alb-target-group", "x"], "--alb-rule"),
        (["--alb-rule", "r", "--alb-target-group", "noequals"], "ENVIRONMENT=ARN"),
        (["--alb-rule", "r", "--alb-target-group", "a=b", "--steps", "ten"], "percents"),
    ):
        code, _, err = run(target, "register", "mybot", *bad)
        assert code != 0 and message in err, (bad, err)


def test_function_per_action_from_the_stack_outputs() -> None:
    split = cli.Target({"override": "O", "status": "S", "register": "R"}, "bus", None, None)
    assert [split.function_for(a) for a in ("status", "apps", "register", "promote")] == ["S", "S", "R", "O"]
    single = cli.Target({"override": "O", "status": "", "register": ""}, "bus", None, None)
    assert {single.function_for(a) for a in ("status", "register", "rollback")} == {"O"}


# ------------------------------------------------------------------ wait


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(cli, "_sleep", clock.sleep)
    monkeypatch.setattr(cli, "_monotonic", lambda: clock.now)
    return clock


def scripted(*states: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    queue = list(states)
    return lambda payload: queue.pop(0) if len(queue) > 1 else queue[0]


def test_wait_until_succeeded(run: Any, clock: Clock) -> None:
    answer = scripted(*(app_state(deployment(s)) for s in ("DEPLOYING", "VERIFYING", "BAKING", "SUCCEEDED")))
    code, out, _ = run(FakeTarget(answer), "wait", "mybot", "--interval", "2")
    assert code == 0 and clock.now == 6
    assert [line.split()[-1] for line in out.splitlines()] == ["DEPLOYING", "VERIFYING", "BAKING", "SUCCEEDED"]


def test_wait_for_live(run: Any, clock: Clock) -> None:
    answer = scripted(app_state(deployment("VERIFYING")), app_state(deployment("SUCCEEDED")))
    assert run(FakeTarget(answer), "wait", "mybot", "--for", "BAKING")[0] == 0  # SUCCEEDED is past BAKING


@pytest.mark.parametrize("end", ["ROLLED_BACK", "ABORTED", "SUPERSEDED", "ROLLBACK_REFUSED"])
def test_wait_fails_on_a_failed_deployment(run: Any, clock: Clock, end: str) -> None:
    answer = scripted(app_state(deployment("BAKING")), app_state(deployment(end, reason="alarm mybot-errors")))
    code, _, err = run(FakeTarget(answer), "wait", "mybot")
    assert code == 1 and err == f"bluegreen: mybot-3 ended {end}: alarm mybot-errors\n"


def test_wait_times_out(run: Any, clock: Clock) -> None:
    code, _, err = run(FakeTarget(lambda p: app_state(deployment("BAKING"))), "wait", "mybot", "--timeout", "30")
    assert code == cli.EXIT_TIMEOUT == 124 and clock.now == 30
    assert "timed out after 30s waiting for mybot-3 to reach SUCCEEDED (now BAKING)" in err


def test_wait_for_an_artifact_that_is_superseded(run: Any, clock: Clock) -> None:
    """CI waits for its own upload; the previous deployment's success is not its success."""
    superseded = {"deployment_id": "mybot-4", "from_state": "DEPLOYING", "to_state": "SUPERSEDED", "reason": "newer"}
    mine = deployment("DEPLOYING", id="mybot-4", artifact={"key": "mybot/ci-9.zip", "label": "ci-9-aa"})
    answer = scripted(
        app_state(deployment("SUCCEEDED")),  # the upload is not handled yet: the previous deployment
        app_state(mine),
        app_state(deployment("DEPLOYING", id="mybot-5"), history=[{"transitions": [superseded]}]),
    )
    code, _, err = run(FakeTarget(answer), "wait", "mybot", "--artifact", "mybot/ci-9.zip")
    assert code == 1 and err == "bluegreen: mybot-4 ended SUPERSEDED: newer\n"


def test_wait_json(run: Any, clock: Clock) -> None:
    code, out, _ = run(FakeTarget(lambda p: app_state(deployment("SUCCEEDED"))), "wait", "mybot", "--json")
    assert code == 0 and json.loads(out) == {
        "deployment_id": "mybot-3",
        "state": "SUCCEEDED",
        "reason": "the reason",
        "ok": True,
    }


# ------------------------------------------------------------------ watch


def note(source: str | None, target: str | None, reason: str, tid: str, **extra: Any) -> dict[str, Any]:
    return {
        "app": "mybot", "deployment_id": "mybot-3", "version": "v2-bb75aa", "from_state": source, "to_state": target,
        "live_environment": "mybot-blue", "idle_environment": "mybot-green", "reason": reason,
        "cause": {"type": "health", "id": "e"}, "at": NOW, "transition_id": tid, **extra,
    }  # fmt: skip


EVENTS = [
    [note(None, "DEPLOYING", "uploaded", "mybot:1:0"), note("DEPLOYING", "VERIFYING", "healthy", "mybot:2:0")],
    [note("VERIFYING", "VERIFYING", "paused by alice", "mybot:3:0")],
    [note("VERIFYING", "VERIFYING", "paused by alice", "mybot:3:0")],  # redelivered: shown once
    [
        note(
            None,
            None,
            "mybot/notes.txt is not a zip",
            "mybot:r:0",
            deployment_id=None,
            version=None,
            cause={"type": "artifact", "id": "s3://b/mybot/notes.txt"},
        )
    ],
]


def test_watch_piped_prints_the_state_first_then_plain_lines(run: Any, clock: Clock) -> None:
    target = FakeTarget(lambda p: app_state(deployment("DEPLOYING")), [list(b) for b in EVENTS])
    clock.now = 0
    code, out, _ = run(target, "watch", "mybot", "--seconds", "5")
    assert code == 0 and target.subscribed == ["mybot"]
    lines = out.splitlines()
    assert lines[0].startswith("watching bus for mybot")
    assert lines[1].startswith("now mybot  live mybot-blue") and "mybot-3 DEPLOYING" in lines[2]
    events = [line for line in lines if line.startswith("2026-")]
    assert len(events) == 4  # the redelivery is deduped on transition_id
    assert "- -> DEPLOYING" in events[0] and "DEPLOYING -> VERIFYING" in events[1]
    assert "->" not in events[2] and "* VERIFYING" in events[2] and "paused by alice" in events[2]
    assert "->" not in events[3] and "* upload rejected" in events[3] and "is not a zip" in events[3]
    assert "\x1b" not in out


def test_watch_json_lines(run: Any, clock: Clock) -> None:
    target = FakeTarget(lambda p: app_state(deployment("DEPLOYING")), [list(b) for b in EVENTS])
    code, out, _ = run(target, "watch", "mybot", "--seconds", "5", "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and "status" in records[0] and [r["event"]["transition_id"] for r in records[1:]] == [
        "mybot:1:0", "mybot:2:0", "mybot:3:0", "mybot:r:0"
    ]  # fmt: skip


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_watch_on_a_terminal_redraws_in_place_with_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    stream = Tty()
    view = cli.WatchView(cli.Out(cli.build_parser().parse_args(["watch"]), stream))
    view.status(app_state(deployment("BAKING")))
    first = view.drawn
    view.event(note("VERIFYING", "BAKING", "promoted", "t1"))
    text = stream.getvalue()
    assert "\x1b[33mBAKING\x1b[0m" in text  # an in-flight state in yellow
    assert f"\x1b[{first}F\x1b[J" in text  # moved back up over the block and cleared: redrawn in place
    assert text.count("mybot-3") == 3 and "promoted" in text  # the block twice, then the event


def test_the_readme_embeds_the_current_state_diagram(run: Any) -> None:
    """The README's Mermaid diagram is `bluegreen rules --diagram`: a new row must show up there too."""
    from pathlib import Path

    code, out, _ = run(None, "rules", "--diagram")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert code == 0 and out.strip() in readme, "regenerate it: bluegreen rules --diagram"


# ------------------------------------------------------------------ release gates (issue 11)

HEALTHZ = {"type": "http", "name": "healthz", "path": "/healthz", "expect_body": "ok"}
SMOKE = {"type": "lambda", "name": "smoke", "function": "bluegreen-hook-smoke", "timeout_seconds": 120}


def test_register_sends_checks_given_one_by_one_in_their_phase(run: Any) -> None:
    target = FakeTarget(lambda p: app_state())
    code, _, err = run(
        target, "register", "mybot", "--check-json", json.dumps(HEALTHZ), "--check-json", json.dumps(SMOKE),
        "--phase", "post", "--check-json", json.dumps({"type": "http", "name": "after-swap"}),
    )  # fmt: skip
    assert code == 0, err
    checks = target.sent[0]["config"]["checks"]
    assert [c["name"] for c in checks["pre"]] == ["healthz", "smoke"]
    assert [c["name"] for c in checks["post"]] == ["after-swap"]
    assert checks["pre"][0] == {
        "type": "http", "name": "healthz", "path": "/healthz", "expect_status": 200, "expect_body": "ok",
        "timeout_seconds": 5, "attempts": 3, "interval_seconds": 2, "scheme": "http",
    }  # fmt: skip
    assert checks["pre"][1]["function"] == "bluegreen-hook-smoke" and checks["pre"][1]["timeout_seconds"] == 120


def test_register_reads_checks_from_a_file_and_removes_them_with_no_checks(run: Any, tmp_path: Any) -> None:
    path = tmp_path / "checks.json"
    path.write_text(json.dumps({"pre": [HEALTHZ], "post": [SMOKE]}))
    target = FakeTarget(lambda p: app_state())
    assert run(target, "register", "mybot", "--checks", str(path))[0] == 0
    assert [c["name"] for c in target.sent[0]["config"]["checks"]["post"]] == ["smoke"]
    assert run(target, "register", "mybot", "--no-checks")[0] == 0
    assert target.sent[1]["config"] == {"checks": {"pre": [], "post": []}}
    assert run(target, "register", "mybot", "--bake-seconds", "60")[0] == 0
    assert "checks" not in target.sent[2]["config"]  # not given: the app's checks are kept


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--check-json", '{"type": "http", "name": "h", "attempts": "3"}'], "invalid check: pre.0.http.attempts"),
        (["--check-json", '{"type": "http", "name": "h", "expect": 200}'], "pre.0.http.expect: Extra inputs"),
        (["--check-json", '{"type": "smtp", "name": "h"}'], "invalid check: pre.0"),
        (["--check-json", json.dumps(HEALTHZ), "--phase", "post", "--check-json", json.dumps(HEALTHZ)], "twice"),
        (["--check-json", "{not json"], "is not valid JSON"),
        (["--checks", "/nonexistent/checks.json"], "cannot read --checks"),
        (["--no-checks", "--check-json", json.dumps(HEALTHZ)], "--no-checks takes no"),
    ],
)
def test_register_validates_checks_before_sending(run: Any, argv: list[str], message: str) -> None:
    target = FakeTarget(lambda p: app_state())
    code, _, err = run(target, "register", "mybot", *argv)
    assert code == 1 and message in err, err
    assert target.sent == []  # nothing was sent


def test_register_refuses_a_checks_file_of_another_shape(run: Any, tmp_path: Any) -> None:
    path = tmp_path / "checks.json"
    path.write_text(json.dumps({"pre": [HEALTHZ], "during": []}))
    code, _, err = run(FakeTarget(lambda p: app_state()), "register", "mybot", "--checks", str(path))
    assert code == 1 and "unknown key 'during'" in err


def test_rollback_force_is_passed_through(run: Any) -> None:
    target = FakeTarget(lambda p: {"ok": True, "reason": "rolled back", "state": app_state()})
    assert run(target, "rollback", "mybot", "-m", "the migration is reversible after all", "--force")[0] == 0
    assert target.sent[0]["action"] == "rollback" and target.sent[0]["force"] is True
    assert run(target, "approve", "mybot", "-m", "looked at it", "--force")[0] == 0
    assert target.sent[1]["action"] == "approve" and target.sent[1]["force"] is True


def test_report_check_sends_the_hooks_verdict(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    target = FakeTarget(lambda p: {"ok": True, "outcome": "accepted", "reason": "pre-promotion check smoke passed"})
    code, out, _ = run(
        target, "report-check", "mybot", "--token", "bg1.c.m", "--result", "pass", "-m", "getMe ok", "--by", "hook"
    )
    assert code == 0 and out == "report-check pass: accepted: pre-promotion check smoke passed\n"
    assert target.sent == [
        {"action": "report_check", "app": "mybot", "token": "bg1.c.m", "result": "pass", "reason": "getMe ok",
         "requested_by": "hook"}
    ]  # fmt: skip
    monkeypatch.setenv("BLUEGREEN_CALLBACK_TOKEN", "bg1.from.env")
    ignored = FakeTarget(lambda p: {"ok": True, "outcome": "ignored", "reason": "check smoke already has its result"})
    code, out, _ = run(ignored, "report_check", "mybot", "--result", "fail")
    assert code == 0 and ignored.sent[0]["token"] == "bg1.from.env" and "ignored" in out
    refused = {"ok": False, "error": {"code": "InvalidToken", "message": "bad signature"}}
    code, _, err = run(FakeTarget(lambda p: refused), "report-check", "mybot", "--token", "x", "--result", "fail")
    assert code == 1 and "bad signature" in err


def test_report_check_needs_a_token_and_a_result(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLUEGREEN_CALLBACK_TOKEN", raising=False)
    target = FakeTarget(lambda p: {"ok": True})
    code, _, err = run(target, "report-check", "mybot", "--result", "pass")
    assert code == 1 and "needs --token" in err and target.sent == []
    with pytest.raises(SystemExit):
        run(target, "report-check", "mybot", "--token", "t", "--result", "ok")


CHECK_RUNS = [
    {"name": "healthz", "phase": "pre", "type": "http", "started_at": NOW, "deadline": NOW, "passed": True,
     "reason": "GET http://mybot-green/healthz: 200", "reported_at": NOW},
    {"name": "smoke", "phase": "pre", "type": "lambda", "started_at": NOW, "deadline": "2026-11-28T12:02:00+00:00",
     "passed": None, "reason": "", "reported_at": None},
    {"name": "after-swap", "phase": "post", "type": "http", "started_at": NOW, "deadline": NOW, "passed": False,
     "reason": "GET http://mybot/ready: 500 (expected 200)", "reported_at": NOW},
]  # fmt: skip


def test_status_shows_the_checks_and_the_releases_policy(run: Any) -> None:
    policy = {
        "bake_seconds": 1800, "requires_approval": True, "rollback": "forbid", "notes": "adds column x",
        "checks": {"pre": [HEALTHZ], "post": []},
    }  # fmt: skip
    config = {**app_state()["config"], "checks": {"pre": [HEALTHZ, SMOKE], "post": []},
              "color_alarms": {"mybot-green": ["g-5xx"]}}  # fmt: skip
    state = app_state(deployment("VERIFYING", checks=CHECK_RUNS, policy=policy), config=config)
    code, out, _ = run(FakeTarget(lambda p: state), "status", "mybot")
    assert code == 0
    lines = out.splitlines()
    assert "  check healthz pre (http) passed  GET http://mybot-green/healthz: 200" in lines
    assert "  check smoke pre (lambda) waiting  no report yet; fails at 2026-11-28T12:02:00+00:00" in lines
    assert "  check after-swap post (http) failed  GET http://mybot/ready: 500 (expected 200)" in lines
    assert (
        "  policy (bluegreen.json) bake 1800s; approval required; rollback forbid; checks pre healthz; "
        "notes: adds column x" in lines
    )
    assert "checks pre healthz, smoke" in out and "color alarms mybot-green: g-5xx" in out
    _, out, _ = run(FakeTarget(lambda p: app_state(deployment("BAKING"))), "status", "mybot")
    assert "policy" not in out and "  check " not in out  # no manifest, no checks: nothing to show


def test_status_and_wait_on_a_release_that_forbids_rollback(run: Any, clock: Clock) -> None:
    reason = "ACTION NEEDED: alarm mybot-errors fired; rollback forbidden by this release; deploy a fix"
    state = app_state(deployment("FIX_FORWARD", reason=reason), waiting_for=None)
    _, out, _ = run(FakeTarget(lambda p: state), "status", "mybot")
    assert "ACTION NEEDED: this release forbids rollback; deploy a fix" in out
    assert "bluegreen rollback mybot --force -m REASON" in out
    code, _, err = run(FakeTarget(lambda p: state), "wait", "mybot")
    assert code == 1 and err == f"bluegreen: mybot-3 ended FIX_FORWARD: {reason}\n"


def test_the_config_line_says_how_traffic_moves_the_drain_and_the_standby() -> None:
    line = cli._config_line(
        {
            "alarms": ["e"], "bake_seconds": 60, "traffic": "alb", "drain_seconds": 90,
            "alb": {"rule_arn": "r", "target_groups": {}, "steps": [10, 50, 100], "step_seconds": 120},
            "standby": {"min_size": 1, "max_size": 1}, "consumer_lease": True, "handoff_timeout_seconds": 30,
        }
    )  # fmt: skip
    assert "traffic alb (steps 10,50,100% every 120s)" in line and "drain 90s" in line and "standby 1/1" in line
    assert "consumer lease (hand-over within 30s)" in line
    assert "traffic" not in cli._config_line({"alarms": [], "bake_seconds": 1, "traffic": "cname"})
