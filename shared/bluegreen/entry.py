"""The one place where errors become responses: every handler is wrapped by `lambda_entry`.

- `Ignored`: logged with its reason, answered `{"ok": true, "ignored": true}`; never retried.
- `BadInput` (and NotFound, Refused, BadArtifact): logged, answered `{"ok": false, "error": {...}}`;
  permanent, so it must not raise (raising would make Lambda retry it into a storm).
- `Transient`, `Conflict`: raised, so that Lambda's async retry (then the DLQ) takes over.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from bluegreen.errors import BadInput, Conflict, Transient
from bluegreen.parsing import Ignored

Handler = Callable[[Any, Any], dict[str, Any]]
_logger: Any = None


def get_logger() -> Any:
    """Powertools' structured JSON logger, created once; the `bluegreen` logger everyone logs to."""
    global _logger
    if _logger is None:
        from aws_lambda_powertools import Logger

        _logger = Logger(service="bluegreen")
    return _logger


def lambda_entry(trigger: str) -> Callable[[Handler], Handler]:
    def decorate(function: Handler) -> Handler:
        @functools.wraps(function)
        def handler(event: Any, context: Any) -> dict[str, Any]:
            logger = get_logger()
            logger.append_keys(trigger=trigger, request_id=getattr(context, "aws_request_id", None))
            try:
                result = function(event, context)
            except Ignored as ignored:
                logger.info("ignored", extra={"reason": ignored.reason, **ignored.details})
                return {"ok": True, "ignored": True, "reason": ignored.reason}
            except BadInput as error:
                logger.warning("rejected", extra={"error": error.as_dict()})
                return {"ok": False, "error": error.as_dict()}
            except (Transient, Conflict) as error:
                logger.warning("transient failure; raising so AWS retries", extra={"error": error.as_dict()})
                raise
            return {"ok": True, **result}

        return handler

    return decorate


DECISION_RESERVE_SECONDS = 10.0  # what deciding, committing, the effects and the notifications need after a read


def inspection_deadline(context: Any) -> float | None:
    """When reading an artifact must be done: the invocation's remaining time, less the decision's reserve."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    import time

    return time.monotonic() + max(float(remaining()) / 1000 - DECISION_RESERVE_SECONDS, 0.0)


def each(items: list[Any], run: Callable[[Any], dict[str, Any]]) -> list[dict[str, Any]]:
    """Run one item of a batch (S3 `Records[]`); a bad item answers for itself and never blocks the rest."""
    results = []
    for item in items:
        try:
            results.append({"ok": True, **run(item)})
        except Ignored as ignored:
            get_logger().info("ignored", extra={"reason": ignored.reason})
            results.append({"ok": True, "ignored": True, "reason": ignored.reason})
        except BadInput as error:
            get_logger().warning("rejected", extra={"error": error.as_dict()})
            results.append({"ok": False, "error": error.as_dict()})
    return results
