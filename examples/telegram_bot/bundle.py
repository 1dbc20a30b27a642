"""Build the EB source bundle: bot.py, Procfile, requirements.txt and the few bluegreen modules the
consumer lease needs (boto3 only: no pydantic, no powertools).

    python examples/telegram_bot/bundle.py dist/mybot.zip
    aws s3 cp dist/mybot.zip s3://<ArtifactBucket>/mybot/v42.zip   # bluegreen deploys it to the idle color
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared"
FILES = ("bot.py", "Procfile", "requirements.txt")
VENDORED = (
    "bluegreen/__init__.py",
    "bluegreen/errors.py",
    "bluegreen/consumer.py",
    "bluegreen/aws/__init__.py",
    "bluegreen/aws/clients.py",
)


def build(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name in FILES:
            bundle.write(HERE / name, name)
        for name in VENDORED:
            bundle.write(SHARED / name, name)
    return target


if __name__ == "__main__":
    print(build(Path(sys.argv[1] if len(sys.argv) > 1 else "dist/telegram_bot.zip")))
