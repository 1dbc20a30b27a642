"""Big artifacts: throughput of the artifact function's inspection (one streamed GetObject, SHA-256, zip check)
on 50, 200 and 500 MB zips through the local stack's moto server, against ArtifactFunction's memory and timeout
in template.yaml. Run by benchmarks/run.py in its own process; prints one JSON line last.
`python benchmarks/big_artifacts.py [size_mb ...]`.

- The zips are made on the fly in a temp dir (one stored entry of random bytes, so no compression work),
  uploaded with S3's SHA-256 checksum (`ChecksumAlgorithm=SHA256`, as a CI upload would), and deleted after.
- The key's prefix is not a registered app, so the stack's own ArtifactFunction (triggered by the upload)
  stops at the app look-up; the measured inspection runs in a fresh process: `Artifacts().inspect(...)`,
  the function's own code, timed, with the bytes it read from S3 counted (botocore's StreamingBody) and its
  peak RSS. A second fresh process only downloads the object (same chunking, no hash): the transfer part.
- On Lambda, CPU is proportional to memory (a full vCPU at 1,769 MB): the estimate scales the local time
  (one core) by 1769 / MemorySize, as if all of it were CPU, which is the pessimistic case.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "shared", ROOT / "local"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

SIZES_MB = (50, 200, 500)
FULL_VCPU_MB = 1769  # Lambda: memory at which a function gets one full vCPU
PREFIX = "bigbench"  # not a registered app

CHILD = """
import json, sys, time
mode, bucket, key = sys.argv[1:4]
sys.path[:0] = {paths!r}
import botocore.response
read_bytes = 0
original = botocore.response.StreamingBody.read
def counting(self, amt=None):
    global read_bytes
    data = original(self, amt)
    read_bytes += len(data)
    return data
botocore.response.StreamingBody.read = counting
def high_water_mb():  # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
rss_before = high_water_mb()
from bluegreen.aws.artifacts import Artifacts, CHUNK
artifacts = Artifacts()
artifacts.s3  # the client, created outside the clock
start = time.perf_counter()
error = None
if mode == "inspect":
    try:
        artifact = artifacts.inspect(bucket, key)
        sha = artifact.sha256
    except Exception as exc:
        error, sha = f"{{type(exc).__name__}}: {{exc}}", None
else:
    body = artifacts.s3.get_object(Bucket=bucket, Key=key)["Body"]
    for _ in body.iter_chunks(CHUNK):
        pass
    sha = None
seconds = time.perf_counter() - start
rss_after = high_water_mb()
print(json.dumps({{"seconds": seconds, "read_bytes": read_bytes, "sha256": sha, "error": error,
                  "rss_before_mb": rss_before, "rss_peak_mb": rss_after}}))
"""


def make_zip(path: Path, size_mb: int) -> str:
    """A zip of about `size_mb` MB (one stored entry of random bytes); returns its SHA-256."""
    block = os.urandom(1 << 20)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive,
        archive.open("payload.bin", "w", force_zip64=True) as entry,
    ):
        for i in range(size_mb):
            # vary every MiB cheaply so the content is not one repeated block
            entry.write(i.to_bytes(8, "little") + block[8:])
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_speed(megabytes: int = 64) -> float:
    """hashlib SHA-256 MB/s on this machine (best of 3), for the split between hashing and transfer."""
    data = os.urandom(1 << 20) * megabytes
    best = min(
        (lambda t: (hashlib.sha256(data).digest(), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(3)
    )
    return megabytes * (1 << 20) / 1e6 / best


def function_limits() -> dict[str, Any]:
    """ArtifactFunction's MemorySize and Timeout from template.yaml (its own, else Globals)."""
    from bluegreen_local.template import load_template

    template = load_template()
    globals_ = (template.get("Globals") or {}).get("Function") or {}
    props = template["Resources"]["ArtifactFunction"]["Properties"]
    return {
        "memory_mb": int(props.get("MemorySize", globals_.get("MemorySize", 128))),
        "timeout_s": float(props.get("Timeout", globals_.get("Timeout", 3))),
    }


def child(mode: str, bucket: str, key: str) -> dict[str, Any]:
    code = CHILD.format(paths=[str(ROOT / "shared")])
    done = subprocess.run(
        [sys.executable, "-c", code, mode, bucket, key], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"{mode} child failed: {done.stderr.strip().splitlines()[-3:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    sizes = tuple(int(a) for a in sys.argv[1:]) or SIZES_MB
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    from bluegreen.aws.artifacts import MAX_ARTIFACT_BYTES
    from bluegreen_local.stack import LocalStack

    limits = function_limits()
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalStack(port=0, app=None, update_seconds=0.2, tick_seconds=3600, log_level="ERROR") as stack,
    ):
        import boto3

        s3 = boto3.session.Session(region_name="us-east-1").client("s3")
        bucket = stack.describe()["bucket"]
        for size_mb in sizes:
            path = Path(tmp) / f"big-{size_mb}.zip"
            made = time.perf_counter()
            sha = make_zip(path, size_mb)
            made = time.perf_counter() - made
            key = f"{PREFIX}/big-{size_mb}mb.zip"
            uploaded = time.perf_counter()
            with path.open("rb") as body:
                s3.put_object(Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256")
            uploaded = time.perf_counter() - uploaded
            size = path.stat().st_size
            path.unlink()
            inspect = child("inspect", bucket, key)
            download = child("download", bucket, key)
            s3.delete_object(Bucket=bucket, Key=key)
            mb = size / 1e6
            results[str(size_mb)] = {
                "bytes": size,
                "inspect_s": inspect["seconds"],
                "inspect_mb_s": mb / inspect["seconds"],
                "download_s": download["seconds"],
                "download_mb_s": mb / download["seconds"],
                "read_bytes": inspect["read_bytes"],
                "reads_whole_object": inspect["read_bytes"] >= size,
                "sha256_ok": inspect["sha256"] == sha,
                "error": inspect["error"],
                "rss_before_mb": inspect["rss_before_mb"],
                "rss_peak_mb": inspect["rss_peak_mb"],
                "lambda_estimate_s": inspect["seconds"] * FULL_VCPU_MB / limits["memory_mb"],
                "make_s": made,
                "upload_s": uploaded,
            }
    largest = max(results.values(), key=lambda r: r["bytes"])
    seconds_per_byte = largest["inspect_s"] / largest["bytes"]
    max_estimate = MAX_ARTIFACT_BYTES * seconds_per_byte * FULL_VCPU_MB / limits["memory_mb"]
    out = {
        "sizes_mb": list(sizes),
        "function": limits,
        "full_vcpu_mb": FULL_VCPU_MB,
        "sha256_mb_s": sha256_speed(),
        "max_artifact_bytes": MAX_ARTIFACT_BYTES,
        "max_artifact_lambda_estimate_s": max_estimate,
        "timeout_margin": limits["timeout_s"] / max_estimate,
        "results": results,
    }
    sys.stdout.write("\n" + json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
