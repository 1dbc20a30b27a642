"""Artifact signatures: the CI signs the zip's SHA-256 with a KMS asymmetric key; the controller verifies.

The scheme (docs/security.md, "Signed artifacts"):

- The CI computes the SHA-256 of the zip and signs that DIGEST with KMS (`Sign`, `MessageType=DIGEST`,
  `ECDSA_SHA_256` by default, on an `ECC_NIST_P256` `SIGN_VERIFY` key). Signing the digest rather than
  the message keeps KMS's 4 KiB message limit out of the way and sends KMS 32 bytes, not the build.
- The base64 signature travels as S3 user metadata `x-amz-meta-bluegreen-signature` on the same
  object version: atomic with the bytes, and read by the one GetObject that inspects the artifact.
- The controller recomputes the SHA-256 while it streams the object and asks KMS to `Verify` the
  signature for that digest with the app's `signing_key_arn`. KMS holds the private key: nobody who
  can write to the bucket but not sign with the key can forge a build the app accepts.

One-line recipe without the CLI (AWS CLI v2, bash):

    openssl dgst -sha256 -binary build.zip > build.zip.sha256.bin && \
    SIG=$(aws kms sign --key-id "$KEY_ARN" --message fileb://build.zip.sha256.bin --message-type DIGEST \
          --signing-algorithm ECDSA_SHA_256 --query Signature --output text) && \
    aws s3 cp build.zip "s3://$BUCKET/$APP/build.zip" --checksum-algorithm SHA256 \
          --metadata "bluegreen-signature=$SIG"
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path
from typing import Any

from bluegreen.aws.clients import client, error_code, is_transient
from bluegreen.errors import BadArtifact, Transient

# S3 returns user metadata keys lower-cased and without the `x-amz-meta-` prefix.
SIGNATURE_METADATA_KEY = "bluegreen-signature"
SIGNATURE_HEADER = f"x-amz-meta-{SIGNATURE_METADATA_KEY}"
SIGNING_ALGORITHM = "ECDSA_SHA_256"
MAX_SIGNATURE_BYTES = 1024  # ECDSA P-256..P-521 DER and RSA up to 4096 bits; S3 allows 2 KiB of metadata
_CHUNK = 1 << 20

# KMS answers these when the key cannot be used for this verification: a configuration problem of
# the app (wrong key, disabled key, a key the stack does not list in ArtifactSigningKeyArns).
_KEY_PROBLEMS = {
    "NotFoundException": "does not exist",
    "DisabledException": "is disabled",
    "KMSInvalidStateException": "is not in a usable state (pending deletion or import?)",
    "InvalidKeyUsageException": "is not a SIGN_VERIFY key for this signing algorithm",
    "AccessDeniedException": "may not be used by the controller: add its ARN to the stack's ArtifactSigningKeyArns",
    "IncorrectKeyException": "is not the key this signature was made with",
    "ValidationException": "rejected the request",
}


def _digest(sha256_hex: str) -> bytes:
    try:
        digest = bytes.fromhex(sha256_hex)
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise BadArtifact(f"cannot verify a signature: {sha256_hex!r} is not a SHA-256 hex digest")
    return digest


def _decode_signature(signature_b64: str) -> bytes:
    try:
        raw = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadArtifact(f"the artifact's {SIGNATURE_HEADER} metadata is not valid base64") from None
    if not raw or len(raw) > MAX_SIGNATURE_BYTES:
        raise BadArtifact(f"the artifact's {SIGNATURE_HEADER} metadata is not a signature ({len(raw)} bytes)")
    return raw


def verify_signature(
    kms_client: Any,
    key_arn: str,
    sha256_hex: str,
    signature_b64: str | None,
    signing_algorithm: str = SIGNING_ALGORITHM,
) -> None:
    """Accept the build only if `signature_b64` is the KMS signature of `sha256_hex` by `key_arn`.

    Raises `BadArtifact` (permanent: the build is rejected with a notification) when the signature is
    missing, malformed or does not verify, or when the key cannot be used; `Transient` when KMS is
    throttling or unavailable (Lambda retries the event)."""
    if not signature_b64:
        raise BadArtifact(
            f"the app requires signed builds and this upload carries no {SIGNATURE_HEADER} metadata "
            f"(sign the SHA-256 with {key_arn}: `bluegreen sign`, or docs/security.md)",
            key_arn=key_arn,
        )
    digest = _digest(sha256_hex)
    signature = _decode_signature(signature_b64)
    try:
        response = kms_client.verify(
            KeyId=key_arn,
            Message=digest,
            MessageType="DIGEST",
            Signature=signature,
            SigningAlgorithm=signing_algorithm,
        )
    except Exception as error:
        code = error_code(error)
        if code == "KMSInvalidSignatureException":
            raise BadArtifact(
                f"the build's signature does not verify with {key_arn}: the bytes are not the ones signed, "
                "or another key signed them",
                key_arn=key_arn,
                sha256=sha256_hex,
            ) from None
        if is_transient(error) or code in ("DependencyTimeoutException", "KMSInternalException"):
            raise Transient(f"KMS Verify: {error}") from error
        problem = _KEY_PROBLEMS.get(code, f"could not be used ({code or type(error).__name__})")
        raise BadArtifact(f"cannot verify the build's signature: KMS key {key_arn} {problem}", aws_code=code) from None
    if response.get("SignatureValid") is not True:
        raise BadArtifact(
            f"the build's signature does not verify with {key_arn}: the bytes are not the ones signed, "
            "or another key signed them",
            key_arn=key_arn,
            sha256=sha256_hex,
        )


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sign_digest(kms_client: Any, key_arn: str, sha256_hex: str, signing_algorithm: str = SIGNING_ALGORITHM) -> str:
    """The base64 KMS signature of a SHA-256 digest: the value of `x-amz-meta-bluegreen-signature`."""
    response = kms_client.sign(
        KeyId=key_arn,
        Message=_digest(sha256_hex),
        MessageType="DIGEST",
        SigningAlgorithm=signing_algorithm,
    )
    return base64.b64encode(response["Signature"]).decode("ascii")


def sign_artifact(
    path: str | Path, key_arn: str, kms_client: Any = None, signing_algorithm: str = SIGNING_ALGORITHM
) -> str:
    """Sign a build zip for upload (`bluegreen sign`): its SHA-256, signed with `key_arn` by KMS.

    Upload it with the result as metadata, e.g.
    `s3.put_object(..., Metadata={"bluegreen-signature": sign_artifact("build.zip", key)})` or
    `aws s3 cp build.zip s3://<bucket>/<app>/build.zip --metadata bluegreen-signature=<result>`.
    The caller needs `kms:Sign` on the key."""
    return sign_digest(kms_client or client("kms"), key_arn, file_sha256(path), signing_algorithm)


def signature_from_metadata(metadata: dict[str, str] | None) -> str | None:
    """The signature from a GetObject/HeadObject response's `Metadata` (S3 lower-cases the keys)."""
    if not metadata:
        return None
    for key, value in metadata.items():
        if key.lower() == SIGNATURE_METADATA_KEY:
            return value or None
    return None


class Signatures:
    """The controller's side: verify an inspected artifact against its app's key (lazy KMS client)."""

    def __init__(self, kms: Any = None) -> None:
        self._kms = kms

    @property
    def kms(self) -> Any:
        if self._kms is None:
            self._kms = client("kms")
        return self._kms

    def verify(self, key_arn: str | None, sha256_hex: str | None, signature_b64: str | None) -> None:
        """No key configured: nothing to check. Otherwise `verify_signature`."""
        if not key_arn:
            return
        if not sha256_hex:
            raise BadArtifact("cannot verify the build's signature: its SHA-256 was not computed")
        verify_signature(self.kms, key_arn, sha256_hex, signature_b64)
