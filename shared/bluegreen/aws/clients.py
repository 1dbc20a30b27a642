"""boto3 clients, created lazily once per container with explicit timeouts and bounded retries.

The endpoint comes from the environment (`AWS_ENDPOINT_URL`, read by botocore itself), so the same
code runs on Lambda, on the local stack and in tests.
"""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
# One boto3 session for all of them: a session's loader caches the data every client reads (the list of
# services, endpoints and partitions, the retry and default configuration), so a second client reuses
# it instead of reading and parsing it again (about 10 ms of a cold start per extra session).
_session: Any = None
_lock = threading.Lock()

# "standard" retry mode retries throttling, 5xx and connection errors with jittered backoff.
RETRY_ATTEMPTS = 4


def _config() -> Any:
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "total_max_attempts": RETRY_ATTEMPTS},
        connect_timeout=3,
        read_timeout=10,
        max_pool_connections=50,
    )


def client(service: str) -> Any:
    cached = _clients.get(service)
    if cached is not None:
        return cached
    global _session
    with _lock:  # a boto3 session is not thread-safe while creating clients
        if service not in _clients:
            if _session is None:
                import boto3

                _session = boto3.session.Session()
            _clients[service] = _session.client(service, config=_config())
        return _clients[service]


def reset() -> None:
    """Forget cached clients and their session (tests and the local stack switch endpoints between runs)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None


def error_code(error: BaseException) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "RequestTimeout",
        "TransactionInProgressException",
    }
)


def is_transient(error: BaseException) -> bool:
    """Errors worth another try later: throttling, 5xx and network trouble (after botocore's own retries)."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(error, ConnectionError | HTTPClientError):
        return True
    if isinstance(error, ClientError):
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return error_code(error) in TRANSIENT_CODES or status >= 500
    return False
