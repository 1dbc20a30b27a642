"""A bot as a team has it before adopting bluegreen: an EB application with two colors on v0 and an
error alarm. Used by the local stack, the demo and the tests (dev-only)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

REGION, ACCOUNT = "us-east-1", "123456789012"
SOLUTION_STACK = "64bit Amazon Linux 2023 v4.6.0 running Python 3.11"


def bundle(files: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in (files or {"bot.py": "print('hello bot')\n"}).items():
            archive.writestr(name, text)
    return buffer.getvalue()


def create_bot(session: Any, app: str, *, blue_cname_prefix: str | None = None) -> None:
    """`<app>-blue` holds `<prefix>.<region>.elasticbeanstalk.com` (prefix defaults to the app name)."""
    s3, eb, cloudwatch = (session.client(s) for s in ("s3", "elasticbeanstalk", "cloudwatch"))
    # The first version comes from EB's own storage bucket, not the artifact bucket (which would deploy it).
    storage = f"elasticbeanstalk-{REGION}-{ACCOUNT}"
    s3.create_bucket(Bucket=storage)
    s3.put_object(Bucket=storage, Key=f"{app}/v0.zip", Body=bundle({"bot.py": "print('v0')\n"}))
    eb.create_application(ApplicationName=app)
    eb.create_application_version(
        ApplicationName=app, VersionLabel="v0", SourceBundle={"S3Bucket": storage, "S3Key": f"{app}/v0.zip"}
    )
    prefix = blue_cname_prefix or app
    for color, cname in (("blue", prefix if len(prefix) >= 4 else f"{prefix}-bot"), ("green", f"{app}-green")):
        eb.create_environment(
            ApplicationName=app,
            EnvironmentName=f"{app}-{color}",
            CNAMEPrefix=cname,
            VersionLabel="v0",
            SolutionStackName=SOLUTION_STACK,
            Tags=[{"Key": "bluegreen:managed", "Value": "true"}],  # opts in (bluegreen.access)
        )
    cloudwatch.put_metric_alarm(
        AlarmName=f"{app}-errors",
        MetricName="Errors",
        Namespace="Bot",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
