"""The model card: a Markdown page logged with every model version (what, on what data, how good)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from training.grade import Grade

PURPOSE = {
    "churn": "Probability that an active buyer makes no purchase in the prediction window, calibrated "
    "so that it can be read as a rate; ranks customers for retention lists and answers CRM calls.",
    "stage": "Probabilities of each customer-journey stage at the stage horizon, for every known "
    "customer; the most likely one is the predicted next stage.",
}
FAIRNESS_HEADING = "## Fairness on the test rows (protected groups)"
HEADLINE = {
    "churn": ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_top_decile", "capture_top_decile"),
    "stage": ("accuracy", "macro_f1", "log_loss", "top_label_ece"),
}


def _table(rows: list[tuple[str, str]]) -> str:
    return "\n".join(["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def model_card(
    task: str,
    name: str,
    version: str,
    metrics: Mapping[str, float],
    grade: Grade,
    tags: Mapping[str, str],
    rows: Mapping[str, int],
    importance: pd.Series,
    params: Mapping[str, object],
    fairness: pd.DataFrame | str | None = None,
) -> str:
    """Markdown for one registered version; every figure comes from this run's out-of-time test."""
    model = [(k, f"{metrics[k]:.4f}") for k in HEADLINE[task] if k in metrics]
    baselines = [
        (k.removeprefix("baseline_"), f"{v:.4f}") for k, v in metrics.items() if k.startswith("baseline_")
    ]
    top = "\n".join(f"{i}. `{f}` ({v:.3f})" for i, (f, v) in enumerate(importance.head(10).items(), 1))
    lineage = [(k, str(v)) for k, v in tags.items()]
    lineage += [(f"{split} rows", f"{n:,}") for split, n in rows.items()]
    shown = [
        (k, str(v)) for k, v in params.items() if k not in {"categorical_feature", "monotone_constraints"}
    ]
    return f"""# Model card: `{name}` version {version}

## Purpose
{PURPOSE[task]}

**Grade {grade.letter}**: {grade.sentence}. Grades are defined in `docs/models.md`.

## Out-of-time performance (test cutoffs)
{_table(model)}

## Baselines on the same test rows
{_table(baselines)}

## Lineage
{_table(lineage)}

{fairness_section(fairness)}
## Most important features (mean |SHAP contribution| on test rows)
{top}

## Training parameters
{_table(shown)}

## Limits
- Figures hold for data like the training cutoffs; a change in the business (new products,
  pricing, tracking) calls for retraining and a fresh comparison with the champion.
- Reasons are TreeSHAP contributions: they explain the model, not causes in the world.
- A new version serves only after `journey promote` finds it better than the champion.
"""


def _figure(value: float | None, form: str) -> str:
    return "" if value is None or np.isnan(value) else format(value, form)


def _verdict(row: pd.Series) -> str:
    if not row["judged"]:
        return "too few to judge"
    return "passes" if row["passes"] else "**breaks the rule**"


def fairness_section(table: pd.DataFrame | str | None) -> str:
    """Per protected group of the test rows: size, churn rate, ROC AUC, ECE, share listed (medium or
    high risk), its ratio to the highest judged group and the 80% rule (docs/monitoring.md)."""
    if table is None:
        return ""
    if isinstance(table, str):  # why it could not be computed
        return f"{FAIRNESS_HEADING}\n{table}\n"
    head = "| attribute | group | customers | churn rate | ROC AUC | ECE | listed | ratio | 80% rule |"
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    lines += [
        f"| {r['attribute']} | {r['group']} | {r['rows']:,} | {_figure(r['churn_rate'], '.1%')} | "
        f"{_figure(r['roc_auc'], '.3f')} | {_figure(r['ece'], '.3f')} | {_figure(r['listed'], '.1%')} | "
        f"{_figure(r['ratio'], '.2f')} | {_verdict(r)} |"
        for _, r in table.iterrows()
    ]
    rows = "\n".join(lines)
    return f"""{FAIRNESS_HEADING}
Listed = churn probability at medium risk or above. The 80% rule: each group's listing rate is at
least `monitoring.fairness.min_ratio` (0.8) of the highest group's; groups smaller than
`monitoring.fairness.min_group_size` are shown, not judged.

{rows}
"""
