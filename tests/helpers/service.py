"""The BentoML scoring service as an ASGI app, buildable more than once in one test process."""

from __future__ import annotations

from typing import Any


def fresh_app() -> Any:
    """JourneyService.to_asgi(), after dropping the previous app's metric collectors.

    Each BentoML app registers its request-duration histogram in prometheus_client's global
    registry, so a second app in the same process would clash; a real server builds one app per
    worker process, so only tests need to drop the previous app's collectors first.
    """
    from prometheus_client import REGISTRY

    from serving.service import JourneyService

    for collector, names in list(REGISTRY._collector_to_names.items()):
        if any(name.startswith("bentoml_") for name in names):
            REGISTRY.unregister(collector)
    return JourneyService.to_asgi()
