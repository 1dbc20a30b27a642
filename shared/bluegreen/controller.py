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

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bluegreen.errors import BadArtifact, BadInput, Conflict, NotFound, Refused, Transient
from bluegreen.labels import version_label
from bluegreen.machine import Decision, decide, label_is_known, observation_needs
from bluegreen.models import (
    AlarmChanged,
    AppConfig,
    AppState,
    ArtifactUploaded,
    Cause,
    CreateVersion,
    Effect,
    EffectFailed,
    EnvironmentUpdated,
    Event,
    HealthChanged,
    HistoryRecord,
    MakeLive,
    Notification,
    Observed,
    OverrideIssued,
    OverrideRequest,
    Pending,
    Tick,
    UpdateEnvironment,
)
from bluegreen.parsing import ArtifactNotice, Ignored, app_from_key

if TYPE_CHECKING:
    from bluegreen.aws.alarms import Alarms
    from bluegreen.aws.artifacts import Artifacts
    from bluegreen.aws.beanstalk import Beanstalk
    from bluegreen.aws.notifier import Notifier
    from bluegreen.settings import Settings
    from bluegreen.store import Store

log = logging.getLogger("bluegreen")

RELEASED = "released"
MAX_CONFLICTS = 8


def utcnow() -> datetime:
    return datetime.now(UTC)


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

    @property
    def owner(self) -> str:
        """Who runs pending effects: this container and thread (Lambda runs one invocation at a time per
        container; the local stack runs several threads). A record with our own owner can only be left by
        us: a write that landed although its call failed (a timeout), or an invocation here that died."""
        return f"{self.container}:{threading.get_ident()}"

    # ================================================================== triggers

    def artifact_uploaded(self, notice: ArtifactNotice) -> Outcome:
        if self.settings.bucket and notice.bucket != self.settings.bucket:
            raise Ignored(f"upload to bucket {notice.bucket}, not the artifact bucket {self.settings.bucket}")
        app = app_from_key(notice.key)
        state = self._require_app(app)
        label = version_label(notice.key, notice.version_id or notice.etag)
        known = label_is_known(state, label)
        if notice.event_id in state.seen_events or known:
            return Outcome(app, "ignored", "artifact_already_known", "this artifact version was already accepted")
        try:
            artifact = self.artifacts.inspect(notice.bucket, notice.key, notice.version_id)
        except BadArtifact as error:
            self._reject_artifact(state, notice, error)
            raise
        uploaded = ArtifactUploaded(event_id=notice.event_id, at=notice.at, artifact=artifact)
        return self.apply(app, lambda _: uploaded, loaded=state)

    def environment_event(self, event: HealthChanged | EnvironmentUpdated) -> Outcome:
        state = self._resolve("ENV", event.environment, lambda s: event.environment in s.config.environments)
        if state is None:
            raise Ignored(f"environment {event.environment} belongs to no registered app")
        return self.apply(state.app, lambda _: event, loaded=state)

    def alarm_event(self, event: AlarmChanged) -> Outcome:
        if event.state != "ALARM":
            # Fast path, one call fewer: leaving ALARM never acts; skip even the look-up.
            raise Ignored(f"alarm {event.alarm} is {event.state}; only ALARM acts")
        state = self._resolve("ALARM", event.alarm, lambda s: event.alarm in s.config.alarms)
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

    def override(self, request: OverrideRequest, request_id: str) -> dict[str, Any]:
        if request.action == "status":
            state = self._require_app(request.app)
            history = self.store.history(request.app, request.history_limit)
            return {
                **describe_state(state),
                "history": [h.model_dump(mode="json") for h in history],
            }
        if request.action == "register":
            return describe_state(self.register(request, request_id))
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
            ),
            loaded=loaded,
        )
        return outcome.as_dict()

    def watchdog(self, tick_id: str) -> dict[str, Any]:
        """Timeouts, bake ends, queued starts and reconciliation, for the apps that need it only."""
        apps = self.store.apps_needing_watch()
        results: dict[str, str] = {}
        for app in apps:
            try:
                outcome = self.apply(app, lambda _: Tick(event_id=f"tick:{tick_id}", at=self.clock()))
                results[app] = f"{outcome.outcome}: {outcome.reason}"
            except (Transient, Conflict) as error:
                results[app] = f"retry next tick: {error}"  # one app's trouble never stops the others
            except (BadInput, Ignored) as error:
                results[app] = f"skipped: {error}"
        return {"apps": len(apps), "results": results}

    # ================================================================== register

    def register(self, request: OverrideRequest, request_id: str) -> AppState:
        assert request.config is not None
        given = request.config
        app = request.app
        application_name = given.application_name or app
        environments = given.environments
        if given.live_environment and given.live_environment not in environments:
            raise BadInput(f"live_environment {given.live_environment} is not one of {list(environments)}")
        for environment in environments:
            owner = self.store.app_for_environment(environment)
            if owner not in (None, app):
                raise Refused(f"environment {environment} already belongs to app {owner}")
        for alarm in given.alarms:
            owner = self.store.app_for_alarm(alarm)
            if owner not in (None, app):
                raise Refused(f"alarm {alarm} already belongs to app {owner}")
        observed = {e.name: e for e in self.beanstalk.require(application_name, environments)}
        if given.live_environment:
            live = given.live_environment
            cname = observed[live].cname
            if given.production_cname and given.production_cname != cname:
                raise BadInput(f"{live} holds {cname}, not the production CNAME {given.production_cname}")
        elif given.production_cname:
            holders = [name for name, env in observed.items() if env.cname == given.production_cname]
            if not holders:
                raise BadInput(f"neither environment holds the production CNAME {given.production_cname}")
            live, cname = holders[0], given.production_cname
        else:
            raise BadInput("register needs live_environment or production_cname to know which color is live")
        config = AppConfig(
            application_name=application_name,
            environments=environments,
            production_cname=cname,
            **given.tuning(),
        )
        previous = self.store.load(app)
        if previous is not None and (previous.in_flight is not None or previous.pending is not None):
            raise Refused("a deployment is in flight: register again once it has finished")
        now = self.clock()
        state = AppState(
            app=app,
            config=config,
            live_environment=live,
            last_good_version=observed[live].version_label,
            deployment=previous.deployment if previous else None,
            queued=previous.queued if previous else None,
            paused=previous.paused if previous else False,
            deployment_seq=previous.deployment_seq if previous else 0,
            revision=(previous.revision if previous else 0) + 1,
            registered_at=now,
        )
        cause = Cause(type="override", id="register", actor=request.requested_by, reason=request.reason)
        notification = Notification(
            app=app,
            deployment_id=None,
            version=state.last_good_version,
            from_state=None,
            to_state=None,
            live_environment=live,
            idle_environment=state.idle_environment,
            reason=f"registered by {request.requested_by}: live color {live} holds {cname}",
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
        self.store.register(previous, state, record)
        self.notifier.publish([notification])
        return state

    # ================================================================== the core loop

    def apply(self, app: str, make_event: Callable[[AppState], Event], loaded: AppState | None = None) -> Outcome:
        """Decide and commit one event for one app, re-reading on conflicts; then run its effects.

        `loaded`: the app as the caller just read it (saves a read; a conflict re-reads anyway)."""
        for _ in range(MAX_CONFLICTS):
            state = loaded if loaded is not None and loaded.pending is None else self._load_settled(app)
            loaded = None
            event = self._observe(state, make_event(state))
            decision = decide(state, event, self.clock())
            if decision.outcome == "ignored":
                log.info("ignored %s for %s: %s", event.kind, app, decision.reason)
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
            failure, final = self._run_pending(committed)
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
        )

    # ------------------------------------------------------------------ observation

    def _observe(self, state: AppState, event: Event) -> Event:
        environments, alarms = observation_needs(state, event)
        if not environments and not alarms:
            return event
        observed = Observed(
            environments=self.beanstalk.describe(state.config.application_name, state.config.environments)
            if environments
            else (),
            alarms=self.alarms.describe(state.config.alarms) if alarms else (),
        )
        return event.model_copy(update={"observed": observed})

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
        failure, _ = self._run_pending(claimed)
        if failure is not None:
            self._apply_failure(state.app, claimed.revision, failure)

    def _apply_failure(self, app: str, revision: int, failure: tuple[str, str]) -> Outcome:
        """Feed an effect that AWS rejected for good back to the machine (it aborts the deployment)."""
        effect, error = failure
        event = EffectFailed(event_id=f"failed:{revision}", at=self.clock(), effect=effect, error=error)
        return self.apply(app, lambda _: event)

    def _run_pending(self, state: AppState) -> tuple[tuple[str, str] | None, AppState]:
        """Run the effects, publish the notifications, clear the record.

        Returns a permanent failure, if any, and the state as committed last."""
        pending = state.pending
        if pending is None:
            return None, state
        failure: tuple[str, str] | None = None
        try:
            for effect in pending.effects:
                try:
                    self._run_effect(state, effect)
                except BadInput as error:
                    log.error("%s: %s failed for good: %s", state.app, effect.kind, error)
                    failure = (effect.kind, error.message)
                    break
            self.notifier.publish(pending.notifications)
        except Transient:
            self._release(state)
            raise
        cleared = state.model_copy(update={"pending": None, "revision": state.revision + 1})
        try:
            self.store.commit(state.revision, cleared)
        except Conflict:
            log.info("%s: pending record already taken over", state.app)
            return failure, state
        return failure, cleared

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

    def _run_effect(self, state: AppState, effect: Effect) -> None:
        if isinstance(effect, CreateVersion):
            self.beanstalk.ensure_version(effect.application_name, effect.artifact)
        elif isinstance(effect, UpdateEnvironment):
            self.beanstalk.ensure_running(effect.application_name, effect.environment, effect.version_label)
        elif isinstance(effect, MakeLive):
            swapped = self.beanstalk.ensure_live(
                state.config.application_name, effect.environment, effect.other, state.config.production_cname
            )
            log.info("%s: %s is live (%s)", state.app, effect.environment, "swapped" if swapped else "already")

    # ------------------------------------------------------------------ helpers

    def _require_app(self, app: str) -> AppState:
        state = self.store.load(app)
        if state is None:
            raise NotFound(f"unknown app {app!r}: register it first")
        return state

    def _reject_artifact(self, state: AppState, notice: ArtifactNotice, error: BadArtifact) -> None:
        """A corrupt or tampered artifact never changes state, but people must hear about it."""
        current = state.deployment
        notification = Notification(
            app=state.app,
            deployment_id=current.id if current else None,
            version=None,
            from_state=current.state.value if current else None,
            to_state=current.state.value if current else None,
            live_environment=state.live_environment,
            idle_environment=state.idle_environment,
            reason=f"artifact rejected: {error.message}",
            cause=Cause(type="artifact", id=f"s3://{notice.bucket}/{notice.key}@{notice.version_id or notice.etag}"),
            at=self.clock().isoformat(),
            transition_id=f"{state.app}:rejected:{notice.event_id}",
        )
        self.notifier.publish([notification])


def describe_state(state: AppState) -> dict[str, Any]:
    """The operator's view of an app (the override's and the CLI's `status`)."""
    current = state.deployment
    return {
        "app": state.app,
        "revision": state.revision,
        "live_environment": state.live_environment,
        "idle_environment": state.idle_environment,
        "production_cname": state.config.production_cname,
        "last_good_version": state.last_good_version,
        "paused": state.paused,
        "queued": state.queued.model_dump(mode="json") if state.queued else None,
        "pending_effects": [e.kind for e in state.pending.effects] if state.pending else [],
        "deployment": current.model_dump(mode="json") if current else None,
        "config": state.config.model_dump(mode="json"),
    }
