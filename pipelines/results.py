"""`make results`: train and evaluate on generated data and on the real datasets; write docs/results.md.

Each dataset runs end to end (validate, features, Feast, both trainings) in its own scratch
folder; the figures are the out-of-time test metrics the training logs to MLflow.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from core.config import load_settings
from core.io import write_tables
from pipelines.sources import validate_source
from pipelines.steps import build, effective, materialize, validate_data
from synthetic.generate import generate_tables
from targeting.targets import value_evaluation
from training.evaluate import SingleClassError
from training.grade import CHURN_BASELINES
from training.snapshot import is_snapshot_source, train_snapshot
from training.train import train_task

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("synthetic", "online_retail", "olist", "telco_classic")
SYNTHETIC_END = "2025-01-01"


def _prepare(name: str, folder: Path, customers: int) -> Any:
    settings = load_settings(REPO / "configs" / "journey.yaml").with_paths(workdir=folder / name)
    if name == "synthetic":
        write_tables(generate_tables(customers, 7, "2023-01-01", SYNTHETIC_END), settings.paths.data)
        validate_data(settings, pd.Timestamp(SYNTHETIC_END, tz="UTC"))
    else:
        report = validate_source(settings, name, None, REPO / "configs")
        if report.blocking:
            raise RuntimeError(f"{name}: {report.blocking}")
    return effective(settings)


def run_dataset(name: str, folder: Path, customers: int) -> dict[str, Any]:
    """Metrics and lineage of both tasks on one dataset (or why a task does not apply)."""
    settings = _prepare(name, folder, customers)
    if is_snapshot_source(settings.paths.clean):
        cv = train_snapshot(settings.paths.clean, settings)
        return {"snapshot": {"metrics": cv.metrics, "rows": cv.rows}}
    build(settings)
    materialize(settings)
    out: dict[str, Any] = {}
    for task in ("churn", "stage"):
        try:
            result = train_task(settings.paths.clean, settings, task)
            out[task] = {
                "metrics": result.metrics,
                "rows": result.rows,
                "grade": result.grade.letter,
                "split": result.split,
            }
        except SingleClassError as err:
            out[task] = {"skipped": str(err)}
    if "metrics" in out["churn"]:
        out["value"] = value_evaluation(settings)  # docs/targeting.md: which customer value to rank by
    if name == "synthetic":  # uplift needs the generator's randomised campaigns (docs/uplift.md)
        from pipelines.uplift_cmd import evaluate, uplift_section

        out["uplift"] = uplift_section(evaluate(settings), customers)
    return out


def _fmt(task: dict[str, Any], keys: list[str]) -> str:
    if "skipped" in task:
        return "n/a (one class: " + task["skipped"].split(":")[0] + ")"
    return " / ".join(f"{task['metrics'][k]:.3f}" for k in keys)


def _get(m: dict[str, float], key: str, fmt: str = ".3f") -> str:
    return format(m[key], fmt) if key in m else "n/a"


def _churn_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "## Churn (active buyers; no purchase in the next 90 days)\n",
        "| dataset | grade | ROC AUC | recency score | logistic regression"
        " | BG/NBD expected purchases | BG/NBD P(alive)"
        " | best 'no purchase for N days' rule: N, F1 | model F1 at the rule's volume | test rows |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    quality = [
        "\n### Churn probabilities and targeting\n",
        "| dataset | PR AUC | log loss | Brier | ECE (uncalibrated) | top-decile lift / capture"
        " | base rate |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        c = r.get("churn")
        if c is None:
            continue
        if "skipped" in c:
            lines.append(f"| {name} | | {_fmt(c, [])} | | | | | | | |")
            continue
        m = c["metrics"]
        lines.append(
            f"| {name} | {c['grade']} | **{m['roc_auc']:.3f}** | {_get(m, 'baseline_recency_roc_auc')}"
            f" | {_get(m, 'baseline_logistic_roc_auc')} | {_get(m, 'baseline_bgnbd_roc_auc')}"
            f" | {_get(m, 'baseline_bgnbd_p_alive_roc_auc')}"
            f" | {m['baseline_rule_days']:.0f} d, {m['baseline_rule_f1']:.3f}"
            f" | {m['model_at_rule_volume_f1']:.3f} | {c['rows']['test']:,} |"
        )
        quality.append(
            f"| {name} | {m['pr_auc']:.3f} | {m['log_loss']:.3f} | {m['brier']:.3f}"
            f" | {m['ece']:.3f} ({m['ece_uncalibrated']:.3f})"
            f" | {m['lift_top_decile']:.2f}x / {m['capture_top_decile']:.1%} | {m['base_rate']:.3f} |"
        )
    return lines + quality


def _stage_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "\n## Next stage (stage 30 days later, every known customer)\n",
        "| dataset | grade | accuracy / macro-F1 | log loss | top-label ECE | stays in stage: accuracy /"
        " macro-F1 | Markov: accuracy / macro-F1 | lead conversion ROC AUC (Markov) | test rows |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        s = r.get("stage")
        if s is None:
            continue
        if "skipped" in s:
            lines.append(f"| {name} | | {_fmt(s, [])} | | | | | | |")
            continue
        m = s["metrics"]
        conversion = (
            f"{m['conversion_roc_auc']:.3f} ({_get(m, 'baseline_markov_conversion_roc_auc')})"
            if "conversion_roc_auc" in m
            else "n/a"
        )
        lines.append(
            f"| {name} | {s['grade']} | **{_fmt(s, ['accuracy', 'macro_f1'])}** | {m['log_loss']:.3f}"
            f" | {m['top_label_ece']:.3f} | {_fmt(s, ['baseline_stay_accuracy', 'baseline_stay_macro_f1'])}"
            f" | {_fmt(s, ['baseline_markov_accuracy', 'baseline_markov_macro_f1'])} | {conversion}"
            f" | {s['rows']['test']:,} |"
        )
    return lines


def _targets(results: dict[str, dict[str, Any]]) -> list[str]:
    """The issue's quality targets, measured on this run."""
    rows: list[tuple[str, str, float | None, float]] = []
    telco = results.get("telco_classic", {}).get("snapshot")
    if telco:
        rows.append(
            ("Telco classic churn ROC AUC (5-fold)", ">= 0.845", telco["metrics"]["lightgbm_roc_auc"], 0.845)
        )
    retail = results.get("online_retail", {}).get("churn", {}).get("metrics")
    if retail:
        best = max(retail[k] for k in CHURN_BASELINES.values() if k in retail)
        rows.append(
            ("Online Retail churn ROC AUC - best baseline", ">= +0.02", retail["roc_auc"] - best, 0.02)
        )
    for name, r in results.items():
        churn = r.get("churn", {}).get("metrics")
        if churn:
            rows.append((f"{name} churn ECE", "<= 0.03", churn["ece"], -0.03))
        stage = r.get("stage", {}).get("metrics")
        if stage:
            gain = stage["macro_f1"] - stage["baseline_markov_macro_f1"]
            rows.append((f"{name} next-stage macro-F1 - Markov", ">= +0.05", gain, 0.05))
    lines = ["\n## Targets (issue #4)\n", "| target | goal | measured | status |", "|---|---|---|---|"]
    for label, goal, value, bound in rows:
        met = value is not None and (value <= -bound if bound < 0 else value >= bound)
        shown = f"{value:+.3f}" if goal.startswith(">= +") else f"{value:.3f}"
        lines.append(f"| {label} | {goal} | {shown} | {'met' if met else '**not met**'} |")
    return lines


def render(results: dict[str, dict[str, Any]], customers: int, command: str) -> str:
    lines = [
        "# Results\n",
        f"Generated by `{command}`; every figure is out of time: the newest complete cutoffs are the",
        "test set and training cutoffs end before their label windows reach it. Synthetic data:",
        f"{customers:,} generated customers over 2023-2024 (seed 7). Baselines are defined and grades",
        "explained in [models.md](models.md); every baseline is scored on the same test rows.\n",
    ]
    lines += _churn_lines(results) + _stage_lines(results) + _snapshot_lines(results) + _split_lines(results)
    lines += _targets(results)
    lines += _value_lines(results)
    lines += [line for r in results.values() for line in r.get("uplift", [])]
    return "\n".join(lines) + "\n"


def _split_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    """Which split each model used and why (docs/models.md, "Splits")."""
    rows = [
        f"| {name} | {task} | {r[task]['split']} |"
        for name, r in results.items()
        for task in ("churn", "stage")
        if task in r and "split" in r[task]
    ]
    if not rows:
        return []
    return [
        '\n## Splits used (docs/models.md, "Splits")\n',
        "| dataset | model | split |",
        "|---|---|---|",
        *rows,
    ]


def _value_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    """Customer value over the window, out of time: predicted at each test cutoff vs actual spend after."""
    rows = {name: r["value"] for name, r in results.items() if "value" in r}
    if not rows:
        return []
    out = [
        "\n## Customer value over the next 90 days (targeting; see [targeting.md](targeting.md))\n",
        "Churn test rows (active buyers at the test cutoffs); actual = net spend in [cutoff, cutoff + 90 d)",
        "from the clean transactions. BG/NBD x Gamma-Gamma is fitted on each cutoff's own rows.\n",
        "| dataset | method | Spearman | MAE | top-decile capture of future spend | predicted / actual total"
        " | rows |",
        "|---|---|---|---|---|---|---|",
    ]
    names = {"run_rate": "run rate (spend_365d x 90/365)", "bgnbd": "BG/NBD x Gamma-Gamma"}
    for name, methods in rows.items():
        for method, m in methods.items():
            out.append(
                f"| {name} | {names[method]} | {m['spearman']:.3f} | {m['mae']:,.1f}"
                f" | {m['top_decile_capture']:.1%} | {m['total_ratio']:.2f} | {m['rows']:,.0f} |"
            )
    return out


def _snapshot_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = {name: r["snapshot"] for name, r in results.items() if "snapshot" in r}
    if not rows:
        return []
    out = [
        "\n## Churn on single-snapshot sources (stratified 5-fold cross-validation)\n",
        "| dataset | LightGBM ROC AUC | logistic regression ROC AUC | LightGBM PR AUC / Brier | rows |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        m = r["metrics"]
        out.append(
            f"| {name} | {m['lightgbm_roc_auc']:.3f} ± {m['lightgbm_roc_auc_sd']:.3f} | "
            f"{m['logistic_roc_auc']:.3f} ± {m['logistic_roc_auc_sd']:.3f} | "
            f"{m['lightgbm_pr_auc']:.3f} / {m['lightgbm_brier']:.3f} | {r['rows']:,} |"
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="journey-results-") as tmp:
        results = {name: run_dataset(name, Path(tmp), args.customers) for name in args.datasets.split(",")}
    command = "make results" if argv is None or not argv else "python -m pipelines.results " + " ".join(argv)
    text = render(results, args.customers, command)
    args.out.write_text(text + NOTES)
    print(text)


NOTES = """
## Reading these figures

- Churn probabilities are calibrated on the validation cutoff (a time slice the booster was not
  fitted on) by the simplest of the booster's own probabilities, Platt, beta and isotonic whose
  cross-validated log loss is within one standard error of the best (training/calibrate.py);
  every map is strictly increasing, so calibration keeps the booster's ranking; ECE is the
  expected calibration error on the test cutoffs over ten probability bins, after and (in
  brackets) before calibration.
- Baselines (models.md): the recency score ranks by days since the last purchase; the best
  "no purchase for N days" rule picks N on the training rows and is compared with the model
  flagging the same number of customers; logistic regression uses the same features; BG/NBD,
  fitted on the training rows' frequency, recency and age, ranks by the expected number of
  purchases in the window (fewer = more likely to churn; the field's usual ranking) and, in its
  own column, by P(alive); its P(no purchase) ranking is in the run's metrics. Stays-in-stage
  predicts that the stage 30 days later is today's; Markov predicts the most frequent next stage
  of each current stage in the training rows.
- Online Retail has no behavioural events (only invoices) and one year of history, so its
  models use transactional and country features from three training cutoffs (the others have
  label windows that reach into the test period). Logistic regression on the same features comes
  within 0.01 ROC AUC of LightGBM there: the signal is mostly recency and frequency, which a
  linear model captures, and the training set is small (about 4,800 rows). The data README's
  reference figures (logistic regression 0.743, LightGBM 0.731) are for one cutoff with
  in-sample cross-validation: context, not a like-for-like baseline.
- **The churn target of +0.02 over the best baseline is not met** (Online Retail +0.011,
  synthetic +0.005, both over logistic regression on the same features). What was tried, out of
  time on the same test rows ([ablation.md](ablation.md), `python -m pipelines.ablation`): the
  feature families the purchase-log literature credits (BG/NBD expected purchases and P(alive)
  fitted on the training rows, inter-purchase regularity, time-decayed counts, the last gap,
  purchase and quantity trends, the customer's own seasonality): the largest gain was +0.003
  (regularity, Online Retail), which lost 0.001 on generated data; no family gained on both
  datasets and all of them together lost on both, so none entered the feature store.
  Exploratory runs on Online Retail (not kept in the repo, so no figures here) found no
  gain either from weekly instead of monthly training cutoffs (five times the rows), from a
  LightGBM + logistic regression blend, or from hyperparameters picked on the validation cutoff
  (they did not carry to the test cutoffs). What limits it: one
  year of invoices, three usable training cutoffs and a label that recency and frequency
  already explain about as well as the data allows; the generated data's churn is close to
  linear in its features, which a logistic regression captures. `journey train --tune N` is
  there for a user's own data and keeps the configured parameters unless a trial beats them on
  validation.
- Next stage: most customers keep their stage over 30 days, so accuracy is dominated by the
  stay-in-stage rule and macro-F1 by the rarer transitions (to retention, advocacy, churned);
  the gain over Markov is the learnt part. Re-weighting the class decision on the validation
  cutoff to maximise macro-F1 was tried and moved test macro-F1 by less than 0.001, so it is
  not used. **The next-stage target of +0.05 over Markov is not met** on generated data
  (+0.039) or Online Retail (+0.035): features that mirror the stage rules (purchases and
  advocacy signals about to leave the rules' windows, days until the churn rule fires) did not
  move Online Retail's test macro-F1 in an exploratory run; the remaining errors are mostly
  whether a customer buys in the next 30 days, the churn question itself.
- Olist (lead -> deal): no lead ever buys twice, so churn has one class and is skipped with the
  message the CLI gives. The lead conversion ROC AUC ranks leads in awareness or consideration by
  the model's probability of reaching purchase within 30 days; Markov gives every lead in the
  same stage the same probability (0.5 AUC). The funnel table has only each lead's first contact
  date and origin, so there is little to learn from.
- IBM Telco classic is a single snapshot without dated activity: it supports only its snapshot
  churn label, evaluated by stratified 5-fold cross-validation on the declared attributes and
  tenure (no outcome fields: TotalCharges is kept, Churn is the label). Published 0.90+ figures
  come from leakage or resampling before the split; 0.84-0.85 is the honest range.
"""


if __name__ == "__main__":
    main()
