"""One cold process for benchmarks/cold_invocation.py: `python cold_child.py <spec.json>`.

Mode "handler": put the function's directory (and, for the built layer, the layer and a runtime boto3)
first on sys.path, `import app`, and handle ONE event, as a fresh Lambda container does.
Mode "bare": `import boto3` and make exactly the calls listed in the spec (same params, same botocore
Config as bluegreen's clients), reading every streamed body, as hand-written boto3 code would.
Mode "record": like "handler", plus botocore hooks that write the AWS calls made to the spec's
`record_to` file (unmeasured: it gives the bare mode its call list).

Prints one JSON line last: the seconds spent importing and handling, measured inside the process from
just before the first import of the measured code (interpreter start-up is the same for both modes).
Only `json`, `sys` and `time` are imported before the clock starts, by both modes.
"""

import json
import sys
import time


class Context:
    def __init__(self, spec: dict) -> None:  # type: ignore[type-arg]
        self.function_name = spec["function_name"]
        self.invoked_function_arn = spec["function_arn"]
        self.aws_request_id = spec["request_id"]
        self.memory_limit_in_mb = spec["memory_mb"]
        self.timeout_seconds = spec["timeout_s"]
        self.started = time.monotonic()

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


def _encode(value):  # type: ignore[no-untyped-def]
    import base64
    import datetime

    if isinstance(value, bytes | bytearray):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime.datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value):  # type: ignore[no-untyped-def]
    if isinstance(value, dict):
        if "__bytes__" in value:
            import base64

            return base64.b64decode(value["__bytes__"])
        if "__datetime__" in value:
            import datetime

            return datetime.datetime.fromisoformat(value["__datetime__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _install_recorder(calls: list) -> None:  # type: ignore[type-arg]
    import boto3.session

    original = boto3.session.Session.client

    def client(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        made = original(self, *args, **kwargs)
        service = made.meta.service_model.service_name

        def record(params, model, **_):  # type: ignore[no-untyped-def]
            calls.append({"service": service, "operation": model.name, "params": _encode(params)})

        made.meta.events.register("before-parameter-build.*.*", record)
        return made

    boto3.session.Session.client = client  # type: ignore[method-assign]


def handler(spec: dict, record: bool) -> dict:  # type: ignore[type-arg]
    event = spec["event"]
    context = Context(spec["context"])
    calls: list = []  # type: ignore[type-arg]
    t0 = time.perf_counter()
    for path in reversed(spec["sys_path"]):
        sys.path.insert(0, path)
    import app

    t1 = time.perf_counter()
    if record:
        _install_recorder(calls)
        t1 = time.perf_counter()
    out = app.lambda_handler(event, context)
    t2 = time.perf_counter()
    if record:
        with open(spec["record_to"], "w", encoding="utf-8") as handle:
            json.dump(calls, handle)
    import bluegreen

    return {
        "import_s": t1 - t0,
        "first_event_s": t2 - t1,
        "total_s": t2 - t0,
        "out": out,
        "bluegreen_from": bluegreen.__file__,
        "boto3_from": sys.modules["boto3"].__file__ if "boto3" in sys.modules else None,
    }


def bare(spec: dict) -> dict:  # type: ignore[type-arg]
    calls = spec["calls"]
    t0 = time.perf_counter()
    for path in reversed(spec["sys_path"]):
        sys.path.insert(0, path)
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    t1 = time.perf_counter()
    config = Config(**spec["config"])
    session = boto3.session.Session()
    clients: dict = {}  # type: ignore[type-arg]
    errors = []
    for call in calls:
        service = call["service"]
        if service not in clients:
            clients[service] = session.client(service, config=config)
        try:
            response = getattr(clients[service], call["method"])(**_decode(call["params"]))
        except ClientError as error:
            errors.append(f"{call['method']}: {error.response['Error']['Code']}")
            continue
        body = response.get("Body")
        if body is not None and hasattr(body, "read"):
            while body.read(1 << 20):
                pass
    t2 = time.perf_counter()
    return {
        "import_s": t1 - t0,
        "first_event_s": t2 - t1,
        "total_s": t2 - t0,
        "errors": errors,
        "boto3_from": boto3.__file__,
    }


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        spec = json.load(handle)
    mode = spec["mode"]
    result = bare(spec) if mode == "bare" else handler(spec, record=mode == "record")
    sys.stdout.write("\n" + json.dumps(result, default=str) + "\n")


if __name__ == "__main__":
    main()
