"""Property-based tests for traffic (issue 12): random histories in each traffic mode ("cname", "alb" with
weighted steps, "lease"), with drain and standby configured and with AWS refusing weights and capacity
changes, drive the pure machine against a small model of Elastic Beanstalk, the load balancer's rule and
the consumer lease. After every accepted decision, once its effects ran, the traffic invariants must hold
(see `check_after`), and every effect is checked as it runs (see `Cloud.run`).

The model: the CNAME holder follows MakeLive (cname mode only), the rule's weights follow SetWeights (alb
only), the lease's desired holder follows HandOver and the actual holder follows it after a random delay
(or never: the new color's bot is broken). Each color has a capacity that SetCapacity sets; a color at
MaxSize 0 is not healthy. An UpdateEnvironment (a new version) or a SetCapacity (a configuration update)
makes the color Updating until a later "EB finishes" action. AWS refuses: a swap while a color is not Ready
or when told to, a SetCapacity while the color is Updating or when told to, a SetWeights when told to; each
refusal comes back to the machine as EffectFailed, as the controller sends it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bluegreen.machine import Decision, decide
from bluegreen.models import (
    AlarmObservation,
    AlbTraffic,
    AppState,
    CreateVersion,
    Deployment,
    DeploymentState,
    EffectFailed,
    Event,
    HandOver,
    MakeLive,
    Observed,
    SetCapacity,
    SetWeights,
    Standby,
    StandbySize,
    Tick,
    UpdateEnvironment,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import (
    ALARM,
    BLUE,
    GREEN,
    alarm,
    app_state,
    artifact,
    at,
    config,
    env,
    health,
    observed,
    override,
    tick,
    updated,
    upload,
)

EXAMPLES = int(os.environ.get("BLUEGREEN_PROPERTY_EXAMPLES", "1000"))
S = DeploymentState
COLORS = (BLUE, GREEN)
RULE = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
GROUPS = {
    BLUE: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/mybot-blue/1",
    GREEN: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/mybot-green/2",
}
FULL = StandbySize(min_size=2, max_size=4)  # each color's capacity before any standby
STANDBY_SIZES = {"none": None, "warm": StandbySize(min_size=1, max_size=1), "cold": StandbySize(min_size=0, max_size=0)}
LEASE_DELAYS: tuple[float | None, ...] = (0, 20, 60, 200, None)  # None: the new color never takes the lease
# The states whose notification says where traffic is (or stays) once the effects before it ran.
TRAFFIC_STATES = ("BAKING", "ROLLED_BACK", "ROLLBACK_REFUSED", "SWAP_REFUSED", "ROLLBACK_WARMING", "FIX_FORWARD")


def other(color: str) -> str:
    return GREEN if color == BLUE else BLUE


@dataclass
class Cloud:
    """EB's two colors, the production CNAME, the ALB rule's weights and the consumer lease."""

    mode: str
    holder: str = BLUE  # the production CNAME (traffic "cname")
    weights: dict[str, int] = field(default_factory=lambda: {BLUE: 100, GREEN: 0})  # traffic "alb"
    desired: str = BLUE  # the consumer lease's desired holder (HandOver)
    lease: str | None = BLUE  # who holds it now
    lease_due: float | None = None  # when the desired holder takes it (None: not pending, or never)
    version: dict[str, str] = field(default_factory=lambda: {BLUE: "v0", GREEN: "v0"})
    health: dict[str, str] = field(default_factory=lambda: {BLUE: "Ok", GREEN: "Ok"})
    updating: dict[str, str | None] = field(default_factory=lambda: {BLUE: None, GREEN: None})  # label, or "config"
    capacity: dict[str, StandbySize] = field(default_factory=lambda: {BLUE: FULL, GREEN: FULL})
    below: dict[str, StandbySize] = field(default_factory=dict)  # a color scaled down: the capacity it had
    left_at: dict[str, float] = field(default_factory=dict)  # when all production traffic last left a color
    alarm_since: float | None = None
    known_versions: set[str] = field(default_factory=lambda: {"v0"})
    refuse_swaps: int = 0
    refuse_weights: int = 0
    refuse_capacity: int = 0

    # ------------------------------------------------------------------ what AWS reports
    def serving(self, color: str) -> bool:
        """The color serves production traffic now (the CNAME, a weight, or the lease in lease mode)."""
        if self.mode == "cname":
            return self.holder == color
        if self.mode == "alb":
            return self.weights[color] > 0
        return self.desired == color

    def owner(self, state: AppState) -> str:
        """The color production belongs to: the CNAME holder, the color with 100% (during a split, the
        deployment's target), or the lease's desired holder."""
        if self.mode == "cname":
            return self.holder
        if self.mode == "alb":
            full = [color for color in COLORS if self.weights[color] == 100]
            if full:
                return full[0]
            assert state.deployment is not None, "traffic split without a deployment"
            return state.deployment.target_environment
        return self.desired

    def observe(self, state: AppState, event: Event, now: float) -> Observed:
        if self.lease_due is not None and now >= self.lease_due:
            self.lease, self.lease_due = self.desired, None

        def one(name: str):  # type: ignore[no-untyped-def]
            red = self.health[name] in ("Severe", "Degraded")
            empty = self.capacity[name].max_size == 0  # no instances: not healthy
            busy = self.updating[name] is not None
            return env(
                name,
                self.version[name],
                status="Updating" if busy else "Ready",
                health="Red" if red else ("Grey" if busy or empty else "Green"),
                health_status=self.health[name] if red or not empty else "Unknown",
                live=self.mode == "cname" and self.holder == name,
            )

        alarms = None  # quiet
        if self.alarm_since is not None:
            alarms = (AlarmObservation(name=ALARM, state="ALARM", since=at(self.alarm_since)),)
        seen = observed(one(BLUE), one(GREEN), alarms=alarms)
        current = state.in_flight
        # as the controller does: the lease is read on ticks while a polling bot's promotion bakes
        reads_lease = (
            isinstance(event, Tick)
            and state.config.consumer_lease
            and current is not None
            and current.state == S.BAKING
        )
        return seen.model_copy(
            update={
                "weights": dict(self.weights) if self.mode == "alb" else None,
                "capacities": dict(self.capacity),
                "lease_read": reads_lease,
                "lease_holder": self.lease if reads_lease else None,
            }
        )


@dataclass
class Run:
    state: AppState
    cloud: Cloud
    now: float = 0.0
    pick: int = 0
    delivered: list[Event] = field(default_factory=list)
    upload_count: int = 0
    # colors whose restore SetCapacity was emitted since their last scale-down (a color never scaled down: True)
    restored: dict[str, bool] = field(default_factory=lambda: {BLUE: True, GREEN: True})


def failed(run: Run, effect: str, error: str, environment: str | None, *, retryable: bool = False) -> EffectFailed:
    return EffectFailed(
        event_id=f"failed:{run.state.revision}",
        at=at(run.now),
        effect=effect,
        error=error,
        environment=environment,
        retryable=retryable,
    )


def gains(cloud: Cloud, effect: MakeLive | SetWeights | HandOver) -> list[str]:
    """The colors this traffic effect sends (more) production traffic to."""
    if isinstance(effect, MakeLive):
        return [effect.environment] if cloud.holder != effect.environment else []
    if isinstance(effect, HandOver):
        return [effect.environment] if cloud.desired != effect.environment else []
    shares = {effect.environment: effect.percent, effect.other: 100 - effect.percent}
    return [color for color, share in shares.items() if share > cloud.weights[color]]


def run_effects(run: Run, before: AppState, decision: Decision, owners: list[str]) -> tuple[int, EffectFailed | None]:
    """Run the decision's effects in order as the controller does, stopping at a refusal: (done, failure).
    `owners[i]` is the owner of production once `i` effects ran. Each effect is checked as it runs."""
    cloud, after = run.cloud, decision.state
    config = after.config
    on_standby = {s.environment for s in (before.standby, after.standby) if s is not None}
    owners.append(cloud.owner(after))
    hand_overs = [e for e in decision.effects if isinstance(e, HandOver)]
    weights = [e for e in decision.effects if isinstance(e, SetWeights)]
    assert len(hand_overs) <= 1, f"two desired lease holders: {[h.environment for h in hand_overs]}"
    assert len(weights) <= 1, (
        f"more than one SetWeights in one decision: {[(w.environment, w.percent) for w in weights]}"
    )
    for done, effect in enumerate(decision.effects):
        if isinstance(effect, MakeLive | SetWeights) or (isinstance(effect, HandOver) and cloud.mode == "lease"):
            for color in gains(cloud, effect):
                # traffic never goes to a color on standby before its capacity was (asked to be) restored
                assert not (color in on_standby and not run.restored[color]), (
                    f"{type(effect).__name__} sends traffic to {color}, on standby, before its restore"
                )
        if isinstance(effect, CreateVersion):
            cloud.known_versions.add(effect.artifact.label)
        elif isinstance(effect, UpdateEnvironment):
            color, label = effect.environment, effect.version_label
            assert not cloud.serving(color), f"an update targeted {color}, which serves production"
            drain = after.drain
            draining = drain is not None and drain.environment == color and at(run.now) < drain.until
            assert not draining or cloud.version[color] == label, f"an update targeted {color} while it drains"
            assert cloud.updating[color] is None, "two updates at once on one environment"
            assert label in cloud.known_versions
            if cloud.version[color] != label:
                cloud.updating[color] = label
        elif isinstance(effect, SetCapacity):
            color, wanted = effect.environment, effect.capacity
            run.restored[color] = wanted != config.standby
            refused = cloud.refuse_capacity
            if refused or cloud.updating[color] is not None:
                cloud.refuse_capacity = max(cloud.refuse_capacity - 1, 0)
                return done, failed(run, "set_capacity", "ConfigurationValidationException", None)
            had = cloud.capacity[color]
            if wanted == config.standby:
                cloud.below.setdefault(color, had)
            else:
                cloud.below.pop(color, None)
            if wanted != had:
                cloud.capacity[color] = wanted
                cloud.updating[color] = "config"
        elif isinstance(effect, MakeLive):
            assert cloud.mode == "cname", f"a CNAME swap in traffic mode {cloud.mode}"
            if cloud.holder != effect.environment and (cloud.refuse_swaps or any(cloud.updating.values())):
                retryable = not cloud.refuse_swaps
                cloud.refuse_swaps = max(cloud.refuse_swaps - 1, 0)
                return done, failed(run, "make_live", "Must be Ready.", effect.environment, retryable=retryable)
            check_traffic_target(run, effect.environment)
            if cloud.holder != effect.environment:
                cloud.left_at[cloud.holder] = run.now
                cloud.holder = effect.environment
        elif isinstance(effect, SetWeights):
            assert cloud.mode == "alb" and config.alb is not None, f"weights set in traffic mode {cloud.mode}"
            check_step(run, decision, effect)
            if cloud.refuse_weights:
                cloud.refuse_weights -= 1
                return done, failed(run, "set_weights", "AccessDenied", effect.environment)
            for color in gains(cloud, effect):
                check_traffic_target(run, color)
            new = {effect.environment: effect.percent, effect.other: 100 - effect.percent}
            for color, share in new.items():
                if share == 0 and cloud.weights[color] > 0:
                    cloud.left_at[color] = run.now
            cloud.weights = new
        elif isinstance(effect, HandOver):
            assert config.consumer_lease, "a hand-over for an app without a consumer lease"
            if effect.environment != cloud.desired or cloud.lease != effect.environment:
                cloud.desired = effect.environment
                delay = LEASE_DELAYS[run.pick % len(LEASE_DELAYS)]
                cloud.lease = None if cloud.lease != effect.environment else cloud.lease
                cloud.lease_due = None if delay is None or cloud.lease is not None else run.now + delay
        if done + 1 < len(decision.effects):
            owners.append(cloud.owner(after))
    if decision.effects:
        owners.append(cloud.owner(after))
    return len(decision.effects), None


def check_traffic_target(run: Run, color: str) -> None:
    """Production goes to the new build only where it runs, or back to the last good version."""
    deployment = run.state.deployment
    assert deployment is not None
    version = run.cloud.version[color]
    assert version in (deployment.version, deployment.previous_version), f"traffic to {color} running {version}"


def check_step(run: Run, decision: Decision, effect: SetWeights) -> None:
    """Weights only step up through the configured steps during a bake, or jump to 100 (a rollback, a fix
    forward, a reconcile, the last step)."""
    alb = decision.state.config.alb
    assert alb is not None
    assert effect.percent in (*alb.steps, 100), f"a weight of {effect.percent}% is no step"
    deployment = decision.state.deployment
    stepping = deployment is not None and deployment.state == S.BAKING
    if effect.percent < 100:
        assert stepping and deployment is not None and effect.environment == deployment.target_environment, (
            f"a partial weight ({effect.percent}%) outside a bake"
        )
    if stepping and deployment is not None and effect.environment == deployment.target_environment:
        now = run.cloud.weights[effect.environment]
        following = [step for step in alb.steps if step > now]
        assert following and effect.percent == following[0], (
            f"weights jumped from {now}% to {effect.percent}% on {effect.environment} (steps {list(alb.steps)})"
        )


def check_after(run: Run, before: AppState, decision: Decision, owners: list[str], done: int) -> None:
    """The invariants that hold once an accepted decision's effects all ran."""
    cloud, state = run.cloud, decision.state
    # 1. traffic is never reported moved unless the model moved it (nor reported staying when it moved)
    assert state.live_environment == cloud.owner(state), (
        f"state says {state.live_environment} is live, the model says {cloud.owner(state)} ({cloud.mode})"
    )
    if cloud.mode != "lease":  # (a polling bot's news never waits for the lease: HandOver follows the note)
        for note, gate in zip(decision.notifications, decision.gates, strict=True):
            if gate <= done and note.to_state in TRAFFIC_STATES:
                assert note.live_environment == owners[gate], f"notified {note.to_state} on {note.live_environment}"
    # 2. the lease follows traffic's new owner
    hand_overs = [effect for effect in decision.effects if isinstance(effect, HandOver)]
    if hand_overs:
        assert hand_overs[-1].environment == cloud.owner(state) == state.live_environment, "the lease went elsewhere"
    # 3. the standby record is never lost while the color is below the capacity it had
    for color in cloud.below:
        named = state.standby is not None and state.standby.environment == color
        assert named or run.restored[color], f"{color} is below its capacity and no record says what it had"
        if named:
            assert state.standby is not None and state.standby.restore == cloud.below[color]
    # 4. a rollback that just finished put production back on the last good version
    deployment = state.deployment
    if deployment is not None and deployment.state == S.ROLLED_BACK and deployment.finished_at == at(run.now):
        assert cloud.version[cloud.owner(state)] == state.last_good_version


def deliver(run: Run, event: Event) -> Decision:
    before = run.state
    event = event.model_copy(update={"observed": run.cloud.observe(before, event, run.now)})
    decision = decide(before, event, at(run.now))
    if decision.outcome != "accepted":
        assert decision.state is before, "an ignored or refused event changed the state"
        return decision
    assert decision.state.revision == before.revision + 1, "an accepted event leaves exactly one record"
    assert decision.notifications and all(n.reason for n in decision.notifications), "an accepted event notifies"
    run.state = decision.state
    run.delivered.append(event)
    owners: list[str] = []
    done, failure = run_effects(run, before, decision, owners)
    if failure is not None:
        deliver(run, failure)
        return decision
    check_after(run, before, decision, owners, done)
    return decision


# Weighted towards progress: builds finish, steps and bakes run out, alarms clear, so that histories reach the
# weighted steps, success, standby, a build for the standby color and rollbacks to it.
ACTIONS = st.sampled_from(
    [
        *["upload"] * 2,
        *["complete_ok"] * 6,
        *["tick"] * 3,
        *["step"] * 5,
        *["wait"] * 3,
        *["alarm_ok"] * 3,
        *["alarm"] * 2,
        *["rollback"] * 2,
        *["resume"] * 2,
        "complete_bad",
        "fail_update",
        "degrade",
        "duplicate",
        "stale",
        "promote",
        "rollback_force",
        "abort",
        "pause",
        "retry",
        "console_move",
        "refuse_swap",
        "refuse_weights",
        "refuse_capacity",
    ]
)


def act(run: Run, action: str, lose: bool, pick: int) -> None:
    cloud = run.cloud
    run.now += 5
    run.pick = pick
    if action == "upload":
        run.upload_count += 1
        deliver(run, upload(f"build-{run.upload_count}", run.now))
    elif action in ("complete_ok", "complete_bad", "fail_update"):
        # EB finishes what it was doing: a new version (well, badly, or not at all), or a configuration update
        for name, label in list(cloud.updating.items()):
            if label is None:
                continue
            cloud.updating[name] = None
            if label == "config":
                event: Event = updated(name, "succeeded", run.now)
            elif action == "fail_update":
                cloud.health[name] = "Degraded"
                event = updated(name, "failed", run.now)
            else:
                cloud.version[name] = label
                cloud.health[name] = "Ok" if action == "complete_ok" else "Severe"
                ok = action == "complete_ok" and pick % 2
                event = updated(name, "succeeded", run.now) if ok else health(name, cloud.health[name], run.now)
            if not lose:  # a lost event: only the watchdog will notice
                deliver(run, event)
    elif action == "degrade":
        target = GREEN if pick % 2 else BLUE
        cloud.health[target] = "Severe"
        if not lose:
            deliver(run, health(target, "Severe", run.now))
    elif action == "alarm":
        cloud.alarm_since = run.now
        if not lose:
            deliver(run, alarm(run.now))
    elif action == "alarm_ok":
        cloud.alarm_since = None
        deliver(run, alarm(run.now, state="OK"))
    elif action == "tick":
        deliver(run, tick(run.now))
    elif action == "step":  # a weighted step's time, a short drain, a lease hand-over
        run.now += (10, 30, 61, 125)[pick % 4]
        deliver(run, tick(run.now))
    elif action == "wait":
        run.now += 400
        deliver(run, tick(run.now))
    elif action == "duplicate" and run.delivered:
        deliver(run, run.delivered[pick % len(run.delivered)])
    elif action == "stale" and run.delivered:
        old = run.delivered[pick % len(run.delivered)]
        deliver(run, old.model_copy(update={"event_id": f"{old.event_id}:late"}))
    elif action == "console_move":
        # A person moves production outside bluegreen (EB refuses a swap unless both colors are Ready; the
        # load balancer does not, but the machine judges drift only once both are Ready, so we wait too).
        if not any(cloud.updating.values()) and cloud.mode != "lease":
            if cloud.mode == "cname":
                cloud.left_at[cloud.holder] = run.now
                cloud.holder = other(cloud.holder)
            else:
                # flip the color with 100%; during a weighted step, send it all back to the old color
                current = run.state.in_flight
                split = 100 not in cloud.weights.values() and current is not None
                to = current.previous_environment if split and current else other(cloud.owner(run.state))
                cloud.left_at[other(to)] = run.now
                cloud.weights = {to: 100, other(to): 0}
            deliver(run, tick(run.now))
    elif action == "refuse_swap":
        cloud.refuse_swaps += 1
    elif action == "refuse_weights":
        cloud.refuse_weights += 1
    elif action == "refuse_capacity":
        cloud.refuse_capacity += 1
    elif action in ("promote", "rollback", "abort", "pause", "resume", "retry"):
        deliver(run, override(action, run.now).model_copy(update={"event_id": f"override:{action}:{run.now}"}))
    elif action == "rollback_force":
        forced = override("rollback", run.now, force=True)
        deliver(run, forced.model_copy(update={"event_id": f"override:{action}:{run.now}"}))


def traffic_state(
    mode: str, steps: tuple[int, ...], step_seconds: int, lease: bool, drain: int, standby: str, bake: int, window: int
) -> AppState:
    changes: dict[str, object] = {
        "traffic": mode,
        "drain_seconds": drain,
        "standby": STANDBY_SIZES[standby],
        "bake_seconds": bake,
        "rollback_window_seconds": window,
        "consumer_lease": lease or mode == "lease",
        "handoff_timeout_seconds": 120,
    }
    if mode == "alb":
        changes["alb"] = AlbTraffic(rule_arn=RULE, target_groups=GROUPS, steps=steps, step_seconds=step_seconds)
    if mode != "cname":
        changes["production_cname"] = ""
    return app_state(config=config(**changes))


@settings(max_examples=max(EXAMPLES // 3, 50), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.tuples(ACTIONS, st.booleans(), st.integers(0, 1000)), min_size=20, max_size=60),
    mode=st.sampled_from(["cname", "alb", "alb", "lease"]),
    alb_steps=st.sampled_from([(100,), (10, 50, 100), (25, 100)]),
    step_seconds=st.sampled_from([10, 60]),
    lease=st.booleans(),
    drain=st.sampled_from([0, 60, 300]),
    standby=st.sampled_from(sorted(STANDBY_SIZES)),
    bake=st.sampled_from([0, 60, 300]),
    window=st.sampled_from([0, 600]),
    settled=st.booleans(),
)
def test_random_traffic_histories_keep_the_invariants(
    steps: list[tuple[str, bool, int]],
    mode: str,
    alb_steps: tuple[int, ...],
    step_seconds: int,
    lease: bool,
    drain: int,
    standby: str,
    bake: int,
    window: int,
    settled: bool,
) -> None:
    state = traffic_state(mode, alb_steps, step_seconds, lease, drain, standby, bake, window)
    run = Run(state=state, cloud=Cloud(mode=mode))
    if settled:
        # one deployment that succeeds, then time for the old color's drain, rollback window and standby
        for action in ("upload", "complete_ok", *["step"] * 6, *["wait"] * 3):
            act(run, action, False, 2)
    for action, lose, pick in steps:
        act(run, action, lose and action not in ("tick", "wait", "step"), pick)
        assert run.state.live_environment in COLORS


# ---------------------------------------------------------------- bugs the histories found (fixed)


def in_flight(state: AppState, phase: DeploymentState, **changes: object) -> AppState:
    """`state` with a deployment of build-1 to green in `phase` (blue ran v0 before)."""
    build = artifact()
    deployment = Deployment(
        id="mybot-1",
        artifact=build,
        state=phase,
        target_environment=GREEN,
        previous_environment=BLUE,
        previous_version="v0",
        started_at=at(0),
        state_since=at(30),
        **changes,
    )
    live = GREEN if phase == S.BAKING else BLUE
    return state.model_copy(update={"deployment": deployment, "live_environment": live, "deployment_seq": 1})


def test_a_refused_restore_after_a_console_swap_keeps_the_standby_record() -> None:
    record = Standby(environment=BLUE, restore=FULL)
    state = traffic_state("cname", (100,), 10, False, 0, "cold", 0, 0)
    state = state.model_copy(update={"live_environment": GREEN, "last_good_version": "b1", "standby": record})
    swapped = observed(env(GREEN, "b1"), env(BLUE, "v0", live=True))
    reconciled = decide(state, tick(10, swapped), at(10))
    assert reconciled.rule == "reconcile_live_color"
    assert [e for e in reconciled.effects if isinstance(e, SetCapacity)] == [
        SetCapacity(application_name="mybot", environment=BLUE, capacity=FULL)
    ]
    refusal = EffectFailed(
        event_id="failed:2",
        at=at(11),
        effect="set_capacity",
        error="ConfigurationValidationException",
        observed=swapped,
    )
    after = decide(reconciled.state, refusal, at(11))
    # BLUE serves production at MinSize=0 MaxSize=0: something must still say it had 2/4
    assert after.state.standby == record, f"{after.rule}: {after.reason}"


def test_a_weighted_step_never_takes_traffic_away_from_the_new_color() -> None:
    state = traffic_state("alb", (10, 50, 100), 60, False, 0, "none", 300, 0)
    state = in_flight(state, S.BAKING, promoted_at=at(30), weight=10, step_since=at(30))
    seen = observed(env(GREEN, artifact().label), env(BLUE, "v0")).model_copy(update={"weights": {GREEN: 100, BLUE: 0}})
    decision = decide(state, tick(91, seen), at(91))
    lowered = [e for e in decision.effects if isinstance(e, SetWeights) and e.environment == GREEN and e.percent < 100]
    assert not lowered, f"{decision.rule}: {lowered[0].percent}% to {GREEN}, which ELB says serves 100%"


def test_one_decision_never_names_two_desired_lease_holders() -> None:
    state = traffic_state("cname", (100,), 10, True, 0, "none", 300, 0)
    state = in_flight(state, S.SWAP_REFUSED, refused_since=at(30), weight=None)
    seen = observed(env(GREEN, artifact().label, health="Red", health_status="Severe", live=True), env(BLUE, "v0"))
    decision = decide(state, tick(40, seen), at(40))
    holders = [e.environment for e in decision.effects if isinstance(e, HandOver)]
    assert len(holders) <= 1, f"{decision.rule}: desired lease holders {holders}"
