"""Elastic Beanstalk adapter: observe environments, then act only when AWS says the act is needed."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from bluegreen.aws.clients import client, error_code, is_transient
from bluegreen.errors import BadInput, NotFound, Transient
from bluegreen.models import Artifact, EnvironmentObservation

log = logging.getLogger("bluegreen")
PAGE = 1000  # DescribeEnvironments' MaxRecords ceiling


class SwapRefused(BadInput):
    """EB refused SwapEnvironmentCNAMEs (e.g. "... is in an invalid state for this operation. Must be Ready.").

    Permanent for this attempt: the machine records that traffic did not move. `retryable`: EB will
    accept it by itself later (a color not Ready); otherwise a person must act (or the timeout ends it)."""

    code = "SwapRefused"

    def __init__(self, message: str, *, retryable: bool = False, **details: Any) -> None:
        super().__init__(message, **details)
        self.retryable = retryable


def observation(env: dict[str, Any]) -> EnvironmentObservation:
    return EnvironmentObservation(
        name=env["EnvironmentName"],
        status=env.get("Status", "Ready"),
        health=env.get("Health", "Grey"),
        health_status=env.get("HealthStatus"),
        version_label=env.get("VersionLabel"),
        cname=env.get("CNAME", ""),
        endpoint_url=env.get("EndpointURL", "") or "",
        tier=(env.get("Tier") or {}).get("Name", "WebServer"),
    )


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
        return tuple(
            observation(env) for env in response.get("Environments", []) if env.get("EnvironmentName") in names
        )

    def describe_all(self, names: Iterable[str] | None = None) -> dict[str, EnvironmentObservation]:
        """Every environment in the region (names=None), or the named ones across applications, paginated:
        one call per 1,000 environments, whatever the number of apps. Terminated ones are left out."""
        wanted = sorted(set(names)) if names is not None else None
        found: dict[str, EnvironmentObservation] = {}
        for env in self._pages(wanted):
            if env.get("Status") in ("Terminated", "Terminating"):
                continue
            found[env["EnvironmentName"]] = observation(env)
        return found

    def _pages(self, names: list[str] | None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"IncludeDeleted": False, "MaxRecords": PAGE}
        if names is not None:
            if not names:
                return
            kwargs["EnvironmentNames"] = names
        while True:
            try:
                response = self.eb.describe_environments(**kwargs)
            except Exception as error:
                raise _wrap(error, "DescribeEnvironments") from error
            yield from response.get("Environments", [])
            token = response.get("NextToken")
            if not token:
                return
            kwargs["NextToken"] = token

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

    def ensure_running(
        self,
        application_name: str,
        environment: str,
        version_label: str,
        observed: dict[str, EnvironmentObservation] | None = None,
    ) -> bool:
        """Update the environment to the version unless it already runs it (or is updating to it).

        `observed`: EB's answer from this invocation a moment ago (the decision's own observation).
        Returns True when this call started an update.
        """
        if observed is not None and environment in observed:
            current = observed[environment]
        else:
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
            if "Must be Ready" in str(error):
                # EB began another operation since we looked (a managed update): try again later.
                raise Transient(f"UpdateEnvironment: {environment} is not Ready: {error}") from error
            raise _wrap(error, "UpdateEnvironment") from error
        return True

    def ensure_live(
        self,
        application_name: str,
        environment: str,
        other: str,
        production_cname: str,
        observed: dict[str, EnvironmentObservation] | None = None,
    ) -> bool:
        """Swap CNAMEs only if `environment` does not hold the production CNAME already.

        This check is what makes a retried promotion or rollback safe: a second run finds the CNAME
        where the first one put it and does nothing, so it can never swap back. `observed` is EB's
        answer from the same invocation, a moment ago (the decision's own observation): it saves a
        describe on the rollback path; without it, EB is described here. Returns True on a swap.
        Raises `SwapRefused` when EB would refuse (a color not Ready) or refuses."""
        if observed is None or environment not in observed or other not in observed:
            observed = {e.name: e for e in self.require(application_name, [environment, other])}
        if observed[environment].cname == production_cname:
            return False
        if observed[other].cname != production_cname:
            raise SwapRefused(
                f"neither {environment} nor {other} holds the production CNAME {production_cname}; refusing to swap"
            )
        busy = [name for name in (environment, other) if not observed[name].ready]
        if busy:
            states = ", ".join(f"{name} is {observed[name].status}" for name in busy)
            raise SwapRefused(f"{states}; EB swaps only when both environments are Ready", retryable=True)
        try:
            self.eb.swap_environment_cnames(SourceEnvironmentName=other, DestinationEnvironmentName=environment)
        except Exception as error:
            if is_transient(error):
                raise Transient(f"SwapEnvironmentCNAMEs: {error}") from error
            raise SwapRefused(
                f"SwapEnvironmentCNAMEs: {error}", retryable="Must be Ready" in str(error), aws_code=error_code(error)
            ) from error
        return True

    # ------------------------------------------------------------------ version retention

    def prune_versions(self, application_name: str, app: str, keep: int, protect: Iterable[str]) -> list[str]:
        """Delete the oldest application versions bluegreen created for `app` beyond `keep`, with their
        pinned S3 copies, so CreateApplicationVersion never hits EB's quota. Never a version either
        environment runs, nor one in `protect`; never a version someone else created."""
        prefix = f"{PINNED_PREFIX}/{app}/"
        ours: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"ApplicationName": application_name, "MaxRecords": 1000}
        while True:
            try:
                response = self.eb.describe_application_versions(**kwargs)
            except Exception as error:
                raise _wrap(error, "DescribeApplicationVersions") from error
            for version in response.get("ApplicationVersions", []):
                bundle = version.get("SourceBundle") or {}
                if str(bundle.get("S3Key", "")).startswith(prefix):
                    ours.append(version)
            token = response.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
        if len(ours) <= keep:
            return []
        in_use = set(protect) | {
            e.version_label for e in self.describe_all_for(application_name) if e.version_label is not None
        }
        ours.sort(key=lambda v: str(v.get("DateCreated", "")), reverse=True)
        deleted = []
        for version in ours[keep:]:
            label = version["VersionLabel"]
            if label in in_use:
                continue
            try:
                self.eb.delete_application_version(
                    ApplicationName=application_name, VersionLabel=label, DeleteSourceBundle=False
                )
                bundle = version["SourceBundle"]
                self.s3.delete_object(Bucket=bundle["S3Bucket"], Key=bundle["S3Key"])
            except Exception as error:
                raise _wrap(error, f"DeleteApplicationVersion {label}") from error
            deleted.append(label)
        return deleted

    def describe_all_for(self, application_name: str) -> tuple[EnvironmentObservation, ...]:
        try:
            response = self.eb.describe_environments(ApplicationName=application_name, IncludeDeleted=False)
        except Exception as error:
            raise _wrap(error, "DescribeEnvironments") from error
        return tuple(observation(env) for env in response.get("Environments", []))

    def tags(self, arn: str) -> dict[str, str]:
        """An environment's tags (register checks the opt-in tag)."""
        try:
            response = self.eb.list_tags_for_resource(ResourceArn=arn)
        except Exception as error:
            raise _wrap(error, "ListTagsForResource") from error
        return {t["Key"]: t["Value"] for t in response.get("ResourceTags", [])}
