"""A new champion alias is picked up without a restart, through the service's own registry client."""

from __future__ import annotations

import time

from core.registry import connect, tracking
from core.schema import CHAMPION, CHURN_MODEL
from serving.champions import Champions


def test_moving_the_champion_alias_swaps_the_models_in_use(trained_copy, tmp_path):
    client = connect(trained_copy.settings)
    current = client.get_model_version_by_alias(CHURN_MODEL, CHAMPION)
    source = client.get_model_version_download_uri(CHURN_MODEL, current.version)
    # MLflow's global URIs point at another, empty store the whole time: the service must not read them
    with tracking(trained_copy.settings.with_paths(workdir=tmp_path)):
        champions = Champions(trained_copy.settings)
        assert champions.scorer.versions[CHURN_MODEL] == str(current.version)
        copy = client.create_model_version(CHURN_MODEL, source, run_id=current.run_id)
        try:
            watcher = champions.watch(0.2)
            client.set_registered_model_alias(CHURN_MODEL, CHAMPION, copy.version)
            deadline = time.monotonic() + 20
            while champions.scorer.versions[CHURN_MODEL] != str(copy.version) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert champions.scorer.versions[CHURN_MODEL] == str(copy.version)  # picked up by the poller
            assert champions.scorer.churn.calibration is not None
            assert not champions.refresh()  # nothing moved since
        finally:
            champions.stop()
            client.set_registered_model_alias(CHURN_MODEL, CHAMPION, current.version)
            client.delete_model_version(CHURN_MODEL, copy.version)
    watcher.join(timeout=5)
    assert not watcher.is_alive()
