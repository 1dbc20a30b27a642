"""The functions' configuration: only environment variables that template.yaml sets, read once.

A plain pydantic model filled from `os.environ` in this one place (pydantic-settings would add about
100 ms to every cold start for the same result).
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bluegreen.errors import BadInput

PREFIX = "BLUEGREEN_"


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    table: str = Field(min_length=3, description="DynamoDB table holding app state, history and look-ups")
    bus: str = Field(default="default", description="EventBridge bus for Deployment State Change events")
    bucket: str = Field(default="", description="Artifact bucket (uploads to other buckets are ignored)")
    effect_lease_seconds: int = Field(
        default=60, ge=1, description="After this, pending effects of a crashed invocation are taken over"
    )
    lease_wait_seconds: float = Field(
        default=5.0, ge=0, description="How long an invocation waits for another one's effects to finish"
    )
    history_ttl_days: int = Field(default=365, ge=0, description="0 keeps history forever")
    reconcile_every_minutes: int = Field(
        default=5,
        ge=1,
        le=60,
        description="Scheduled ticks whose minute is a multiple of this also compare every registered app's "
        "live color with EB's CNAME owner (one paged DescribeEnvironments over the region); other ticks "
        "describe only the environments of deployments in flight. A manual invoke always reconciles.",
    )
    callback_secret_arn: str = Field(
        default="", max_length=2048, description="The Secrets Manager secret that signs hooks' callback tokens"
    )
    check_function: str = Field(default="", max_length=140, description="The function that runs HTTP checks")
    managed_application_pattern: str = Field(
        default="",
        max_length=100,
        description=(
            "The stack's ManagedApplicationPattern (IAM wildcards * and ?): register refuses an application "
            "outside it. Empty (not configured) refuses every application"
        ),
    )

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        source = os.environ if environ is None else environ
        values = {k[len(PREFIX) :].lower(): v for k, v in source.items() if k.startswith(PREFIX)}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            names = ", ".join(PREFIX + str(e["loc"][0]).upper() for e in error.errors())
            raise BadInput(f"configuration error in environment variables: {names}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environ()
