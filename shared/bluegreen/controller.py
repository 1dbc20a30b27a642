"""The controller: load -> observe -> decide -> commit (write-ahead) -> run effects -> notify -> clear.

Ordering is what keeps effects exactly-once in outcome under retries and concurrency:
1. The new state is committed *before* any effect runs, with the effects and notifications recorded
   as `pending` (an outbox) and conditional on the revision read. Of N concurrent invocations, one
   wins; the others re-read and decide again on the new state (usually: ignore).
2. The winner runs the effects. Each effect is a target ("env X runs version L", "env X holds the
   production CNAME") checked against EB first, so running it again is harmless.
3. Notifications go out, then the pending record is cleared (another conditional write).
If the invocation dies in between, the pending record stays. Whoever loads the app after the lease
(the Lambda timeout) runs the pending effects again, and their checks find what was already done.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bluegreen.effects import EffectContext, run_effect
from bluegreen.errors import BadArtifact, BadInput, Conflict, NotFound, Refused, Transient
from bluegreen.labels import version_label
from bluegreen.machine import Decision, decide, label_is_known, observation_needs
from bluegreen.models import (
    AlarmChanged,
    AlarmObservation,
    AppConfig,
    AppState,
    Artifact,
    ArtifactUploaded,
    Cause,
    CheckReported,
    DeploymentState,
    EffectFailed,
    EnvironmentObservation,
    Event,
    HistoryRecord,
    InvokeHook,
    MakeLive,
    Notification,
    Observed,
    Outbox,
    OverrideIssued,
    OverrideRequest,
    Pending,
    RunCheck,
    SetWeights,
    StandbySize,
    Tick,
)
from bluegreen.parsing import ArtifactNotice, Ignored, app_from_key
from bluegreen.registration import live_at_the_load_balancer, live_by_claim, live_color, merged_tuning, serves
from bluegreen.status import describe_state, utcnow, waiting_for

__all__ = ["Controller", "Outcome", "describe_state", "utcnow", "waiting_for"]

if TYPE_CHECKING:
    from bluegreen.aws.alarms import Alarms
    from bluegreen.aws.artifacts import Artifacts
    from bluegreen.aws.beanstalk import Beanstalk
    from bluegreen.aws.notifier import Notifier
    from bluegreen.settings import Settings
    from bluegreen.store import AppSummary, Store

log = logging.getLogger("bluegreen")

RELEASED = "released"
Failure = tuple[str, str, str | None, bool]  # effect kind, error, make_live's environment, retryable
MAX_CONFLICTS = 8
LEASE_HEARTBEAT_FRESH = timedelta(seconds=60)  # a lease holder silent longer than this is not polling
FRESH_SECONDS = 5.0  # an observation this recent may stand in for the swap's own describe
OUTBOX_MAX_ATTEMPTS = 20  # transient delivery failures before the notifications are dropped (kept in history)
PINNED_PREFIX = "_bluegreen/"
S = DeploymentState


@dataclass
class Outcome:
    """What one event did, for the handler's response and logs."""

    app: str
    outcome: str
    rule: str
    reason: str
    state: AppState | None = None
    effects: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "app": self.app,
            "outcome": self.outcome,
            "rule": self.rule,
            "reason": self.reason,
        }
        if self.effects:
            body["effects"] = self.effects
        if self.state is not None:
            body["state"] = describe_state(self.state)
        return body


@dataclass
class Observation:
    """EB as one decision saw it, and when (monotonic), so its effects may reuse it while it is fresh."""

    environments: dict[str, EnvironmentObservation]
    taken: float

    def fresh(self) -> dict[str, EnvironmentObservation] | None:
        return self.environments if time.monotonic() - self.taken <= FRESH_SECONDS else None


class Controller:
    def __init__(
        self,
        store: Store,
        beanstalk: Beanstalk,
        alarms: Alarms,
        notifier: Notifier,
        artifacts: Artifacts,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.beanstalk = beanstalk
        self.alarms = alarms
        self.notifier = notifier
        self.artifacts = artifacts
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.container = owner or uuid.uuid4().hex
        self._signatures: Any = None  # KMS verification, created on the first signed app's upload

    @property
    def owner(self) -> str:
        """Who runs pending effects: this container and thread (Lambda runs one invocation at a time per
        container; the local stack runs several threads). A record with our own owner can only be left by
        us: a write that landed although its call failed (a timeout), or an invocation here that died."""
        return f"{self.container}:{threading.get_ident()}"

    # ================================================================== triggers

    def artifact_uploaded(self, notice: ArtifactNotice, *, deadline: float | None = None) -> Outcome:
        if self.settings.bucket and notice.bucket != self.settings.bucket:
            raise Ignored(f"upload to bucket {notice.bucket}, not the artifact bucket {self.settings.bucket}")
        if notice.key.startswith(PINNED_PREFIX):
            raise Ignored("bluegreen's own pinned copy of an artifact")
        try:
            app = app_from_key(notice.key)
        except (Ignored, BadInput) as error:
            self._notify_unrouted(notice, str(error))
            raise
        state = self.store.load(app)
        if state is None:
            self._notify_unrouted(notice, f"no registered app {app!r}: register it first")
            raise NotFound(f"unknown app {app!r}: register it first")
        label = version_label(notice.key, notice.version_id or notice.etag)
        if notice.event_id in state.seen_events or label_is_known(state, label):
            return Outcome(app, "ignored", "artifact_already_known", "this artifact version was already accepted")
        origin = {"uploaded_at": notice.at, "sequencer": notice.sequencer, "uploaded_by": notice.requester}
        provisional = Artifact(
            bucket=notice.bucket, key=notice.key, version_id=notice.version_id, etag=notice.etag, label=label, **origin
        )
        # Recency is judged before reading the object: an older upload costs no GetObject.
        early = decide(
            state, ArtifactUploaded(event_id=notice.event_id, at=notice.at, artifact=provisional), self.clock()
        )
        if early.outcome == "ignored":
            self._publish_now(state.app, early.notifications)
            return Outcome(app, "ignored", early.rule, early.reason, state)
        try:
            inspected = self.artifacts.inspect(notice.bucket, notice.key, notice.version_id, deadline=deadline)
            artifact = inspected.model_copy(update=origin)
            self._verify_signature(state, artifact)
            if artifact.manifest is not None:
                from bluegreen.manifest import tighten

                tighten(state.config.policy(), artifact.manifest)  # a release only tightens: refused otherwise
        except BadArtifact as error:
            self._reject_artifact(state, notice, error)
            raise
        uploaded = ArtifactUploaded(event_id=notice.event_id, at=notice.at, artifact=artifact)
        return self.apply(app, lambda _: uploaded, loaded=state)

    def environment_event(self, event: Event) -> Outcome:
        environment = getattr(event, "environment", "")
        state = self._resolve("ENV", environment, lambda s: environment in s.config.environments)
        if state is None:
            raise Ignored(f"environment {environment} belongs to no registered app")
        return self.apply(state.app, lambda _: event, loaded=state)

    def alarm_event(self, event: AlarmChanged) -> Outcome:
        if event.state != "ALARM":
            # Fast path, one call fewer: leaving ALARM never acts; skip even the look-up.
            raise Ignored(f"alarm {event.alarm} is {event.state}; only ALARM acts")
        state = self._resolve("ALARM", event.alarm, lambda s: event.alarm in s.config.all_alarms())
        if state is None:
            raise Ignored(f"alarm {event.alarm} belongs to no registered app")
        return self.apply(state.app, lambda _: event, loaded=state)

    def _resolve(self, kind: str, name: str, owns: Callable[[AppState], bool]) -> AppState | None:
        """Name -> app through the look-up item (cached per container), then the app itself.

        A cached look-up is checked against the app's config; if the name moved, look it up afresh."""
        for fresh in (False, True):
            app = self.store.lookup(kind, name, fresh=fresh)
            if app is None:
                return None
            state = self.store.load(app)
            if state is not None and owns(state):
                return state
        return None

    def override(self, request: OverrideRequest, request_id: str, *, actor_verified: bool = False) -> dict[str, Any]:
        if request.action == "status":
            state = self._require_app(request.app)
            history = self.store.history(request.app, request.history_limit)
            colors = self.beanstalk.describe(state.config.application_name, state.config.environments)
            return {
                **describe_state(state, colors, self.clock()),
                "history": [h.model_dump(mode="json") for h in history],
            }
        if request.action == "apps":
            return {"apps": [self._app_line(summary) for summary in self.store.app_summaries()]}
        if request.action == "register":
            return describe_state(self.register(request, request_id, actor_verified=actor_verified))
        if request.action == "report_check":
            return self.report_check(request, request_id).as_dict()
        loaded = self._require_app(request.app)
        outcome = self.apply(
            request.app,
            lambda _: OverrideIssued(
                event_id=f"override:{request_id}",
                at=self.clock(),
                action=request.action,
                actor=request.requested_by,
                reason=request.reason,
                deployment_id=request.deployment_id,
                force=request.force,
                actor_verified=actor_verified,
            ),
            loaded=loaded,
        )
        if outcome.outcome == "ignored" and request.action in ("promote", "approve") and outcome.state is not None:
            outcome.reason = f"{outcome.reason} (nothing changed)"
        return outcome.as_dict()

    # ================================================================== release gates

    def report_check(self, request: OverrideRequest, request_id: str) -> Outcome:
        """A Lambda hook's verdict. The callback token says which deployment and check it answers for; the
        machine ignores a late or second report, or one for an earlier deployment."""
        from bluegreen.aws.hooks import callback_secret
        from bluegreen.gates import CallbackToken

        assert request.token is not None and request.result is not None
        deployment_id, check = CallbackToken.verify(request.token, callback_secret(self.settings))
        self._require_app(request.app)
        event = CheckReported(
            event_id=f"override:{request_id}",
            at=self.clock(),
            deployment_id=deployment_id,
            check=check,
            passed=request.result == "pass",
            reason=request.reason or ("passed" if request.result == "pass" else "failed (no reason given)"),
            source="hook",
            actor=request.requested_by,
        )
        return self.apply(request.app, lambda _: event)

    def check_job(self, app: str, deployment_id: str, check: str) -> tuple[Any, str]:
        """What the check function runs: the check's spec and host as the stored deployment has them, never as
        the invocation says (whoever may invoke the function cannot point a check elsewhere)."""
        from bluegreen.gates import HttpCheck

        state = self._require_app(app)
        current = state.in_flight
        run = current.check(check) if current is not None and current.id == deployment_id else None
        if current is None or run is None or not run.waiting:
            raise Ignored(f"check {check} of {deployment_id} is not waiting for a result (late or repeated run)")
        policy = current.policy or state.config.policy()
        found = policy.checks.find(check)
        if found is None or not isinstance(found[1], HttpCheck):
            raise Ignored(f"{check} is not an HTTP check of {deployment_id}")
        return found[1], run.host

    def check_result(self, app: str, deployment_id: str, result: Any, run_id: str) -> Outcome:
        """An HTTP check's result (`bluegreen.gates.CheckResult`), from the stack's check function."""
        event = CheckReported(
            event_id=f"check:{run_id}",
            at=self.clock(),
            deployment_id=deployment_id,
            check=result.name,
            passed=result.passed,
            reason=result.reason,
            source="http",
        )
        return self.apply(app, lambda _: event)

    # ================================================================== the watchdog

    def watchdog(self, tick_id: str, at: datetime | None = None, *, reconcile: bool | None = None) -> dict[str, Any]:
        """Timeouts, bake ends, queued starts, the outbox, and reconciliation with AWS.

        Batched, so its cost does not grow with the number of registered apps: one Query of the apps in
        flight, one BatchGetItem per 100 of them, one DescribeEnvironments for their environments and
        DescribeAlarms per 100 alarm names. Every `reconcile_every_minutes` (and on a manual invoke) it
        also pages the `Apps` index and DescribeEnvironments over the whole region (1,000 environments a
        call) to find idle apps whose live color EB reports elsewhere: a console swap."""
        now = self.clock()
        if reconcile is None:
            every = self.settings.reconcile_every_minutes
            reconcile = at is None or tick_id.startswith("manual:") or (at.hour * 60 + at.minute) % every == 0
        watched = self.store.load_many(self.store.apps_needing_watch())
        summaries = self.store.app_summaries() if reconcile else []
        if reconcile:
            environments = self.beanstalk.describe_all()
        else:
            names = {name for state in watched.values() for name in state.config.environments}
            environments = self.beanstalk.describe_all(names) if names else {}
        alarm_names = {a for s in watched.values() if s.in_flight is not None for a in _judging(s)}
        alarms_seen: dict[str, AlarmObservation] = {}
        alarms_error: str | None = None
        if alarm_names:
            try:
                alarms_seen = {a.name: a for a in self.alarms.describe(alarm_names)}
            except (BadInput, Transient) as error:
                alarms_error = error.message  # every app in flight holds (fails closed) this tick
        leases = self._lease_holders([s for s in watched.values() if _checks_handoff(s)])
        results: dict[str, str] = {}

        def tick(state: AppState) -> None:
            reads_alarms = state.in_flight is not None and bool(_judging(state))
            observed = Observed(
                environments=tuple(environments[n] for n in state.config.environments if n in environments),
                alarms=tuple(alarms_seen[a] for a in _judging(state) if a in alarms_seen),
                alarms_read=reads_alarms,
                alarms_error=alarms_error if reads_alarms else None,
                lease_read=state.app in leases,
                lease_holder=leases.get(state.app),
            )
            try:
                extra: dict[str, Any] = {"weights": self._weights(state)}
                if state.standby_due is not None and state.standby_due <= now and state.config.standby is not None:
                    extra["capacities"] = self._capacities(state)
                event = Tick(event_id=f"tick:{tick_id}", at=now, observed=observed.model_copy(update=extra))
                outcome = self.apply(state.app, lambda _: event, loaded=state)
                results[state.app] = f"{outcome.outcome}: {outcome.reason}"
                if outcome.state is not None and outcome.state.outbox.notifications:
                    self._flush_outbox(outcome.state)
            except (Transient, Conflict) as error:
                results[state.app] = f"retry next tick: {error}"  # one app's trouble never stops the others
            except (BadInput, Ignored) as error:
                results[state.app] = f"skipped: {error}"

        for state in watched.values():
            tick(state)
        drifted = [
            summary.app
            for summary in summaries
            if summary.app not in watched
            and (
                _cname_holder(summary, environments) not in (None, summary.live_environment)
                or not summary.production_cname  # traffic "alb" (or "lease"): the tick asks the load balancer
            )
        ]
        for state in self.store.load_many(drifted).values():
            tick(state)
        return {"apps": len(watched), "registered": len(summaries), "reconciled": drifted, "results": results}

    def _weights(self, state: AppState) -> dict[str, int] | None:
        """Traffic "alb": the percent the production rule forwards to each color now (ELB's word)."""
        alb = state.config.alb
        if state.config.traffic != "alb" or alb is None:
            return None
        from bluegreen.aws.elb import percent_to, read_weights

        weights = read_weights(None, alb.rule_arn)
        return {env: percent_to(weights, arn) for env, arn in alb.target_groups.items()}

    def _capacities(self, state: AppState) -> dict[str, StandbySize]:
        """The idle color's capacity as EB reports it (read only when it is about to go to standby)."""
        from bluegreen.aws.capacity import read_capacity

        idle = state.idle_environment
        capacity = read_capacity(self.beanstalk.eb, state.config.application_name, idle)
        return {idle: StandbySize(min_size=capacity.min_size, max_size=capacity.max_size)}

    def _lease_holders(self, states: list[AppState]) -> dict[str, str | None]:
        """The consumer lease's holder for apps whose promotion is verified by the hand-over."""
        if not states:
            return {}
        from bluegreen.aws.clients import client
        from bluegreen.consumer import lease_holders

        views = lease_holders(client("dynamodb"), self.settings.table, [s.app for s in states])
        now_ms = int(self.clock().timestamp() * 1000)
        fresh_ms = int(LEASE_HEARTBEAT_FRESH.total_seconds() * 1000)

        def alive(view: Any) -> str | None:
            # a holder that stopped heartbeating (a crashed bot) does not verify a hand-over
            beat = view.heartbeat_at
            return view.holder if beat is not None and now_ms - beat <= fresh_ms else None

        return {s.app: (alive(views[s.app]) if s.app in views else None) for s in states}

    # ================================================================== register

    def register(self, request: OverrideRequest, request_id: str, *, actor_verified: bool = False) -> AppState:
        """Register or re-configure an app. The live color is verified against EB (or derived from it);
        settings not passed keep their stored values."""
        assert request.config is not None
        given = request.config
        app = request.app
        previous = self.store.load(app)
        if previous is not None and (previous.in_flight is not None or previous.pending is not None):
            raise Refused("a deployment is in flight: register again once it has finished")
        application_name = given.application_name or (previous.config.application_name if previous else app)
        if given.environments is None and previous is None:
            raise BadInput(f"{app} is not registered yet: register needs environments (its two colors)")
        environments = given.environments or (previous.config.environments if previous else ("", ""))
        if given.live_environment and given.live_environment not in environments:
            raise BadInput(f"live_environment {given.live_environment} is not one of {list(environments)}")
        tuning = merged_tuning(given, previous)
        self._check_unclaimed(app, environments, _every_alarm(tuning))
        observed = {e.name: e for e in self.beanstalk.require(application_name, environments)}
        from bluegreen.access import check_managed, environment_tags

        check_managed(
            application_name, environment_tags(self.beanstalk.eb, application_name, environments), self.settings
        )
        traffic = tuning.get("traffic", "cname")
        for name, env in observed.items():
            if traffic == "cname" and (env.tier != "WebServer" or not env.cname):
                raise Refused(
                    f"{name} is a {env.tier} environment with no CNAME: a CNAME swap cannot move its traffic; "
                    'register two web server environments, or traffic "lease" for a bot that only polls'
                )
        if traffic == "alb":
            live, cname = live_at_the_load_balancer(given, tuning, environments)
        elif traffic == "lease":
            live, cname = live_by_claim(given, previous, environments)
        else:
            live, cname = live_color(given, previous, observed)
        missing = self._missing_alarms(_every_alarm(tuning))
        if missing:
            raise BadInput(f"alarm {', '.join(missing)} does not exist in CloudWatch (check the name and region)")
        try:
            config = AppConfig(
                application_name=application_name, environments=environments, production_cname=cname, **tuning
            )
        except ValidationError as error:
            problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors()[:3])
            raise BadInput(f"invalid config: {problems}") from None
        now = self.clock()
        state = AppState(
            app=app,
            config=config,
            live_environment=live,
            last_good_version=observed[live].version_label,
            deployment=previous.deployment if previous else None,
            queued=previous.queued if previous else None,
            paused=previous.paused if previous else False,
            paused_at=previous.paused_at if previous else None,
            last_succeeded=previous.last_succeeded if previous else None,
            # what makes a late redelivery recognisable survives a re-register
            seen_events=previous.seen_events if previous else (),
            accepted_uploads=previous.accepted_uploads if previous else (),
            unsettled_environment=previous.unsettled_environment if previous else None,
            outbox=previous.outbox if previous else Outbox(),
            # what the colors are going through survives a re-register: a drain, a standby and its capacity
            drain=previous.drain if previous else None,
            standby=previous.standby if previous else None,
            standby_due=previous.standby_due if previous else None,
            forward_acknowledged=previous.forward_acknowledged if previous else (),
            deployment_seq=previous.deployment_seq if previous else 0,
            revision=(previous.revision if previous else 0) + 1,
            registered_at=now,
        )
        actor = request.requested_by if actor_verified else f"{request.requested_by} (claimed)"
        cause = Cause(type="override", id="register", actor=actor, reason=request.reason, actor_verified=actor_verified)
        drift = ""
        if previous is not None and previous.live_environment != live:
            drift = f" (was recorded as {previous.live_environment}: corrected from EB)"
        notification = Notification(
            app=app,
            deployment_id=None,
            version=state.last_good_version,
            from_state=None,
            to_state=None,
            live_environment=live,
            idle_environment=state.idle_environment,
            reason=f"registered by {actor}: live color {live} {serves(config, cname)}{drift}",
            cause=cause,
            at=now.isoformat(),
            transition_id=f"{app}:{state.revision}:0",
        )
        record = HistoryRecord(
            app=app,
            revision=state.revision,
            at=now.isoformat(),
            event_kind="override",
            event_id=f"override:{request_id}",
            rule="register",
            summary=notification.reason,
            cause=cause,
            transitions=(notification,),
        )
        try:
            self.store.register(previous, state, record)
        except Conflict:
            self._check_unclaimed(app, environments, _every_alarm(tuning))
            raise Refused("the app or one of its names changed while registering; run register again") from None
        self._publish_now(app, [notification])
        if config.consumer_lease:
            # Polling bots wait for a desired holder: the live color, from the start.
            from bluegreen.aws.clients import client
            from bluegreen.consumer import hand_over

            hand_over(client("dynamodb"), self.settings.table, app, live)
        return state

    @staticmethod
    def _app_line(summary: AppSummary) -> dict[str, Any]:
        return {
            "app": summary.app,
            "live_environment": summary.live_environment,
            "production_cname": summary.production_cname,
            "environments": list(summary.environments),
            "deployment_state": None if summary.phase == "NONE" else summary.phase,
            "paused": summary.paused,
        }

    def _check_unclaimed(self, app: str, environments: tuple[str, str], alarms: tuple[str, ...]) -> None:
        for environment in environments:
            owner = self.store.app_for_environment(environment)
            if owner not in (None, app):
                raise Refused(f"environment {environment} already belongs to app {owner}")
        for alarm in alarms:
            owner = self.store.app_for_alarm(alarm)
            if owner not in (None, app):
                raise Refused(f"alarm {alarm} already belongs to app {owner}")

    def _missing_alarms(self, names: tuple[str, ...]) -> list[str]:
        if not names:
            return []
        found = {a.name for a in self.alarms.describe(names)}
        return [name for name in names if name not in found]

    # ================================================================== the core loop

    def apply(self, app: str, make_event: Callable[[AppState], Event], loaded: AppState | None = None) -> Outcome:
        """Decide and commit one event for one app, re-reading on conflicts; then run its effects.

        `loaded`: the app as the caller just read it (saves a read; a conflict re-reads anyway)."""
        for _ in range(MAX_CONFLICTS):
            as_given = loaded is not None and loaded.pending is None
            state = loaded if loaded is not None and as_given else self._load_settled(app)
            loaded = None
            event = make_event(state)
            if event.observed is not None and not as_given:
                # An observation handed in (the watchdog's batch) was taken after the state it came with;
                # against a state read later it may predate a swap: ask EB again.
                event = event.model_copy(update={"observed": None})
            event, observation = self._observe(state, event)
            decision = decide(state, event, self.clock())
            if decision.outcome == "ignored":
                log.info("ignored %s for %s: %s", event.kind, app, decision.reason)
                self._publish_now(app, decision.notifications)
                return Outcome(app, "ignored", decision.rule, decision.reason, state)
            if decision.outcome == "refused":
                raise Refused(decision.reason, rule=decision.rule)
            committed = self._with_pending(decision)
            try:
                self.store.commit(state.revision, committed, self._history(committed, event, decision))
            except Conflict:
                log.info("conflict on %s at revision %s; re-reading", app, state.revision)
                continue
            log.info("%s for %s: %s -> %s", decision.rule, app, event.kind, decision.reason)
            failure, final = self._run_pending(committed, observation.fresh() if observation else None)
            self._record_metrics(final, decision.notifications, event)
            if failure is not None and not isinstance(event, EffectFailed):
                return self._apply_failure(app, committed.revision, failure)
            kinds: list[str] = [e.kind for e in decision.effects]
            return Outcome(app, "accepted", decision.rule, decision.reason, final, kinds)
        raise Transient(f"{app}: too many concurrent writers; retry")

    def _with_pending(self, decision: Decision) -> AppState:
        state = decision.state
        if not decision.effects and not decision.notifications:
            return state
        pending = Pending(
            revision=state.revision,
            owner=self.owner,
            claimed_at=self.clock(),
            effects=decision.effects,
            notifications=decision.notifications,
            gates=decision.gates,
        )
        return state.model_copy(update={"pending": pending})

    def _history(self, state: AppState, event: Event, decision: Decision) -> HistoryRecord:
        cause = (
            decision.notifications[0].cause if decision.notifications else Cause(type="reconcile", id=event.event_id)
        )
        return HistoryRecord(
            app=state.app,
            revision=state.revision,
            at=self.clock().isoformat(),
            event_kind=event.kind,
            event_id=event.event_id,
            rule=decision.rule,
            summary=decision.reason,
            cause=cause,
            transitions=decision.notifications,
            artifact_sha256=event.artifact.sha256 if isinstance(event, ArtifactUploaded) else None,
            manifest=(
                event.artifact.manifest.model_dump(mode="json", exclude_none=True)
                if isinstance(event, ArtifactUploaded) and event.artifact.manifest is not None
                else None
            ),
            check=(
                {"name": event.check, "passed": event.passed, "reason": event.reason, "source": event.source}
                if isinstance(event, CheckReported)
                else None
            ),
        )

    # ------------------------------------------------------------------ observation

    def _observe(self, state: AppState, event: Event) -> tuple[Event, Observation | None]:
        """Ask AWS what a rule may need before deciding (EB's environments, the app's alarms).

        An alarm read that fails for good is recorded, not raised: the machine then holds (fails closed)."""
        if event.observed is not None:
            # A batch observation (the watchdog's) may be many apps old: effects ask EB again.
            prebuilt = {e.name: e for e in event.observed.environments}
            return event, Observation(prebuilt, float("-inf"))
        need_environments, need_alarms = observation_needs(state, event)
        if not need_environments and not need_alarms:
            return event, None
        config = state.config
        environments = (
            self.beanstalk.describe(config.application_name, config.environments) if need_environments else ()
        )
        taken = time.monotonic()
        alarms: tuple[AlarmObservation, ...] = ()
        error: str | None = None
        if need_alarms:
            try:
                alarms = self.alarms.describe(_judging(state))
            except BadInput as failure:
                error = failure.message
        lease = self._lease_holders([state]) if isinstance(event, Tick) and _checks_handoff(state) else {}
        observed = Observed(
            environments=environments,
            alarms=alarms,
            alarms_read=need_alarms,
            alarms_error=error,
            lease_read=state.app in lease,
            lease_holder=lease.get(state.app),
            weights=self._weights(state) if need_environments else None,
        )
        return event.model_copy(update={"observed": observed}), Observation({e.name: e for e in environments}, taken)

    # ------------------------------------------------------------------ pending effects (the outbox)

    def _load_settled(self, app: str) -> AppState:
        """Load the app; finish a dead invocation's pending effects, or wait for a live one's."""
        deadline = time.monotonic() + self.settings.lease_wait_seconds
        delay = 0.02
        while True:
            state = self._require_app(app)
            pending = state.pending
            if pending is None:
                return state
            lease = timedelta(seconds=self.settings.effect_lease_seconds)
            if pending.owner in (RELEASED, self.owner) or self.clock() - pending.claimed_at >= lease:
                self._take_over(state)
                continue
            if time.monotonic() >= deadline:
                raise Transient(f"{app}: another invocation is still running effects of revision {pending.revision}")
            self.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _take_over(self, state: AppState) -> None:
        assert state.pending is not None
        claimed = state.model_copy(
            update={
                "revision": state.revision + 1,
                "pending": state.pending.model_copy(update={"owner": self.owner, "claimed_at": self.clock()}),
            }
        )
        try:
            self.store.commit(state.revision, claimed)
        except Conflict:
            return  # someone else took over first
        log.warning("%s: finishing pending effects of revision %s", state.app, state.pending.revision)
        failure, _ = self._run_pending(claimed, None)
        if failure is not None:
            self._apply_failure(state.app, claimed.revision, failure)

    def _apply_failure(self, app: str, revision: int, failure: Failure) -> Outcome:
        """Feed an effect that AWS rejected for good back to the machine (abort, or a refused swap)."""
        effect, error, environment, retryable = failure
        event = EffectFailed(
            event_id=f"failed:{revision}",
            at=self.clock(),
            effect=effect,
            error=error,
            environment=environment,
            retryable=retryable,
        )
        return self.apply(app, lambda _: event)

    def _run_pending(
        self, state: AppState, fresh: dict[str, EnvironmentObservation] | None
    ) -> tuple[Failure | None, AppState]:
        """Run the effects, then deliver the notifications they allow, then clear the record.

        A notification is published only once the effects before it have run (never "traffic moved"
        when EB refused the swap). Delivery problems never raise: undelivered notifications move to the
        app's outbox, so a broken bus cannot block the next decision, least of all a rollback.
        Returns a permanent failure, if any, and the state as committed last."""
        pending = state.pending
        if pending is None:
            return None, state
        failure: Failure | None = None
        done = 0
        context = EffectContext(
            state=state, beanstalk=self.beanstalk, fresh=fresh, table=self.settings.table, settings=self.settings
        )
        gate_failures: list[CheckReported] = []
        try:
            for effect in pending.effects:
                try:
                    run_effect(context, effect)
                except BadInput as error:
                    log.error("%s: %s failed for good: %s", state.app, effect.kind, error)
                    if isinstance(effect, RunCheck | InvokeHook):
                        # a check that cannot start has failed; the other effects still run
                        name = effect.check.name if isinstance(effect, RunCheck) else effect.hook.name
                        gate_failures.append(
                            CheckReported(
                                event_id=f"check:{state.revision}:{name}",
                                at=self.clock(),
                                deployment_id=effect.deployment_id,
                                check=name,
                                passed=False,
                                reason=error.message,
                                source="http" if isinstance(effect, RunCheck) else "hook",
                            )
                        )
                        done += 1
                        continue
                    moves = isinstance(effect, MakeLive | SetWeights)
                    environment = effect.environment if isinstance(effect, MakeLive | SetWeights) else None
                    retryable = bool(getattr(error, "retryable", False)) and moves
                    failure = (effect.kind, error.message, environment, retryable)
                    break
                done += 1
                if effect.kind in ("make_live", "update_environment", "set_weights", "set_capacity"):
                    context.fresh = None  # after our own change to EB, EB must be asked again
        except Transient:
            self._release(state)
            raise
        outbox = self._deliver(state.app, state.outbox, pending.publishable(done))
        cleared = state.model_copy(update={"pending": None, "revision": state.revision + 1, "outbox": outbox})
        try:
            self.store.commit(state.revision, cleared)
        except Conflict:
            log.info("%s: pending record already taken over", state.app)
            return failure, state
        for report in gate_failures:
            with contextlib.suppress(Conflict, Transient, Refused):
                cleared = self.apply(state.app, lambda _, r=report: r).state or cleared  # type: ignore[misc]
        return failure, cleared

    def _deliver(self, app: str, outbox: Outbox, new: tuple[Notification, ...]) -> Outbox:
        """Publish what the outbox still holds, then the new notifications, in order."""
        from bluegreen.aws.notifier import NotifyFailed

        waiting = (*outbox.notifications, *new)
        if not waiting:
            return outbox
        try:
            self.notifier.publish(waiting)
        except NotifyFailed as error:
            left = waiting[error.delivered :]
            attempts = outbox.attempts + 1
            if error.permanent or attempts >= OUTBOX_MAX_ATTEMPTS:
                log.error("%s: %d notifications dropped (kept in history): %s", app, len(left), error.message)
                self._metric_notification_failures(app, len(left))
                return Outbox(failed=outbox.failed + len(left), last_error=error.message)
            log.warning("%s: %d notifications wait in the outbox: %s", app, len(left), error.message)
            return Outbox(notifications=left, attempts=attempts, last_error=error.message, failed=outbox.failed)
        return Outbox(failed=outbox.failed, last_error=outbox.last_error)

    def _flush_outbox(self, state: AppState) -> None:
        """The watchdog's retry of undelivered notifications (one PutEvents, one conditional write)."""
        outbox = self._deliver(
            state.app, state.outbox.model_copy(update={"notifications": ()}), state.outbox.notifications
        )
        outbox = outbox.model_copy(update={"attempts": outbox.attempts if outbox.notifications else 0})
        flushed = state.model_copy(update={"outbox": outbox, "revision": state.revision + 1})
        with contextlib.suppress(Conflict):  # whoever won delivers them with its own notifications
            self.store.commit(state.revision, flushed)

    def _publish_now(self, app: str, notifications: Any) -> None:
        """Notifications of events that change no state (a rejected or older upload): best effort."""
        from bluegreen.aws.notifier import NotifyFailed

        if not notifications:
            return
        try:
            self.notifier.publish(list(notifications))
        except NotifyFailed as error:
            log.error("%s: notification not delivered: %s", app, error.message)
            self._metric_notification_failures(app, len(notifications))

    def _release(self, state: AppState) -> None:
        """Let the next invocation (an AWS retry or the watchdog) run the effects at once."""
        assert state.pending is not None
        released = state.model_copy(
            update={
                "revision": state.revision + 1,
                "pending": state.pending.model_copy(update={"owner": RELEASED}),
            }
        )
        try:
            self.store.commit(state.revision, released)
        except Exception as error:  # noqa: BLE001 - best effort: the lease expiry covers a failure here
            log.warning("%s: could not release pending effects: %s", state.app, error)

    # ------------------------------------------------------------------ metrics (a side channel: never raises)

    def _record_metrics(self, state: AppState, notifications: tuple[Notification, ...], event: Event) -> None:
        try:
            from bluegreen.metrics import record_transitions
        except ImportError:
            return
        try:
            record_transitions(state, notifications, event.at)
        except Exception as error:  # noqa: BLE001 - metrics must never affect a deployment
            log.warning("%s: metrics not recorded: %s", state.app, error)

    def _metric_notification_failures(self, app: str, count: int) -> None:
        try:
            from bluegreen.metrics import record_notification_failures

            record_notification_failures(app, count)
        except Exception as error:  # noqa: BLE001 - metrics must never affect a deployment
            log.debug("notification failure metric not recorded: %s", error)

    # ------------------------------------------------------------------ helpers

    def _require_app(self, app: str) -> AppState:
        state = self.store.load(app)
        if state is None:
            raise NotFound(f"unknown app {app!r}: register it first")
        return state

    def _verify_signature(self, state: AppState, artifact: Artifact) -> None:
        """Apps that require signed builds: the KMS signature of the SHA-256 must verify."""
        key = state.config.signing_key_arn
        if not key:
            return
        if self._signatures is None:
            from bluegreen.aws.signing import Signatures

            self._signatures = Signatures()
        self._signatures.verify(key, artifact.sha256, artifact.signature)

    def _reject_artifact(self, state: AppState, notice: ArtifactNotice, error: BadArtifact) -> None:
        """A corrupt, tampered or unsigned artifact never changes state, but people must hear about it."""
        current = state.deployment
        by = f" (uploaded by {notice.requester})" if notice.requester else ""
        notification = Notification(
            app=state.app,
            deployment_id=current.id if current else None,
            version=None,
            from_state=current.state.value if current else None,
            to_state=current.state.value if current else None,
            live_environment=state.live_environment,
            idle_environment=state.idle_environment,
            reason=f"artifact rejected: {error.message}{by}",
            cause=Cause(
                type="artifact",
                id=f"s3://{notice.bucket}/{notice.key}@{notice.version_id or notice.etag}",
                actor=notice.requester,
            ),
            at=self.clock().isoformat(),
            transition_id=f"{state.app}:rejected:{notice.event_id}",
        )
        self._publish_now(state.app, [notification])

    def _notify_unrouted(self, notice: ArtifactNotice, reason: str) -> None:
        """An upload no app accepted (no app prefix, unknown app, not a zip): tell the uploader why."""
        app = notice.key.split("/", 1)[0] if "/" in notice.key else ""
        notification = Notification(
            app=app,
            deployment_id=None,
            version=None,
            from_state=None,
            to_state=None,
            live_environment="",
            idle_environment="",
            reason=f"upload s3://{notice.bucket}/{notice.key} not deployed: {reason}",
            cause=Cause(
                type="artifact",
                id=f"s3://{notice.bucket}/{notice.key}@{notice.version_id or notice.etag}",
                actor=notice.requester,
            ),
            at=self.clock().isoformat(),
            transition_id=f"{app or '-'}:rejected:{notice.event_id}",
        )
        self._publish_now(app or "-", [notification])


def _judging(state: AppState) -> tuple[str, ...]:
    """The alarms that judge the app's deployment now (app-wide, plus the target color's)."""
    current = state.deployment
    return state.config.alarms_for(current.target_environment if current else None)


def _every_alarm(tuning: dict[str, Any]) -> tuple[str, ...]:
    per_color = [name for names in (tuning.get("color_alarms") or {}).values() for name in names]
    return tuple(dict.fromkeys((*tuning["alarms"], *per_color)))


def _checks_handoff(state: AppState) -> bool:
    current = state.in_flight
    return state.config.consumer_lease and current is not None and current.state == S.BAKING


def _cname_holder(summary: AppSummary, environments: dict[str, EnvironmentObservation]) -> str | None:
    if not summary.production_cname:
        return None
    for name in summary.environments:
        env = environments.get(name)
        if env is not None and env.cname == summary.production_cname:
            return name
    return None
