"""Fairness: a planted listing disparity breaks the 80% rule; a group below the minimum size is not judged."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from core.config import Demographic, Fairness, Monitoring, Settings, Training
from monitoring.fairness import (
    MISSING,
    UnknownAttribute,
    fairness_report,
    fairness_tables,
    group_table,
    groups,
    protected_attributes,
)
from training.card import fairness_section
from training.train import TEST_PREDICTIONS, _fairness, _inputs

DEMOGRAPHICS = (Demographic(name="age", kind="numeric"), Demographic(name="region", kind="categorical"))
SIZES = {"north": 400, "south": 400, "islands": 20}
LISTING = {"north": 0.5, "south": 0.3, "islands": 0.0}  # south: 0.3 / 0.5 = 60% of north's rate


def settings(**fairness: object) -> Settings:
    return Settings(
        demographics=DEMOGRAPHICS, monitoring=Monitoring(fairness=Fairness.model_validate(fairness))
    )


def scored(seed: int = 0) -> pd.DataFrame:
    """Scored customers per region, each region listing its planted share, with outcomes."""
    rng = np.random.default_rng(seed)
    parts = []
    for region, n in SIZES.items():
        listed = np.arange(n) < round(LISTING[region] * n)
        churned = rng.random(n) < 0.3
        p = np.clip(0.2 + 0.4 * churned + rng.normal(0, 0.2, n), 0.01, 0.99)
        ages = rng.integers(18, 80, n).astype(float)
        parts.append(
            pd.DataFrame(
                {"region": region, "age": ages, "listed": listed, "churned": churned, "churn_probability": p}
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    return frame.assign(
        customer_id=[f"C{i}" for i in range(len(frame))], as_of=pd.Timestamp("2025-01-01", tz="UTC")
    )


def region_table(frame: pd.DataFrame, rules: Fairness) -> pd.DataFrame:
    y = frame["churned"].to_numpy(dtype=int)
    p = frame["churn_probability"].to_numpy()
    return group_table(frame["region"].rename("region"), y, p, frame["listed"].to_numpy(), rules).set_index(
        "group"
    )


def test_a_planted_disparity_breaks_the_80_percent_rule_and_a_small_group_is_not_judged() -> None:
    report = fairness_report(settings(protected=["region"]), scored())
    by_group = {g["group"]: g for g in report["groups"]}
    assert by_group["north"]["ratio"] == pytest.approx(1.0)
    assert by_group["south"]["ratio"] == pytest.approx(0.6)
    assert by_group["south"]["passes"] is False
    assert by_group["north"]["passes"] is True
    assert by_group["islands"]["judged"] is False  # 20 customers, none listed: shown, never judged
    assert by_group["islands"]["passes"] is None
    assert by_group["islands"]["rows"] == 20
    assert len(report["alerts"]) == 1
    assert report["alerts"][0].startswith("region = south: listed 30.0% of its 400 customers, 0.60 of")
    assert report["notes"] == [
        "region: islands (20) not judged: fewer than 50 customers (monitoring.fairness.min_group_size)"
    ]


def test_a_smaller_minimum_size_judges_the_small_group_and_the_rule_catches_it() -> None:
    report = fairness_report(settings(protected=["region"], min_group_size=10), scored())
    assert {a.split(":")[0] for a in report["alerts"]} == {"region = south", "region = islands"}


def test_equal_listing_rates_pass() -> None:
    frame = scored()
    frame["listed"] = frame.groupby("region").cumcount() % 4 == 0  # a quarter of each group
    report = fairness_report(settings(protected=["region"], min_group_size=10), frame)
    assert report["alerts"] == []


def test_without_a_logged_list_listing_means_medium_or_high_risk() -> None:
    frame = scored()
    logged = fairness_report(settings(protected=["region"]), frame)
    frame["listed"] = pd.Series([None] * len(frame), dtype="boolean")  # `journey score` makes no list
    report = fairness_report(settings(protected=["region"]), frame)
    assert logged["listed_means"] == "target list"
    assert report["listed_means"].startswith("churn probability >= 0.25")
    north = frame[frame["region"] == "north"]
    rates = {g["group"]: g["listed"] for g in report["groups"]}
    assert rates["north"] == pytest.approx((north["churn_probability"] >= 0.25).mean())


def test_per_group_roc_auc_and_ece_are_those_of_the_groups_rows() -> None:
    frame = scored(1)
    table = region_table(frame, Fairness())
    north = frame[frame["region"] == "north"]
    assert table.loc["north", "roc_auc"] == pytest.approx(
        roc_auc_score(north["churned"], north["churn_probability"])
    )
    assert table.loc["north", "churn_rate"] == pytest.approx(north["churned"].mean())
    assert 0 < table.loc["north", "ece"] < 1
    assert table.loc["south", "roc_auc"] != table.loc["north", "roc_auc"]


@pytest.mark.parametrize("outcomes", ["none", "some"])
def test_without_every_outcome_only_the_listing_rates_are_judged(outcomes: str) -> None:
    frame = scored()
    if outcomes == "none":
        frame = frame.drop(columns=["churned"])
    else:  # windows not closed for everyone yet
        frame["churned"] = frame["churned"].astype(object).where(frame.index % 2 == 0, None)
    report = fairness_report(settings(protected=["region"]), frame)
    assert report["outcomes_known"] is False
    assert all(g["roc_auc"] is None for g in report["groups"])
    assert len(report["alerts"]) == 1


def test_age_is_judged_in_bands_and_unknown_values_in_their_own_group() -> None:
    ages = pd.Series([18.0, 24.9, 25.0, 34.0, 35.0, 64.0, 65.0, 90.0, np.nan])
    labels = groups(ages, (25, 35, 45, 55, 65)).rename("age")
    assert labels.astype(str).tolist() == [
        "<25",
        "<25",
        "25-34",
        "25-34",
        "35-44",
        "55-64",
        "65+",
        "65+",
        MISSING,
    ]
    table = group_table(labels, None, np.linspace(0, 1, len(ages)), np.ones(len(ages)), Fairness())
    assert table["group"].tolist() == ["<25", "25-34", "35-44", "55-64", "65+", MISSING]  # low to high


def test_a_numeric_attribute_without_bands_is_judged_in_quintiles() -> None:
    labels = groups(pd.Series(np.arange(100, dtype=float)), None)
    assert labels.nunique() == 5
    assert labels.astype(str).value_counts().tolist() == [20] * 5


def test_the_default_protected_attributes_are_the_mapping_s_demographics() -> None:
    assert protected_attributes(settings()) == ("age", "region")
    table = fairness_tables(
        scored(), None, scored()["churn_probability"].to_numpy(), scored()["listed"].to_numpy(), settings()
    )
    assert set(table["attribute"]) == {"age", "region"}
    assert {"<25", "65+"} <= set(table.loc[table["attribute"] == "age", "group"])


def test_a_protected_attribute_the_data_lacks_is_named() -> None:
    frame = scored()
    with pytest.raises(UnknownAttribute, match="names income, which the data does not have"):
        fairness_tables(
            frame,
            None,
            frame["churn_probability"].to_numpy(),
            frame["listed"].to_numpy(),
            settings(protected=["region", "income"]),
        )
    report = fairness_report(settings(protected=["income"]), frame)
    assert report["alerts"] == []
    assert "income" in report["notes"][0]


def test_the_model_card_shows_the_verdict_of_each_group() -> None:
    table = region_table(scored(), Fairness()).reset_index()
    card = fairness_section(table)
    assert "| region | south | 400 |" in card
    assert card.count("**breaks the rule**") == 1
    assert "| region | islands | 20 |" in card and "too few to judge" in card
    assert fairness_section(None) == ""


def test_the_model_card_says_why_fairness_was_not_computed() -> None:
    frame = scored().drop(columns=["age"])
    y, p = frame["churned"].to_numpy(dtype=int), frame["churn_probability"].to_numpy()
    result = SimpleNamespace(tables={TEST_PREDICTIONS: pd.DataFrame({"churn_probability": p})})
    note = _fairness(frame, y, result, settings())  # type: ignore[arg-type]
    assert isinstance(note, str)
    assert "names age, which the data does not have" in fairness_section(note)


def test_excluding_protected_attributes_keeps_them_out_of_the_model_inputs() -> None:
    frame = pd.DataFrame({"current_stage": ["retention"], "region": ["north"], "age": [40.0]})
    kept = _inputs(frame, settings(), "churn", "churn_v1")
    dropped = _inputs(
        frame,
        settings().model_copy(update={"training": Training(exclude_protected=True)}),
        "churn",
        "churn_v1",
    )
    assert {"age", "region"} <= set(kept.features)
    assert set(kept.features) - set(dropped.features) == {"age", "region"}
    assert "region" not in dropped.categories
    assert "tenure_days" in dropped.features  # not a protected attribute


def test_the_churn_model_card_shows_fairness_per_protected_group(trained, tmp_path) -> None:
    from core.registry import connect

    client = connect(trained.settings)
    run_id = str(client.get_model_version_by_alias("churn", "champion").run_id)
    card = Path(client.download_artifacts(run_id, "model_card.md", str(tmp_path))).read_text()
    section = card.split("## Fairness on the test rows")[1].split("## ")[0]
    for attribute in ("age", "gender", "region", "acquisition_channel", "plan"):
        assert f"| {attribute} |" in section
    assert "| age | 25-34 |" in section


def test_monitor_reads_the_protected_attributes_of_the_newest_scores_from_the_features(trained) -> None:
    from serving.batch import active, load_scorer, newest_features

    feats = active(newest_features(trained.settings))
    scores = (
        load_scorer(trained.settings).score_frame(feats).assign(as_of=feats["event_timestamp"].to_numpy())
    )
    report = fairness_report(trained.settings, scores)
    assert report["rows"] == len(scores) and report["outcomes_known"] is False
    sizes = {}
    for g in report["groups"]:
        sizes[g["attribute"]] = sizes.get(g["attribute"], 0) + g["rows"]
    assert sizes == dict.fromkeys(("age", "gender", "region", "acquisition_channel", "plan"), len(scores))
    listed = {(g["attribute"], g["group"]): g["listed"] for g in report["groups"]}
    medium = trained.settings.serving.risk_tiers.medium
    north = scores.merge(feats[["customer_id", "region"]], on="customer_id").query("region == 'north'")
    assert listed[("region", "north")] == pytest.approx((north["churn_probability"] >= medium).mean())
