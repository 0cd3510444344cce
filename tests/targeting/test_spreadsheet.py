"""targets.xlsx read back with openpyxl: labels, number formats, frozen header, filter, widths, types,
and the Summary and "How to read" sheets agreeing with the list."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from targeting.columns import COLUMNS, MONEY, Column, label
from targeting.spreadsheet import GROUPS, SHEETS, write_xlsx

EXCEL_DEFAULT_WIDTH = 8.43
MONEY_COLUMNS = ["customer_value", "expected_value_at_risk", "expected_value_saved_net", "action_cost"]
SUMMARY: dict[str, Any] = {
    "as_of": "2025-01-01 00:00:00+00:00",
    "ranked_by": "churn probability x value x success - cost",
    "budget": 40.0,
    "capacity": None,
    "filters": {"stages": [], "tiers": ["high"], "where": {"region": ["north"]}, "min_probability": 0.3},
    "customers_scored": 500,
    "customers_eligible": 450,
    "models": {"churn": "3", "next_stage": "12"},
    "model_grades": {"churn": "B", "next_stage": "A"},
    "prediction_window_days": 60,
    "stopped_because": "the budget ran out with 12 more customers worth contacting.",
}


def target_list(n: int = 14, seed: int = 5) -> pd.DataFrame:
    """A list shaped as `journey targets` writes it (targeting.targets._presented)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, n).round(4)
    value = rng.gamma(2.0, 150.0, n).round(2)
    cost = rng.choice([0.5, 3.0, 5.0, 15.0], n)
    action = np.where(cost > 4, "VIP call from the account team", "Personal check-in e-mail")
    return pd.DataFrame(
        {
            "rank": np.arange(1, n + 1),
            "customer_id": [f"{i:05d}" for i in rng.choice(99999, n, replace=False)],  # leading zeros
            "churn_probability": p,
            "risk_tier": np.where(p >= 0.5, "high", np.where(p >= 0.25, "medium", "low")),
            "current_stage": rng.choice(["purchase", "retention", "advocacy"], n),
            "next_stage": rng.choice(["retention", "churned"], n),
            "customer_value": value,
            "expected_value_at_risk": (p * value).round(2),
            "expected_value_saved_net": (p * value * 0.15 - cost).round(2),
            "reason_1": "No purchase for 120 days, 3 times the usual gap",
            "reason_2": "Opened no e-mail in the last 30 days",
            "reason_3": [""] * (n - 1) + ["Spent less than the year before"],
            "recommended_action": action,
            "action_cost": cost,
            "success_rate": np.where(cost > 4, 0.25, 0.08),
            "contact_channel": np.where(cost > 4, "phone", "email"),
            "churn_model_version": "3",
            "next_stage_model_version": "12",
        }
    )


def written(tmp_path: Path, table: pd.DataFrame, summary: dict[str, Any] | None = None) -> Path:
    path = tmp_path / "targets.xlsx"
    write_xlsx(table, SUMMARY if summary is None else summary, path)
    return path


def by_label(sheet: Worksheet) -> dict[str, int]:
    """Header label -> column number of the Targets sheet."""
    return {str(cell.value): cell.column for cell in sheet[1]}


def block(sheet: Worksheet, heading: str) -> pd.DataFrame:
    """The small table under `heading` in column A, as a frame indexed by its first column."""
    start = next(cell.row for cell in sheet["A"] if cell.value == heading)
    header = [cell.value for cell in sheet[start + 1] if cell.value is not None]
    rows = []
    for r in range(start + 2, sheet.max_row + 1):
        values = [sheet.cell(r, j).value for j in range(1, len(header) + 1)]
        if values[0] is None:
            break
        rows.append(values)
    return pd.DataFrame(rows, columns=header).set_index(header[0])


def pairs(sheet: Worksheet) -> dict[str, Any]:
    """Column A label -> column B cell, for the label-value rows of a sheet."""
    return {str(row[0].value): row[1] for row in sheet.iter_rows(max_col=2) if row[0].value is not None}


def test_the_list_sheet_has_labels_formats_a_frozen_header_a_filter_and_fitted_widths(tmp_path):
    table = target_list()
    book = load_workbook(written(tmp_path, table))
    assert book.sheetnames == list(SHEETS)
    sheet = book["Targets"]
    headers = [cell.value for cell in sheet[1]]
    assert headers == [label(c) for c in table.columns]
    assert "Churn probability" in headers and "Reason 1" in headers and "Churn model version" in headers
    assert not any("_" in str(h) for h in headers)
    assert sheet.freeze_panes == "C2"  # the header row, rank and customer stay in view
    last = get_column_letter(len(table.columns))
    assert sheet.auto_filter.ref == f"A1:{last}{len(table) + 1}"
    at = by_label(sheet)
    for r, row in enumerate(table.itertuples(index=False), start=2):
        p = sheet.cell(r, at["Churn probability"])
        assert p.number_format == "0.0%" and p.value == pytest.approx(row.churn_probability)
        assert sheet.cell(r, at["Success rate"]).number_format == "0.0%"
        for name in MONEY_COLUMNS:
            cell = sheet.cell(r, at[label(name)])
            assert cell.number_format == MONEY and cell.value == pytest.approx(getattr(row, name))
        assert sheet.cell(r, at["Customer"]).value == row.customer_id  # text, leading zeros kept
    widths = {h: sheet.column_dimensions[get_column_letter(j)].width for h, j in at.items()}
    assert all(w > EXCEL_DEFAULT_WIDTH for w in widths.values()), widths
    assert widths["Reason 1"] > 40 and widths["Recommended action"] > 20  # fitted to the content


def test_numbers_are_stored_as_numbers_model_versions_too(tmp_path):
    sheet = load_workbook(written(tmp_path, target_list()))["Targets"]
    at = by_label(sheet)
    row = {h: sheet.cell(2, j).value for h, j in at.items()}
    assert type(row["Rank"]) is int and type(row["Churn model version"]) is int
    assert row["Churn model version"] == 3 and row["Next stage model version"] == 12
    assert all(isinstance(row[label(c)], int | float) for c in ["churn_probability", *MONEY_COLUMNS])
    assert sheet.cell(2, at["Reason 3"]).value is None  # an empty reason is an empty cell, not ""
    odd = target_list().assign(churn_model_version="v2-beta")  # a version that is no number stays text
    again = load_workbook(written(tmp_path, odd))["Targets"]
    assert again.cell(2, by_label(again)["Churn model version"]).value == "v2-beta"


def test_the_summary_sheet_matches_the_list(tmp_path):
    table = target_list(40)
    sheet = load_workbook(written(tmp_path, table))["Summary"]
    figures = pairs(sheet)
    assert figures["Data as of"].value == datetime(2025, 1, 1)
    assert figures["Customers listed"].value == len(table)
    assert figures["Total contact cost"].value == pytest.approx(table["action_cost"].sum())
    net = label("expected_value_saved_net")
    saved = figures[f"Total {net[0].lower()}{net[1:]}"]
    assert (
        saved.value == pytest.approx(table["expected_value_saved_net"].sum()) and saved.number_format == MONEY
    )
    assert figures["Active customers scored"].value == 500 and figures["Budget"].value == 40.0
    models = block(sheet, "Models")
    assert models.loc["Churn"].tolist() == [3, "B"] and models.loc["Next stage"].tolist() == [12, "A"]
    for by, heading in GROUPS.items():
        got = block(sheet, heading)
        groups = table.groupby(by)
        assert got.loc["Total", "Customers"] == len(table)
        assert got.drop("Total")["Customers"].to_dict() == groups.size().to_dict()
        for name in ("action_cost", "expected_value_saved_net"):
            expected = groups[name].sum()
            assert got.drop("Total")[label(name)].to_dict() == pytest.approx(expected.to_dict())
            assert got.loc["Total", label(name)] == pytest.approx(table[name].sum())
    tiers = [t for t in ("high", "medium", "low") if t in set(table["risk_tier"])]
    assert list(block(sheet, "By risk tier").index) == [*tiers, "Total"]  # riskiest first


def test_the_how_to_read_sheet_explains_every_column_and_how_the_list_was_cut(tmp_path):
    table = target_list()
    sheet = load_workbook(written(tmp_path, table))["How to read"]
    notes = {k: str(v.value) for k, v in pairs(sheet).items()}
    glossary = block(sheet, "The columns of the Targets sheet")["What it means"]
    assert list(glossary.index) == [label(c) for c in table.columns]
    assert all(len(meaning) > 20 and "No description" not in meaning for meaning in glossary)
    assert "the next 60 days" in glossary["Churn probability"]  # the list's own window
    assert "churn probability x value x success - cost" in notes["How it was ranked"]
    assert "budget (40.00)" in notes["How it was cut"] and "2025-01-01" in notes["What this is"]
    assert notes["How it was cut"].endswith("This time: " + SUMMARY["stopped_because"])
    assert "risk tier high; region = north; a churn probability of at least 30%" in notes["Filters"]
    assert sheet.column_dimensions["B"].width > 50 and sheet["B4"].alignment.wrap_text


def test_renamed_and_new_columns_get_readable_headers_and_formats_and_are_totalled(tmp_path, monkeypatch):
    cost = target_list()["action_cost"]
    table = target_list().rename(columns={"expected_value_saved_net": "net_value_saved"})
    table["gross_value_saved"] = table["net_value_saved"] + cost
    table["loyalty_score"] = np.linspace(0, 2, len(table))
    table["segment"] = "north"
    gross = Column("Gross expected value saved", "money", "Before cost.")
    monkeypatch.setitem(COLUMNS, "gross_value_saved", gross)  # a new column needs one entry
    book = load_workbook(written(tmp_path, table))
    sheet = book["Targets"]
    at = by_label(sheet)
    assert {"Net Value Saved", "Gross expected value saved", "Loyalty Score", "Segment"} <= set(at)
    assert sheet.cell(2, at["Net Value Saved"]).number_format == MONEY  # guessed from the name
    assert sheet.cell(2, at["Loyalty Score"]).number_format == "#,##0.00"
    assert sheet.cell(2, at["Segment"]).value == "north"
    stages = block(book["Summary"], "By stage")
    for name, shown in (("net_value_saved", "Net Value Saved"), ("gross_value_saved", gross.label)):
        assert stages.loc["Total", shown] == pytest.approx(table[name].sum())
    glossary = block(book["How to read"], "The columns of the Targets sheet")["What it means"]
    assert glossary[gross.label] == "Before cost." and "docs/targeting.md" in glossary["Segment"]


def test_gross_and_net_savings_are_named_as_such_and_both_totalled(tmp_path):
    table = target_list()
    table.insert(8, "expected_value_saved_gross", table["expected_value_saved_net"] + table["action_cost"])
    book = load_workbook(written(tmp_path, table))
    at = by_label(book["Targets"])
    gross, net = label("expected_value_saved_gross"), label("expected_value_saved_net")
    assert "gross" in gross and "net" in net and {gross, net} <= set(at)
    figures = pairs(book["Summary"])
    for name, shown in (("expected_value_saved_gross", gross), ("expected_value_saved_net", net)):
        total = figures[f"Total {shown[0].lower()}{shown[1:]}"]
        assert total.value == pytest.approx(table[name].sum()) and total.number_format == MONEY


def test_an_empty_list_still_writes_every_sheet(tmp_path):
    book = load_workbook(written(tmp_path, target_list().head(0), {}))
    assert book.sheetnames == list(SHEETS)
    assert [c.value for c in book["Targets"][1]][:3] == ["Rank", "Customer", "Churn probability"]
    assert pairs(book["Summary"])["Customers listed"].value == 0
