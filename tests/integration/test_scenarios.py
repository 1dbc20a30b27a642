"""The lifecycle through the real handlers on moto: what a user would see in EB, the state and the bus."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.conftest import BLUE, GREEN, PRODUCTION_CNAME, World, bundle, sample


def advance(world: World, seconds: float) -> None:
    """Move the controller's clock forward (bake and timeouts) without sleeping."""
    from bluegreen import service

    controller = service.controller()
    offset = getattr(world, "_offset", 0.0) + seconds
    world._offset = offset  # type: ignore[attr-defined]
    controller.clock = lambda: datetime.now(UTC) + timedelta(seconds=offset)


@pytest.fixture
def bot(world: World) -> World:
    response = world.register(bake_seconds=300)
    assert response["ok"], response
    assert response["live_environment"] == BLUE and response["production_cname"] == PRODUCTION_CNAME
    world.notifications()
    return world


def test_register_records_the_live_color_and_refuses_unknown_environments(world: World) -> None:
    response = world.register()
    assert response["ok"] and response["last_good_version"] == "v0"
    (note,) = world.notifications()
    assert note["source"] == "bluegreen" and note["detail-type"] == "Deployment State Change"
    assert note["detail"]["reason"].startswith("registered by alice@example.com")
    bad = world.register(environments=["mybot-blue", "nope-env"])
    assert bad["ok"] is False and bad["error"]["code"] == "NotFound"


def test_upload_deploy_promote_alarm_rollback(bot: World) -> None:
    response = bot.upload("build-1")
    assert response["ok"] and response["results"][0]["outcome"] == "accepted"
    status = bot.status()
    deployment = status["deployment"]
    assert deployment["state"] == "DEPLOYING" and deployment["target_environment"] == GREEN
    label = deployment["artifact"]["label"]
    assert deployment["artifact"]["sha256"] and len(deployment["artifact"]["sha256"]) == 64
    versions = bot.eb.describe_application_versions(ApplicationName="mybot", VersionLabels=[label])[
        "ApplicationVersions"
    ]
    assert versions and versions[0]["SourceBundle"]["S3Key"] == f"_bluegreen/versions/mybot/{label}"

    bot.complete_update(GREEN, health="Ok")
    assert bot.deployment_state() == "BAKING"
    assert bot.live() == GREEN and bot.version_of(GREEN) == label
    assert bot.eb_backend.swap_count == 1

    bot.set_alarm("ALARM")
    assert bot.deployment_state() == "ROLLED_BACK"
    assert bot.live() == BLUE and bot.version_of(BLUE) == "v0"
    assert bot.eb_backend.swap_count == 2
    assert bot.status()["last_good_version"] == "v0"
    assert bot.transitions() == [
        (None, "DEPLOYING"),
        ("DEPLOYING", "VERIFYING"),
        ("VERIFYING", "BAKING"),
        ("BAKING", "ROLLED_BACK"),
    ]
    history = bot.status()["history"]
    assert [h["rule"] for h in history][-3:] == ["deploy_to_idle", "verify_updated_idle", "rollback_on_alarm"] or [
        h["rule"] for h in history
    ][-3:] == ["deploy_to_idle", "verify_healthy_idle", "rollback_on_alarm"]
    assert (
        history[-1]["cause"] == {"type": "alarm", "id": "mybot-errors", "actor": None, "reason": None}
        or history[-1]["cause"]["type"] == "alarm"
    )


def test_bake_over_succeeds(bot: World) -> None:
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    advance(bot, 301)
    assert bot.tick()["results"]["mybot"].startswith("accepted")
    status = bot.status()
    assert status["deployment"]["state"] == "SUCCEEDED"
    assert status["last_good_version"] == status["deployment"]["artifact"]["label"]
    assert bot.live() == GREEN


def test_unhealthy_idle_aborts_and_traffic_never_moves(bot: World) -> None:
    assert bot.register(health_grace_seconds=0)["ok"]
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Severe")
    assert bot.deployment_state() == "ABORTED"
    assert bot.live() == BLUE and bot.eb_backend.swap_count == 0
    reasons = [n["detail"]["reason"] for n in bot.notifications()]
    assert any("traffic never moved" in r for r in reasons)


def test_failed_update_aborts(bot: World) -> None:
    bot.upload("build-1")
    bot.complete_update(GREEN, fail=True)
    assert bot.deployment_state() == "ABORTED" and bot.live() == BLUE


def test_newer_upload_supersedes_one_in_flight(bot: World) -> None:
    bot.upload("build-1")
    first = bot.status()["deployment"]
    bot.upload("build-2")
    second = bot.status()["deployment"]
    assert second["id"] != first["id"] and second["state"] == "DEPLOYING"
    assert second["update_started"] is False  # green is still updating to build-1: never two updates at once
    bot.complete_update(GREEN, health="Ok")  # build-1 lands; the controller now updates green to build-2
    assert bot.status()["deployment"]["update_started"] is True
    assert bot.deployment_state() == "DEPLOYING" and bot.live() == BLUE
    bot.complete_update(GREEN, health="Ok")
    assert bot.deployment_state() == "BAKING" and bot.version_of(GREEN) == second["artifact"]["label"]
    states = bot.transitions()
    assert ("DEPLOYING", "SUPERSEDED") in states


def test_upload_during_bake_is_queued_and_starts_after_the_bake(bot: World) -> None:
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    bot.upload("build-2")
    bot.upload("build-3")
    status = bot.status()
    assert status["deployment"]["state"] == "BAKING" and status["queued"]["key"] == "mybot/build-3.zip"
    advance(bot, 301)
    bot.tick()
    status = bot.status()
    assert status["deployment"]["state"] == "DEPLOYING"
    assert status["deployment"]["artifact"]["key"] == "mybot/build-3.zip"
    assert status["deployment"]["target_environment"] == BLUE and status["queued"] is None


def test_pause_and_resume(bot: World) -> None:
    assert bot.override("pause")["ok"]
    bot.upload("build-1")
    status = bot.status()
    assert status["paused"] and status["deployment"] is None and status["queued"]["key"] == "mybot/build-1.zip"
    again = bot.override("pause")
    assert again["ok"] is False and again["error"]["code"] == "Refused"
    resumed = bot.override("resume")
    assert resumed["ok"] and resumed["state"]["deployment"]["state"] == "DEPLOYING"


def test_override_promote_rollback_abort_and_retry(bot: World) -> None:
    bot.register(auto_promote=False)
    bot.upload("build-1")
    refused = bot.override("promote")
    assert refused["ok"] is False and "not Ready and healthy" in refused["error"]["message"]
    bot.complete_update(GREEN, health="Ok")
    assert bot.deployment_state() == "VERIFYING" and bot.live() == BLUE
    promoted = bot.override("promote")
    assert promoted["ok"] and promoted["state"]["deployment"]["state"] == "BAKING" and bot.live() == GREEN
    rolled = bot.override("rollback")
    assert rolled["ok"] and bot.live() == BLUE and bot.deployment_state() == "ROLLED_BACK"
    assert bot.override("rollback")["ok"] is False  # nothing left to roll back

    retried = bot.override("retry")
    assert retried["ok"] and retried["state"]["deployment"]["state"] == "DEPLOYING"
    aborted = bot.override("abort", deployment_id=retried["state"]["deployment"]["id"])
    assert aborted["ok"] and bot.deployment_state() == "ABORTED"
    history = bot.status()["history"]
    # a direct invoke's actor is as claimed, and said so; only the Function URL path is verified
    assert history[-1]["cause"]["actor"] == "alice@example.com (claimed)"
    assert history[-1]["cause"]["actor_verified"] is False and history[-1]["cause"]["reason"] == "test abort"


def test_stale_and_foreign_events_are_ignored(bot: World) -> None:
    bot.upload("build-1")
    before = bot.status()
    old = sample("health/health-severe.json")
    old["time"] = "2020-01-01T00:00:00Z"
    assert bot.invoke("health", old)["outcome"] == "ignored"
    other_color = sample("health/health-severe.json")
    other_color["detail"]["EnvironmentName"] = BLUE
    assert bot.invoke("health", other_color)["outcome"] == "ignored"
    foreign = sample("health/health-severe.json")
    foreign["detail"]["EnvironmentName"] = "someone-elses-env"
    assert bot.invoke("health", foreign)["ignored"] is True
    other_region = sample("health/health-severe.json")
    other_region["region"] = "eu-west-1"
    assert bot.invoke("health", other_region)["ignored"] is True
    other_account = sample("alarm/alarm-eventbridge.json")
    other_account["account"] = "999999999999"
    assert bot.invoke("alarm", other_account)["ignored"] is True
    unknown_alarm = sample("alarm/alarm-eventbridge.json")
    unknown_alarm["detail"]["alarmName"] = "not-ours"
    assert bot.invoke("alarm", unknown_alarm)["ignored"] is True
    after = bot.status()
    assert after["revision"] == before["revision"] and after["deployment"] == before["deployment"]


def test_unknown_app_and_bad_artifacts_get_structured_errors(bot: World) -> None:
    response = bot.s3.put_object(Bucket=bot.stack.bucket, Key="ghost/build.zip", Body=bundle())
    result = bot.invoke("artifact", bot.object_created("ghost/build.zip", response))
    assert result["results"][0]["error"]["code"] == "NotFound"
    empty = bot.upload("empty", body=b"")
    assert empty["results"][0]["error"]["code"] == "BadArtifact"
    not_zip = bot.upload("text", body=b"hello, not a zip")
    assert "not a zip" in not_zip["results"][0]["error"]["message"]
    assert bot.status()["deployment"] is None
    rejected = [n["detail"]["reason"] for n in bot.notifications()]
    assert sum(r.startswith("artifact rejected") for r in rejected) == 2


def test_bucket_notification_shape_with_an_encoded_key(bot: World) -> None:
    key = "mybot/release 2026-11-28+hotfix.zip"
    put = bot.s3.put_object(Bucket=bot.stack.bucket, Key=key, Body=bundle())
    event = sample("artifact/s3-notification.json")
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = bot.stack.bucket
    record["s3"]["object"].update(
        {"key": "mybot/release+2026-11-28%2Bhotfix.zip", "eTag": put["ETag"].strip('"'), "versionId": put["VersionId"]}
    )
    result = bot.invoke("artifact", event)
    assert result["results"][0]["outcome"] == "accepted"
    assert bot.status()["deployment"]["artifact"]["key"] == key


def test_lambda_alarm_action_payload_rolls_back(bot: World) -> None:
    bot.upload("build-1")
    bot.complete_update(GREEN, health="Ok")
    payload = sample("alarm/alarm-lambda-action.json")
    payload["alarmData"]["state"]["timestamp"] = datetime.now(UTC).isoformat()
    assert bot.invoke("alarm", payload)["outcome"] == "accepted"
    assert bot.deployment_state() == "ROLLED_BACK" and bot.live() == BLUE
