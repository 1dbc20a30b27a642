"""Wiring: one controller per container, built from the settings, with lazily created clients."""

from __future__ import annotations

from functools import lru_cache

from bluegreen.controller import Controller


@lru_cache(maxsize=1)
def controller() -> Controller:
    from bluegreen.aws.alarms import Alarms
    from bluegreen.aws.artifacts import Artifacts
    from bluegreen.aws.beanstalk import Beanstalk
    from bluegreen.aws.notifier import Notifier
    from bluegreen.settings import get_settings
    from bluegreen.store import DynamoStore

    settings = get_settings()
    store = DynamoStore(settings)
    return Controller(store, Beanstalk(), Alarms(), Notifier(settings.bus), Artifacts(), settings)


def reset() -> None:
    """Forget the container's singletons (tests and the local stack change the environment)."""
    from bluegreen.aws import clients
    from bluegreen.settings import get_settings

    controller.cache_clear()
    get_settings.cache_clear()
    clients.reset()
