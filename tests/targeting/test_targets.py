"""Targeting: expected value saved, filters, selection within budget and capacity, threshold, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from core.config import Action, Settings
from pipelines.cli import app
from targeting.columns import column, label
from targeting.select import (
    GROSS,
    NET,
    Filters,
    TargetingError,
    attach_actions,
    cost_threshold,
    default_actions,
    filter_mask,
    net_value_saved,
    parse_where,
    refine_actions,
    select,
    summarize,
    uplift_net_value_saved,
    why_stopped,
    with_risk_floor,
)
from targeting.targets import FILES, ORDER, Request, atomic_write

runner = CliRunner()
ACTIONS = (
    Action(stage="purchase", action="p", success_rate=0.1, cost=1.0, channel="email"),
    Action(stage="retention", action="r", success_rate=0.2, cost=2.0),
    Action(stage="retention", reason_family="transactional", action="r-tx", success_rate=0.5, cost=4.0),
    Action(stage="advocacy", action="a", success_rate=0.3, cost=3.0, channel="phone"),
    Action(stage="advocacy", risk_tier="high", action="a-call", success_rate=0.4, cost=5.0),
)


def scored(n: int = 6) -> pd.DataFrame:
    stages = ["purchase", "retention", "advocacy"]
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "churn_probability": np.linspace(0.9, 0.1, n),
            "risk_tier": ["high", "high", "medium", "medium", "low", "low"][:n],
            "current_stage": [stages[i % 3] for i in range(n)],
            "customer_value": np.full(n, 100.0),
        }
    )
    frame["expected_value_at_risk"] = frame["churn_probability"] * frame["customer_value"]
    out = attach_actions(frame, ACTIONS)
    out[NET] = net_value_saved(out)
    return out


def test_net_value_saved_is_probability_value_success_minus_cost():
    frame = scored()
    row = frame.iloc[1]  # retention: p 0.74, value 100, success 0.2, cost 2
    assert row[NET] == pytest.approx(row["churn_probability"] * 100 * 0.2 - 2.0)
    assert frame["recommended_action"].tolist() == ["p", "r", "a", "p", "r", "a"]
    assert frame["contact_channel"].tolist()[:3] == ["email", "", "phone"]


def test_the_default_action_depends_on_the_risk_tier():
    frame = scored().assign(risk_tier=["high", "high", "high", "low", "low", "low"])
    frame = attach_actions(frame.drop(columns=["recommended_action", "success_rate", "action_cost"]), ACTIONS)
    assert frame["recommended_action"].tolist() == ["p", "r", "a-call", "p", "r", "a"]
    assert frame["action_cost"].tolist()[2] == 5.0


def test_a_missing_stage_x_tier_is_an_error_naming_the_combination():
    without_low = (
        *ACTIONS[:3],
        Action(stage="advocacy", risk_tier="high", action="x", success_rate=0.1, cost=1),
    )
    with pytest.raises(TargetingError, match=r"no default action for advocacy x medium, advocacy x low"):
        default_actions(without_low)
    with pytest.raises(ValidationError, match=r"no default action for advocacy x medium, advocacy x low"):
        Settings(actions=without_low)
    with pytest.raises(ValidationError, match=r"advocacy x high, advocacy x medium, advocacy x low"):
        Settings(actions=ACTIONS[:3])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (Action(stage="churned", risk_tier="high", action="x", success_rate=0.1, cost=1), "remove risk_tier"),
        (
            Action(stage="retention", action="again", success_rate=0.1, cost=1),
            "stage retention appears twice",
        ),
    ],
)
def test_ambiguous_action_rows_are_refused(extra, message):
    with pytest.raises(ValidationError, match=message):
        Settings(actions=(*ACTIONS, extra))


@pytest.mark.parametrize(
    ("field", "value", "message"), [("success_rate", 1.5, "between 0 and 1"), ("cost", -1.0, ">= 0")]
)
def test_action_economics_are_validated(field, value, message):
    args = {"stage": "retention", "action": "x", "success_rate": 0.1, "cost": 1.0, field: value}
    with pytest.raises(ValidationError, match=message):
        Action(**args)


def test_selection_respects_capacity_and_only_positive_rows():
    frame = scored()
    frame.loc[0, NET] = -1.0
    picked = select(frame, NET, capacity=3)
    assert len(picked) == 3 and "c0" not in picked["customer_id"].tolist()
    assert picked[NET].is_monotonic_decreasing
    everyone = select(frame, NET)
    assert (everyone[NET] > 0).all() and len(everyone) == (frame[NET] > 0).sum()


def test_selection_stays_within_the_budget_exactly():
    frame = scored()  # costs in rank order: 1, 2, 3, 1, 2, 3 (stages cycle)
    positive = frame[frame[NET] > 0]
    costs = positive.sort_values(NET, ascending=False)["action_cost"].to_numpy()
    budget = float(costs[:3].sum())
    picked = select(frame, NET, budget=budget)
    assert picked["action_cost"].sum() == pytest.approx(budget)
    assert len(picked) == 3
    tighter = select(frame, NET, budget=budget - 0.01)
    assert len(tighter) == 2 and tighter["action_cost"].sum() <= budget - 0.01
    both = select(frame, NET, budget=1e9, capacity=2)
    assert len(both) == 2


@pytest.mark.parametrize(("budget", "capacity"), [(0.0, None), (-5.0, None), (None, 0)])
def test_non_positive_budget_or_capacity_is_rejected(budget, capacity):
    with pytest.raises(TargetingError, match="must be"):
        Request(budget=budget, capacity=capacity)
    with pytest.raises(TargetingError, match="must be"):
        select(scored(), NET, budget=budget, capacity=capacity)


def features_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(6)],
            "region": ["north", "south", "north", "east", "south", "north"],
            "age": [30.0, 40.0, 30.0, 50.0, np.nan, 40.0],
        }
    )


def test_the_default_risk_floor_is_the_medium_tier_unless_tiers_or_a_floor_are_chosen():
    assert with_risk_floor(Filters(), medium=0.25).min_probability == 0.25
    assert with_risk_floor(Filters(tiers=("low",)), medium=0.25).min_probability == 0.0
    assert with_risk_floor(Filters(min_probability=0.0), medium=0.25).min_probability == 0.0
    frame, feats = scored(), features_frame()
    mask = filter_mask(frame, feats, with_risk_floor(Filters(), medium=0.4))
    assert frame.loc[mask, "risk_tier"].tolist() == ["high", "high", "medium", "medium"]


def test_filters_by_stage_tier_and_columns():
    frame, feats = scored(), features_frame()
    mask = filter_mask(frame, feats, Filters(where=parse_where(["region=north"])))
    assert frame.loc[mask, "customer_id"].tolist() == ["c0", "c2", "c5"]
    mask = filter_mask(frame, feats, Filters(where=parse_where(["region=north", "region=east", "age=30"])))
    assert frame.loc[mask, "customer_id"].tolist() == ["c0", "c2"]
    mask = filter_mask(frame, feats, Filters(stages=("retention",), tiers=("high", "low")))
    assert frame.loc[mask, "customer_id"].tolist() == ["c1", "c4"]
    floor = 0.5
    mask = filter_mask(frame, feats, Filters(min_probability=floor))
    expected = frame.loc[frame["churn_probability"] >= floor, "customer_id"].tolist()
    assert 0 < len(expected) < len(frame) and frame.loc[mask, "customer_id"].tolist() == expected


@pytest.mark.parametrize("floor", [-0.1, 1.0, 2.0])
def test_min_probability_outside_zero_one_is_rejected(floor):
    with pytest.raises(TargetingError, match="--min-probability"):
        Filters(min_probability=floor)


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (Filters(where={"colour": ("red",)}), "unknown --where column 'colour'; valid: region, age"),
        (
            Filters(where={"region": ("west",)}),
            "region=west: no customer has that value; values: east, north",
        ),
        (Filters(where={"age": ("old",)}), "the column is numeric"),
        (Filters(stages=("churned",)), "unknown stage 'churned'; valid: purchase, retention, advocacy"),
        (Filters(tiers=("extreme",)), "unknown risk tier 'extreme'"),
    ],
)
def test_bad_filters_say_what_is_valid(filters, message):
    with pytest.raises(TargetingError, match=message.replace("(", r"\(")):
        filter_mask(scored(), features_frame(), filters)


def test_where_needs_column_equals_value():
    with pytest.raises(TargetingError, match="column=value"):
        parse_where(["region"])


def test_main_reason_action_replaces_the_default_only_when_worth_more_and_affordable():
    frame = scored().iloc[[1, 4]]  # two retention customers, p 0.74 and 0.26, value 100
    families = ["transactional", "transactional"]
    out = refine_actions(frame, families, ACTIONS, net_value_saved)
    # r-tx: 0.74*100*0.5-4 = 33 > 0.74*100*0.2-2 = 12.8; for p 0.26: 9 > 3.2: both switch
    assert out["recommended_action"].tolist() == ["r-tx", "r-tx"]
    capped = refine_actions(frame, families, ACTIONS, net_value_saved, budget=6.0)
    assert capped["recommended_action"].tolist() == ["r-tx", "r"]  # 4 + 2 = 6: the second cannot
    assert capped["action_cost"].sum() <= 6.0
    kept = refine_actions(frame, ["behavioural", None], ACTIONS, net_value_saved)
    assert kept["recommended_action"].tolist() == ["r", "r"]


def test_cost_threshold_on_a_hand_made_example():
    # value 100, success 0.5, cost 10: contacting a churner saves 40, a stayer costs 10.
    p = np.array([0.9, 0.8, 0.6, 0.4, 0.2])
    churned = np.array([1, 1, 0, 1, 0])
    ones = np.ones(5)
    t = cost_threshold(p, churned, 100 * ones, 0.5 * ones, 10 * ones)
    # top-k reductions: 40, 80, 70, 110, 100 -> best k = 4 (t = 0.4)
    assert t.threshold == pytest.approx(0.4) and t.contacted == 4
    assert t.saving_vs_nobody == pytest.approx(110.0)
    assert t.saving_vs_everyone == pytest.approx(10.0)
    assert t.cost == pytest.approx(300 - 110)
    expensive = cost_threshold(p, churned, 100 * ones, 0.5 * ones, 60 * ones)
    assert np.isinf(expensive.threshold) and expensive.contacted == 0


def test_cost_threshold_does_not_split_ties():
    p = np.array([0.9, 0.5, 0.5])
    churned = np.array([1, 1, 0])
    ones = np.ones(3)
    t = cost_threshold(p, churned, 100 * ones, 0.5 * ones, 10 * ones)
    # k = 2 (reduction 80) would split the tie at 0.5: only k = 1 (40) or k = 3 (70) are cut-offs
    assert t.contacted == 3 and t.threshold == pytest.approx(0.5)


def test_summary_names_gross_and_net_and_adds_up_by_stage_tier_and_action():
    table = scored()
    s = summarize(table)
    assert s["selected"] == 6
    assert s["total_cost"] == pytest.approx(table["action_cost"].sum())
    assert s[NET] == pytest.approx(table[NET].sum(), abs=0.01)
    assert s[GROSS] == pytest.approx(s[NET] + s["total_cost"])
    assert "expected_value_saved" not in s  # gross or net, never a bare name
    for key in ("by_stage", "by_tier", "by_action"):
        assert sum(v["customers"] for v in s[key].values()) == 6
        assert sum(v["net"] for v in s[key].values()) == pytest.approx(s[NET], abs=0.05)
        assert all(v["gross"] == pytest.approx(v["net"] + v["cost"]) for v in s[key].values())


def stop_case(budget=None, capacity=None, floor=0.0):
    """The scored frame, with `floor` as the risk floor, listed as `journey targets` would."""
    frame = scored(6)
    eligible = frame["churn_probability"].to_numpy() >= floor
    listed = len(select(frame[eligible], NET, budget, capacity))
    return why_stopped(frame, eligible, np.ones(6, dtype=bool), listed, NET, (budget, capacity, floor))


def test_the_list_says_why_it_stopped_without_contradicting_itself():
    frame = scored(6)
    positive = int((frame[NET] > 0).sum())
    assert 2 < positive < 6  # the low-probability rows cost more than they save
    by_capacity = stop_case(capacity=2)
    assert (
        by_capacity.reason == "capacity" and f"{positive - 2} more would save money" in by_capacity.sentence
    )
    by_budget = stop_case(budget=1.5)
    assert by_budget.reason == "budget" and "would take the cost over 1.50" in by_budget.sentence
    by_floor = stop_case(floor=0.6)
    assert by_floor.reason == "risk_floor" and ">= 0.60" in by_floor.sentence
    assert f"{positive - 2} below it have one too" in by_floor.sentence
    spent = stop_case()
    assert spent.reason == "no_positive_saving" and f"the other {6 - positive}" in spent.sentence


def test_atomic_write_switches_the_whole_set_or_leaves_the_old_one(tmp_path: Path):
    def fail(path: Path) -> None:
        path.write_text("half")
        raise OSError("disk full")

    names = dict.fromkeys(FILES, lambda p: p.write_text("old"))
    paths = atomic_write(tmp_path, names)
    assert paths == [tmp_path / name for name in FILES]
    assert all(p.is_symlink() and p.read_text() == "old" for p in paths)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path, {FILES[0]: lambda p: p.write_text("new"), FILES[1]: fail})
    assert [p.read_text() for p in paths] == ["old"] * 3
    atomic_write(tmp_path, dict.fromkeys(FILES, lambda p: p.write_text("new")))
    assert [p.read_text() for p in paths] == ["new"] * 3
    assert [p.read_text() for p in (tmp_path / "targets" / "current").iterdir()] == ["new"] * 3
    assert len(list((tmp_path / "targets").glob("gen-*"))) == 2  # the newest and the one before


def test_a_list_of_the_older_layout_is_replaced_by_links(tmp_path: Path):
    for name in FILES:
        (tmp_path / name).write_text("older layout")
    atomic_write(tmp_path, dict.fromkeys(FILES, lambda p: p.write_text("new")))
    assert all((tmp_path / n).is_symlink() and (tmp_path / n).read_text() == "new" for n in FILES)


def test_every_list_column_has_a_label_and_a_kind_for_people():
    from targeting.columns import COLUMNS

    assert set(ORDER) <= set(COLUMNS)  # a column of the list without a heading of its own fails
    labels = [column(c).label for c in ORDER]
    assert len(set(labels)) == len(labels)
    assert column(NET).kind == "money" and "net" in column(NET).label
    assert column(GROSS).kind == "money" and "gross" in column(GROSS).label
    assert column("churn_probability").kind == "percent"
    assert column("reason_1").label == "Reason 1"
    assert column("churn_model_version").kind == "version"


def test_targets_end_to_end_csv_and_xlsx_agree_and_budget_holds(trained, tmp_path: Path):
    config = str(trained.config)
    out = tmp_path / "lists"
    result = runner.invoke(app, ["-c", config, "targets", "--budget", "40", "--out", str(out)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "expected value saved: gross" in said and "out of time:" in said
    table = pd.read_csv(out / "targets.csv", dtype={"customer_id": str})
    sheet = pd.read_excel(out / "targets.xlsx", dtype={label("customer_id"): str}).fillna("")
    summary = json.loads((out / "targets_summary.json").read_text())
    assert len(table) > 0 and table["rank"].tolist() == list(range(1, len(table) + 1))
    assert list(sheet.columns) == [label(c) for c in table.columns]  # the sheet's headers are for people
    pd.testing.assert_frame_equal(table.fillna(""), sheet.set_axis(table.columns, axis=1), check_dtype=False)
    assert table["action_cost"].sum() <= 40 + 1e-6
    assert "expected_value_saved" not in table and (table[NET] > 0).all()
    assert table[NET].is_monotonic_decreasing
    assert np.allclose(table[GROSS], table[NET] + table["action_cost"], atol=0.011)
    assert table["reason_1"].str.len().gt(0).all() and table["recommended_action"].notna().all()
    assert summary["selected"] == len(table)
    assert summary["total_cost"] == pytest.approx(table["action_cost"].sum(), abs=0.05)
    assert summary[NET] == pytest.approx(table[NET].sum(), abs=0.05)
    assert summary[GROSS] == pytest.approx(table[GROSS].sum(), abs=0.05)
    assert summary["customers_scored"] >= summary["customers_eligible"] >= len(table)
    assert summary["stopped_by"] in {"budget", "risk_floor", "no_positive_saving"}
    assert summary["stopped_because"] in said
    check = summary["out_of_time_check"]
    assert check["rows"] >= check["listed_by_rule"] > 0 and check["best_contacted"] >= 0


def test_the_default_list_holds_medium_and_high_risk_with_actions_by_tier_and_worded_reasons(
    trained, tmp_path: Path
):
    from features.catalog import by_name

    settings = trained.settings
    out = tmp_path / "default"
    result = runner.invoke(
        app, ["-c", str(trained.config), "targets", "--capacity", "5000", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "targets.csv", dtype={"customer_id": str})
    summary = json.loads((out / "targets_summary.json").read_text())
    floor = settings.serving.risk_tiers.medium
    assert summary["filters"]["min_probability"] == floor
    assert len(table) > 0 and (table["churn_probability"] >= floor).all()
    assert set(table["risk_tier"]) <= {"high", "medium"}
    assert summary["stopped_by"] in {"risk_floor", "no_positive_saving"}  # 5000: never the capacity
    for row in table.itertuples():  # the action of the customer's stage and tier (or main reason)
        assert row.recommended_action in {
            a.action
            for a in settings.actions
            if a.stage == row.current_stage and a.risk_tier in (row.risk_tier, None)
        }
    assert not table["recommended_action"].str.contains("referral", case=False).any()
    meanings = tuple(f"{f.description.capitalize()}:" for f in by_name(settings.demographics).values())
    reasons = pd.concat([table[f"reason_{i}"] for i in (1, 2, 3)]).dropna()
    assert len(reasons) > 0 and not reasons.str.startswith(meanings).any(), reasons[
        reasons.str.startswith(meanings)
    ]


def test_targets_filters_through_the_cli(trained, tmp_path: Path):
    config = str(trained.config)
    out = tmp_path / "lists"
    args = ["-c", config, "targets", "--capacity", "15", "--stage", "retention", "--tier", "high"]
    result = runner.invoke(app, [*args, "--where", "region=north", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "targets.csv")
    assert 0 < len(table) <= 15
    assert set(table["current_stage"]) == {"retention"} and set(table["risk_tier"]) == {"high"}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [  # exit 2: the CLI refuses the argument while parsing; exit 1: the data says no
        (["--budget", "0"], 2, "must be a positive amount"),
        (["--capacity", "-3"], 2, "greater than or equal to 1"),
        (["--where", "shoe_size=42"], 1, "unknown --where column 'shoe_size'"),
        (["--where", "region=atlantis"], 1, "no customer has that value"),
        (["--stage", "awareness"], 2, "'awareness' is not one of 'purchase', 'retention', 'advocacy'"),
    ],
)
def test_bad_targets_input_is_a_clear_error_and_writes_nothing(trained, tmp_path: Path, args, code, message):
    out = tmp_path / "lists"
    result = runner.invoke(app, ["-c", str(trained.config), "targets", *args, "--out", str(out)])
    assert result.exit_code == code
    assert message in " ".join(result.output.replace("│", " ").split()) and "Traceback" not in result.output
    assert not out.exists() or list(out.iterdir()) == []


def test_no_active_customers_is_a_clear_error_and_writes_nothing(trained, tmp_path: Path, monkeypatch):
    import targeting.targets as targets

    newest = targets.newest_features(trained.settings)
    monkeypatch.setattr(targets, "newest_features", lambda _: newest.assign(current_stage="churned"))
    out = tmp_path / "lists"
    result = runner.invoke(app, ["-c", str(trained.config), "targets", "--out", str(out)])
    assert result.exit_code == 1 and "no active customers" in result.output
    assert not out.exists()


def test_actions_missing_a_stage_is_a_clear_error_before_anything_runs(config_path: Path, tmp_path: Path):
    actions = config_path.parent / "actions.yaml"
    table = yaml.safe_load(actions.read_text())["actions"]
    actions.write_text(yaml.safe_dump({"actions": [a for a in table if a["stage"] != "advocacy"]}))
    out = tmp_path / "lists"
    result = runner.invoke(app, ["-c", str(config_path), "targets", "--out", str(out)])
    assert result.exit_code == 1
    assert "advocacy" in result.output and "no default action" in result.output
    assert not out.exists()


def test_online_retail_list_and_the_value_method_choice(
    config_path: Path, shared_data: Path, real, monkeypatch
):
    """The real data end to end; the run rate ranks future spend better there (docs/targeting.md)."""
    from core.config import load_settings
    from pipelines.steps import effective
    from targeting.targets import value_evaluation

    real("online_retail", "online_retail.csv.gz")
    monkeypatch.setenv("JOURNEY_SHARED_DATA", str(shared_data))
    steps = [["validate", "--source", "online_retail", "--as-of", "2012-01-01"], ["features", "build"]]
    for args in [*steps, ["train", "churn"], ["train", "stage"], ["targets", "--budget", "300"]]:
        result = runner.invoke(app, ["-c", str(config_path), *args])
        assert result.exit_code == 0, result.output
    settings = effective(load_settings(config_path))
    table = pd.read_csv(settings.paths.outputs_dir / "targets.csv")
    assert len(table) > 0 and table["action_cost"].sum() <= 300
    assert "out of time: on" in " ".join(result.output.split())
    value = value_evaluation(settings)
    assert value["run_rate"]["spearman"] > value["bgnbd"]["spearman"]
    assert value["run_rate"]["top_decile_capture"] > value["bgnbd"]["top_decile_capture"]


def test_uplift_net_value_saved_ignores_the_success_rate():
    frame = pd.DataFrame(
        {
            "uplift": [0.2, -0.1],
            "customer_value": [100.0, 50.0],
            "success_rate": [0.5, 0.5],
            "action_cost": [2.0, 1.0],
        }
    )
    assert np.allclose(uplift_net_value_saved(frame), [18.0, -6.0])


def test_ranking_by_uplift_needs_a_model_then_ranks_by_uplift_x_value(trained_copy, tmp_path: Path):
    config = str(trained_copy.config)
    out = tmp_path / "uplift"
    result = runner.invoke(app, ["-c", config, "targets", "--rank-by", "uplift", "--out", str(out)])
    assert result.exit_code == 1 and "run `journey uplift` first" in result.output
    assert not out.exists() or not any(out.iterdir())
    assert runner.invoke(app, ["-c", config, "uplift", "--learner", "t_learner"]).exit_code == 0
    args = ["-c", config, "targets", "--rank-by", "uplift", "--capacity", "30", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "targets.csv")
    assert 0 < len(table) <= 30 and (table["uplift"] > 0).all()
    saved = table["uplift"] * table["customer_value"] - table["action_cost"]
    assert np.allclose(saved, table[NET], atol=0.02)
    assert np.allclose(table["uplift"] * table["customer_value"], table[GROSS], atol=0.02)
    assert (np.diff(table[NET].to_numpy()) <= 1e-9).all()
    summary = json.loads((out / "targets_summary.json").read_text())
    assert summary["ranked_by"].startswith("uplift")
    bad = runner.invoke(app, ["-c", config, "targets", "--rank-by", "luck"])
    assert bad.exit_code == 2 and "'luck' is not one of 'value', 'uplift'" in " ".join(
        bad.output.replace("│", " ").split()
    )


def test_the_out_of_time_check_ranks_as_the_list_does_so_it_cannot_say_contact_nobody_beside_it():
    from targeting.targets import out_of_time_check

    # 40 likely churners worth 4 each (a contact costs 2 and keeps 20%: each loses money), then two
    # customers worth 200: ranked by churn probability alone, no cut-off pays; by net saving it does
    p = np.r_[np.full(40, 0.9), 0.4, 0.3]
    value = np.r_[np.full(40, 4.0), 200.0, 200.0]
    test = pd.DataFrame(
        {
            "customer_id": [f"t{i}" for i in range(42)],
            "current_stage": "retention",
            "spend_365d": value * 365 / 90,
            "churned": np.r_[np.ones(41), 0.0],
            "churn_probability": p,
        }
    )
    success, cost = np.full(42, 0.2), np.full(42, 2.0)
    by_probability = cost_threshold(p, test["churned"].to_numpy(), value, success, cost)
    assert np.isinf(by_probability.threshold)  # what the summary used to print: "contact nobody"
    listed = pd.DataFrame({NET: [14.0, 10.0]})
    check = out_of_time_check(Settings(actions=ACTIONS), Filters(min_probability=0.25), listed, test)
    assert check["listed_by_rule"] == 2 and check["expected_net"] == pytest.approx(24.0)
    assert check["realised_net"] == pytest.approx(200 * 0.2 - 2 - 2)
    assert check["best_cutoff"] == pytest.approx(14.0) and check["best_contacted"] == 1
    assert check["listed_now_above_best_cutoff"] == 1
