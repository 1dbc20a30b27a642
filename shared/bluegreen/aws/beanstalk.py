"""Elastic Beanstalk adapter: observe environments, then act only when AWS says the act is needed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bluegreen.aws.clients import client, error_code, is_transient
from bluegreen.errors import BadInput, NotFound, Transient
from bluegreen.models import Artifact, EnvironmentObservation


def _wrap(error: Exception, what: str) -> Exception:
    if is_transient(error):
        return Transient(f"{what}: {error}")
    return BadInput(f"{what}: {error}", aws_code=error_code(error))


PINNED_PREFIX = "_bluegreen/versions"  # no ".zip" suffix on these keys, so the artifact rule never routes them


def pinned_key(artifact: Artifact) -> str:
    return f"{PINNED_PREFIX}/{artifact.key.split('/', 1)[0]}/{artifact.label}"


class Beanstalk:
    def __init__(self, eb: Any = None, s3: Any = None) -> None:
        self._eb = eb
        self._s3 = s3

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = client("s3")
        return self._s3

    def pin(self, artifact: Artifact) -> dict[str, str]:
        """EB's source bundle names a bucket and key, never an object version, and EB reads it when it
        deploys. Copy the exact version we inspected to an immutable key, so an overwrite of the upload
        key can never deploy other bytes under this label. Unversioned buckets keep the key."""
        if not artifact.version_id:
            return {"S3Bucket": artifact.bucket, "S3Key": artifact.key}
        key = pinned_key(artifact)
        source = {"Bucket": artifact.bucket, "Key": artifact.key, "VersionId": artifact.version_id}
        try:
            self.s3.copy_object(Bucket=artifact.bucket, Key=key, CopySource=source)
        except Exception as error:
            raise _wrap(error, "CopyObject (pin the artifact version)") from error
        return {"S3Bucket": artifact.bucket, "S3Key": key}

    @property
    def eb(self) -> Any:
        if self._eb is None:
            self._eb = client("elasticbeanstalk")
        return self._eb

    def describe(self, application_name: str, environments: Iterable[str]) -> tuple[EnvironmentObservation, ...]:
        """One DescribeEnvironments call for the named environments (both colors at once)."""
        names = list(environments)
        try:
            response = self.eb.describe_environments(
                ApplicationName=application_name, EnvironmentNames=names, IncludeDeleted=False
            )
        except Exception as error:
            raise _wrap(error, "DescribeEnvironments") from error
        found = []
        for env in response.get("Environments", []):
            if env.get("EnvironmentName") not in names:
                continue
            found.append(
                EnvironmentObservation(
                    name=env["EnvironmentName"],
                    status=env.get("Status", "Ready"),
                    health=env.get("Health", "Grey"),
                    health_status=env.get("HealthStatus"),
                    version_label=env.get("VersionLabel"),
                    cname=env.get("CNAME", ""),
                )
            )
        return tuple(found)

    def require(self, application_name: str, environments: Iterable[str]) -> tuple[EnvironmentObservation, ...]:
        names = list(environments)
        observed = self.describe(application_name, names)
        missing = sorted(set(names) - {e.name for e in observed})
        if missing:
            raise NotFound(f"Elastic Beanstalk application {application_name} has no environment {', '.join(missing)}")
        return observed

    def ensure_version(self, application_name: str, artifact: Artifact) -> bool:
        """Create the application version; the label is deterministic, so "already exists" is success.

        Returns True when this call created it.
        """
        bundle = self.pin(artifact)
        try:
            self.eb.create_application_version(
                ApplicationName=application_name,
                VersionLabel=artifact.label,
                SourceBundle=bundle,
                Description=f"{artifact.key} (S3 version {artifact.version_id or artifact.etag})"[:200],
                Process=False,
            )
        except Exception as error:
            if "already exists" in str(error):
                return False
            raise _wrap(error, "CreateApplicationVersion") from error
        return True

    def ensure_running(self, application_name: str, environment: str, version_label: str) -> bool:
        """Update the environment to the version unless it already runs it (or is updating to it).

        Returns True when this call started an update.
        """
        (current,) = self.require(application_name, [environment])
        if current.version_label == version_label:
            return False
        if current.status != "Ready":
            # EB refuses updates unless Ready; the machine never asks for two at once, so another
            # writer is mid-flight: let the caller retry later.
            raise Transient(f"{environment} is {current.status}; cannot update it now")
        try:
            self.eb.update_environment(
                ApplicationName=application_name, EnvironmentName=environment, VersionLabel=version_label
            )
        except Exception as error:
            raise _wrap(error, "UpdateEnvironment") from error
        return True

    def ensure_live(self, application_name: str, environment: str, other: str, production_cname: str) -> bool:
        """Swap CNAMEs only if `environment` does not hold the production CNAME already.

        This check is what makes a retried promotion or rollback safe: a second run finds the CNAME
        where the first one put it and does nothing, so it can never swap back. Returns True on a swap.
        """
        observed = {e.name: e for e in self.require(application_name, [environment, other])}
        if observed[environment].cname == production_cname:
            return False
        if observed[other].cname != production_cname:
            raise BadInput(
                f"neither {environment} nor {other} holds the production CNAME {production_cname}; refusing to swap"
            )
        try:
            self.eb.swap_environment_cnames(SourceEnvironmentName=other, DestinationEnvironmentName=environment)
        except Exception as error:
            raise _wrap(error, "SwapEnvironmentCNAMEs") from error
        return True
