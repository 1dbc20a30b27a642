"""Concurrency on the local stack: 50 threads deliver the same event, or conflicting ones, at once.

The handlers run in-process (`stack.invoke`), behind a barrier so that they really start together,
against moto's threaded server. EB updates never finish on their own (`update_seconds` is an hour):
a test finishes one with `stack.eb.complete_update(...)`. The watchdog's schedule is an hour too, so
only the ticks a test sends itself run.

What must hold whatever the interleaving: one transition per decision (no double commit), no lost
update (every accepted invocation has its history record, and no record is reused), no double swap,
no second UpdateEnvironment of a color that is still updating, and the state agrees with EB.
Every invocation either answers or raises `Transient` (AWS would retry it): the tests re-invoke each
one that raised, once, and check the invariants again.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.conftest import running_stack

pytestmark = pytest.mark.e2e

THREADS = 50
ACCOUNT, REGION = "123456789012", "us-east-1"
TERMINAL = ("ROLLED_BACK", "SUCCEEDED")
# Longer than the controller's default `lease_wait_seconds` (5 s), shorter than botocore's read timeout.
SLOW_SWAP_SECONDS = 7.0


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    with running_stack(app=None, update_seconds=3600, tick_seconds=3600) as local:
        yield local


# ====================================================================== helpers


def wait_for(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not met in {timeout}s")


def settle(stack: Any, quiet: float = 2.5, timeout: float = 60.0) -> None:
    """Wait until the stack's own deliveries (EventBridge -> queue -> function) have stopped:
    no message in any rule's queue and no invocation for `quiet` seconds (longer than the
    dispatcher's long poll and Lambda's retry backoff)."""
    sqs = stack.sqs
    urls = [sqs.get_queue_url(QueueName=f"{rule.name}-target")["QueueUrl"] for rule in stack.stack.rules]
    deadline = time.monotonic() + timeout
    seen, since = len(stack.invocations), time.monotonic()
    while time.monotonic() < deadline:
        waiting = 0
        for url in urls:
            attributes = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            waiting += int(attributes["ApproximateNumberOfMessages"])
            waiting += int(attributes["ApproximateNumberOfMessagesNotVisible"])
        if waiting or len(stack.invocations) != seen:
            seen, since = len(stack.invocations), time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.2)
    raise AssertionError("the stack's deliveries did not settle")


def override(stack: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return dict(stack.override(payload))


def register(stack: Any, name: str, *, create: bool = True) -> None:
    """A bot as `Bot` in test_local_stack makes it: blue live on v0, green idle, one alarm."""
    if create:
        stack.create_demo_app(name)
    registered = override(
        stack,
        {
            "action": "register",
            "app": name,
            "reason": "e2e concurrency",
            "requested_by": "pytest",
            "config": {
                "environments": [f"{name}-blue", f"{name}-green"],
                "live_environment": f"{name}-blue",
                "alarms": [f"{name}-errors"],
                "bake_seconds": 3600,
            },
        },
    )
    assert registered["ok"], registered


def status(stack: Any, name: str) -> dict[str, Any]:
    found = override(stack, {"action": "status", "app": name, "history_limit": 200})
    assert found["ok"], found
    return found


def phase(stack: Any, name: str) -> str | None:
    deployment = status(stack, name)["deployment"]
    return deployment["state"] if deployment else None


def upload(stack: Any, name: str, build: str) -> dict[str, Any]:
    from bluegreen_local.demo import bundle

    s3 = stack.session.client("s3")
    return dict(s3.put_object(Bucket=stack.stack.bucket, Key=f"{name}/{build}.zip", Body=bundle(build)))


def object_created(stack: Any, key: str, put: dict[str, Any], event_id: str) -> dict[str, Any]:
    """S3's "Object Created" as EventBridge delivers it (as the duplicate in test_local_stack)."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": now_z(),
        "region": REGION,
        "resources": [],
        "detail": {
            "bucket": {"name": stack.stack.bucket},
            "object": {"key": key, "size": 10, "etag": put["ETag"].strip('"'), "version-id": put["VersionId"]},
        },
    }


def alarm_fired(name: str, event_id: str = "storm-alarm") -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": ACCOUNT,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": {
            "alarmName": f"{name}-errors",
            "previousState": {"value": "OK", "reason": "", "timestamp": now.isoformat()},
            "state": {"value": "ALARM", "reason": "error storm", "timestamp": now.isoformat()},
        },
    }


def health_changed(environment: str, event_id: str, old: str, new: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Health status change",
        "source": "aws.elasticbeanstalk",
        "account": ACCOUNT,
        "time": now_z(),
        "region": REGION,
        "resources": [],
        "detail": {
            "Status": "Environment health changed",
            "EventDate": int(time.time() * 1000),
            "ApplicationName": environment.rsplit("-", 1)[0],
            "Message": f"Environment health has transitioned from {old} to {new}.",
            "EnvironmentName": environment,
            "Severity": "INFO",
        },
    }


def scheduled(tick_id: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": tick_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": now_z(),
        "region": REGION,
        "resources": [],
        "detail": {},
    }


def now_z() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_baking(stack: Any, name: str) -> dict[str, Any]:
    """Upload build-1, let EB finish the update on green: the controller verifies, swaps, bakes."""
    upload(stack, name, "build-1")
    wait_for(lambda: f"{name}-green" in stack.eb.updates, what="the update of the idle color started")
    stack.eb.complete_update(f"{name}-green", health="Ok")
    wait_for(lambda: phase(stack, name) == "BAKING", what="BAKING")
    settle(stack)
    baking = status(stack, name)
    assert baking["live_environment"] == f"{name}-green"
    assert baking["pending_effects"] == []
    assert_agrees_with_eb(stack, baking)
    return baking


# ---------------------------------------------------------------------- the storm


@dataclass
class Call:
    function: str
    event: Any
    label: str


@dataclass
class Storm:
    calls: list[Call]
    results: list[Any] = field(default_factory=list)  # a handler's answer, or the exception it raised
    seconds: float = 0.0

    def answered(self) -> list[tuple[Call, dict[str, Any]]]:
        return [(c, r) for c, r in zip(self.calls, self.results, strict=True) if isinstance(r, dict)]

    def transient(self) -> list[Call]:
        from bluegreen.errors import Transient

        return [c for c, r in zip(self.calls, self.results, strict=True) if isinstance(r, Transient)]

    def unexpected(self) -> list[tuple[str, BaseException]]:
        from bluegreen.errors import Transient

        return [
            (c.label, r)
            for c, r in zip(self.calls, self.results, strict=True)
            if isinstance(r, BaseException) and not isinstance(r, Transient)
        ]

    def tally(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for _, result in self.answered():
            counts[outcome_of(result)] += 1
        counts["transient"] = len(self.transient())
        counts["unexpected"] = len(self.unexpected())
        return counts


def outcome_of(result: dict[str, Any]) -> str:
    """accepted / ignored / refused / rejected:<code> / watchdog:<...>, whatever the handler."""
    if "results" in result and isinstance(result["results"], list):  # the artifact handler's batch
        (only,) = result["results"]
        result = only
    if not result.get("ok"):
        return f"rejected:{result['error']['code']}"
    if result.get("ignored"):
        return "ignored"
    return str(result.get("outcome", "answered"))


def storm(stack: Any, calls: list[Call]) -> Storm:
    """Run every call on its own thread, all released at once by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Call) -> Any:
        barrier.wait()
        try:
            return stack.invoke(call.function, call.event)
        except Exception as error:  # counted by the test
            return error

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        results = list(pool.map(run, calls))
    return Storm(calls, results, time.monotonic() - started)


def retry_failed(stack: Any, first: Storm) -> Storm:
    """What AWS does with an invocation that raised: run it again (once, here)."""
    calls = first.transient()
    results: list[Any] = []
    for call in calls:
        try:
            results.append(stack.invoke(call.function, call.event))
        except Exception as error:  # counted by the test
            results.append(error)
    return Storm(calls, results)


# ---------------------------------------------------------------------- invariants


def assert_agrees_with_eb(stack: Any, state: dict[str, Any]) -> None:
    """The color holding the production CNAME in EB is the state's live color, and nothing is pending."""
    eb = stack.session.client("elasticbeanstalk")
    app = state["config"]["application_name"]
    environments = eb.describe_environments(ApplicationName=app)["Environments"]
    holders = [e["EnvironmentName"] for e in environments if e["CNAME"] == state["production_cname"]]
    assert holders == [state["live_environment"]], (holders, state["live_environment"])
    assert state["pending_effects"] == []


def transitions(history: list[dict[str, Any]], after: int = 0) -> list[tuple[int, str | None, str | None, str]]:
    """(revision, from, to, deployment) of every deployment transition recorded after a revision."""
    return [
        (record["revision"], n["from_state"], n["to_state"], n["deployment_id"])
        for record in history
        if record["revision"] > after
        for n in record["transitions"]
        if n["deployment_id"] and n["from_state"] != n["to_state"]
    ]


def assert_history_is_a_chain(history: list[dict[str, Any]]) -> None:
    """No lost update: one record per revision, revisions strictly increasing, every transition of a
    deployment starts where its previous one ended."""
    revisions = [record["revision"] for record in history]
    assert len(revisions) == len(set(revisions)), f"a revision was reused: {revisions}"
    assert revisions == sorted(revisions), revisions
    where: dict[str, str | None] = {}
    for revision, before, after, deployment in transitions(history):
        assert where.get(deployment) == before, (
            f"revision {revision}: {deployment} moved {before} -> {after} but was {where.get(deployment)}"
        )
        where[deployment] = after


def swaps_recorded(history: list[dict[str, Any]], after: int) -> int:
    """Promotions (-> BAKING) and rollbacks (-> ROLLED_BACK) each swap the CNAMEs once."""
    return sum(1 for _, _, to, _ in transitions(history, after) if to in ("BAKING", "ROLLED_BACK"))


KIND = {"rollback": "override", "promote": "override", "abort": "override"}  # else the label is the kind


def accepted_kinds(app: str, *storms: Storm) -> Counter[str]:
    """The event kinds of the decisions the invocations answered for (the watchdog answers per app)."""
    kinds: Counter[str] = Counter()
    for done in storms:
        for call, result in done.answered():
            if call.label == "tick":
                accepted = str(result.get("results", {}).get(app, "")).startswith("accepted")
            else:
                accepted = outcome_of(result) == "accepted"
            kinds[KIND.get(call.label, call.label)] += accepted
    return +kinds


def assert_no_other_failure(stack: Any, mark: int, *storms: Storm) -> None:
    """Every invocation since `mark` that raised, the stack's own deliveries included, is one of the
    storm's Transients (a delivery that raised would be retried by AWS, then dead-lettered)."""
    failed = sum(1 for _, _, outcome in stack.invocations[mark:] if outcome == "error")
    assert failed == sum(len(s.transient()) for s in storms), (failed, [dict(s.tally()) for s in storms])


def explain(stack: Any, history: list[dict[str, Any]], after: int, swaps: int, *storms: Storm) -> str:
    """What a failure message needs: the records, the decisions answered for, the swaps EB made."""
    lines = [f"swaps since: {stack.eb.swap_count - swaps}"]
    lines += [
        f"record r{r['revision']} {r['event_kind']} {r['event_id']} {r['rule']}: "
        + ", ".join(f"{n['from_state']}->{n['to_state']}" for n in r["transitions"])
        for r in history
        if r["revision"] > after
    ]
    lines += [
        f"answered {c.label}: {r.get('rule') or r.get('results')}"
        for s in storms
        for c, r in s.answered()
        if outcome_of(r) == "accepted" or (c.label == "tick" and "accepted" in str(r))
    ]
    return "\n".join(lines)


def report(what: str, done: Storm, *more: Storm) -> str:
    lines = [f"{what}: {dict(done.tally())} in {done.seconds:.2f}s"]
    lines += [f"  retried: {dict(s.tally())}" for s in more]
    lines += [f"  unexpected {label}: {error!r}" for s in (done, *more) for label, error in s.unexpected()]
    return "\n".join(lines)


# ====================================================================== the scenarios


@pytest.mark.parametrize(
    "swap_seconds",
    [0.0, SLOW_SWAP_SECONDS],
    ids=["swap-is-quick", "swap-outlasts-the-lease-wait"],
)
def test_the_same_alarm_from_50_threads_rolls_back_once(
    stack: Any, monkeypatch: pytest.MonkeyPatch, swap_seconds: float
) -> None:
    """With a slow swap, the 49 losers give up waiting for the winner's effects (`lease_wait_seconds`)
    and raise Transient: their retries must then find the rollback done and do nothing."""
    name = f"storm-alarm-{int(swap_seconds)}"
    register(stack, name)
    baking = to_baking(stack, name)
    swaps = stack.eb.swap_count
    event = alarm_fired(name)
    if swap_seconds:
        # The simulator's swap (named after the API call in newer versions of moto_beanstalk).
        method = "swap_environment_cnames" if hasattr(stack.eb, "swap_environment_cnames") else "swap"
        swap = getattr(stack.eb, method)

        def slow_swap(source: Any, destination: Any) -> None:
            time.sleep(swap_seconds)
            swap(source, destination)

        monkeypatch.setattr(stack.eb, method, slow_swap)

    mark = len(stack.invocations)
    first = storm(stack, [Call("AlarmFunction", event, "alarm") for _ in range(THREADS)])
    monkeypatch.undo()
    second = retry_failed(stack, first)
    print(report(f"same alarm x50, swap {swap_seconds}s", first, second))
    if swap_seconds:
        assert first.transient(), "the losers outwaited the lease and must have raised Transient"

    for done in (first, second):
        assert done.unexpected() == [], report("same alarm", first, second)
        assert all(outcome_of(r) in ("accepted", "ignored") for _, r in done.answered()), report("", first, second)
    accepted = first.tally()["accepted"] + second.tally()["accepted"]
    assert accepted == 1, report("exactly one invocation decides", first, second)
    assert second.transient() == [], "a retried alarm must answer"

    final = status(stack, name)
    print("  " + explain(stack, final["history"], baking["revision"], swaps, first, second).replace("\n", "\n  "))
    history = final["history"]
    rolled_back = [t for t in transitions(history, baking["revision"]) if t[2] == "ROLLED_BACK"]
    assert len(rolled_back) == 1, rolled_back
    assert len(transitions(history, baking["revision"])) == 1, transitions(history, baking["revision"])
    assert final["deployment"]["state"] == "ROLLED_BACK"
    assert final["live_environment"] == f"{name}-blue"
    assert stack.eb.swap_count == swaps + 1, "the rollback swapped exactly once"
    assert_history_is_a_chain(history)
    assert_agrees_with_eb(stack, final)
    assert_no_other_failure(stack, mark, first, second)


def test_conflicting_events_from_50_threads_end_in_one_outcome(stack: Any) -> None:
    name = "storm-mixed"
    register(stack, name)
    baking = to_baking(stack, name)
    deployment = baking["deployment"]["id"]
    swaps = stack.eb.swap_count

    def operator(action: str) -> dict[str, Any]:
        return {"action": action, "app": name, "reason": "storm", "requested_by": "pytest"}

    alarm = alarm_fired(name)
    healthy = health_changed(f"{name}-green", "storm-health", "Info", "Ok")
    kinds = (
        [Call("AlarmFunction", alarm, "alarm")] * 12
        + [Call("OverrideFunction", operator("rollback"), "rollback")] * 10
        + [Call("OverrideFunction", operator("promote"), "promote")] * 10
        + [Call("WatchdogFunction", scheduled(f"storm-tick-{i}"), "tick") for i in range(8)]
        + [Call("HealthFunction", healthy, "health")] * 10
    )
    assert len(kinds) == THREADS
    calls = list(kinds)
    random.Random(7).shuffle(calls)

    mark = len(stack.invocations)
    first = storm(stack, calls)
    second = retry_failed(stack, first)
    print(report("conflicting x50", first, second))

    for done in (first, second):
        assert done.unexpected() == [], report("conflicting", first, second)
        for call, result in done.answered():
            if call.label in ("rollback", "promote"):
                # An operator's request that makes no sense any more is refused, never half-applied; a
                # promote that finds the deployment already promoted changes nothing (promote is idempotent).
                allowed = ("accepted", "rejected:Refused", "ignored") if call.label == "promote" else None
                assert outcome_of(result) in (allowed or ("accepted", "rejected:Refused")), (call.label, result)
            else:
                assert outcome_of(result) in ("accepted", "ignored", "answered"), (call.label, result)

    final = status(stack, name)
    print("  " + explain(stack, final["history"], baking["revision"], swaps, first, second).replace("\n", "\n  "))
    history = final["history"]
    assert_history_is_a_chain(history)
    moves = [t for t in transitions(history, baking["revision"]) if t[3] == deployment]
    # From BAKING the deployment ends exactly once, SUCCEEDED or ROLLED_BACK; an operator's rollback may
    # still follow a success (the previous color is healthy on the last good version), at most once.
    ends = [t for t in moves if t[1] == "BAKING"]
    assert len(ends) == 1 and ends[0][2] in TERMINAL, moves
    after_success = [t for t in moves if t[1] == "SUCCEEDED"]
    assert len(after_success) <= 1 and all(t[2] == "ROLLED_BACK" for t in after_success), moves
    assert final["deployment"]["id"] == deployment
    assert final["deployment"]["state"] == moves[-1][2]
    assert final["deployment"]["state"] in TERMINAL

    # No lost update: every invocation that answered "accepted" has its own history record, and a record
    # without an answer can only come from an invocation that raised after its commit (AWS retries it).
    recorded = Counter(r["event_kind"] for r in history if r["revision"] > baking["revision"])
    answered = accepted_kinds(name, first, second)
    print(f"  accepted {dict(answered)}, recorded {dict(recorded)}, final {final['deployment']['state']}")
    assert not answered - recorded, (answered, recorded)
    assert (recorded - answered).total() <= len(first.transient()), (answered, recorded)

    assert stack.eb.swap_count - swaps == swaps_recorded(history, baking["revision"]), (
        stack.eb.swap_count - swaps,
        moves,
    )
    live = f"{name}-blue" if final["deployment"]["state"] == "ROLLED_BACK" else f"{name}-green"
    assert final["live_environment"] == live
    assert_agrees_with_eb(stack, final)
    assert_no_other_failure(stack, mark, first, second)


def test_the_same_upload_from_50_threads_deploys_once(stack: Any) -> None:
    name = "storm-upload"
    stack.create_demo_app(name)
    key = f"{name}/build-1.zip"
    put = upload(stack, name, "build-1")
    settle(stack)  # S3's own delivery, before the app is registered, is rejected: the storm is the delivery
    register(stack, name, create=False)
    swaps = stack.eb.swap_count
    event = object_created(stack, key, put, "storm-upload")

    mark = len(stack.invocations)
    first = storm(stack, [Call("ArtifactFunction", event, "upload") for _ in range(THREADS)])
    second = retry_failed(stack, first)
    settle(stack)
    print(report("same upload x50", first, second))

    for done in (first, second):
        assert done.unexpected() == [], report("same upload", first, second)
        assert all(outcome_of(r) in ("accepted", "ignored") for _, r in done.answered()), report("", first, second)
    assert second.transient() == [], "a retried upload must answer"

    final = status(stack, name)
    print("  " + explain(stack, final["history"], 0, swaps, first, second).replace("\n", "\n  "))
    history = final["history"]
    assert_history_is_a_chain(history)
    started = [t for t in transitions(history) if t[2] == "DEPLOYING"]
    assert len(started) == 1, started
    assert final["deployment"]["id"] == f"{name}-1"
    assert final["deployment"]["state"] == "DEPLOYING"
    label = final["deployment"]["artifact"]["label"]
    assert [v for (app, v) in stack.eb.versions if app == name and v != "v0"] == [label], "one CreateApplicationVersion"
    assert update_starts(stack, f"{name}-green") == 1, "one UpdateEnvironment"
    assert stack.eb.updates[f"{name}-green"].label == label
    assert f"{name}-blue" not in stack.eb.updates
    assert stack.eb.swap_count == swaps
    assert_agrees_with_eb(stack, final)
    assert_no_other_failure(stack, mark, first, second)


def test_two_uploads_from_25_threads_each_leave_one_deployment(stack: Any) -> None:
    name = "storm-two"
    stack.create_demo_app(name)
    puts = {build: upload(stack, name, build) for build in ("build-a", "build-b")}
    settle(stack)  # S3's own deliveries, before the app is registered, are rejected
    register(stack, name, create=False)
    events = {build: object_created(stack, f"{name}/{build}.zip", put, f"storm-{build}") for build, put in puts.items()}
    calls = [Call("ArtifactFunction", events[build], build) for build in ("build-a", "build-b")] * (THREADS // 2)
    random.Random(11).shuffle(calls)

    mark = len(stack.invocations)
    first = storm(stack, calls)
    second = retry_failed(stack, first)
    settle(stack)
    print(report("two uploads x25", first, second))

    for done in (first, second):
        # An UpdateEnvironment of a color that is not Ready would come back as a rejected effect.
        assert done.unexpected() == [], report("two uploads", first, second)
        assert all(outcome_of(r) in ("accepted", "ignored") for _, r in done.answered()), report("", first, second)
    assert second.transient() == [], "a retried upload must answer"

    final = status(stack, name)
    print("  " + explain(stack, final["history"], 0, stack.eb.swap_count, first, second).replace("\n", "\n  "))
    history = final["history"]
    assert_history_is_a_chain(history)
    in_flight = final["deployment"]
    assert in_flight["state"] == "DEPLOYING", in_flight
    ends = Counter(t[2] for t in transitions(history) if t[2] not in ("DEPLOYING",))
    superseded = ends["SUPERSEDED"]
    queued = 1 if final["queued"] else 0
    assert superseded + queued == 1, (ends, final["queued"])
    assert set(ends) <= {"SUPERSEDED"}, ends  # nothing aborted: no effect failed
    labels = {in_flight["artifact"]["label"]} | ({final["queued"]["label"]} if queued else set())
    versions = sorted(v for (app, v) in stack.eb.versions if app == name and v != "v0")
    assert len(versions) == 2 - queued and labels <= set(versions), (versions, labels)
    # EB took exactly one update of the idle color, and left the live one alone.
    assert update_starts(stack, f"{name}-green") == 1
    assert update_starts(stack, f"{name}-blue") == 0
    assert_agrees_with_eb(stack, final)

    # Let EB finish: the waiting deployment (if it waits) starts its own update, then is promoted.
    swaps = stack.eb.swap_count
    wanted = in_flight["artifact"]["label"]
    running = stack.eb.updates[f"{name}-green"].label
    if running != wanted:
        assert in_flight["update_started"] is False, "a deployment whose update EB never took must wait for it"
        stack.eb.complete_update(f"{name}-green", health="Ok")
        wait_for(
            lambda: getattr(stack.eb.updates.get(f"{name}-green"), "label", None) == wanted,
            what="the waiting deployment's update started",
        )
    stack.eb.complete_update(f"{name}-green", health="Ok")
    wait_for(lambda: phase(stack, name) == "BAKING", what="BAKING")
    settle(stack)
    baked = status(stack, name)
    assert baked["deployment"]["id"] == in_flight["id"]
    assert update_starts(stack, f"{name}-green") == (1 if running == wanted else 2)
    assert stack.eb.swap_count == swaps + 1
    assert_history_is_a_chain(baked["history"])
    assert_agrees_with_eb(stack, baked)
    assert_no_other_failure(stack, mark, first, second)


@pytest.mark.parametrize("rivals", [True, False], ids=["with-aborts-and-alarms", "promoters-only"])
def test_conflicting_events_at_the_promotion_swap_at_most_once_each_way(
    stack: Any, monkeypatch: pytest.MonkeyPatch, rivals: bool
) -> None:
    """EB has finished the update of the idle color; before the controller hears of it, 50 threads
    deliver EB's own reports (twice over), operator promotes and ticks, and (with rivals) an alarm and
    operator aborts. Whether the deployment is aborted (traffic never moves) or promoted (then perhaps
    rolled back by the alarm or ended by a promote), every swap is one recorded promotion or rollback.
    An abort decides without asking EB, so it nearly always wins: without rivals, the 45 promoters race
    each other, and exactly one swap must happen."""
    name = f"storm-promote-{'rivals' if rivals else 'alone'}"
    register(stack, name)
    upload(stack, name, "build-1")
    wait_for(lambda: f"{name}-green" in stack.eb.updates, what="the update of the idle color started")
    settle(stack)
    deploying = status(stack, name)
    assert deploying["deployment"]["state"] == "DEPLOYING"
    deployment = deploying["deployment"]["id"]
    swaps = stack.eb.swap_count
    monkeypatch.setattr(stack.eb, "listeners", [])  # the storm delivers EB's reports, not the stack
    stack.eb.complete_update(f"{name}-green", health="Ok")
    monkeypatch.undo()

    def operator(action: str) -> dict[str, Any]:
        return {"action": action, "app": name, "reason": "storm", "requested_by": "pytest"}

    updated = health_changed(f"{name}-green", "storm-updated", "Info", "Ok")
    updated["detail-type"] = "Elastic Beanstalk resource status change"
    updated["detail"].update(
        Status="Environment update successful", Message="Environment update completed successfully."
    )
    each = 10 if rivals else 15
    calls = (
        [Call("HealthFunction", health_changed(f"{name}-green", "storm-ok", "Info", "Ok"), "health")] * each
        + [Call("HealthFunction", updated, "update")] * each
        + [Call("OverrideFunction", operator("promote"), "promote")] * each
        + [Call("WatchdogFunction", scheduled(f"{name}-tick-{i}"), "tick") for i in range(5)]
    )
    if rivals:
        calls += [Call("AlarmFunction", alarm_fired(name), "alarm")] * 10
        calls += [Call("OverrideFunction", operator("abort"), "abort")] * 5
    assert len(calls) == THREADS
    random.Random(5).shuffle(calls)

    mark = len(stack.invocations)
    first = storm(stack, calls)
    second = retry_failed(stack, first)
    settle(stack)
    print(report("promotion x50", first, second))

    for done in (first, second):
        assert done.unexpected() == [], report("promotion", first, second)
        for call, result in done.answered():
            allowed = (
                ("accepted", "rejected:Refused", "ignored")  # a promote of what is already baking changes nothing
                if call.label == "promote"
                else ("accepted", "rejected:Refused")
                if call.label == "abort"
                else ("accepted", "ignored", "answered")
            )
            assert outcome_of(result) in allowed, (call.label, result)

    final = status(stack, name)
    history = final["history"]
    assert_history_is_a_chain(history)
    moves = [t for t in transitions(history, deploying["revision"]) if t[3] == deployment]
    print(f"  moves {[(t[1], t[2]) for t in moves]}")
    print("  " + explain(stack, history, deploying["revision"], swaps, first, second).replace("\n", "\n  "))
    states = [t[2] for t in moves]
    assert states.count("BAKING") <= 1 and states.count("ABORTED") + states.count("BAKING") == 1, moves
    assert sum(states.count(s) for s in ("ABORTED", "SUCCEEDED", "ROLLED_BACK")) <= 1, moves
    assert final["deployment"]["state"] == states[-1]
    assert stack.eb.swap_count - swaps == swaps_recorded(history, deploying["revision"]), (
        stack.eb.swap_count - swaps,
        moves,
    )
    assert stack.eb.swap_count - swaps == states.count("BAKING") + states.count("ROLLED_BACK")
    promoted = final["deployment"]["state"] in ("BAKING", "SUCCEEDED")
    if not rivals:
        assert promoted and stack.eb.swap_count == swaps + 1, ("one promotion, one swap", moves)
    assert final["live_environment"] == (f"{name}-green" if promoted else f"{name}-blue")
    recorded = Counter(r["event_kind"] for r in history if r["revision"] > deploying["revision"])
    answered = accepted_kinds(name, first, second)
    assert not answered - recorded, (answered, recorded)
    assert (recorded - answered).total() <= len(first.transient()), (answered, recorded)
    assert_agrees_with_eb(stack, final)
    assert_no_other_failure(stack, mark, first, second)


def update_starts(stack: Any, environment: str) -> int:
    """UpdateEnvironment calls EB accepted for an environment (each records "update is starting")."""
    with stack.eb.lock:
        return sum(
            1
            for e in stack.eb.events
            if e["EnvironmentName"] == environment and e["Message"] == "Environment update is starting."
        )


# ====================================================================== what the tests rely on in moto


def conditional_put(table: str, pk: str, writer: int, previous: int) -> dict[str, Any]:
    return {
        "TableName": table,
        "Item": {
            "pk": {"S": pk},
            "sk": {"S": "STATE"},
            "revision": {"N": str(previous + 1)},
            "writer": {"N": str(writer)},
        },
        "ConditionExpression": "revision = :previous",
        "ExpressionAttributeValues": {":previous": {"N": str(previous)}},
    }


def dynamodb(stack: Any) -> Any:
    from botocore.config import Config

    config = Config(max_pool_connections=THREADS + 10, retries={"mode": "standard", "total_max_attempts": 1})
    return stack.session.client("dynamodb", config=config)


def test_moto_lets_one_of_50_conditional_puts_on_a_revision_win(stack: Any) -> None:
    """The store's guarantee, checked on the emulator itself: of 50 concurrent PutItems conditional on
    the same revision, exactly one succeeds, and the item holds its write."""
    client, table, pk = dynamodb(stack), stack.stack.table, "PROBE#put"
    client.put_item(TableName=table, Item={"pk": {"S": pk}, "sk": {"S": "STATE"}, "revision": {"N": "1"}})
    barrier = threading.Barrier(THREADS)

    def put(writer: int) -> bool:
        barrier.wait()
        try:
            client.put_item(**conditional_put(table, pk, writer, 1))
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        won = list(pool.map(put, range(THREADS)))
    assert won.count(True) == 1, won.count(True)
    item = client.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": "STATE"}}, ConsistentRead=True)["Item"]
    assert item["revision"]["N"] == "2" and int(item["writer"]["N"]) == won.index(True)
