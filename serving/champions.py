"""The champions in use, reloaded without a restart when the registry's `champion` alias moves."""

from __future__ import annotations

import logging
import threading

from core.config import Settings
from core.registry import connect
from core.schema import CHAMPION, CHURN_MODEL, STAGE_MODEL
from serving.models import load_champion
from serving.scoring import Scorer

log = logging.getLogger(__name__)


class Champions:
    """Holds the current Scorer; `refresh` swaps in a new one when an alias points elsewhere.

    A request takes `self.scorer` once and uses it throughout, so a swap never mixes versions
    within a response. A failed reload keeps the running models and is retried next time.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = connect(settings)  # this service's store, never MLflow's global URI
        self.scorer = self._load()
        self._stop = threading.Event()

    def _load(self) -> Scorer:
        churn = load_champion(CHURN_MODEL, self.settings, client=self.client)
        stage = load_champion(STAGE_MODEL, self.settings, client=self.client)
        return Scorer(churn, stage, self.settings, threads=1)  # see Scorer._run

    def registry_versions(self) -> dict[str, str]:
        return {
            name: str(self.client.get_model_version_by_alias(name, CHAMPION).version)
            for name in (CHURN_MODEL, STAGE_MODEL)
        }

    def refresh(self) -> bool:
        """Reload when the alias moved; True if the models changed."""
        if self.registry_versions() == self.scorer.versions:
            return False
        scorer = self._load()
        log.info("champion changed: %s -> %s", self.scorer.versions, scorer.versions)
        self.scorer = scorer
        return True

    def watch(self, every_s: float) -> threading.Thread:
        """Poll the registry in a daemon thread every `every_s` seconds."""

        def loop() -> None:
            while not self._stop.wait(every_s):
                try:
                    self.refresh()
                except Exception:  # the registry may be briefly unreachable: keep serving
                    log.exception("champion reload failed; still serving %s", self.scorer.versions)

        thread = threading.Thread(target=loop, name="champion-watch", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
