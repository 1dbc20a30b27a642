"""Concurrent invocations on the local stack log under their own function's name, request and trigger.

The local stack runs every function in one process (one thread per invocation) with one shared
powertools Logger; without per-invocation keys, the last `append_keys` would name every line.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from bluegreen.entry import get_logger, lambda_entry
from bluegreen_local.stack import LocalStack, install_invocation_logging, invocation_keys
from bluegreen_local.template import read_stack


@pytest.fixture(autouse=True)
def info_level() -> Iterator[None]:
    """Other tests in the same process (the demo, the local stack) may have raised the level to WARNING."""
    service = logging.getLogger("bluegreen")
    before = service.level
    service.setLevel(logging.INFO)
    yield
    service.setLevel(before)


def _capture() -> tuple[io.StringIO, logging.Handler]:
    """A handler on the service logger that renders with powertools' own formatter (JSON lines)."""
    powertools = get_logger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.getLogger("bluegreen").handlers[0].formatter)
    powertools.addHandler(handler)
    install_invocation_logging()
    return stream, handler


def test_concurrent_invocations_log_their_own_function() -> None:
    stream, handler = _capture()
    both_appended = threading.Barrier(2, timeout=10)
    first_logged = threading.Event()

    def body(first: bool) -> Any:
        def run(event: Any, context: Any) -> dict[str, Any]:
            both_appended.wait()  # both invocations have appended their keys to the shared logger
            if not first:
                first_logged.wait(10)
            get_logger().info("working", extra={"step": event["step"]})
            if first:
                first_logged.set()
            return {}

        return run

    stack = LocalStack(app=None)
    stack.stack, _ = read_stack("bluegreen")
    stack.functions = {
        "ArtifactFunction": SimpleNamespace(lambda_handler=lambda_entry("artifact")(body(True))),
        "HealthFunction": SimpleNamespace(lambda_handler=lambda_entry("health")(body(False))),
    }
    try:
        threads = [
            threading.Thread(target=stack.invoke, args=("ArtifactFunction", {"step": "upload"})),
            threading.Thread(target=stack.invoke, args=("HealthFunction", {"step": "health"})),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)
    finally:
        get_logger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if '"working"' in line]
    by_step = {line["step"]: line for line in lines}
    assert set(by_step) == {"upload", "health"}
    assert by_step["upload"]["function_name"] == "bluegreen-ArtifactFunction"
    assert by_step["upload"]["trigger"] == "artifact"
    assert by_step["health"]["function_name"] == "bluegreen-HealthFunction"
    assert by_step["health"]["trigger"] == "health"
    assert by_step["upload"]["request_id"] != by_step["health"]["request_id"]
    assert by_step["upload"]["request_id"] == by_step["upload"]["function_request_id"]
    assert [e for e in stack.invocations if e[2] != "ok"] == []


def test_invocation_keys_nest_and_clear() -> None:
    stream, handler = _capture()
    try:
        with invocation_keys(function_name="outer"):
            with invocation_keys(trigger="inner"):
                get_logger().info("nested")
            get_logger().info("outer-only")
        get_logger().info("outside")
    finally:
        get_logger().removeHandler(handler)
    lines = {line["message"]: line for line in map(json.loads, stream.getvalue().splitlines())}
    assert (lines["nested"]["function_name"], lines["nested"]["trigger"]) == ("outer", "inner")
    assert lines["outer-only"]["function_name"] == "outer"
    assert lines["outer-only"].get("trigger") != "inner"
    assert "function_name" not in lines["outside"]
