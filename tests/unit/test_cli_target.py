"""Where the CLI sends its calls: the local stack only with --local (found from any subfolder, one of
several by --endpoint-url, no credentials needed), the stack's outputs otherwise; fast failures; the shell."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bluegreen import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def listener() -> Iterator[int]:
    """A port where something listens (what `reachable` checks)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def descriptor(directory: Path, port: int, name: str = "stack.json") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "endpoint_url": f"http://127.0.0.1:{port}",
                "region": "us-east-1",
                "bus": f"bus-{port}",
                "override_function": "bluegreen-OverrideFunction",
                "functions": {"OverrideFunction": "bluegreen-OverrideFunction", "StatusFunction": "bluegreen-Status"},
            }
        )
    )
    return path


def args(*argv: str) -> Any:
    parsed = cli.build_parser().parse_args([*argv, "status", "mybot"])
    parsed.endpoint_url_given = cli._given(list(argv), "--endpoint-url")
    return parsed


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BLUEGREEN_LOCAL_DIR", "AWS_ENDPOINT_URL", "BLUEGREEN_STACK"):
        monkeypatch.delenv(name, raising=False)


def test_local_stack_found_from_a_subdirectory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listener: int) -> None:
    descriptor(tmp_path / ".local-stack" / "port-4566", listener)
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    target = cli.resolve_target(args("--local"))
    assert target.local and target.endpoint_url == f"http://127.0.0.1:{listener}" and target.bus == f"bus-{listener}"
    assert target.function_for("status") == "bluegreen-Status"
    assert target.function_for("promote") == "bluegreen-OverrideFunction"


def test_two_local_stacks_on_different_ports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listener: int) -> None:
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen()
    try:
        second = other.getsockname()[1]
        descriptor(tmp_path / ".local-stack" / "port-a", listener)
        descriptor(tmp_path / ".local-stack" / "port-b", second)
        monkeypatch.chdir(tmp_path)
        with pytest.raises(cli.CliError, match=r"several local stacks .* choose one with --endpoint-url"):
            cli.resolve_target(args("--local"))
        chosen = cli.resolve_target(args("--local", "--endpoint-url", f"http://localhost:{second}"))
        assert chosen.bus == f"bus-{second}"
        chosen = cli.resolve_target(args("--local", f"--endpoint-url=http://127.0.0.1:{listener}"))
        assert chosen.bus == f"bus-{listener}"
    finally:
        other.close()


def test_a_dead_stack_is_skipped_when_another_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listener: int
) -> None:
    descriptor(tmp_path / ".local-stack" / "port-dead", free_port())
    descriptor(tmp_path / ".local-stack" / "port-live", listener)
    monkeypatch.chdir(tmp_path)
    assert cli.resolve_target(args("--local")).bus == f"bus-{listener}"


def test_unreachable_local_stack_fails_fast_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = descriptor(tmp_path / ".local-stack", free_port())
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    code = cli.main(["--local", "status", "mybot"])
    err = capsys.readouterr().err
    assert code == 1 and time.monotonic() - started < 3
    assert (
        "cannot reach the local stack at http://127.0.0.1:" in err and "is `bluegreen local up` still running?" in err
    )
    assert str(path) in err and err.count("\n") == 1


def test_no_local_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "project_root", lambda start=None: tmp_path)
    with pytest.raises(cli.CliError, match="no local stack found"):
        cli.resolve_target(args("--local"))


def test_unreachable_endpoint_url_fails_fast(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    code = cli.main(["--endpoint-url", f"http://127.0.0.1:{free_port()}", "status", "mybot"])
    assert code == 1 and time.monotonic() - started < 3
    assert "cannot reach http://127.0.0.1:" in capsys.readouterr().err


class FakeCloudFormation:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        self.asked.append(StackName)
        outputs = {"OverrideFunctionName": "prod-Override", "BusName": "prod-bus", "RegisterFunctionName": "prod-Reg"}
        return {"Stacks": [{"Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]}]}


def test_a_local_stack_folder_never_redirects_aws_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listener: int
) -> None:
    """Security: with real credentials loaded, a .local-stack/ in the cwd must not capture the calls."""
    descriptor(tmp_path / ".local-stack", listener)
    monkeypatch.chdir(tmp_path)
    cloudformation = FakeCloudFormation()
    monkeypatch.setattr(cli.Target, "client", lambda self, service: cloudformation)
    target = cli.resolve_target(args())
    assert not target.local and target.endpoint_url is None
    assert target.functions == {"override": "prod-Override", "status": "", "register": "prod-Reg"}
    assert target.function_for("register") == "prod-Reg" and target.function_for("status") == "prod-Override"


@pytest.mark.parametrize(
    ("argv", "env", "stack"),
    [
        (["--stack=blue2"], {}, "blue2"),
        (["--stack", "blue3"], {}, "blue3"),
        ([], {"BLUEGREEN_STACK": "blue4"}, "blue4"),
    ],
)
def test_stack_name(monkeypatch: pytest.MonkeyPatch, argv: list[str], env: dict[str, str], stack: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cloudformation = FakeCloudFormation()
    monkeypatch.setattr(cli.Target, "client", lambda self, service: cloudformation)
    cli.resolve_target(args(*argv))
    assert cloudformation.asked == [stack]


def test_no_stack_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    class Missing:
        def describe_stacks(self, StackName: str) -> None:
            raise RuntimeError(f"Stack with id {StackName} does not exist\nmore")

    monkeypatch.setattr(cli.Target, "client", lambda self, service: Missing())
    assert cli.main(["--stack=nope", "status", "mybot"]) == 1
    assert (
        capsys.readouterr().err
        == "bluegreen: cannot read the outputs of stack nope: Stack with id nope does not exist\n"
    )


def test_local_needs_no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_PROFILE", "a-profile-that-does-not-exist")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    target = cli.Target({"override": "o"}, "bus", "http://127.0.0.1:1", "us-east-1", local=True)
    client = target.client("lambda")
    credentials = target.session().get_credentials()
    assert client.meta.region_name == "us-east-1" and credentials.access_key == "test"


# ------------------------------------------------------------------ the shell


def run_cli(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bluegreen.cli", *argv], capture_output=True, text=True, timeout=60, **kwargs
    )


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("bluegreen ")


def test_a_closed_pipe_exits_quietly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bluegreen.cli", "rules"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the first line: `| head -0`
    err = process.stderr.read()
    assert process.wait(timeout=60) == cli.EXIT_PIPE and err == b""


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("bluegreen st", {"status"}),
        ("bluegreen --stack prod wa", {"wait", "watch"}),
        ("bluegreen wait mybot --for S", {"SUCCEEDED"}),
        ("bluegreen completion ", {"bash", "zsh"}),
        ("bluegreen local ", {"up", "health"}),
        ("bluegreen promote mybot --f", {"--force"}),
        ("bluegreen --color ", {"auto", "always", "never"}),
    ],
)
def test_bash_completion(line: str, expected: set[str]) -> None:
    script = cli.completion_script(cli.build_parser(), "bash")
    words = line.split(" ")
    program = (
        f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; "
        '_bluegreen; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == expected


def test_zsh_completion_uses_bashcompinit() -> None:
    result = run_cli("completion", "zsh")
    assert result.returncode == 0
    assert result.stdout.startswith("#compdef bluegreen\nautoload -U +X bashcompinit && bashcompinit\n")
    assert "complete -F _bluegreen bluegreen" in result.stdout


# ------------------------------------------------------------------ rules --diagram


def test_diagram_is_mermaid_from_the_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["rules", "--diagram"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("stateDiagram-v2\n")
    for edge in (
        "[*] --> DEPLOYING : ",
        "DEPLOYING --> VERIFYING : ",
        "VERIFYING --> BAKING : ",
        "BAKING --> SUCCEEDED : ",
        "BAKING --> ROLLED_BACK : ",
        "DEPLOYING --> ABORTED : ",
        "DEPLOYING --> SUPERSEDED : ",
    ):
        assert f"    {edge}" in out, edge
    assert "rollback_on_alarm (alarm)" in out and "deploy_to_idle (artifact)" in out
    assert "BAKING --> BAKING" not in out and "VERIFYING --> VERIFYING" not in out  # events are not arrows


def test_diagram_shows_new_rows(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from bluegreen import machine

    rows = machine.describe_rules()
    extra = {"rule": "brand_new_rule", "on": "tick", "when": "BAKING", "guard": "g", "then": "s", "to": "ABORTED"}
    monkeypatch.setattr(machine, "describe_rules", lambda: [*rows, extra])
    assert cli.main(["rules", "--diagram"]) == 0
    assert "BAKING --> ABORTED : brand_new_rule (tick)" in capsys.readouterr().out
    assert cli.main(["rules", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[-1]["rule"] == "brand_new_rule"
