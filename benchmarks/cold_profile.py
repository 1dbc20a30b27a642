"""Where a cold invocation's time goes: cold_invocation.py's world (moto's server, the rewound app state)
and cold_child.py's handler mode, for one path, in the dev virtualenv. Not part of `make bench`.

    .venv/bin/python benchmarks/cold_profile.py alarm time 5      # import / first event / total, medians
    .venv/bin/python benchmarks/cold_profile.py alarm profile      # cProfile of one cold child (kept in /tmp)
    .venv/bin/python benchmarks/cold_profile.py alarm importtime   # -X importtime: what the first event imports
    .venv/bin/python benchmarks/cold_profile.py alarm builds       # the pydantic schemas built, in order, ms each

Paths: alarm (rollback of a BAKING deployment) or artifact (deploy to the idle color). The profiler and the
import tracer inflate every figure; compare runs of the same mode only (`builds` imports pydantic before the
clock starts, so its import time is not the handler's).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import cold_invocation as ci

# Run in the child before cold_child.py: log each pydantic model whose schema gets built, and how long it took.
BUILDS = """
import runpy, sys, time
import pydantic._internal._model_construction as construction
original = construction.complete_model_class
def complete_model_class(cls, *args, **kwargs):
    started = time.perf_counter()
    try:
        return original(cls, *args, **kwargs)
    finally:
        ms = (time.perf_counter() - started) * 1000
        print(f"BUILD {cls.__module__}.{cls.__qualname__} {ms:.1f} ms", file=sys.stderr)
construction.complete_model_class = complete_model_class
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "alarm"
    mode = sys.argv[2] if len(sys.argv) > 2 else "time"
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    logical_id, function = ci.PATHS[path]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        world = ci.ColdWorld(work)
        try:
            event, rewind = world.prepare_alarm() if path == "alarm" else world.prepare_artifact()
            env = world.env(logical_id)
            spec = {
                "event": event,
                "context": ci.context_spec(world.stack, logical_id),
                "mode": "handler",
                "sys_path": [str(ci.ROOT / "functions" / function), str(ci.ROOT / "shared")],
            }
            rewind()
            world.child(sys.executable, [], spec, env)  # unmeasured: compiles the .pyc
            out = Path(tempfile.gettempdir()) / f"bluegreen-cold-{path}"  # .prof / .importtime kept here
            flags: list[str] = {
                "profile": ["-m", "cProfile", "-o", f"{out}.prof"],
                "importtime": ["-X", "importtime"],
                "builds": [str(work / "builds.py")],
            }.get(mode, [])
            (work / "builds.py").write_text(BUILDS)
            results: list[dict[str, Any]] = []
            for _ in range(runs):
                rewind()
                result = world.child(sys.executable, flags, spec, env)
                results.append(result)
                times = {k: round(result[k] * 1000, 1) for k in ("import_s", "first_event_s", "total_s")}
                print(path, times, ci._outcome(result["out"]), f"requests={result['requests']}")
                if mode == "builds":
                    print("\n".join(line for line in result["stderr"].splitlines() if line.startswith("BUILD ")))
            rewind()
        finally:
            world.server.close()
    medians = {k: round(statistics.median(r[k] for r in results) * 1000, 1) for k in ("import_s", "first_event_s")}
    print("median ms:", medians, "total", round(statistics.median(r["total_s"] for r in results) * 1000, 1))
    if mode == "profile":
        import pstats

        pstats.Stats(f"{out}.prof").sort_stats("cumulative").print_stats(40)
    elif mode == "importtime":
        text = results[-1]["stderr"]
        Path(f"{out}.importtime").write_text(text)
        print("first event imports (cumulative ms):", ci.first_event_imports(text, minimum_ms=0.5))


if __name__ == "__main__":
    main()
