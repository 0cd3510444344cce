"""targets.xlsx for people: labelled, formatted columns, a Summary sheet and a "How to read" sheet.

targets.csv keeps the machine names; this file is what a retention team opens. Headers, number
formats and meanings come from one table, targeting/columns.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from core.schema import ACTIVE_STAGES
from targeting.columns import FORMATS, Column, Kind, cells, column, explain, window_text

SHEETS = ("Targets", "Summary", "How to read")


# --- layout ------------------------------------------------------------------------------------

HEADER_FILL = PatternFill("solid", fgColor="DCE6F1")
BOLD = Font(bold=True)
WRAP = Alignment(wrap_text=True, vertical="top")
LINE_HEIGHT = 15  # points per line of 11-point text
MAX_WIDTH = 70
FILTER_BUTTON = 3  # characters a filter's drop-down button takes from a header cell


def _header(row: Iterable[Cell]) -> None:
    for cell in row:
        cell.font, cell.fill = BOLD, HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")


def _shown(cell: Cell) -> int:
    """About how many characters the cell shows (wrapped text: its longest line at half length)."""
    value = cell.value
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = value.isoformat() if isinstance(value, date) else str(value)
        if cell.alignment.wrap_text:
            return max(max(map(len, text.split())), math.ceil(len(text) / 2))
        return len(text)
    fmt = cell.number_format
    if "%" in fmt:
        return len(f"{value:.1%}")
    if "," in fmt:
        return len(f"{value:,.{2 if '.' in fmt else 0}f}")
    return len(str(value))


def fit_widths(sheet: Worksheet, floor: float = 10, cap: float = MAX_WIDTH, button: int = 0) -> None:
    """Each column as wide as its widest shown value (headers may wrap onto two lines); `button`
    characters more for the first row, where a filter's drop-down button covers the header's end."""
    widest: dict[str, int] = {}
    for row in sheet.iter_rows():
        for cell in row:
            letter = str(cell.column_letter)
            shown = _shown(cell) + (button if cell.row == 1 else 0)
            widest[letter] = max(widest.get(letter, 0), shown)
    for letter, chars in widest.items():
        sheet.column_dimensions[letter].width = min(cap, max(floor, chars + 2))


def _fit_heights(sheet: Worksheet, rows: Iterable[int]) -> None:
    """Row heights for wrapped text (openpyxl does not compute them, and not every reader does)."""
    for r in rows:
        lines = 1
        for cell in sheet[r]:
            width = sheet.column_dimensions[str(cell.column_letter)].width or 10
            if cell.value is not None and cell.alignment.wrap_text:
                lines = max(lines, math.ceil(len(str(cell.value)) * 1.1 / max(1.0, width - 2)))
        sheet.row_dimensions[r].height = LINE_HEIGHT * lines


def _print_wide(sheet: Worksheet) -> None:
    sheet.page_setup.orientation = "landscape"
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_setup.fitToHeight = 0  # as many pages down as needed, one page across


# --- the Targets sheet -------------------------------------------------------------------------


def list_sheet(sheet: Worksheet, table: pd.DataFrame) -> None:
    """The list itself: one labelled, formatted row per customer, header frozen, filter on."""
    columns = [column(str(name), table[name]) for name in table.columns]
    sheet.append([c.label for c in columns])
    by_column = [cells(table[name], c.kind) for name, c in zip(table.columns, columns, strict=True)]
    for row in zip(*by_column, strict=True):
        sheet.append(row)
    for c, cells_of in zip(columns, sheet.iter_cols(min_row=2), strict=False):
        for cell in cells_of:
            cell.number_format = FORMATS[c.kind]
    _header(sheet[1])
    keep = list(table.columns).index("customer_id") + 2 if "customer_id" in table else 1
    sheet.freeze_panes = sheet.cell(row=2, column=keep).coordinate  # header and the customer stay
    sheet.auto_filter.ref = sheet.dimensions
    sheet.print_title_rows = "1:1"
    fit_widths(sheet, button=FILTER_BUTTON)
    _fit_heights(sheet, [1])
    _print_wide(sheet)


# --- the Summary sheet -------------------------------------------------------------------------

TIER_ORDER = ("high", "medium", "low")
GROUPS = {"current_stage": "By stage", "risk_tier": "By risk tier", "recommended_action": "By action"}


def group_totals(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """Customers, mean churn probability and the sum of every money column per group, and a total.

    Sums come from the list itself, so they match it whatever the columns are named.
    """
    money = [c for c in table.columns if c != by and column(str(c), table[c]).kind == "money"]
    groups = table.groupby(by, sort=False, dropna=False)
    out = pd.DataFrame({"customers": groups.size()})
    if "churn_probability" in table:
        out["mean_churn_probability"] = groups["churn_probability"].mean()
    out = out.join(groups[money].sum()).loc[_order(out, by)]
    total = {"customers": len(table), **{c: table[c].sum() for c in out.columns if c in money}}
    if "churn_probability" in table:
        total["mean_churn_probability"] = table["churn_probability"].mean()
    out.loc["Total"] = pd.Series(total)
    out["customers"] = out["customers"].astype(int)
    return out


def _order(frame: pd.DataFrame, by: str) -> list[Any]:
    """Stages in journey order, tiers riskiest first, anything else largest group first."""
    known = {"current_stage": ACTIVE_STAGES, "risk_tier": TIER_ORDER}.get(by, ())
    rank = {name: i for i, name in enumerate(known)}
    size = frame["customers"]
    return sorted(frame.index, key=lambda g: (rank.get(g, len(rank)), -size[g], str(g)))


@dataclass(frozen=True)
class Figure:
    label: str
    kind: Kind


FIGURES: dict[str, Figure] = {  # entries of targets_summary.json shown as key figures, in this order
    "customers_scored": Figure("Active customers scored", "integer"),
    "customers_eligible": Figure("Customers passing the filters", "integer"),
    "budget": Figure("Budget", "money"),
    "capacity": Figure("Capacity (most customers listed)", "integer"),
}


class Writer:
    """Writes blocks down a sheet: a title, label-value pairs, small tables."""

    def __init__(self, sheet: Worksheet) -> None:
        self.sheet = sheet
        self.row = 1

    def title(self, text: str, size: int = 14) -> None:
        self.sheet.cell(self.row, 1, text).font = Font(bold=True, size=size)
        self.row += 1

    def pair(self, name: str, value: Any, kind: Kind) -> None:
        self.sheet.cell(self.row, 1, name).font = BOLD
        self.sheet.cell(self.row, 2, value).number_format = FORMATS[kind]
        self.row += 1

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], kinds: Sequence[Kind]) -> None:
        for j, text in enumerate(headers, 1):
            self.sheet.cell(self.row, j, text)
        _header(self.sheet[self.row][: len(headers)])
        for values in rows:
            self.row += 1
            for j, (value, kind) in enumerate(zip(values, kinds, strict=True), 1):
                self.sheet.cell(self.row, j, value).number_format = FORMATS[kind]
        self.row += 2


def _as_of(summary: dict[str, Any]) -> date | str | None:
    raw = summary.get("as_of")
    if raw is None:
        return None
    try:
        stamp = pd.Timestamp(raw)
    except (TypeError, ValueError):
        return str(raw)
    return stamp.date() if stamp == stamp.normalize() else stamp.tz_localize(None).to_pydatetime()


MEAN_PROBABILITY = Column("Mean churn probability", "percent")


def _total_column(table: pd.DataFrame, name: str) -> Column:
    return column(name, table[name]) if name in table else MEAN_PROBABILITY


def summary_sheet(sheet: Worksheet, table: pd.DataFrame, summary: dict[str, Any]) -> None:
    """As-of, size and totals of the list, the models that scored it, totals per stage, tier, action."""
    out = Writer(sheet)
    out.title("Retention target list: summary")
    out.row += 1
    out.pair("Data as of", _as_of(summary), "date")
    out.pair("Customers listed", len(table), "integer")
    totals = group_totals(table.assign(_all="all"), "_all").loc["Total"]
    for name in totals.index.drop("customers"):
        c = _total_column(table, str(name))
        shown = f"Total {c.label[:1].lower()}{c.label[1:]}" if c.kind == "money" else c.label
        out.pair(shown, _plain(totals[name]), c.kind)
    for key, figure in FIGURES.items():
        if summary.get(key) is not None:
            out.pair(figure.label, summary[key], figure.kind)
    out.row += 1
    _models(out, summary)
    for by, heading in GROUPS.items():
        if by in table:
            _group(out, table, by, heading)
    fit_widths(sheet, cap=50)


def _models(out: Writer, summary: dict[str, Any]) -> None:
    versions: dict[str, Any] = summary.get("models") or {}
    grades: dict[str, Any] = summary.get("model_grades") or {}
    rows = [
        [name.replace("_", " ").capitalize(), cells(pd.Series([v]), "version")[0], grades.get(name)]
        for name, v in versions.items()
    ]
    out.title("Models", 12)
    out.table(["Model", "Version", "Grade (A best)"], rows, ["text", "version", "text"])


def _group(out: Writer, table: pd.DataFrame, by: str, heading: str) -> None:
    totals = group_totals(table, by)
    named = [_total_column(table, str(c)) for c in totals.columns[1:]]
    headers = [column(by).label, "Customers", *[c.label for c in named]]
    kinds: list[Kind] = ["text", "integer", *[c.kind for c in named]]
    rows = [[str(g), *(_plain(v) for v in values)] for g, values in totals.iterrows()]
    out.title(heading, 12)
    out.table(headers, rows, kinds)
    for cell in out.sheet[out.row - 2][: len(headers)]:  # the Total row
        cell.font = BOLD


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python number openpyxl writes."""
    return value.item() if isinstance(value, np.generic) else value


# --- the How to read sheet ---------------------------------------------------------------------


def _cut(summary: dict[str, Any]) -> str:
    limits = []
    if summary.get("budget"):
        limits.append(
            f"the next customer's contact would take the cost over the budget ({summary['budget']:,.2f})"
        )
    if summary.get("capacity"):
        limits.append(f"{summary['capacity']:,} customers are listed")
    stop = " or ".join(limits) or "no customer is left"
    rule = (
        f"Customers are taken in rank order, best first, until {stop}. A customer whose contact is "
        "expected to cost more than it saves is not listed."
    )
    why = summary.get("stopped_because")  # the run's own reason, when the summary gives it
    return f"{rule} This time: {why}" if why else rule


def _filters(summary: dict[str, Any]) -> str | None:
    f = summary.get("filters") or {}
    parts = [f"{k} = {' or '.join(map(str, v))}" for k, v in (f.get("where") or {}).items()]
    if f.get("stages"):
        parts.insert(0, f"stage {' or '.join(f['stages'])}")
    if f.get("tiers"):
        parts.insert(0, f"risk tier {' or '.join(f['tiers'])}")
    if f.get("min_probability"):
        parts.append(f"a churn probability of at least {f['min_probability']:.0%}")
    return "Only customers with " + "; ".join(parts) + " could be listed." if parts else None


def reading_notes(table: pd.DataFrame, summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The paragraphs above the column glossary: what the list is, how it was ranked and cut."""
    what = (
        f"The customers worth contacting to keep them, best first, as of {_as_of(summary)}: "
        f"{len(table):,} customers. Each row says how likely the customer is to stop buying, what "
        "they are worth, why the model sees a risk, and what to offer them."
    )
    ranked = (
        "Every active customer (stages purchase, retention and advocacy) was scored and ranked by "
        f"{summary.get('ranked_by', 'expected value saved')}: what a contact is expected to keep of "
        "the customer's value, after the contact's cost."
    )
    window = window_text(summary.get("prediction_window_days"))
    numbers = (
        "Probabilities and rates are percentages. Money is in the currency of your sales data; "
        f"values are over {window}. The Summary sheet totals the list by stage, risk tier and action."
    )
    notes = [
        ("What this is", what),
        ("How it was ranked", ranked),
        ("How it was cut", _cut(summary)),
        ("Filters", _filters(summary) or ""),
        ("Numbers", numbers),
        ("More", "docs/targeting.md in the Journey repository explains every figure."),
    ]
    return [(heading, text) for heading, text in notes if text]


def reading_sheet(sheet: Worksheet, table: pd.DataFrame, summary: dict[str, Any]) -> None:
    """How the list was made and what each column means, for a reader without the docs at hand."""
    out = Writer(sheet)
    out.title("How to read the target list")
    out.row += 1
    for heading, text in reading_notes(table, summary):
        out.pair(heading, text, "text")
    out.row += 1
    out.title("The columns of the Targets sheet", 12)
    described = [column(str(name), table[name]) for name in table.columns]
    window = summary.get("prediction_window_days")
    rows = [[c.label, explain(c, window) or "No description yet: see docs/targeting.md."] for c in described]
    out.table(["Column", "What it means"], rows, ["text", "text"])
    sheet.column_dimensions["A"].width = 34
    sheet.column_dimensions["B"].width = 100
    for row in sheet.iter_rows(min_col=2, max_col=2):
        row[0].alignment = WRAP
    _fit_heights(sheet, range(1, sheet.max_row + 1))


def write_xlsx(table: pd.DataFrame, summary: dict[str, Any], path: Path) -> None:
    """The list, its Summary and its "How to read" sheet, in one workbook at `path`."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = SHEETS[0]
    list_sheet(sheet, table)
    summary_sheet(book.create_sheet(SHEETS[1]), table, summary)
    reading_sheet(book.create_sheet(SHEETS[2]), table, summary)
    book.save(path)
