"""Second adversarial review: real-shaped AWS behaviour the first review did not cover.

Each test names the bug it pins in a `# BUG:` comment; every test here fails on the reviewed tree.
They run through the real handlers on moto with bluegreen's EB extension, like test_review_adversarial.py.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from bluegreen_local.bots import bundle

from tests.integration.conftest import APP, BLUE, GREEN, World


@pytest.fixture
def bot(world: World) -> Iterator[World]:
    assert world.register(bake_seconds=300)["ok"]
    world.notifications()
    yield world


def signing_key(world: World) -> str:
    kms = world.session.client("kms")
    return str(kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"])


# ====================================================================== 1. signing switched on with an unsigned build queued


def test_review2_unsigned_build_queued_before_signing_was_required_never_goes_live(bot: World) -> None:
    # BUG: the signature is verified only when the upload arrives (`artifact_uploaded` ->
    # `_verify_signature`). `register` is allowed while a build is queued (only in-flight/pending refuse) and
    # keeps `previous.queued`; it never re-checks the queued build against the new `signing_key_arn`. So an
    # unsigned build uploaded while the app was paused (or during a rollback window) is started by `resume`
    # (or the watchdog) after the team turned signing on, verified, and swapped onto production: the
    # tamper protection the app now declares is bypassed.
    assert bot.override("pause")["ok"]
    bot.upload("unsigned-1", bundle({"bot.py": "print('not signed')\n"}))
    assert bot.status()["queued"] is not None
    assert bot.register(bake_seconds=300, signing_key_arn=signing_key(bot))["ok"]
    assert bot.override("resume")["ok"]
    bot.tick()
    if bot.deployment_state() == "DEPLOYING":
        bot.complete_update(GREEN, health="Ok")
    assert bot.live() == BLUE, "an unsigned build was promoted on an app that requires signed builds"
    deployment = bot.status()["deployment"]
    if deployment is not None and deployment["artifact"]["key"] == f"{APP}/unsigned-1.zip":
        # fixed by verifying the signature again right before the version is created: aborted, with why
        assert deployment["state"] == "ABORTED" and "requires signed builds" in deployment["reason"]


# ====================================================================== 2. re-register forgets which uploads were accepted


def test_review2_redelivered_upload_after_a_re_register_does_not_redeploy_a_rolled_back_build(bot: World) -> None:
    # BUG: S3 and EventBridge deliver at least once, sometimes much later (README: "a redelivered event (the
    # same S3 object version, however late) is ignored"). That memory is `seen_events` and `accepted_uploads`
    # on the app item, and `register` rebuilds AppState without them (nor `unsettled_environment`). After any
    # re-register (a bake time change, a new alarm), a late copy of a build's event that was ROLLED BACK for
    # firing an alarm is no longer recognised (`label_is_known` only covers in-flight/queued/SUCCEEDED):
    # bluegreen deploys the bad build again and promotes it onto production.
    key = f"{APP}/build-1.zip"
    response = bot.s3.put_object(Bucket=bot.stack.bucket, Key=key, Body=bundle())
    event = bot.object_created(key, response)
    bot.invoke("artifact", copy.deepcopy(event))
    bot.complete_update(GREEN, health="Ok")
    assert bot.deployment_state() == "BAKING" and bot.live() == GREEN
    bot.set_alarm("ALARM")
    assert bot.deployment_state() == "ROLLED_BACK" and bot.live() == BLUE
    bot.set_alarm("OK")
    assert bot.register(bake_seconds=600)["ok"]  # any re-configuration
    bot.notifications()

    late = bot.invoke("artifact", copy.deepcopy(event))  # the same event, redelivered
    assert bot.deployment_state() == "ROLLED_BACK", f"the rolled-back build was deployed again: {late}"
    bot.complete_update(GREEN, health="Ok")
    assert bot.live() == BLUE, "a rolled-back build went back onto production from a redelivered event"


# ====================================================================== 3. versionId "null"


def test_review2_null_version_id_does_not_make_every_later_upload_of_a_key_a_duplicate(bot: World) -> None:
    # BUG: in a bucket whose versioning is Suspended (or for objects written before versioning was enabled)
    # S3 gives every object the version id "null" (the literal string; GetObject answers
    # x-amz-version-id: null) and the events carry it. `parse_artifact_event` keeps "null" as a real version:
    # the event id is `s3:<bucket>/<key>@null` and the provisional label `version_label(key, "null")` for
    # EVERY upload of that key. The second upload of `mybot/bot.zip` (new bytes, new ETag, new sequencer)
    # is then `artifact_already_known` / `duplicate_event` and silently ignored: no deployment, no notice.
    # (`Artifacts.inspect` already knows "null" means no version and falls back to the ETag.)
    bot.s3.put_bucket_versioning(Bucket=bot.stack.bucket, VersioningConfiguration={"Status": "Suspended"})
    key = f"{APP}/bot.zip"

    def upload(body: bytes, sequencer: str) -> dict[str, Any]:
        response = bot.s3.put_object(Bucket=bot.stack.bucket, Key=key, Body=body)
        event = bot.object_created(key, response)
        event["id"] = str(uuid.uuid4())
        event["detail"]["object"]["version-id"] = "null"
        event["detail"]["object"]["sequencer"] = sequencer
        return bot.invoke("artifact", event)

    first = upload(bundle({"bot.py": "print(1)\n"}), "0062e99a88dc407460")
    assert first["results"][0].get("outcome") == "accepted", first
    bot.complete_update(GREEN, health="Ok")
    bot.tick()
    assert bot.live() == GREEN
    second = upload(bundle({"bot.py": "print(2)\n"}), "0062e99a88dc407470")
    result = second["results"][0]
    assert result.get("outcome") == "accepted", f"the new build of {key} was dropped as a duplicate: {result}"
