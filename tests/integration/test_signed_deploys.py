"""Issue 10 through the handlers: an app that requires signed builds deploys only what its KMS key signed,
and `bluegreen sign` produces the signature the controller verifies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bluegreen_local.bots import bundle

from tests.integration.conftest import APP, World


def signing_key(world: World) -> str:
    kms = world.session.client("kms")
    return str(kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"])


def put(world: World, name: str, body: bytes, signature: str | None = None) -> dict[str, Any]:
    key = f"{APP}/{name}.zip"
    metadata = {"bluegreen-signature": signature} if signature else {}
    response = world.s3.put_object(Bucket=world.stack.bucket, Key=key, Body=body, Metadata=metadata)
    return world.invoke("artifact", world.object_created(key, response))


def test_only_builds_signed_by_the_apps_key_deploy(world: World, tmp_path: Path, capsys: Any) -> None:
    from bluegreen.cli import main

    key = signing_key(world)
    assert world.register(signing_key_arn=key)["ok"]
    world.notifications()

    unsigned = put(world, "build-1", bundle())["results"][0]
    assert unsigned["ok"] is False and unsigned["error"]["code"] == "BadArtifact"
    (rejected,) = [n["detail"] for n in world.notifications()]
    assert rejected["reason"].startswith("artifact rejected") and rejected["cause"]["actor"]
    assert world.status()["deployment"] is None

    build = tmp_path / "build.zip"
    build.write_bytes(bundle({"bot.py": "print('signed')\n"}))
    capsys.readouterr()  # the handlers' log lines so far
    assert main(["sign", str(build), "--key", key]) == 0
    signature = capsys.readouterr().out.strip()
    assert signature and len(signature.split()) == 1, signature

    tampered = put(world, "build-2", bundle({"bot.py": "print('evil')\n"}), signature)["results"][0]
    assert tampered["ok"] is False and tampered["error"]["code"] == "BadArtifact"

    signed = put(world, "build-3", build.read_bytes(), signature)["results"][0]
    assert signed.get("outcome") == "accepted", signed
    assert world.status()["deployment"]["artifact"]["key"] == f"{APP}/build-3.zip"


def test_a_build_too_big_to_inspect_in_time_is_rejected_with_the_reason(world: World) -> None:
    """Issue 14: never a silent time-out into the dead-letter queue; the uploader hears why."""
    import os

    from bluegreen_local.stack import LambdaContext

    assert world.register()["ok"]
    world.notifications()
    key = f"{APP}/huge.zip"
    body = b"PK\x03\x04" + os.urandom(24 << 20) + b"PK\x05\x06" + bytes(18)
    response = world.s3.put_object(Bucket=world.stack.bucket, Key=key, Body=body)
    # 10 s left, all of it the decision's reserve: no time to read 24 MB
    context = LambdaContext(function_name="artifact", timeout_seconds=10)
    answer = world.handlers["artifact"].lambda_handler(world.object_created(key, response), context)
    (result,) = answer["results"]
    assert result["ok"] is False and result["error"]["code"] == "BadArtifact"
    assert "could not be inspected in the artifact function's time" in result["error"]["message"]
    (notice,) = [n["detail"] for n in world.notifications()]
    assert "raise ArtifactFunction's Timeout or MemorySize" in notice["reason"]
    assert world.status()["deployment"] is None
