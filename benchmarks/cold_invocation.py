"""Cold invocation: a fresh process imports the handler and handles its FIRST event, against a fresh process
that imports boto3 and makes exactly the same AWS calls. Run by benchmarks/run.py in its own process;
prints one JSON line last. `python benchmarks/cold_invocation.py [runs]`.

- moto's server (with bluegreen's EB extension) runs in this process on 127.0.0.1; every child talks to
  it over HTTP (`AWS_ENDPOINT_URL`), as a Lambda talks to AWS. The stack's table, bus and bucket come
  from template.yaml; the bot `mybot` is registered through the override handler.
- Paths: artifact -> deploy (idle app, a fresh upload) and alarm -> rollback (a deployment BAKING).
  Before every child the world is rewound to the same state (the app item, EB's version and update,
  the CNAMEs), so the handler and the bare replay meet the same moto state.
- The call list comes from an unmeasured cold handler run with botocore `before-parameter-build`
  hooks (so it includes what a cold container does and a warm one skips, e.g. the name look-up);
  a server-side request counter checks that every measured child made that many requests.
- Variants: `venv` (the dev virtualenv, its .pyc) and `layer` (the layer built by shared/Makefile, the
  recipe `sam build` runs, with its ahead-of-time .pyc, plus a runtime dir holding boto3, under
  python3.12 like the Lambda runtime; built for this machine's architecture, since the .aws-sam build
  is arm64 and cannot load here).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "shared", ROOT / "local"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

REGION, ACCOUNT = "us-east-1", "123456789012"
CHILD = ROOT / "benchmarks" / "cold_child.py"
# artifact first: it needs the app idle; the alarm path then leaves a deployment BAKING
PATHS = {"artifact": ("ArtifactFunction", "artifact"), "alarm": ("AlarmFunction", "alarm")}
PY312_VERSION = "3.12"


class Server:
    """moto's server app (EB extension installed) on 127.0.0.1, counting the requests it serves."""

    def __init__(self) -> None:
        import logging

        from bluegreen_local import moto_beanstalk
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto_beanstalk.install()
        moto_app = DomainDispatcherApplication(create_backend_app)
        self.requests = 0
        self._lock = threading.Lock()

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            with self._lock:
                self.requests += 1
            return moto_app(environ, start_response)

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, name="moto-server", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def python312() -> str | None:
    """The Lambda runtime's Python (3.12), as `make sam-build` finds it (pyenv or PATH)."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(root.glob(f"{PY312_VERSION}.*/bin/python{PY312_VERSION}")) if root.is_dir() else []
    found = str(candidates[-1]) if candidates else shutil.which(f"python{PY312_VERSION}")
    if not found:
        return None
    check = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    return found if check.returncode == 0 and check.stdout.strip() == "(3, 12)" else None


def build_layer(cache: Path) -> tuple[dict[str, Any] | None, str | None]:
    """shared/Makefile's `build-BluegreenLayer` (what `sam build` runs) for this machine's platform, and a
    runtime dir with the venv's boto3/botocore versions. Cached by requirements, sources and versions."""
    import hashlib
    import platform

    import boto3
    import botocore

    python = python312()
    if python is None:
        return None, f"python{PY312_VERSION} not found (pyenv or PATH); `make sam-build` needs it too"
    machine = platform.machine()
    plat = {"x86_64": "manylinux2014_x86_64", "aarch64": "manylinux2014_aarch64"}.get(machine)
    if plat is None:
        return None, f"no manylinux platform tag for {machine}"
    digest = hashlib.sha256()
    for path in sorted((ROOT / "shared").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    digest.update(f"{python}{plat}{boto3.__version__}{botocore.__version__}".encode())
    target = cache / digest.hexdigest()[:16]
    layer, runtime = target / "layer" / "python", target / "runtime"
    if not (target / "done").exists():
        shutil.rmtree(target, ignore_errors=True)
        env = {**os.environ, "PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        make = [
            "make",
            "-s",
            "-C",
            str(ROOT / "shared"),
            "build-BluegreenLayer",
            f"ARTIFACTS_DIR={target / 'layer'}",
            f"PLATFORM={plat}",
            f"PYTHON={python}",
        ]
        pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target", str(runtime)]
        pip += [f"boto3=={boto3.__version__}", f"botocore=={botocore.__version__}"]
        for command in (make, pip):
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
                return None, f"`{' '.join(command[:6])} ...` failed: {tail}"
        (target / "done").write_text("ok")
    pyc = sum(1 for _ in layer.rglob("*.pyc"))
    built = ROOT / ".aws-sam" / "build" / "BluegreenLayer" / "python"
    sam_build = None
    if built.is_dir():
        sos = [p.name for p in built.rglob("*.so")][:1]
        sam_build = {"path": str(built.relative_to(ROOT)), "pyc": sum(1 for _ in built.rglob("*.pyc")), "so": sos}
    return {
        "python": python,
        "platform": plat,
        "layer": str(layer),
        "runtime": str(runtime),
        "layer_pyc": pyc,
        "sam_build": sam_build,
    }, None


class ColdWorld:
    def __init__(self, work: Path) -> None:
        for name in ("AWS_PROFILE",):
            os.environ.pop(name, None)
        os.environ.update(
            AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION
        )
        self.server = Server()
        os.environ["AWS_ENDPOINT_URL"] = self.server.endpoint
        import boto3
        from bluegreen import service
        from bluegreen_local import moto_beanstalk
        from bluegreen_local.template import provision

        from tests.integration.conftest import World

        session = boto3.session.Session(region_name=REGION)
        self.stack = provision(session)
        os.environ.update(self.stack.environment("ArtifactFunction"))
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"  # this process's handlers (setup only)
        service.reset()
        self.work = work
        self.world = World(self.stack, session, moto_beanstalk.backend(ACCOUNT, REGION))
        self.world.events.remove_targets(Rule="capture", EventBusName=self.stack.bus, Ids=["q"])
        self.world.events.delete_rule(Name="capture", EventBusName=self.stack.bus)
        self.world.create_bot()
        response = self.world.register(bake_seconds=3600, drain_seconds=0)  # no DNS to drain in moto
        assert response["ok"], response
        self.dynamodb = session.client("dynamodb")
        self.eb = session.client("elasticbeanstalk")

    # ------------------------------------------------------------------ state
    def item(self) -> dict[str, Any]:
        key = {"pk": {"S": "APP#mybot"}, "sk": {"S": "STATE"}}
        return self.dynamodb.get_item(TableName=self.stack.table, Key=key, ConsistentRead=True)["Item"]

    def cnames(self) -> dict[str, str]:
        envs = self.eb.describe_environments(ApplicationName="mybot")["Environments"]
        return {e["EnvironmentName"]: e["CNAME"] for e in envs if e.get("Status") != "Terminated"}

    def prepare_artifact(self) -> tuple[dict[str, Any], Any]:
        from tests.integration.conftest import bundle

        key = f"mybot/cold-{uuid.uuid4().hex[:8]}.zip"
        response = self.world.s3.put_object(Bucket=self.stack.bucket, Key=key, Body=bundle())
        event = self.world.object_created(key, response)
        before = self.item()
        backend = self.world.eb_backend

        def rewind() -> None:
            self.dynamodb.put_item(TableName=self.stack.table, Item=before)
            for label in [k for k in backend.versions if k[0] == "mybot" and k[1] != "v0"]:
                backend.versions.pop(label, None)
                backend.outcomes.pop(label, None)
            for name in ("mybot-blue", "mybot-green"):
                backend.updates.pop(name, None)
                env = backend.environment(name)
                env.status, env.abortable_operation_in_progress = "Ready", False

        return event, rewind

    def prepare_alarm(self) -> tuple[dict[str, Any], Any]:
        """A deployment BAKING on the idle color (deployed, updated, promoted by the real handlers)."""
        from tests.integration.conftest import _now_iso, sample

        out = self.world.upload(f"bake-{uuid.uuid4().hex[:8]}")
        assert out["results"][0].get("outcome") == "accepted", out
        target = out["results"][0]["state"]["deployment"]["target_environment"]
        for emitted in self.world.eb_backend.complete_update(target, health="Ok"):
            self.world.invoke("health", emitted)
        before = self.item()
        assert '"BAKING"' in before["state"]["S"], before["state"]["S"][:300]
        cnames = self.cnames()
        self.world.cloudwatch.set_alarm_state(AlarmName="mybot-errors", StateValue="ALARM", StateReason="bench")
        event = sample("alarm/alarm-eventbridge.json")
        event["id"] = str(uuid.uuid4())
        event["detail"]["alarmName"] = "mybot-errors"
        event["detail"]["state"]["value"] = "ALARM"
        event["detail"]["state"]["timestamp"] = _now_iso()
        event["time"] = _now_iso()

        def rewind() -> None:
            self.dynamodb.put_item(TableName=self.stack.table, Item=before)
            if self.cnames() != cnames:
                self.eb.swap_environment_cnames(
                    SourceEnvironmentName="mybot-blue", DestinationEnvironmentName="mybot-green"
                )
            assert self.cnames() == cnames

        return event, rewind

    # ------------------------------------------------------------------ children
    def env(self, logical_id: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BLUEGREEN_", "PYTHON", "POWERTOOLS_"))}
        env.update(self.stack.environment(logical_id))  # what the template gives the function (log level INFO)
        env["AWS_ENDPOINT_URL"] = self.server.endpoint
        return env

    def child(self, python: str, flags: list[str], spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        path = self.work / f"spec-{uuid.uuid4().hex}.json"
        path.write_text(json.dumps(spec))
        self.server.requests = 0
        done = subprocess.run(
            [python, *flags, str(CHILD), str(path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        path.unlink()
        if done.returncode != 0:
            raise RuntimeError(f"cold child failed: {done.stderr.strip().splitlines()[-3:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["requests"] = self.server.requests
        result["stderr"] = done.stderr
        return result


def context_spec(stack: Any, logical_id: str) -> dict[str, Any]:
    name = stack.function_name(logical_id)
    return {
        "function_name": name,
        "function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        "request_id": str(uuid.uuid4()),
        "memory_mb": 256,
        "timeout_s": stack.functions[logical_id].timeout,
    }


def botocore_config() -> dict[str, Any]:
    """bluegreen's botocore Config, read from the code (the bare child builds the same)."""
    from bluegreen.aws.clients import _config

    return dict(_config()._user_provided_options)


def measure(runs: int) -> dict[str, Any]:
    from botocore import xform_name

    cache = Path(tempfile.gettempdir()) / "bluegreen-bench-layer"
    layer, layer_error = build_layer(cache)
    variants: dict[str, tuple[str, list[str], list[str], list[str]]] = {
        # name: (python, flags, handler sys.path prefix, bare sys.path prefix)
        "venv": (sys.executable, [], [str(ROOT / "shared")], []),
    }
    if layer is not None:
        variants["layer"] = (layer["python"], ["-I"], [layer["layer"], layer["runtime"]], [layer["runtime"]])
    with tempfile.TemporaryDirectory() as tmp:
        world = ColdWorld(Path(tmp))
        config = botocore_config()
        results: dict[str, Any] = {}
        try:
            for path, (logical_id, function) in PATHS.items():
                event, rewind = world.prepare_alarm() if path == "alarm" else world.prepare_artifact()
                env = world.env(logical_id)
                fn_dir = str(ROOT / "functions" / function)
                per_variant: dict[str, Any] = {}
                for variant, (python, flags, handler_path, bare_path) in variants.items():
                    base = {"event": event, "context": context_spec(world.stack, logical_id)}
                    # unmeasured: compile/warm caches, and record the calls a cold container makes
                    record_to = Path(tmp) / f"calls-{path}-{variant}.json"
                    rewind()
                    primed = world.child(
                        python,
                        [*flags, "-X", "importtime"],
                        {**base, "mode": "record", "sys_path": [fn_dir, *handler_path], "record_to": str(record_to)},
                        env,
                    )
                    calls = json.loads(record_to.read_text())
                    for call in calls:
                        call["method"] = xform_name(call["operation"])
                    bare_spec = {"mode": "bare", "calls": calls, "config": config, "sys_path": bare_path}
                    handler_spec = {**base, "mode": "handler", "sys_path": [fn_dir, *handler_path]}
                    rewind()
                    world.child(python, flags, bare_spec, env)  # unmeasured warm-up of the bare side
                    samples: dict[str, list[dict[str, Any]]] = {"handler": [], "bare": []}
                    for _ in range(runs):
                        for kind, spec in (("handler", handler_spec), ("bare", bare_spec)):
                            rewind()
                            samples[kind].append(world.child(python, flags, spec, env))
                    per_variant[variant] = summarize(primed, calls, samples)
                rewind()
                results[path] = per_variant
        finally:
            world.server.close()
    return {"runs": runs, "paths": results, "layer": layer, "layer_error": layer_error}


def first_event_imports(stderr: str, minimum_ms: float = 2.0) -> dict[str, float]:
    """`-X importtime` of the recording run: what the FIRST EVENT imports (the top-level imports logged after
    `app`), cumulative ms by top-level package, largest first."""
    seen_app, costs = False, {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative_us, module = line.removeprefix("import time:").split("|", 2)
        depth = (len(module) - len(module.lstrip()) - 1) // 2
        name = module.strip()
        if depth != 0:
            continue
        if name == "app":
            seen_app = True
            continue
        if seen_app:
            top = name.split(".")[0]
            costs[top] = costs.get(top, 0.0) + int(cumulative_us) / 1000
    return {k: round(v, 1) for k, v in sorted(costs.items(), key=lambda kv: -kv[1]) if v >= minimum_ms}


def _outcome(out: Any) -> dict[str, Any]:
    """The first result of a handler's answer: its outcome, rule and resulting deployment state."""
    first = out["results"][0] if isinstance(out, dict) and "results" in out else out
    if not isinstance(first, dict):
        return {"raw": str(first)[:200]}
    deployment = (first.get("state") or {}).get("deployment") or {}
    return {"outcome": first.get("outcome"), "rule": first.get("rule"), "to_state": deployment.get("state")}


def summarize(primed: dict[str, Any], calls: list[dict[str, Any]], samples: dict[str, list[dict[str, Any]]]) -> dict:
    med = {
        kind: {part: statistics.median(s[part] for s in runs) for part in ("import_s", "first_event_s", "total_s")}
        for kind, runs in samples.items()
    }
    outcomes = [_outcome(s["out"]) for s in samples["handler"]]
    return {
        "handler": med["handler"],
        "bare": med["bare"],
        "ratio": med["handler"]["total_s"] / med["bare"]["total_s"],
        "handler_samples_s": [s["total_s"] for s in samples["handler"]],
        "bare_samples_s": [s["total_s"] for s in samples["bare"]],
        "calls": len(calls),
        "operations": [f"{c['service']}.{c['operation']}" for c in calls],
        "requests_handler": sorted({s["requests"] for s in samples["handler"]}),
        "requests_bare": sorted({s["requests"] for s in samples["bare"]}),
        "bare_errors": sorted({e for s in samples["bare"] for e in s["errors"]}),
        "outcome": outcomes[-1],
        "outcomes_stable": all(o == outcomes[0] for o in outcomes),
        "primed_outcome": _outcome(primed["out"]),
        "bluegreen_from": primed.get("bluegreen_from"),
        "first_event_imports_ms": first_event_imports(primed.get("stderr", "")),
        "boto3_from": primed.get("boto3_from"),
    }


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    result = measure(runs)
    sys.stdout.write("\n" + json.dumps(result, default=str) + "\n")


if __name__ == "__main__":
    main()
