"""The data usability report: what it measures, what blocks, what it warns about and recommends."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from core.cutoffs import SplitRules
from ingest.mapping import SourceMapping, load_mapping
from ingest.sources import read_snapshot_labels, read_source
from ingest.usability import UsabilityReport, blocked_report, usability_report
from ingest.validate import Drop, validate_tables

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
WINDOW = 90


def mapping(tmp_path: Path, text: str) -> SourceMapping:
    folder = tmp_path / "configs" / "sources"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shop.yaml").write_text(textwrap.dedent(text))
    return load_mapping("shop", tmp_path / "configs")


ACTIVITY = """
    description: a small shop
    demographics: [{name: plan, kind: categorical}]
    customers: {file: c.csv, columns: {customer_id: id, created_at: since, plan: plan}}
    transactions:
      {file: t.csv, columns: {customer_id: id, ts: ts, amount: amount}, refunds: {when: amount < 0}}
    events: {file: e.csv, columns: {customer_id: id, ts: ts, event_type: kind}}
"""
NO_TRANSACTIONS = """
    absent: [transactions]
    demographics: [{name: plan, kind: categorical}]
    customers: {file: c.csv, columns: {customer_id: id, created_at: since, plan: plan}}
    events: {file: e.csv, columns: {customer_id: id, ts: ts, event_type: kind}}
"""
SNAPSHOT = """
    absent: [transactions, events]
    customers: {file: c.csv, columns: {customer_id: id, created_at: since}}
    snapshot_label: {as_of: 2024-06-30, expression: gone}
"""


def day(offset: int) -> pd.Timestamp:
    return pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=offset)


def shop(days: int = 400) -> dict[str, pd.DataFrame]:
    """Three customers: a repeat buyer, a one-off buyer late in the span, a browser who never buys."""
    customers = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "created_at": [day(0)] * 3, "plan": ["basic", None, None]}
    )
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "ts": [day(0), day(30), day(31), day(days - 10)],
            "amount": [10.0, 20.0, -5.0, 0.0],
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": ["a", "c", "c"],
            "ts": [day(1), day(2), day(days)],
            "event_type": ["visit", "cart", "push_open"],
        }
    )
    return {"customers": customers, "transactions": transactions, "events": events}


def report_of(
    tables: dict[str, pd.DataFrame], m: SourceMapping, drops: list[Drop] | None = None, **kwargs: object
) -> UsabilityReport:
    clean, report = validate_tables(tables, demographics=m.demographics, optional=m.absent)
    return usability_report(clean, report, drops or [], WINDOW, m, **kwargs)  # type: ignore[arg-type]


def test_an_activity_source_is_measured(tmp_path: Path) -> None:
    m = mapping(tmp_path, ACTIVITY)
    source_drop = Drop("transactions", "no customer id", 6, ("row 9",))
    out = report_of(shop(), m, [source_drop])

    assert out.ok and out.blocking == []
    assert out.rows["transactions"] == {"source": 10, "mapped": 4, "kept": 4}
    assert out.customers == 3
    assert out.span["start"].startswith("2024-01-01") and out.span["days"] == 400.0
    assert out.missing_share["customers"]["plan"] == pytest.approx(2 / 3, abs=1e-4)
    assert out.drops[0] == source_drop
    h = out.history
    assert (h["buyers"], h["repeat_buyers"], h["orders"], h["refund_lines"]) == (1, 1, 2, 1)
    assert h["customers_with_enough_history"] == 1 and h["customers_with_activity"] == 3
    assert h["enough"] and h["splits"]["churn"]["mode"] == "rolling"
    assert out.event_types["visit"] == 1 and out.event_types["cart"] == 1 and out.event_types["other"] == 1
    assert out.supports["consideration stage"] == "yes"
    churn = out.supports["churn label"]
    assert churn.startswith("yes, rolling split: train 2024-03-01..") and churn.endswith(
        "; 1 customers with enough history"
    )
    text = "\n".join(out.warnings)
    assert "customers.plan: 66.7% of values missing" in text
    assert "60.0% of transactions rows dropped: no customer id" in text
    assert "1 transactions have amount 0" in text
    assert any("'other'" in advice for advice in out.recommendations)


def test_report_is_json_and_readable_text(tmp_path: Path) -> None:
    out = report_of(
        shop(), mapping(tmp_path, ACTIVITY), [Drop("transactions", "no customer id", 1, ("row 2",))]
    )
    data = json.loads(json.dumps(out.to_dict()))
    assert data["usable"] is True
    assert data["drops"] == [
        {"table": "transactions", "reason": "no customer id", "rows": 1, "examples": ["row 2"]}
    ]
    assert data["history"]["span_days"] == 400.0
    lines = out.lines()
    assert lines[0] == "source shop: a small shop"
    assert "transactions: 5 rows read, 4 after mapping rules, 4 kept" in lines
    assert any(line.startswith("churn split (90-day window): rolling split: train") for line in lines)
    assert "dropped 1 transactions rows: no customer id (e.g. row 2)" in lines
    assert lines[-1] == "verdict: usable"


def test_history_no_split_fits_blocks_and_says_what_to_change(tmp_path: Path) -> None:
    out = report_of(shop(days=120), mapping(tmp_path, ACTIVITY))
    assert not out.ok
    [problem] = out.blocking
    assert problem.startswith("no training split fits the 90-day churn window on 120 days of history")
    # the first snapshot is 2024-03-01 (60 days of history); the newest record is on 2024-04-30, so
    # the data ends at midnight 2024-05-01: 61 days
    assert "cohort up to 61 days" in problem and "rolling: none" in problem
    assert (
        "shorten labels.prediction_window_days to at most 61 (the longest window any split supports "
        "on this history) or add older data"
    ) in out.recommendations
    assert out.lines()[-1] == "verdict: NOT usable: 1 blocking problem(s)"
    # following the advice gives a split: a cohort
    rules = SplitRules()
    shorter = usability_report(
        *validate_tables(shop(days=120)), [], 60, mapping(tmp_path, ACTIVITY), rules=rules
    )
    assert shorter.ok and shorter.history["splits"]["churn"]["mode"] == "cohort"


def test_a_short_history_with_a_long_window_is_usable_through_a_cohort(tmp_path: Path) -> None:
    """18 months of orders and a 9-month window: no rolling cutoffs, one cohort (issue 18)."""
    out = usability_report(*validate_tables(shop(days=548)), [], 270, mapping(tmp_path, ACTIVITY))
    assert out.ok
    assert out.history["splits"]["churn"]["mode"] == "cohort"
    assert "rolling cutoffs do not fit" in out.supports["churn label"]


def test_no_transactions_blocks_an_activity_source(tmp_path: Path) -> None:
    tables = shop()
    tables["transactions"] = tables["transactions"].iloc[:0]
    m = mapping(tmp_path, NO_TRANSACTIONS)
    out = report_of(tables, m)
    assert "no transactions: churn labels and the purchase stages need purchases" in out.blocking
    assert "map purchases as transactions: churn is defined by them" in out.recommendations
    assert out.supports["transactional features"] == "no: no transactions"


def test_no_customers_left_blocks(tmp_path: Path) -> None:
    m = mapping(tmp_path, ACTIVITY)
    clean, report = validate_tables(
        shop(), demographics=m.demographics, as_of=pd.Timestamp("2023-06-01", tz="UTC")
    )
    out = usability_report(clean, report, [], WINDOW, m)
    assert "no customers are left after validation" in out.blocking


def test_one_off_buyers_make_churn_degenerate(tmp_path: Path) -> None:
    tables = shop()
    tables["transactions"] = pd.DataFrame(
        {"customer_id": ["a", "b"], "ts": [day(10), day(20)], "amount": [1.0, 1.0]}
    )
    out = report_of(tables, mapping(tmp_path, ACTIVITY))
    assert out.ok
    assert out.supports["churn label"].startswith("degenerate: only 0 of 2 buyers")
    assert any("almost always 1" in w for w in out.warnings)
    assert "use the next_stage (conversion) label on this source rather than churn" in out.recommendations


def _snapshot(tmp_path: Path, gone: list[int]) -> UsabilityReport:
    pd.DataFrame({"id": ["a", "b", "c"], "since": ["2024-01-01"] * 3, "gone": gone}).to_csv(
        tmp_path / "c.csv", index=False
    )
    m = mapping(tmp_path, SNAPSHOT)
    tables, drops = read_source(m, tmp_path)
    labels, _ = read_snapshot_labels(m, tmp_path)
    return report_of(tables, m, drops, labels=labels)


def test_a_snapshot_source_says_what_it_cannot_support(tmp_path: Path) -> None:
    out = _snapshot(tmp_path, [1, 0, 0])
    assert out.ok and out.single_snapshot
    assert out.labels == {
        "name": "churn",
        "as_of": "2024-06-30",
        "rows": 3,
        "positive_share": 0.3333,
        "classes": [0, 1],
    }
    assert out.supports["behavioural features"] == "no: no events"
    assert out.supports["churn label"].startswith("no: a single snapshot")
    assert out.supports["snapshot churn label"].startswith("yes: 3 customers, 33.3% positive")
    assert any(w.startswith("single snapshot: no dated activity") for w in out.warnings)
    assert out.recommendations[0].startswith("train a one-snapshot classifier")


def test_a_snapshot_label_with_one_class_blocks(tmp_path: Path) -> None:
    out = _snapshot(tmp_path, [0, 0, 0])
    assert out.blocking == ["snapshot label 'churn' has one class only: [0]"]


def test_blocked_report_carries_the_problems(tmp_path: Path) -> None:
    m = mapping(tmp_path, ACTIVITY)
    out = blocked_report(m, ["table 'transactions' (t.csv): file not found: /x/t.csv"], [], WINDOW)
    assert not out.ok
    assert "BLOCKING: table 'transactions' (t.csv): file not found: /x/t.csv" in out.lines()
    assert json.loads(json.dumps(out.to_dict()))["usable"] is False


def test_online_retail_usability(shared_data: Path, real: Callable[..., Path]) -> None:
    real("online_retail", "online_retail.csv.gz")
    m = load_mapping("online_retail", CONFIGS)
    tables, drops = read_source(m, shared_data)
    out = report_of(tables, m, drops)
    assert out.ok
    assert out.rows["transactions"] == {"source": 541_909, "mapped": 406_829, "kept": 406_829}
    assert out.customers == 4_372
    assert out.span["start"][:10] == "2010-12-01" and out.span["end"][:10] == "2011-12-09"
    assert out.history["refund_lines"] == 8_905
    assert out.supports["behavioural features"] == "no: no events"
    assert any("24.9% of transactions rows dropped: no CustomerID" in w for w in out.warnings)
