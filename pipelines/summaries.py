"""What the CLI prints after a step: a model's out-of-time figures and a target list's summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from pipelines.console import console

METRIC_ROWS = {
    "churn": [
        ("ROC AUC", "roc_auc"),
        ("PR AUC", "pr_auc"),
        ("log loss", "log_loss"),
        ("Brier", "brier"),
        ("ECE (uncalibrated)", "ece"),
        ("lift / capture, top decile", "lift_top_decile"),
        ("baseline: recency score ROC AUC", "baseline_recency_roc_auc"),
        ("baseline: logistic regression ROC AUC", "baseline_logistic_roc_auc"),
        ("baseline: BG/NBD expected purchases ROC AUC", "baseline_bgnbd_roc_auc"),
        ("baseline: BG/NBD P(alive) ROC AUC", "baseline_bgnbd_p_alive_roc_auc"),
        ("baseline: best 'no purchase for N days' rule, F1", "baseline_rule_f1"),
        ("model at the rule's volume, F1", "model_at_rule_volume_f1"),
        ("cohort check (earlier cutoff, unseen customers): ROC AUC", "check_roc_auc"),
        ("cohort check: ECE", "check_ece"),
    ],
    "stage": [
        ("accuracy", "accuracy"),
        ("macro-F1", "macro_f1"),
        ("log loss", "log_loss"),
        ("top-label ECE", "top_label_ece"),
        ("lead conversion ROC AUC", "conversion_roc_auc"),
        ("baseline: stays in stage, macro-F1", "baseline_stay_macro_f1"),
        ("baseline: Markov, macro-F1", "baseline_markov_macro_f1"),
        ("baseline: Markov, lead conversion ROC AUC", "baseline_markov_conversion_roc_auc"),
        ("cohort check (earlier cutoff, unseen customers): accuracy", "check_accuracy"),
    ],
}


def metrics_table(task: str, m: dict[str, float]) -> Table:
    """The headline out-of-time figures beside the baselines."""
    table = Table("out-of-time test", "value", box=None, padding=(0, 2))
    extras = {
        "ece": lambda: f"{m['ece']:.3f} ({m['ece_uncalibrated']:.3f})",
        "lift_top_decile": lambda: f"{m['lift_top_decile']:.2f}x / {m['capture_top_decile']:.1%}",
        "baseline_rule_f1": lambda: f"{m['baseline_rule_f1']:.3f} (N = {m['baseline_rule_days']:.0f} days)",
    }
    for label, key in METRIC_ROWS[task]:
        if key in m:
            table.add_row(label, extras[key]() if key in extras else f"{m[key]:.3f}")
    return table


def print_targets(summary: dict[str, Any], paths: list[Path]) -> None:
    """The list's size, cost, expected saving gross and net, why it stopped, and the out-of-time check."""
    s = summary
    floor = s["filters"]["min_probability"]
    console.print(
        f"  {s['customers_scored']:,} active customers scored ({s['customers_eligible']:,} pass the filters,"
        f" risk floor {floor:.2f}; value: {s['value_method']}); {s['selected']:,} listed"
    )
    console.print(
        f"  contact cost {s['total_cost']:,.2f}; expected value saved: gross "
        f"{s['expected_value_saved_gross']:,.2f}, net {s['expected_value_saved_net']:,.2f}"
    )
    console.print(f"  stopped by {s['stopped_because']}")
    for key in ("by_stage", "by_tier", "by_action"):
        parts = ", ".join(f"{k} {v['customers']} (net {v['net']:,.0f})" for k, v in s[key].items())
        console.print(f"  {key.replace('_', ' ')}: {parts or 'none'}")
    console.print(f"  out of time: {_check_line(s['out_of_time_check'])}")
    console.print("  -> " + ", ".join(str(p) for p in paths))


def _check_line(t: dict[str, Any]) -> str:
    """The list's rule replayed on the out-of-time test rows (targeting.targets.out_of_time_check)."""
    if "skipped" in t:
        return f"skipped ({t['skipped']})"
    rule = (
        f"on {t['rows']:,} test rows above the risk floor, the same rule listed {t['listed_by_rule']:,}, "
        f"expected to save {t['expected_net']:,.0f} net; it would have saved {t['realised_net']:,.0f}"
    )
    if t["best_cutoff"] is None:
        return f"{rule}. No cut-off saved money there: check the actions' success rates and costs"
    return (
        f"{rule}. Best cut-off there: expected net saving >= {t['best_cutoff']:,.2f} "
        f"({t['best_contacted']:,} contacts, {t['best_saving_vs_nobody']:,.0f} saved); "
        f"{t['listed_now_above_best_cutoff']:,} of today's list are above it"
    )
