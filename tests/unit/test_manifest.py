"""bluegreen.manifest: parsing bluegreen.json (errors name the field), reading it out of a zip through
ranged reads only (stored and deflated, absent, in a subfolder, invalid, too big, encrypted, zip64 archive,
prepended stub, comment, duplicates), and tighten (a release only ever tightens the app's policy)."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from typing import Any

import pytest
from bluegreen.errors import BadArtifact
from bluegreen.gates import Checks, HttpCheck, LambdaHook
from bluegreen.manifest import (
    MAX_MANIFEST_BYTES,
    Policy,
    ReleaseManifest,
    parse_manifest,
    read_manifest_bytes_from_zip,
    read_manifest_from_zip,
    tighten,
)

MIGRATION = {"rollback": "forbid", "notes": "adds column x; old build cannot read it"}


# ---------------------------------------------------------------- parse


def test_an_empty_manifest_changes_nothing() -> None:
    manifest = parse_manifest(b"{}")
    assert manifest == ReleaseManifest() and manifest.rollback == "allow"
    assert manifest.bake_seconds is None and manifest.requires_approval is None and manifest.checks is None


def test_a_full_manifest() -> None:
    manifest = parse_manifest(
        json.dumps(
            {
                "rollback": "forbid",
                "bake_seconds": 1800,
                "requires_approval": True,
                "checks": {"pre": [{"type": "http", "name": "schema", "path": "/schema", "expect_body": "v2"}]},
                "notes": "adds column x",
            }
        ).encode()
    )
    assert manifest.rollback == "forbid" and manifest.bake_seconds == 1800 and manifest.requires_approval is True
    assert manifest.checks is not None and isinstance(manifest.checks.pre[0], HttpCheck)


def test_a_utf8_bom_is_accepted() -> None:
    assert parse_manifest(b"\xef\xbb\xbf" + json.dumps(MIGRATION).encode()).rollback == "forbid"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "must be a JSON object, not list"),
        (b'{"rollback": "allow", "rollback": "forbid"}', "duplicate key 'rollback'"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"rollback": "never"}', "bluegreen.json: rollback: "),
        (b'{"bake_seconds": "600"}', "bluegreen.json: bake_seconds: "),
        (b'{"bake_seconds": -1}', "bluegreen.json: bake_seconds: "),
        (b'{"requires_approval": 1}', "bluegreen.json: requires_approval: "),
        (b'{"rolback": "forbid"}', "bluegreen.json: rolback: Extra inputs are not permitted"),
        (b'{"checks": {"pre": [{"type": "http", "name": "x", "attempts": "3"}]}}', "checks.pre.0.http.attempts"),
        (b'{"checks": {"pre": [{"type": "grpc", "name": "x"}]}}', "checks.pre.0"),
        (b'{"notes": "' + b"x" * 5000 + b'"}', "bluegreen.json: notes: "),
    ],
)
def test_errors_are_bad_artifact_naming_the_field(data: bytes, message: str) -> None:
    with pytest.raises(BadArtifact) as caught:
        parse_manifest(data)
    assert message in caught.value.message


def test_many_errors_are_summarised() -> None:
    with pytest.raises(BadArtifact, match=r"and 1 more") as caught:
        parse_manifest(b'{"a": 1, "b": 2, "c": 3, "d": 4}')
    assert caught.value.details["fields"] == ["a", "b", "c", "d"]


def test_a_manifest_over_64_kib_is_refused() -> None:
    with pytest.raises(BadArtifact, match="at most 65536"):
        parse_manifest(b" " * MAX_MANIFEST_BYTES + b"{}")


# ---------------------------------------------------------------- zips through ranged reads


class Ranged:
    """A zip in memory read like S3 ranged GetObject: every read recorded."""

    def __init__(self, data: bytes) -> None:
        self.data, self.reads = data, []  # type: bytes, list[tuple[int, int]]

    def __call__(self, offset: int, length: int) -> bytes:
        assert offset >= 0 and length > 0 and offset + length <= len(self.data)
        self.reads.append((offset, length))
        return self.data[offset : offset + length]

    @property
    def bytes_read(self) -> int:
        return sum(length for _, length in self.reads)


def make_zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED, comment: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        archive.comment = comment
    return buffer.getvalue()


def read(data: bytes) -> ReleaseManifest | None:
    return read_manifest_from_zip(Ranged(data), len(data))


APP_FILES = {"application.py": b"print('hi')\n", "requirements.txt": b"boto3\n", "Procfile": b"web: python app.py\n"}


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_the_manifest_is_read_stored_or_deflated(compression: int) -> None:
    data = make_zip({**APP_FILES, "bluegreen.json": json.dumps(MIGRATION).encode()}, compression)
    manifest = read(data)
    assert manifest is not None and manifest.rollback == "forbid" and manifest.notes == MIGRATION["notes"]


def test_a_zip_without_a_manifest_or_with_one_in_a_subfolder_has_none() -> None:
    assert read(make_zip(APP_FILES)) is None
    assert read(make_zip({**APP_FILES, "app/bluegreen.json": json.dumps(MIGRATION).encode()})) is None
    assert read(make_zip({**APP_FILES, "bluegreen.json/": b""})) is None  # a folder of that name
    assert read(make_zip({})) is None  # an empty zip


def test_an_invalid_manifest_in_the_zip_is_bad_artifact() -> None:
    with pytest.raises(BadArtifact, match="not valid JSON"):
        read(make_zip({**APP_FILES, "bluegreen.json": b"{rollback: forbid}"}))
    with pytest.raises(BadArtifact, match=r"bluegreen\.json: bake_seconds"):
        read(make_zip({**APP_FILES, "bluegreen.json": b'{"bake_seconds": "long"}'}))


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_manifest_over_64_kib_in_the_zip_is_refused_before_it_is_read(compression: int) -> None:
    big = b'{"notes": "' + b"x" * MAX_MANIFEST_BYTES + b'"}'
    data = make_zip({**APP_FILES, "bluegreen.json": big}, compression)
    ranged = Ranged(data)
    with pytest.raises(BadArtifact, match="at most 65536"):
        read_manifest_from_zip(ranged, len(data))


def test_a_large_build_is_read_with_a_few_small_ranged_reads() -> None:
    blob = bytes(range(256)) * (8 * 4096)  # 8 MiB that does not compress much
    data = make_zip(
        {"blob.bin": blob, **APP_FILES, "bluegreen.json": json.dumps(MIGRATION).encode()}, zipfile.ZIP_STORED
    )
    ranged = Ranged(data)
    assert read_manifest_from_zip(ranged, len(data)) is not None
    assert len(ranged.reads) <= 3 and ranged.bytes_read < 70_000 + 2_000
    # the manifest first in the zip, the directory far from the tail: still a handful of reads
    data = make_zip({"bluegreen.json": json.dumps(MIGRATION).encode(), "blob.bin": blob}, zipfile.ZIP_STORED)
    ranged = Ranged(data)
    assert read_manifest_from_zip(ranged, len(data)) is not None and len(ranged.reads) <= 3


def test_a_central_directory_outside_the_tail_is_read_with_its_own_range() -> None:
    many = {f"static/{i:05}.txt": b"x" for i in range(2000)}  # a directory of ~100 KB
    data = make_zip({**many, "bluegreen.json": b"{}"}, zipfile.ZIP_STORED)
    ranged = Ranged(data)
    assert read_manifest_from_zip(ranged, len(data)) == ReleaseManifest()
    assert len(ranged.reads) == 3  # tail, directory, local header with data


def test_a_zip_comment_and_a_prepended_stub_are_handled() -> None:
    data = make_zip(
        {**APP_FILES, "bluegreen.json": b'{"bake_seconds": 60}'}, comment=b"PK\x05\x06 fake record in a comment"
    )
    assert (read(data) or ReleaseManifest()).bake_seconds == 60
    stubbed = b"#!/bin/sh\nexit 0\n" * 10 + make_zip({**APP_FILES, "bluegreen.json": b'{"bake_seconds": 61}'})
    assert zipfile.ZipFile(io.BytesIO(stubbed)).read("bluegreen.json")  # what zipfile accepts, so do we
    assert (read(stubbed) or ReleaseManifest()).bake_seconds == 61


def test_a_zip64_archive_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 3)  # more entries than this: zip64 end records
    data = make_zip({**APP_FILES, "a.txt": b"a", "bluegreen.json": b'{"requires_approval": true}'})
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data
    monkeypatch.undo()
    assert (read(data) or ReleaseManifest()).requires_approval is True


def test_a_zip64_manifest_entry_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", b"x")
        with archive.open("bluegreen.json", "w", force_zip64=True) as entry:
            entry.write(b"{}")
    data = bytearray(buffer.getvalue())
    # force_zip64 only marks the local header; mark the directory's sizes as zip64 too, as other tools do
    position = data.rfind(b"PK\x01\x02")
    data[position + 20 : position + 28] = struct.pack("<2L", 0xFFFFFFFF, 0xFFFFFFFF)
    with pytest.raises(BadArtifact, match="zip64 entry"):
        read(bytes(data))


def test_an_encrypted_manifest_is_refused() -> None:
    data = bytearray(make_zip({**APP_FILES, "bluegreen.json": b"{}"}))
    position = data.rfind(b"PK\x01\x02")  # the last directory entry is the manifest's
    flags = struct.unpack_from("<H", data, position + 8)[0]
    struct.pack_into("<H", data, position + 8, flags | 0x1)
    with pytest.raises(BadArtifact, match="encrypted"):
        read(bytes(data))


def test_an_unsupported_compression_is_refused() -> None:
    data = make_zip({**APP_FILES, "bluegreen.json": b"{}"}, zipfile.ZIP_BZIP2)
    with pytest.raises(BadArtifact, match="method 12"):
        read(data)


def test_two_manifests_are_ambiguous() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("bluegreen.json", b'{"rollback": "forbid"}')
        archive.writestr("bluegreen.json", b"{}")
    with pytest.raises(BadArtifact, match="twice"):
        read(buffer.getvalue())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:-22], "not a zip file"),  # no end record
        (lambda d: b"PK", "too small"),
        (lambda d: d.replace(b"PK\x01\x02", b"XX\x01\x02"), "bad central directory entry"),
        (lambda d: d.replace(b"PK\x03\x04", b"XX\x03\x04"), "local header is missing"),
        (lambda d: d.replace(b'{"bake_seconds": 5}', b'{"bake_seconds": 6}'), "CRC"),
    ],
)
def test_a_corrupt_zip_is_bad_artifact(mutate: Any, message: str) -> None:
    data = mutate(make_zip({"bluegreen.json": b'{"bake_seconds": 5}'}, zipfile.ZIP_STORED))
    with pytest.raises(BadArtifact, match=message):
        read(data)


def test_a_truncated_zip_and_a_short_read_are_bad_artifact() -> None:
    data = make_zip({**APP_FILES, "bluegreen.json": b"{}"})
    with pytest.raises(BadArtifact):
        read(data[len(data) // 2 :])  # the directory's offsets point outside what is left
    with pytest.raises(BadArtifact, match="bytes read of"):
        read_manifest_from_zip(lambda offset, length: data[offset : offset + length - 1], len(data))


def test_errors_of_the_reader_pass_through() -> None:
    from bluegreen.errors import Transient

    def busy(offset: int, length: int) -> bytes:
        raise Transient("SlowDown")

    with pytest.raises(Transient):
        read_manifest_from_zip(busy, 1000)


def test_the_raw_bytes_are_available_for_the_history() -> None:
    data = make_zip({"bluegreen.json": b'{"notes": "n"}'})
    assert read_manifest_bytes_from_zip(Ranged(data), len(data)) == b'{"notes": "n"}'


# ---------------------------------------------------------------- tighten

APP = Policy(
    bake_seconds=600,
    requires_approval=False,
    checks=Checks(
        pre=(HttpCheck(name="healthz"), LambdaHook(name="smoke", function="mybot-hook")),
        post=(HttpCheck(name="after"),),
    ),
)


def test_no_manifest_is_the_app_policy() -> None:
    assert tighten(APP, None) == APP
    assert tighten(APP, ReleaseManifest()) == APP


def test_bake_and_approval_only_tighten() -> None:
    assert tighten(APP, ReleaseManifest(bake_seconds=60)).bake_seconds == 600
    assert tighten(APP, ReleaseManifest(bake_seconds=3600)).bake_seconds == 3600
    assert tighten(APP, ReleaseManifest(requires_approval=True)).requires_approval is True
    strict = APP.model_copy(update={"requires_approval": True})
    assert tighten(strict, ReleaseManifest(requires_approval=False)).requires_approval is True


def test_rollback_forbid_is_the_release_choice() -> None:
    policy = tighten(APP, parse_manifest(json.dumps(MIGRATION).encode()))
    assert policy.rollback == "forbid" and policy.notes == MIGRATION["notes"]
    assert tighten(policy, ReleaseManifest(rollback="allow")).rollback == "forbid"


def test_checks_are_added_after_the_apps_never_removed() -> None:
    release = ReleaseManifest(checks=Checks(pre=(HttpCheck(name="schema", path="/schema"),)))
    policy = tighten(APP, release)
    assert policy.checks.names == ("healthz", "smoke", "schema", "after")
    assert tighten(APP, ReleaseManifest(checks=Checks())).checks == APP.checks  # an empty list removes nothing


def test_a_release_cannot_replace_an_app_check() -> None:
    weaker = ReleaseManifest(checks=Checks(post=(HttpCheck(name="healthz", expect_status=503),)))
    with pytest.raises(BadArtifact, match="already one of the app's checks"):
        tighten(APP, weaker)


def test_a_release_hook_may_only_invoke_the_apps_hook_functions() -> None:
    own = ReleaseManifest(checks=Checks(post=(LambdaHook(name="smoke2", function="mybot-hook"),)))
    assert tighten(APP, own).checks.names[-1] == "smoke2"
    other = ReleaseManifest(
        checks=Checks(pre=(LambdaHook(name="x", function="arn:aws:lambda:us-east-1:123456789012:function:admin"),))
    )
    with pytest.raises(BadArtifact, match="not one of the app's hook functions"):
        tighten(APP, other)
    allowed = tighten(APP, other, hook_functions={"arn:aws:lambda:us-east-1:123456789012:function:admin"})
    assert allowed.checks.names[2] == "x"


def test_too_many_checks_together_are_refused() -> None:
    release = ReleaseManifest(checks=Checks(pre=tuple(HttpCheck(name=f"r{i}") for i in range(9))))
    with pytest.raises(BadArtifact, match="together are 11; at most 10"):
        tighten(APP, release)
