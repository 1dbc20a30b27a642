"""Shared by the e2e modules: a local stack for the module, and the environment restored afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def running_stack(**options: Any) -> Iterator[Any]:
    """Start a LocalStack (moto's server on a free port, the template's resources, the real handlers)."""
    from bluegreen import service
    from bluegreen_local.stack import LocalStack

    saved = dict(os.environ)
    stack = LocalStack(port=0, log_level="WARNING", **options).start()
    try:
        yield stack
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
        service.reset()
