"""The error hierarchy that handlers map once: permanent input errors answer, transient ones raise.

- `BadInput` and its children are permanent: log, answer with a structured error, never retry.
- `Conflict` means another writer won the conditional write: re-read and decide again, in place.
- `Transient` means AWS or a lease is busy: raise it, so that Lambda's async retry runs the event again.
"""

from __future__ import annotations

from typing import Any


class BluegreenError(Exception):
    code = "Error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class BadInput(BluegreenError):
    """Permanent: the input can never succeed as it is."""

    code = "BadInput"


class NotFound(BadInput):
    code = "NotFound"


class Refused(BadInput):
    """A well-formed request that makes no sense in the current state (promote with nothing to promote)."""

    code = "Refused"


class BadArtifact(BadInput):
    code = "BadArtifact"


class Conflict(BluegreenError):
    code = "Conflict"


class Transient(BluegreenError):
    code = "Transient"
