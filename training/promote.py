"""Champion/challenger: compare both on the same out-of-time test, promote with a margin, roll back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.config import Settings
from core.registry import connect
from core.schema import CHALLENGER, CHAMPION, STAGES
from features.store import apply_definitions, open_store
from serving.models import LoadedModel, load_champion
from training.dataset import LABEL, Task, label_frame, task_split, training_set
from training.evaluate import churn_metrics, stage_metrics
from training.recovery import recover
from training.registry import alias_version
from training.train import MODEL_NAME

METRIC = {"churn": "roc_auc", "stage": "macro_f1"}


class PromotionRefused(ValueError):
    """The challenger is missing, or does not beat the champion by the configured margin."""


@dataclass(frozen=True)
class Comparison:
    name: str
    metric: str
    champion: tuple[str, float] | None  # None: no version serves yet
    challenger: tuple[str, float]
    grade: str = ""  # the challenger's, when there is no champion to compare with


def _score(model: LoadedModel, frame: pd.DataFrame, task: Task) -> float:
    proba = np.asarray(
        model.booster.predict(model.inputs.matrix(frame), num_iteration=model.booster.best_iteration)
    )
    if task == "churn":
        p = model.calibration.apply(proba) if model.calibration else proba
        return churn_metrics(frame[LABEL[task]].to_numpy(), p)[METRIC[task]]
    y = frame[LABEL[task]].map({s: i for i, s in enumerate(STAGES)}).to_numpy()
    return stage_metrics(y, proba.reshape(len(frame), -1))[METRIC[task]]


def compare(clean_dir: Path, settings: Settings, task: Task) -> Comparison:
    """Both aliases scored on the current out-of-time test cutoffs (the same rows for both)."""
    name = MODEL_NAME[task]
    client = connect(settings)
    recover(client, settings)  # a half-registered version is removed, never compared
    versions = {alias: alias_version(client, name, alias) for alias in (CHAMPION, CHALLENGER)}
    if versions[CHALLENGER] is None or versions[CHALLENGER] == versions[CHAMPION]:
        raise PromotionRefused(
            f"no challenger for '{name}' beside the champion: train one first (`journey train {task}`)"
        )
    if versions[CHAMPION] is None:
        grade = client.get_model_version(name, str(versions[CHALLENGER])).tags.get("grade", "?")
        return Comparison(name, METRIC[task], None, (str(versions[CHALLENGER]), float("nan")), grade)
    split = task_split(settings, task)
    labels = label_frame(clean_dir, settings, task, split)
    store = open_store(settings)
    apply_definitions(store, settings)
    test = labels[labels["split"] == "test"]
    scores = {}
    for alias in versions:
        model = load_champion(name, settings, alias, client)  # each scored on its own feature service
        scores[alias] = _score(model, training_set(store, test, model.inputs.feature_service), task)
    return Comparison(
        name,
        METRIC[task],
        (str(versions[CHAMPION]), scores[CHAMPION]),
        (str(versions[CHALLENGER]), scores[CHALLENGER]),
    )


def promote(
    clean_dir: Path,
    settings: Settings,
    task: Task,
    force_reason: str | None = None,
    allow_rolled_back: bool = False,
) -> Comparison:
    """Move `champion` to the challenger if it wins by the margin (or when forced, with a reason).

    A challenger that was champion once and was rolled back is refused, also with --force: the
    rollback was a decision about that very model, undone only on purpose (`allow_rolled_back`).
    """
    result = compare(clean_dir, settings, task)
    _refuse_rolled_back(settings, result, allow_rolled_back)
    if result.champion is None:
        return _first_champion(settings, result, force_reason)
    gain = result.challenger[1] - result.champion[1]
    margin = settings.training.promotion_margin
    if gain < margin and force_reason is None:
        raise PromotionRefused(
            f"challenger v{result.challenger[0]} {result.metric} {result.challenger[1]:.4f} does not beat "
            f"champion v{result.champion[0]} {result.champion[1]:.4f} by the margin {margin} "
            f"(gain {gain:+.4f}); use --force --reason '...' to promote anyway"
        )
    client = connect(settings)
    version = result.challenger[0]
    client.set_registered_model_alias(result.name, CHAMPION, version)
    client.delete_registered_model_alias(result.name, CHALLENGER)  # one alias per version
    client.set_model_version_tag(result.name, version, "previous_champion", result.champion[0])
    client.set_model_version_tag(result.name, version, "promotion_gain", f"{gain:+.4f}")
    if force_reason is not None:
        client.set_model_version_tag(result.name, version, "forced_promotion_reason", force_reason)
    if allow_rolled_back:
        client.set_model_version_tag(result.name, version, "promoted_again_after_rollback", "true")
    return result


def _first_champion(settings: Settings, result: Comparison, force_reason: str | None) -> Comparison:
    """No version serves yet (the first one's grade was too low): only on purpose, with a reason."""
    version = result.challenger[0]
    if force_reason is None:
        raise PromotionRefused(
            f"'{result.name}' has no champion: v{version} (grade {result.grade}) waits as challenger "
            f"because its grade is not in training.first_champion_grades. Look at its model card and "
            f"baselines first; to serve it anyway: journey promote {_task(result.name)} --force "
            f"--reason '...'"
        )
    client = connect(settings)
    client.set_registered_model_alias(result.name, CHAMPION, version)
    client.delete_registered_model_alias(result.name, CHALLENGER)
    client.set_model_version_tag(result.name, version, "forced_promotion_reason", force_reason)
    client.set_model_version_tag(result.name, version, "promoted", "first champion, forced")
    return result


def _task(name: str) -> str:
    return next(task for task, model in MODEL_NAME.items() if model == name)


def _refuse_rolled_back(settings: Settings, result: Comparison, allowed: bool) -> None:
    version = result.challenger[0]
    tags = connect(settings).get_model_version(result.name, version).tags
    if tags.get("rolled_back") == "true" and not allowed:
        raise PromotionRefused(
            f"challenger '{result.name}' v{version} was champion once and was rolled back (tag rolled_back): "
            "it is not promoted again, not even with --force. Train a new challenger, or, if promoting "
            "it again is really meant, add --allow-rolled-back with --force --reason '...'"
        )


def rollback(settings: Settings, task: Task) -> tuple[str, str]:
    """Give `champion` back to the version the current champion replaced; that one becomes the
    challenger again, tagged `rolled_back` (so `promote` refuses it unless told otherwise)."""
    name = MODEL_NAME[task]
    client = connect(settings)
    recover(client, settings)
    current = alias_version(client, name, CHAMPION)
    if current is None:
        raise PromotionRefused(f"'{name}' has no champion: nothing to roll back")
    previous = client.get_model_version(name, current).tags.get("previous_champion")
    if not previous:
        raise PromotionRefused(
            f"'{name}' v{current} was not promoted over another version: nothing to roll back to"
        )
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_alias(name, CHALLENGER, current)  # kept in sight, tagged rolled_back
    client.set_model_version_tag(name, current, "rolled_back", "true")
    return current, previous
