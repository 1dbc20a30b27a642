"""Per-release policy: `bluegreen.json` at the root of a build's zip, read with ranged reads (issue 11).

- `ReleaseManifest`: what a release may declare (rollback policy, a longer bake, approval, more checks, notes).
- `parse_manifest`: bytes -> manifest, or `BadArtifact` naming the field.
- `read_manifest_from_zip`: the manifest of a zip of any size from a few ranged reads (end of central
  directory, central directory, the entry's local header and data), so the controller reads it with S3
  ranged GetObject calls instead of downloading a 500 MB build. `None` when the zip has no manifest.
- `tighten`: the app's policy combined with a release's; a release only ever tightens it.

Pure: no AWS call, no import of `bluegreen.models`.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable, Collection
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from bluegreen.errors import BadArtifact
from bluegreen.gates import MAX_CHECKS, Checks, HttpCheck, LambdaHook, Phase

MANIFEST_NAME = "bluegreen.json"
MAX_MANIFEST_BYTES = 65_536
MAX_NOTES = 4096
MAX_BAKE_SECONDS = 604_800  # the same bound as the app's bake_seconds

Rollback = Literal["allow", "forbid"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ReleaseManifest(_Spec):
    """`bluegreen.json`: every field optional; `{}` is a valid manifest that changes nothing."""

    rollback: Rollback = Field(
        default="allow",
        description='"forbid": this release cannot be rolled back (it migrated data one way); an alarm during '
        "its bake does not swap back, the fix is rolled forward",
    )
    bake_seconds: StrictInt | None = Field(default=None, ge=0, le=MAX_BAKE_SECONDS)
    requires_approval: StrictBool | None = None
    checks: Checks | None = None
    notes: str | None = Field(default=None, max_length=MAX_NOTES)


class Policy(_Spec):
    """The policy one deployment runs under: the app's, tightened by its release's manifest."""

    bake_seconds: StrictInt = Field(ge=0, le=MAX_BAKE_SECONDS)
    requires_approval: StrictBool = False
    checks: Checks = Checks()
    rollback: Rollback = "allow"
    notes: str | None = None


# ---------------------------------------------------------------- parsing


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _where(loc: tuple[int | str, ...]) -> str:
    # a discriminated union adds the tag to the location ("checks.pre.0.http.path"): keep it, it says which kind
    return ".".join(str(part) for part in loc) or "(the document)"


def parse_manifest(data: bytes) -> ReleaseManifest:
    """Validate `bluegreen.json`; `BadArtifact` names the field (e.g. `bluegreen.json: bake_seconds: ...`)."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise BadArtifact(f"{MANIFEST_NAME} is {len(data)} bytes; at most {MAX_MANIFEST_BYTES}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadArtifact(f"{MANIFEST_NAME} is not UTF-8 text: {error}") from error
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except ValueError as error:  # JSONDecodeError is a ValueError, and so is a duplicate key
        raise BadArtifact(f"{MANIFEST_NAME} is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise BadArtifact(f"{MANIFEST_NAME} must be a JSON object, not {type(document).__name__}")
    try:
        return ReleaseManifest.model_validate(document)
    except ValidationError as error:
        problems = [f"{_where(e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)]
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise BadArtifact(
            f"{MANIFEST_NAME}: {'; '.join(problems[:3])}{more}",
            fields=[_where(e["loc"]) for e in error.errors(include_url=False)],
        ) from error


# ---------------------------------------------------------------- the zip, by ranged reads

# read_range(offset, length) -> exactly `length` bytes starting at `offset` (S3: Range=bytes=offset-(offset+length-1))
ReadRange = Callable[[int, int], bytes]

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory, 22 bytes
_EOCD_SIG = b"PK\x05\x06"
_EOCD64_LOCATOR = struct.Struct("<4sLQL")  # zip64 end of central directory locator, 20 bytes
_EOCD64_LOCATOR_SIG = b"PK\x06\x07"
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # zip64 end of central directory record, 56 bytes
_EOCD64_SIG = b"PK\x06\x06"
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # central directory file header, 46 bytes
_CENTRAL_SIG = b"PK\x01\x02"
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # local file header, 30 bytes
_LOCAL_SIG = b"PK\x03\x04"
_TAIL = _EOCD.size + 65_535  # the EOCD record and the longest zip comment
_FLAG_ENCRYPTED = 0x1
_FLAG_STRONG_ENCRYPTION = 0x40
_FLAG_UTF8 = 0x800
_STORED, _DEFLATED = 0, 8
_ZIP64 = 0xFFFFFFFF
_LOCAL_EXTRA_GUESS = 512  # read the local header, its name and a typical extra field together with the data


def _read(read_range: ReadRange, offset: int, length: int, size: int, what: str) -> bytes:
    if offset < 0 or length < 0 or offset + length > size:
        raise BadArtifact(f"the zip is corrupt: its {what} lies outside the file")
    if length == 0:
        return b""
    data = read_range(offset, length)
    if len(data) != length:
        raise BadArtifact(f"the zip could not be read: {what}: {len(data)} bytes read of {length}")
    return data


def _end_of_directory(read_range: ReadRange, size: int) -> tuple[int, int, int, int, bytes, int]:
    """(entries, directory size, directory offset in the file, the shift of every recorded offset, the tail
    read, the tail's offset in the file). The shift is the length of bytes prepended to the archive (a
    self-extractor stub), as `zipfile` computes it."""
    tail_start = max(0, size - _TAIL)
    tail = _read(read_range, tail_start, size - tail_start, size, "end")
    position = tail.rfind(_EOCD_SIG)
    while position >= 0:
        if position + _EOCD.size <= len(tail):
            record = _EOCD.unpack_from(tail, position)
            if position + _EOCD.size + record[7] == len(tail):  # the comment runs exactly to the end
                break
        position = tail.rfind(_EOCD_SIG, 0, position)
    if position < 0:
        raise BadArtifact("the artifact is not a zip file (no end of central directory)")
    _sig, disk, directory_disk, _on_disk, entries, directory_size, directory_offset, _comment = record
    eocd_at = tail_start + position
    locator_at = eocd_at - _EOCD64_LOCATOR.size
    if locator_at >= 0:
        locator = (
            tail[locator_at - tail_start : position]
            if locator_at >= tail_start
            else _read(read_range, locator_at, _EOCD64_LOCATOR.size, size, "zip64 locator")
        )
        if locator[:4] == _EOCD64_LOCATOR_SIG:
            _s, _d, eocd64_at, disks = _EOCD64_LOCATOR.unpack(locator)
            if disks > 1:
                raise BadArtifact("the zip spans several disks; Elastic Beanstalk needs a single zip file")
            record64 = _read(read_range, eocd64_at, _EOCD64.size, size, "zip64 end of central directory")
            if record64[:4] != _EOCD64_SIG:
                raise BadArtifact("the zip is corrupt: its zip64 end of central directory is missing")
            fields = _EOCD64.unpack(record64)
            entries, directory_size, directory_offset = fields[7], fields[8], fields[9]
            # bytes prepended to the archive (a self-extractor stub) shift every offset
            concat = eocd64_at - directory_size - directory_offset
            if concat < 0:
                raise BadArtifact("the zip is corrupt: its central directory lies outside the file")
            return entries, directory_size, directory_offset + concat, concat, tail, tail_start
    if disk != 0 or directory_disk != 0:
        raise BadArtifact("the zip spans several disks; Elastic Beanstalk needs a single zip file")
    concat = eocd_at - directory_size - directory_offset
    if concat < 0:
        raise BadArtifact("the zip is corrupt: its central directory lies outside the file")
    return entries, directory_size, directory_offset + concat, concat, tail, tail_start


def _entry_name(raw: bytes, flags: int) -> str:
    return raw.decode("utf-8" if flags & _FLAG_UTF8 else "cp437", "replace")


def _find_entry(directory: bytes, entries: int) -> tuple[int, ...] | None:
    """The central directory record of `bluegreen.json` at the root; two of them are refused (ambiguous)."""
    found: tuple[int, ...] | None = None
    position = 0
    for _ in range(entries):
        if position + _CENTRAL.size > len(directory) or directory[position : position + 4] != _CENTRAL_SIG:
            raise BadArtifact("the zip is corrupt: bad central directory entry")
        record = _CENTRAL.unpack_from(directory, position)
        name_length, extra_length, comment_length = record[12], record[13], record[14]
        start = position + _CENTRAL.size
        name = _entry_name(directory[start : start + name_length], record[5])
        if name == MANIFEST_NAME:
            if found is not None:
                raise BadArtifact(f"the zip holds {MANIFEST_NAME} twice; which one applies would be ambiguous")
            found = record[1:]
        position = start + name_length + extra_length + comment_length
    return found


def _inflate(data: bytes, method: int) -> bytes:
    if method == _STORED:
        return data
    inflater = zlib.decompressobj(-15)
    try:
        content = inflater.decompress(data, MAX_MANIFEST_BYTES + 1)
    except zlib.error as error:
        raise BadArtifact(f"{MANIFEST_NAME} in the zip is corrupt: {error}") from error
    if len(content) > MAX_MANIFEST_BYTES:
        raise BadArtifact(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES} bytes")
    if not inflater.eof:
        raise BadArtifact(f"{MANIFEST_NAME} in the zip is corrupt: its compressed data is truncated")
    return content


def read_manifest_bytes_from_zip(read_range: ReadRange, size: int) -> bytes | None:
    """The raw bytes of `bluegreen.json` at the zip's root, or None; `BadArtifact` on what cannot be read."""
    if size < _EOCD.size:
        raise BadArtifact("the artifact is not a zip file (too small)")
    entries, directory_size, directory_offset, concat, tail, tail_start = _end_of_directory(read_range, size)
    if directory_offset >= tail_start and directory_offset + directory_size <= tail_start + len(tail):
        directory = tail[directory_offset - tail_start : directory_offset - tail_start + directory_size]
    else:
        directory = _read(read_range, directory_offset, directory_size, size, "central directory")
    entry = _find_entry(directory, entries)
    if entry is None:
        return None
    (
        _created,
        _system,
        _needed,
        _reserved,
        flags,
        method,
        _time,
        _date,
        crc,
        compressed_size,
        file_size,
        name_length,
        _extra,
        _comment,
        _disk,
        _internal,
        _external,
        header_offset,
    ) = entry
    if flags & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION):
        raise BadArtifact(f"{MANIFEST_NAME} is encrypted in the zip; store it unencrypted")
    if _ZIP64 in (compressed_size, file_size, header_offset):
        raise BadArtifact(f"{MANIFEST_NAME} is a zip64 entry in the zip; store it as an ordinary entry")
    if method not in (_STORED, _DEFLATED):
        raise BadArtifact(f"{MANIFEST_NAME} is compressed with zip method {method}; use stored or deflate")
    if file_size > MAX_MANIFEST_BYTES:
        raise BadArtifact(f"{MANIFEST_NAME} is {file_size} bytes; at most {MAX_MANIFEST_BYTES}")
    if compressed_size > MAX_MANIFEST_BYTES + 1024:
        raise BadArtifact(f"{MANIFEST_NAME} is {compressed_size} bytes compressed; at most {MAX_MANIFEST_BYTES}")
    header_offset += concat
    want = min(size - header_offset, _LOCAL.size + name_length + _LOCAL_EXTRA_GUESS + compressed_size)
    chunk = _read(read_range, header_offset, want, size, f"{MANIFEST_NAME}'s local header")
    if len(chunk) < _LOCAL.size or chunk[:4] != _LOCAL_SIG:
        raise BadArtifact(f"the zip is corrupt: {MANIFEST_NAME}'s local header is missing")
    local = _LOCAL.unpack_from(chunk)
    local_flags, local_name_length, local_extra_length = local[3], local[10], local[11]
    local_name = chunk[_LOCAL.size : _LOCAL.size + local_name_length]
    if _entry_name(local_name, local_flags) != MANIFEST_NAME:
        raise BadArtifact(f"the zip is corrupt: {MANIFEST_NAME}'s local header names another file")
    if local_flags & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION):
        raise BadArtifact(f"{MANIFEST_NAME} is encrypted in the zip; store it unencrypted")
    data_start = _LOCAL.size + local_name_length + local_extra_length
    data = chunk[data_start : data_start + compressed_size]
    if len(data) < compressed_size:
        data = _read(read_range, header_offset + data_start, compressed_size, size, MANIFEST_NAME)
    content = _inflate(data, method)
    if len(content) != file_size or zlib.crc32(content) != crc:
        raise BadArtifact(f"{MANIFEST_NAME} in the zip is corrupt: its size or CRC does not match the directory")
    return content


def read_manifest_from_zip(read_range: ReadRange, size: int) -> ReleaseManifest | None:
    """The validated `bluegreen.json` at the root of a zip of `size` bytes read through `read_range(offset,
    length)`; None when there is none (one in a subfolder does not count). `BadArtifact` on a manifest that
    is invalid, too big (64 KiB), encrypted, a zip64 entry, compressed other than stored/deflate, or a zip
    that cannot be read. Exceptions of `read_range` itself (e.g. `Transient`) pass through."""
    content = read_manifest_bytes_from_zip(read_range, size)
    return None if content is None else parse_manifest(content)


# ---------------------------------------------------------------- tightening


def _hook_functions(checks: Checks) -> set[str]:
    return {check.function for check in (*checks.pre, *checks.post) if isinstance(check, LambdaHook)}


def tighten(app_policy: Policy, manifest: ReleaseManifest | None, *, hook_functions: Collection[str] = ()) -> Policy:
    """The policy a release runs under: the app's, tightened by the release's manifest, never loosened.

    - `bake_seconds`: the longer of the two; `requires_approval`: either asks for it;
    - `checks`: the app's, then the release's (a release cannot remove or replace the app's: a name that
      is already the app's is refused), at most `MAX_CHECKS` per phase in all;
    - `rollback`: "forbid" if either forbids (that a release may forbid it is the point);
    - a release's Lambda hook may only name a function the app's own hooks use or `hook_functions` lists:
      whoever uploads a build must not make the controller invoke any function its role may invoke.
    """
    if manifest is None:
        return app_policy
    checks = app_policy.checks
    if manifest.checks is not None:
        taken = set(app_policy.checks.names)
        allowed = _hook_functions(app_policy.checks) | set(hook_functions)
        phases: tuple[Phase, ...] = ("pre", "post")
        for phase in phases:
            for check in manifest.checks.phase(phase):
                if check.name in taken:
                    raise BadArtifact(
                        f"{MANIFEST_NAME}: checks.{phase}: {check.name!r} is already one of the app's checks; "
                        "a release adds checks under new names, it cannot replace the app's"
                    )
                if isinstance(check, LambdaHook) and check.function not in allowed:
                    raise BadArtifact(
                        f"{MANIFEST_NAME}: checks.{phase}: hook {check.name!r} invokes {check.function!r}, which "
                        "is not one of the app's hook functions; register it with the app first"
                    )
        pre: tuple[HttpCheck | LambdaHook, ...] = (*app_policy.checks.pre, *manifest.checks.pre)
        post: tuple[HttpCheck | LambdaHook, ...] = (*app_policy.checks.post, *manifest.checks.post)
        for phase, combined in (("pre", pre), ("post", post)):
            if len(combined) > MAX_CHECKS:
                raise BadArtifact(
                    f"{MANIFEST_NAME}: checks.{phase}: the app's and the release's checks together are "
                    f"{len(combined)}; at most {MAX_CHECKS}"
                )
        checks = Checks(pre=pre, post=post)
    release_bake = manifest.bake_seconds if manifest.bake_seconds is not None else 0
    return Policy(
        bake_seconds=max(app_policy.bake_seconds, release_bake),
        requires_approval=app_policy.requires_approval or bool(manifest.requires_approval),
        checks=checks,
        rollback="forbid" if "forbid" in (app_policy.rollback, manifest.rollback) else "allow",
        notes=manifest.notes if manifest.notes is not None else app_policy.notes,
    )
