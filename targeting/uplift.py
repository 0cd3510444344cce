"""Uplift models of retention campaigns: rank customers by what a contact changes, not by their risk.

Why: the churn model ranks customers by how likely they are to leave, but a retention contact only
saves value where it changes the outcome. A customer who leaves whatever we do, stays whatever we
do ("sure thing") or leaves *because* we got in touch ("do not disturb") is a wasted or harmful
contact. Randomised campaigns (a treated group and a held-out control) identify the effect, so it
can be modelled.

Data (`campaign_frame`): one row per campaign row (a targeted customer, treated or control) with the
customer's features at the newest snapshot at or before the campaign date (so nothing after it;
with monthly snapshots they can be up to a month old), the treatment flag and the outcome `churn` =
no purchase in [campaign ts, ts + window), kept only when that window closes by the end of the data.

Models: uplift = P(churn | control, x) - P(churn | treated, x), so positive = the contact prevents
churn. The two meta-learners of Künzel, Sekhon, Bickel & Yu (2019), "Metalearners for estimating
heterogeneous treatment effects using machine learning", PNAS 116(10), on small LightGBM trees:
- T-learner: one churn classifier per arm; uplift = mu0(x) - mu1(x);
- X-learner: the same two classifiers impute each row's individual effect from the other arm
  (treated: mu0(x) - y; control: y - mu1(x)), a regressor per arm fits those, and the two are
  blended with the propensity e: uplift = e tau0(x) + (1 - e) tau1(x). Assignment here is a known
  random split, so e is a constant: the treated share of the training rows unless given.
The churn-probability ranking compared with is mu0: the churn risk without a contact, what a churn
model trained on uncontacted customers predicts for the same rows.

Evaluation on held-out campaigns (`split_by_campaign`: train on older campaigns, test on the newest,
out of time), for a score s ranking the rows (highest first):
- uplift at k: observed uplift among the top share k = churn rate of its control rows - churn rate
  of its treated rows. Random targeting gets the overall observed uplift at every k.
- Qini curve: Q(phi) = n_T(phi) (churn_C(phi) - churn_T(phi)) / N_T over the top share phi, with
  n_T(phi) treated rows in it (N_T in all): churns prevented among the treated rows of the top phi,
  per treated row. The control rate is rescaled to the treated count at each phi (as scikit-uplift's
  qini_curve does), so coding the outcome as retention instead of churn only flips the sign.
  Tied scores form one group (the curve is linear across a tie), so a constant score gives exactly
  the random line from (0, 0) to (1, Q(1)).
- Qini coefficient: the area between the Qini curve and that random line. It is NOT divided by
  the area of an "optimal" curve as in Radcliffe (2007): with effects of both signs and a binary
  outcome that optimum depends on the outcome coding and on a handful of top rows. 0 = random,
  > 0 = better than random; the unit is uplift (churn probability) x share targeted.

Value at a budget (`value_at_budget`): B = ceil(budget x N) contacts among the N held-out rows;
customer value v = spend over the trailing year (`spend_365d`) x window / 365, the spend expected
over the prediction window at the trailing-year run rate (`serving.scoring.run_rate_value`). Rankings:
uplift x v, churn probability x v, random, and on generated data true_uplift x mu0 x v.
- estimated value saved = B x (mean of v x churn over the selected control rows - the same over
  the selected treated rows): unbiased for the sum over the selected of (effect on churn) x v
  because assignment is random, but noisy at a few thousand rows.
- true value saved (generated data, `true_gain`) = sum over the selected of effect x v, with the
  effect on the churn label known from the generator (synthetic.generate): a treated row responds
  with probability |r| (r = the campaign row's true_uplift); r > 0 responders order within the
  week, r < 0 responders leave at the contact, everyone else behaves as without the contact. So
  effect = r x q for r >= 0 and r x (1 - q) for r < 0, with q = P(churn label | no contact, state).
  q is not a model output: the control rows, a random half, show the label without a contact, so
  the sum is estimated without bias from them. The risk q must be in: r x v alone would credit
  contacting customers who were never going to leave.
Random targeting gets B/N of the totals (its expectation, not a draw).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import roc_auc_score

from core.config import Settings
from core.io import table_path
from core.schema import CHAMPION
from features.build import TIMESTAMP, read_features, read_manifest
from serving.artifact import ModelInputs
from serving.scoring import run_rate_value

Floats = npt.NDArray[np.float64]
BUDGETS = (0.1, 0.2, 0.3)
# Bookkeeping columns of a campaign frame; every other column is a model feature.
KEYS = ("customer_id", "campaign_id", "ts", "snapshot", "treated", "churn")
# Small, regularised trees: the effect is a small difference of two noisy rates. One thread: the
# data sets are small, and on a busy machine two threads were several times slower.
LGBM_PARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_child_samples": 50,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "n_jobs": 1,
    "deterministic": True,
    "verbose": -1,
}


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def load_features(features_dir: Path, customer_ids: Sequence[str]) -> pd.DataFrame:
    """The three feature families at every snapshot, for the given customers only, in one frame."""
    return read_features(features_dir, [("customer_id", "in", sorted(set(customer_ids)))])


def _utc_us(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")


def campaign_frame(
    campaigns: pd.DataFrame,
    transactions: pd.DataFrame,
    features: pd.DataFrame,
    end: pd.Timestamp,
    window_days: int,
) -> pd.DataFrame:
    """One row per campaign row: features as of the campaign, the treatment flag and the outcome.

    Point in time: the features are those of the newest snapshot at or before the campaign ts (a
    snapshot only sees data strictly before its date); rows with no earlier snapshot are dropped.
    churn = 1 when the customer makes no purchase (positive transaction) in [ts, ts + window);
    only rows whose window closes by `end` (the end of the data) are kept.
    """
    horizon = pd.Timedelta(days=window_days)
    rows = campaigns[["customer_id", "campaign_id", "ts", "treated"]].copy()
    rows["ts"] = _utc_us(rows["ts"])
    rows = rows[rows["ts"] + horizon <= end].sort_values("ts", kind="stable")
    buys = transactions.loc[transactions["amount"] > 0, ["customer_id", "ts"]]
    buys = buys.assign(next_purchase=_utc_us(buys["ts"]), ts=_utc_us(buys["ts"])).sort_values("ts")
    rows = pd.merge_asof(rows, buys, on="ts", by="customer_id", direction="forward")
    rows["churn"] = (rows["next_purchase"].isna() | (rows["next_purchase"] >= rows["ts"] + horizon)).astype(
        np.int64
    )
    feats = features.rename(columns={TIMESTAMP: "snapshot"})
    feats = feats.assign(snapshot=_utc_us(feats["snapshot"])).sort_values("snapshot")
    out = pd.merge_asof(
        rows.drop(columns="next_purchase"),
        feats,
        left_on="ts",
        right_on="snapshot",
        by="customer_id",
        direction="backward",
    )
    out = out[out["snapshot"].notna()].astype({"treated": bool})
    return out.sort_values(["ts", "customer_id"], ignore_index=True)


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in KEYS]


def split_by_campaign(
    frame: pd.DataFrame, test_campaigns: int, window_days: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Out of time: the newest `test_campaigns` campaigns are the test set.

    Training keeps only campaigns whose outcome window closed before the first test campaign
    started (a gap, as for the churn model's cutoffs), so no training label sees the test period.
    """
    started = frame.groupby("campaign_id")["ts"].min().sort_values()
    if len(started) < test_campaigns + 1:
        raise ValueError(
            f"{len(started)} campaigns with a complete outcome window: need {test_campaigns} to test "
            "and at least one older one to train on"
        )
    test_ids = started.index[-test_campaigns:]
    first_test = started.iloc[-test_campaigns]
    is_test = frame["campaign_id"].isin(test_ids)
    closed = frame["ts"] + pd.Timedelta(days=window_days) <= first_test
    return frame[~is_test & closed].reset_index(drop=True), frame[is_test].reset_index(drop=True)


def model_inputs(train: pd.DataFrame) -> ModelInputs:
    """Feature order and category codes learned on the training rows (text columns are categorical)."""
    names = feature_columns(train)
    categorical = [c for c in names if not pd.api.types.is_numeric_dtype(train[c])]
    return ModelInputs.fit(train, "uplift", names, categorical)


# ---------------------------------------------------------------------------------------------
# Meta-learners
# ---------------------------------------------------------------------------------------------


def _classifier(seed: int) -> lgb.LGBMClassifier:
    return lgb.LGBMClassifier(**LGBM_PARAMS, random_state=seed)


def _regressor(seed: int) -> lgb.LGBMRegressor:
    return lgb.LGBMRegressor(**LGBM_PARAMS, random_state=seed)


def _arms(treated: npt.ArrayLike, churn: npt.ArrayLike) -> tuple[npt.NDArray[np.bool_], Floats]:
    t, y = np.asarray(treated, dtype=bool), np.asarray(churn, dtype=np.float64)
    if t.all() or not t.any():
        raise ValueError("uplift needs both treated and control rows")
    for arm, name in ((t, "treated"), (~t, "control")):
        if np.unique(y[arm]).size < 2:
            raise ValueError(f"the {name} rows need both churners and non-churners")
    return t, y


@dataclass
class TLearner:
    """Two churn classifiers, mu0 on control rows and mu1 on treated rows; uplift = mu0 - mu1."""

    seed: int = 7
    categorical: Sequence[int] = ()

    def fit(self, x: Floats, treated: npt.ArrayLike, churn: npt.ArrayLike) -> TLearner:
        t, y = _arms(treated, churn)
        cats = list(self.categorical)
        self.control = _classifier(self.seed).fit(x[~t], y[~t], categorical_feature=cats)
        self.treated = _classifier(self.seed).fit(x[t], y[t], categorical_feature=cats)
        return self

    def churn_control(self, x: Floats) -> Floats:
        """mu0: churn probability without a contact."""
        return np.asarray(self.control.predict_proba(x), dtype=np.float64)[:, 1]

    def churn_treated(self, x: Floats) -> Floats:
        """mu1: churn probability with a contact."""
        return np.asarray(self.treated.predict_proba(x), dtype=np.float64)[:, 1]

    def predict(self, x: Floats) -> Floats:
        return self.churn_control(x) - self.churn_treated(x)


@dataclass
class XLearner:
    """Künzel et al.'s X-learner on the T-learner's two arm models (see the module docstring).

    `propensity` is P(treated); None = the treated share of the training rows (random assignment).
    """

    seed: int = 7
    categorical: Sequence[int] = ()
    propensity: float | None = None

    def fit(self, x: Floats, treated: npt.ArrayLike, churn: npt.ArrayLike) -> XLearner:
        t, y = _arms(treated, churn)
        self.arms = TLearner(self.seed, self.categorical).fit(x, t, y)
        self.e = float(np.mean(t)) if self.propensity is None else self.propensity
        if not 0.0 < self.e < 1.0:
            raise ValueError(f"the propensity must be strictly between 0 and 1, got {self.e}")
        cats = list(self.categorical)
        d_treated = self.arms.churn_control(x[t]) - y[t]  # E[Y(0)] - Y(1) for the treated
        d_control = y[~t] - self.arms.churn_treated(x[~t])  # Y(0) - E[Y(1)] for the controls
        self.tau_treated = _regressor(self.seed).fit(x[t], d_treated, categorical_feature=cats)
        self.tau_control = _regressor(self.seed).fit(x[~t], d_control, categorical_feature=cats)
        return self

    def churn_control(self, x: Floats) -> Floats:
        return self.arms.churn_control(x)

    def predict(self, x: Floats) -> Floats:
        tau0 = np.asarray(self.tau_control.predict(x), dtype=np.float64)
        tau1 = np.asarray(self.tau_treated.predict(x), dtype=np.float64)
        return self.e * tau0 + (1.0 - self.e) * tau1


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def _ranked(
    churn: npt.ArrayLike, treated: npt.ArrayLike, score: npt.ArrayLike
) -> tuple[Floats, npt.NDArray[np.bool_], Floats]:
    y, t, s = (np.asarray(churn, dtype=np.float64), np.asarray(treated, dtype=bool), np.asarray(score))
    if not y.size == t.size == s.size:
        raise ValueError(f"churn, treated and score must have the same length: {y.size}, {t.size}, {s.size}")
    order = np.argsort(-s.astype(np.float64), kind="stable")
    return y[order], t[order], s[order].astype(np.float64)


def observed_uplift(churn: npt.ArrayLike, treated: npt.ArrayLike) -> float:
    """Control churn rate - treated churn rate (NaN when an arm is empty)."""
    y, t = np.asarray(churn, dtype=np.float64), np.asarray(treated, dtype=bool)
    if t.all() or not t.any():
        return math.nan
    return float(y[~t].mean() - y[t].mean())


def uplift_at_k(churn: npt.ArrayLike, treated: npt.ArrayLike, score: npt.ArrayLike, k: float) -> float:
    """Observed uplift among the ceil(k x n) highest-scored rows (ties broken by a stable sort)."""
    if not 0.0 < k <= 1.0:
        raise ValueError(f"k must be in (0, 1], got {k}")
    y, t, _ = _ranked(churn, treated, score)
    top = max(1, math.ceil(k * y.size))
    return observed_uplift(y[:top], t[:top])


def qini_curve(churn: npt.ArrayLike, treated: npt.ArrayLike, score: npt.ArrayLike) -> tuple[Floats, Floats]:
    """(share targeted, churns prevented per treated row) at each tie group's end, from (0, 0).

    0 while the top rows hold only one arm (no uplift can be observed there yet).
    """
    y, t, s = _ranked(churn, treated, score)
    n_treated = int(t.sum())
    if n_treated == 0 or n_treated == t.size:
        raise ValueError("the Qini curve needs both treated and control rows")
    ends = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    seen = ends + 1.0
    n_t = np.cumsum(t)[ends].astype(np.float64)
    n_c = seen - n_t
    rate_t = np.divide(np.cumsum(y * t)[ends], n_t, out=np.zeros_like(n_t), where=n_t > 0)
    rate_c = np.divide(np.cumsum(y * ~t)[ends], n_c, out=np.zeros_like(n_t), where=n_c > 0)
    gain = np.where((n_t > 0) & (n_c > 0), n_t * (rate_c - rate_t), 0.0)
    return np.r_[0.0, seen / s.size], np.r_[0.0, gain / n_treated]


def qini_coefficient(churn: npt.ArrayLike, treated: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Area between the Qini curve and the random line from (0, 0) to (1, Q(1)); 0 = random."""
    x, q = qini_curve(churn, treated, score)
    return float(np.trapezoid(q, x) - q[-1] / 2.0)


def true_effect(true_uplift: npt.ArrayLike, churn_risk: npt.ArrayLike) -> Floats:
    """Effect of a contact on the churn label: r x q for r >= 0, r x (1 - q) for r < 0.

    r = the generator's signed response probability, q = P(churn | no contact); see the module
    docstring.
    """
    r, q = np.asarray(true_uplift, dtype=np.float64), np.asarray(churn_risk, dtype=np.float64)
    return np.where(r >= 0.0, r * q, r * (1.0 - q))


def true_gain(
    true_uplift: npt.ArrayLike, churn: npt.ArrayLike, value: npt.ArrayLike, treated: npt.ArrayLike
) -> Floats:
    """Per-row terms whose sum over a selection estimates sum(true effect x value) over it.

    Control rows show the churn label without a contact, so each control row carries
    true_effect(r, its label) x value / (control share) and treated rows 0: unbiased for any
    selection made from the features because assignment is random, and no model is involved.
    """
    y, v = np.asarray(churn, dtype=np.float64), np.asarray(value, dtype=np.float64)
    t = np.asarray(treated, dtype=bool)
    control_share = float(np.mean(~t))
    if control_share == 0.0:
        raise ValueError("the true gain needs control rows")
    return np.where(t, 0.0, true_effect(true_uplift, y) * v / control_share)


def value_at_budget(
    rankings: Mapping[str, npt.ArrayLike],
    value: npt.ArrayLike,
    churn: npt.ArrayLike,
    treated: npt.ArrayLike,
    budgets: Sequence[float] = BUDGETS,
    gain: npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """Value saved by contacting the top B = ceil(budget x n) rows of each ranking, and at random.

    `rankings` maps a name to per-row scores (highest contacted first, e.g. uplift x value);
    `gain` holds per-row terms whose sum over the selected rows is the true value saved (e.g.
    `true_gain`, or effect x value in a simulation); None when unknown: true_value is then NaN.
    Columns: budget, contacts, ranking, true_value, estimated_value (see the module docstring).
    """
    v, y = np.asarray(value, dtype=np.float64), np.asarray(churn, dtype=np.float64)
    t = np.asarray(treated, dtype=bool)
    true = np.full(v.size, np.nan) if gain is None else np.asarray(gain, dtype=np.float64)
    rows = []
    for budget in budgets:
        if not 0.0 < budget <= 1.0:
            raise ValueError(f"a budget must be a share in (0, 1], got {budget}")
        contacts = math.ceil(budget * v.size)
        for name, score in rankings.items():
            top = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")[:contacts]
            estimated = contacts * observed_uplift(v[top] * y[top], t[top])
            rows.append((budget, contacts, name, float(true[top].sum()), estimated))
        share = contacts / v.size
        random_estimate = contacts * observed_uplift(v * y, t)
        rows.append((budget, contacts, "random", share * float(true.sum()), random_estimate))
    return pd.DataFrame(rows, columns=["budget", "contacts", "ranking", "true_value", "estimated_value"])


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


LEARNERS = ("x_learner", "t_learner")


@dataclass
class UpliftScorer:
    """A fitted learner with its feature encoding: scores campaign or customer feature frames.

    `predict` gives the uplift (churn probability without a contact - with one; positive = the
    contact prevents churn), `churn_control` the churn probability without a contact.
    """

    inputs: ModelInputs
    learner: XLearner | TLearner
    name: str = "x_learner"

    def predict(self, frame: pd.DataFrame) -> Floats:
        return self.learner.predict(self.inputs.matrix(frame))

    def churn_control(self, frame: pd.DataFrame) -> Floats:
        return self.learner.churn_control(self.inputs.matrix(frame))


@dataclass(frozen=True)
class UpliftReport:
    """Held-out evaluation of the uplift models against churn-probability and random targeting.

    `rankings`: one row per ranking (x_learner, t_learner, churn_probability, with the truth
    true_uplift = true_effect(true_uplift, mu0), and random) with the Qini coefficient and the
    uplift at each budget share; `value`: `value_at_budget`'s table, rankings x value; `scores`:
    the test rows with the scores, value and, with the truth, true_uplift; `model`: the chosen
    learner, fitted on the training campaigns only (the one evaluated here).
    """

    train_campaigns: list[str]
    test_campaigns: list[str]
    n_train: int
    n_test: int
    churn_auc: float  # ROC AUC of mu0 on the held-out control rows: the churn ranking's quality
    rankings: pd.DataFrame
    value: pd.DataFrame
    scores: pd.DataFrame
    model: UpliftScorer


def ranking_table(
    ranked: Mapping[str, npt.ArrayLike],
    churn: Floats,
    treated: npt.NDArray[np.bool_],
    budgets: Sequence[float],
) -> pd.DataFrame:
    """Qini coefficient and uplift at each budget share per ranking, plus random targeting."""
    rows = [
        {
            "ranking": name,
            "qini": qini_coefficient(churn, treated, score),
            **{f"uplift_at_{round(k * 100)}": uplift_at_k(churn, treated, score, k) for k in budgets},
        }
        for name, score in ranked.items()
    ]
    overall = observed_uplift(churn, treated)
    rows.append(
        {"ranking": "random", "qini": 0.0, **{f"uplift_at_{round(k * 100)}": overall for k in budgets}}
    )
    return pd.DataFrame(rows)


def _with_truth(scores: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    keys = ["customer_id", "campaign_id"]
    known = scores[keys].merge(truth[[*keys, "true_uplift"]], on=keys, how="left", validate="1:1")
    return scores.assign(true_uplift=known["true_uplift"].to_numpy(dtype=np.float64))


def evaluate_uplift(
    frame: pd.DataFrame,
    truth: pd.DataFrame | None = None,
    *,
    learner: str = "x_learner",
    test_campaigns: int = 2,
    budgets: Sequence[float] = BUDGETS,
    window_days: int,
    seed: int = 7,
) -> UpliftReport:
    """Fit the T- and X-learners on older campaigns and compare the rankings on the newest ones.

    `learner` (x_learner or t_learner) is the one returned as the report's model. `truth`
    (generated data only: its campaign_truth table): customer_id, campaign_id and true_uplift per
    campaign row, for the true value saved and the true_uplift ranking (what recovering the
    generator's response would give, at mu0's risk).
    """
    if learner not in LEARNERS:
        raise ValueError(f"unknown uplift learner {learner!r}: use one of {', '.join(LEARNERS)}")
    train, test = split_by_campaign(frame, test_campaigns, window_days)
    inputs = model_inputs(train)
    x_learner = XLearner(seed, inputs.categorical_indices).fit(
        inputs.matrix(train), train["treated"], train["churn"]
    )
    # The X-learner's first stage is exactly the T-learner.
    models = {
        "x_learner": UpliftScorer(inputs, x_learner),
        "t_learner": UpliftScorer(inputs, x_learner.arms, "t_learner"),
    }
    y, t = test["churn"].to_numpy(dtype=np.float64), test["treated"].to_numpy(dtype=bool)
    ranked = {name: model.predict(test) for name, model in models.items()}
    ranked["churn_probability"] = models["t_learner"].churn_control(test)
    scores = test[["customer_id", "campaign_id", "treated", "churn"]].assign(
        **ranked, value=run_rate_value(test, window_days)
    )
    v, gain = scores["value"].to_numpy(), None
    if truth is not None:
        scores = _with_truth(scores, truth)
        gain = true_gain(scores["true_uplift"], y, v, t)
        ranked["true_uplift"] = true_effect(scores["true_uplift"], ranked["churn_probability"])
    return UpliftReport(
        train_campaigns=sorted(train["campaign_id"].unique()),
        test_campaigns=sorted(test["campaign_id"].unique()),
        n_train=len(train),
        n_test=len(test),
        churn_auc=float(roc_auc_score(y[~t], ranked["churn_probability"][~t])),
        rankings=ranking_table(ranked, y, t, budgets),
        value=value_at_budget({k: s * v for k, s in ranked.items()}, v, y, t, budgets, gain),
        scores=scores,
        model=models[learner],
    )


def evaluate_uplift_on_tables(
    clean_dir: Path,
    features_dir: Path,
    truth: pd.DataFrame | None = None,
    *,
    learner: str = "x_learner",
    test_campaigns: int = 2,
    budgets: Sequence[float] = BUDGETS,
    window_days: int,
    seed: int = 7,
) -> UpliftReport:
    """`evaluate_uplift` on the validated tables (clean_dir) and a feature build (features_dir).

    The end of the data is the feature build's (its manifest), so outcome windows match the churn
    labels'. Raises FileNotFoundError when the tables have no campaigns.
    """
    path = table_path(clean_dir, "campaigns")
    if not path.is_file():
        raise FileNotFoundError(f"no campaigns table in {clean_dir}: uplift needs randomised campaigns")
    campaigns = pd.read_parquet(path)
    transactions = pd.read_parquet(
        table_path(clean_dir, "transactions"), columns=["customer_id", "ts", "amount"]
    )
    features = load_features(features_dir, campaigns["customer_id"].unique().tolist())
    end = read_manifest(features_dir).end
    frame = campaign_frame(campaigns, transactions, features, end, window_days)
    return evaluate_uplift(
        frame,
        truth,
        learner=learner,
        test_campaigns=test_campaigns,
        budgets=budgets,
        window_days=window_days,
        seed=seed,
    )


UPLIFT_MODEL = "uplift"


def load_uplift(settings: Settings) -> UpliftScorer | None:
    """The registered uplift model's champion (`models:/uplift@champion`), None when there is none.

    The returned object's `predict(frame)` gives each row's uplift from its features (the columns
    of a feature build); targeting ranks by uplift x value with it.
    """
    import mlflow

    from core.registry import connect, download_model
    from training.registry import alias_version

    client = connect(settings)
    version = alias_version(client, UPLIFT_MODEL, CHAMPION)
    if version is None:
        return None
    model = mlflow.pyfunc.load_model(str(download_model(client, UPLIFT_MODEL, version)))
    scorer = model.unwrap_python_model().scorer
    if not isinstance(scorer, UpliftScorer):
        raise TypeError(f"models:/{UPLIFT_MODEL}@{CHAMPION} is not an uplift model")
    return scorer
