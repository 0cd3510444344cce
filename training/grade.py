"""A/B/C grades of a model against its best baseline, as defined in docs/models.md.

Churn: the gain is the model's out-of-time ROC AUC minus the best baseline's (recency score,
logistic regression, BG/NBD ranked three ways). A = gain >= 0.02 and calibrated (ECE <= 0.05);
B = the model at least matches the best baseline (gain >= 0); C = a baseline does better: use
it, or look at the data before trusting the model. Next stage: the gain is macro-F1 over the
best of "stays in the current stage" and the Markov transition matrix; A = gain >= 0.05, B = gain
>= 0, C otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

CHURN_BASELINES = {
    "recency score": "baseline_recency_roc_auc",
    "logistic regression": "baseline_logistic_roc_auc",
    "BG/NBD expected purchases": "baseline_bgnbd_roc_auc",
    "BG/NBD P(alive)": "baseline_bgnbd_p_alive_roc_auc",
    "BG/NBD P(no purchase)": "baseline_bgnbd_p_no_purchase_roc_auc",
}
STAGE_BASELINES = {"stays in stage": "baseline_stay_macro_f1", "Markov": "baseline_markov_macro_f1"}
CHURN_A_GAIN, CHURN_A_ECE, STAGE_A_GAIN = 0.02, 0.05, 0.05


@dataclass(frozen=True)
class Grade:
    letter: str
    metric: str
    gain: float
    baseline: str

    @property
    def sentence(self) -> str:
        return f"grade {self.letter}: {self.metric} {self.gain:+.3f} over the best baseline ({self.baseline})"


def _best(metrics: dict[str, float], baselines: dict[str, str]) -> tuple[str, float]:
    present = {name: metrics[key] for name, key in baselines.items() if key in metrics}
    if not present:
        raise ValueError(f"no baseline metric among {sorted(baselines.values())}")
    name = max(present, key=present.__getitem__)
    return name, present[name]


def churn_grade(metrics: dict[str, float]) -> Grade:
    name, best = _best(metrics, CHURN_BASELINES)
    gain = metrics["roc_auc"] - best
    if gain >= CHURN_A_GAIN and metrics.get("ece", 1.0) <= CHURN_A_ECE:
        letter = "A"
    else:
        letter = "B" if gain >= 0 else "C"
    return Grade(letter, "ROC AUC", gain, name)


def stage_grade(metrics: dict[str, float]) -> Grade:
    name, best = _best(metrics, STAGE_BASELINES)
    gain = metrics["macro_f1"] - best
    letter = "A" if gain >= STAGE_A_GAIN else "B" if gain >= 0 else "C"
    return Grade(letter, "macro-F1", gain, name)
