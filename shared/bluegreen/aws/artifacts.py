"""S3 adapter: read an uploaded artifact once, pinned to its object version, and check it.

One streamed GetObject gives the object version, ETag, size and S3's own checksum; while streaming we
compute the SHA-256 and keep the head and tail bytes to check that it is a zip (EB source bundles are).
The same response carries the object's user metadata, hence its signature (`x-amz-meta-bluegreen-signature`,
see `bluegreen.aws.signing`): bytes and signature come from one object version, read once.

The SHA-256 check is integrity (a truncated or corrupted upload, a sidecar that does not match), not
tamper protection: whoever can replace the zip can replace its checksum too. Tamper protection is the
signature, verified with a KMS key that uploaders cannot use unless they are allowed to sign.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

from bluegreen.aws.clients import client, error_code, is_transient
from bluegreen.aws.signing import signature_from_metadata
from bluegreen.errors import BadArtifact, Transient
from bluegreen.labels import version_label
from bluegreen.manifest import read_manifest_from_zip
from bluegreen.models import Artifact

ZIP_LOCAL_HEADER = b"PK\x03\x04"
ZIP_END_OF_DIRECTORY = b"PK\x05\x06"
TAIL_BYTES = 65_536 + 22  # the end-of-central-directory record sits within the last 64 KiB + 22 bytes
CHUNK = 1 << 20
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024  # EB's source bundle limit


def too_slow(key: str, size: int, read: int, seconds: float) -> str:
    rate = read / seconds / 1e6 if seconds > 0 else 0.0
    return (
        f"artifact {key} ({size / 1e6:.0f} MB) could not be inspected in the artifact function's time: "
        f"{read / 1e6:.0f} MB read at {rate:.0f} MB/s; raise ArtifactFunction's Timeout or MemorySize "
        "(CPU and network scale with memory), or upload a smaller build"
    )


class Artifacts:
    def __init__(self, s3: Any = None) -> None:
        self._s3 = s3

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = client("s3")
        return self._s3

    def _get(self, **kwargs: Any) -> Any:
        try:
            return self.s3.get_object(**kwargs)
        except Exception as error:
            if is_transient(error):
                raise Transient(f"GetObject: {error}") from error
            code = error_code(error)
            if code in ("NoSuchKey", "NoSuchVersion", "404", "NoSuchBucket"):
                raise BadArtifact(
                    f"artifact s3://{kwargs['Bucket']}/{kwargs['Key']} does not exist", aws_code=code
                ) from error
            raise BadArtifact(f"cannot read s3://{kwargs['Bucket']}/{kwargs['Key']}: {error}", aws_code=code) from error

    def inspect(
        self, bucket: str, key: str, version_id: str | None = None, *, deadline: float | None = None
    ) -> Artifact:
        """`deadline`: a `time.monotonic()` by which the read must be done (the function's own time, less
        what the decision needs). A build that cannot be read by then is rejected with a reason that
        says so, never left to time out into the dead-letter queue."""
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if version_id:
            kwargs["VersionId"] = version_id
        response = self._get(**kwargs)
        size = int(response.get("ContentLength", 0))
        if size == 0:
            raise BadArtifact(f"artifact {key} is empty (zero bytes)")
        if size > MAX_ARTIFACT_BYTES:
            raise BadArtifact(f"artifact {key} is {size} bytes; Elastic Beanstalk accepts at most {MAX_ARTIFACT_BYTES}")
        digest = hashlib.sha256()
        head = b""
        tail = b""
        started = time.monotonic()
        read = 0
        for chunk in response["Body"].iter_chunks(CHUNK):
            if deadline is not None and time.monotonic() > deadline:
                raise BadArtifact(too_slow(key, size, read, time.monotonic() - started))
            read += len(chunk)
            digest.update(chunk)
            if len(head) < 4:
                head += chunk[: 4 - len(head)]
            tail = (tail + chunk)[-TAIL_BYTES:]
        if not head.startswith(ZIP_LOCAL_HEADER) or ZIP_END_OF_DIRECTORY not in tail:
            raise BadArtifact(f"artifact {key} is not a zip file")
        sha256 = digest.hexdigest()
        expected = self._expected_sha256(bucket, key, response)
        if expected is not None and expected != sha256:
            raise BadArtifact(
                f"artifact {key} failed its integrity check: SHA-256 {sha256} but {expected} was declared",
                sha256=sha256,
                expected=expected,
            )
        resolved_version = response.get("VersionId") or version_id
        if resolved_version == "null":
            resolved_version = None  # unversioned bucket
        etag = str(response.get("ETag", "")).strip('"')
        manifest = read_manifest_from_zip(self._range_reader(bucket, key, resolved_version, etag, size, tail), size)
        return Artifact(
            signature=signature_from_metadata(response.get("Metadata")),
            manifest=manifest,
            bucket=bucket,
            key=key,
            version_id=resolved_version,
            etag=etag,
            size=size,
            sha256=sha256,
            label=version_label(key, resolved_version or etag),
        )

    def _range_reader(self, bucket: str, key: str, version_id: str | None, etag: str, size: int, tail: bytes) -> Any:
        """`read_range(offset, length)` over the object as read: the tail already in memory answers what it
        holds; anything else is a ranged GetObject pinned to the same object version (or, unversioned, to
        its ETag), so a build overwritten meanwhile can never lend its manifest to this one."""
        tail_start = size - len(tail)

        def read_range(offset: int, length: int) -> bytes:
            if offset >= tail_start:
                return tail[offset - tail_start : offset - tail_start + length]
            pin: dict[str, Any] = {"VersionId": version_id} if version_id else {"IfMatch": f'"{etag}"'}
            response = self._get(Bucket=bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}", **pin)
            return bytes(response["Body"].read())

        return read_range

    def _expected_sha256(self, bucket: str, key: str, response: Any) -> str | None:
        """S3's own full-object SHA-256 if the upload carried one, else a `<key>.sha256` sidecar."""
        checksum = response.get("ChecksumSHA256")
        if checksum and response.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT":
            return base64.b64decode(checksum).hex()
        try:
            sidecar = self.s3.get_object(Bucket=bucket, Key=f"{key}.sha256")
        except Exception as error:
            if is_transient(error):
                raise Transient(f"GetObject sidecar: {error}") from error
            return None
        text = sidecar["Body"].read(4096).decode("utf-8", "replace").strip()
        token = text.split()[0].lower() if text else ""
        if len(token) != 64 or any(c not in "0123456789abcdef" for c in token):
            raise BadArtifact(f"sidecar {key}.sha256 does not hold a SHA-256 hex digest")
        return token
