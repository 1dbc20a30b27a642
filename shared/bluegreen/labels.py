"""Deterministic Elastic Beanstalk version labels: the same S3 object version always gets the same label."""

from __future__ import annotations

import hashlib
import re

MAX_LABEL = 100  # EB's limit
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def version_label(key: str, object_version: str) -> str:
    """`<artifact name>-<12 hex of sha256(key, version)>`, at most 100 characters, EB-safe.

    The readable part is the file name without `.zip`; the digest keeps labels unique when names repeat
    (every upload of `build.zip` to a versioned bucket is a new object version, so a new label).
    """
    name = key.rsplit("/", 1)[-1]
    if name.lower().endswith(".zip"):
        name = name[:-4]
    stem = _UNSAFE.sub("-", name).strip("-.") or "artifact"
    digest = hashlib.sha256(f"{key}\0{object_version}".encode()).hexdigest()[:12]
    return f"{stem[: MAX_LABEL - 13]}-{digest}"
