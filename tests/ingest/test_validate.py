"""Tests of the input contract checks: every rule has a failing case with a specific message."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.config import Demographic
from core.schema import OTHER_EVENT
from ingest.validate import DataContractError, Drop, ValidationReport, validate_tables

UTC_US = "datetime64[us, UTC]"


def _tables() -> dict[str, pd.DataFrame]:
    """A small valid input set with every table and optional column."""
    customers = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3"],
            "created_at": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-02-01"]),
            "region": ["north", None, "south"],
            "age": [31.0, 45.0, np.nan],
        }
    )
    transactions = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c1"],
            "ts": pd.to_datetime(["2024-02-01", "2024-02-03", "2024-01-10"]),
            "amount": [10.0, -5.0, 20.0],
            "order_id": ["o1", "o2", "o3"],
            "quantity": [1.0, 1.0, np.nan],
            "category": ["toys", "books", "toys"],
            "discount": [0.0, 0.5, np.nan],
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": ["c2", "c1", "c3"],
            "ts": pd.to_datetime(["2024-02-02", "2024-01-02", "2024-02-02"]),
            "event_type": ["visit", "email_open", "cart"],
            "channel": ["web", "email", "web"],
            "value": [np.nan, 1.0, np.nan],
        }
    )
    stage_history = pd.DataFrame(
        {
            "customer_id": ["c1", "c1"],
            "ts": pd.to_datetime(["2024-01-10", "2024-02-01"]),
            "stage": ["purchase", "retention"],
        }
    )
    campaigns = pd.DataFrame(
        {
            "customer_id": ["c1", "c3"],
            "ts": pd.to_datetime(["2024-03-01", "2024-03-01"]),
            "campaign_id": ["spring", "spring"],
            "treated": [True, False],
            "cost": [1.5, 0.0],
        }
    )
    return {
        "customers": customers,
        "transactions": transactions,
        "events": events,
        "stage_history": stage_history,
        "campaigns": campaigns,
    }


DEMOGRAPHICS = (
    Demographic(name="region", kind="categorical"),
    Demographic(name="age", kind="numeric"),
)


def _expected(frame: pd.DataFrame) -> pd.DataFrame:
    """What validation should make of an already valid table: same values, UTC, sorted."""
    out = frame.copy()
    for column in ("ts", "created_at"):
        if column in out:
            out[column] = out[column].dt.tz_localize("UTC").astype(UTC_US)
    keys = ["customer_id", "ts"] if "ts" in out else ["customer_id"]
    return out.sort_values(keys).reset_index(drop=True)


def _error(tables: dict[str, pd.DataFrame], **kwargs: Any) -> str:
    with pytest.raises(DataContractError) as caught:
        validate_tables(tables, **kwargs)
    return str(caught.value)


def _drops(report: ValidationReport, table: str) -> dict[str, Drop]:
    return {drop.reason: drop for drop in report.drops if drop.table == table}


# --- a valid set --------------------------------------------------------------------------------


def test_valid_tables_pass_unchanged_with_normalised_dtypes() -> None:
    tables = _tables()
    cleaned, report = validate_tables(tables, demographics=DEMOGRAPHICS)

    assert report.drops == []
    assert report.warnings == []
    assert report.rows_in == report.rows_out == {name: len(f) for name, f in tables.items()}
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(cleaned[name], _expected(frame))
    transactions = cleaned["transactions"]
    assert list(transactions.columns) == list(tables["transactions"].columns)
    assert transactions["customer_id"].tolist() == ["c1", "c1", "c2"]  # sorted by (customer, ts)
    assert transactions["amount"].tolist() == [20.0, 10.0, -5.0]
    assert str(transactions["ts"].dtype) == UTC_US
    assert transactions["ts"].iloc[0] == pd.Timestamp("2024-01-10", tz="UTC")
    assert transactions["customer_id"].dtype == object
    assert transactions["quantity"].dtype == np.float64
    assert cleaned["campaigns"]["treated"].dtype == bool
    assert cleaned["customers"]["region"].tolist() == ["north", None, "south"]
    assert cleaned["customers"]["age"].dtype == np.float64
    assert str(cleaned["customers"]["created_at"].dtype) == UTC_US
    assert cleaned["events"]["event_type"].tolist() == ["email_open", "visit", "cart"]


def test_input_frames_are_not_modified() -> None:
    tables = _tables()
    before = {name: frame.copy() for name, frame in tables.items()}
    validate_tables(tables, as_of=pd.Timestamp("2024-02-02"), demographics=DEMOGRAPHICS)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, before[name])


def test_float_like_ids_become_integer_strings() -> None:
    tables = _tables()
    tables["customers"]["customer_id"] = [17850.0, 2.0, 3.0]
    tables["transactions"]["customer_id"] = ["17850.0", " 2 ", 17850]
    tables["events"]["customer_id"] = [2.0, 17850.0, 3.0]
    tables["stage_history"]["customer_id"] = ["17850", "17850"]
    tables["campaigns"]["customer_id"] = ["17850.00", "3"]

    cleaned, report = validate_tables(tables)

    assert report.drops == []
    assert cleaned["customers"]["customer_id"].tolist() == ["17850", "2", "3"]
    assert sorted(cleaned["transactions"]["customer_id"]) == ["17850", "17850", "2"]
    assert all(isinstance(v, str) for v in cleaned["events"]["customer_id"])


def test_timestamps_naive_aware_and_strings_end_in_utc() -> None:
    tables = _tables()
    tables["customers"]["created_at"] = [
        "2024-01-01",
        "2024-01-05 10:30:00",
        "2024-02-01T02:00:00+02:00",
    ]
    tables["events"]["ts"] = pd.to_datetime(["2024-02-02 12:00"] * 3).tz_localize("Europe/Paris")

    cleaned, _ = validate_tables(tables)

    created = cleaned["customers"].set_index("customer_id")["created_at"]
    assert str(created.dtype) == UTC_US
    assert created["c2"] == pd.Timestamp("2024-01-05 10:30", tz="UTC")
    assert created["c3"] == pd.Timestamp("2024-02-01 00:00", tz="UTC")
    assert (cleaned["events"]["ts"] == pd.Timestamp("2024-02-02 11:00", tz="UTC")).all()


# --- rule 1: tables -----------------------------------------------------------------------------


def test_missing_required_table_is_named() -> None:
    tables = _tables()
    del tables["events"]
    message = _error(tables, sources={"events": "data/events.parquet"})
    assert "required table 'events'" in message
    assert "is missing" in message


def test_optional_tables_may_be_absent() -> None:
    tables = _tables()
    del tables["stage_history"], tables["campaigns"]
    cleaned, _ = validate_tables(tables)
    assert set(cleaned) == {"customers", "transactions", "events"}


def test_empty_required_table_names_table_and_file() -> None:
    tables = _tables()
    tables["events"] = tables["events"].iloc[:0]
    message = _error(tables, sources={"events": "data/events.parquet"})
    assert "table 'events' (data/events.parquet) is empty" in message


def test_empty_optional_table_is_ignored_with_warning() -> None:
    tables = _tables()
    tables["stage_history"] = tables["stage_history"].iloc[:0]
    cleaned, report = validate_tables(tables)
    assert "stage_history" not in cleaned
    assert any("'stage_history' is empty" in w for w in report.warnings)


def test_unknown_tables_and_extra_columns_are_ignored_with_warnings() -> None:
    tables = _tables()
    tables["web_logs"] = pd.DataFrame({"x": [1]})
    tables["events"]["debug_flag"] = 1
    tables["customers"]["undeclared"] = "x"

    cleaned, report = validate_tables(tables, demographics=DEMOGRAPHICS)

    assert "web_logs" not in cleaned
    assert "debug_flag" not in cleaned["events"].columns
    assert "undeclared" not in cleaned["customers"].columns
    assert "region" in cleaned["customers"].columns
    text = "\n".join(report.warnings)
    assert "web_logs" in text
    assert "debug_flag" in text
    assert "undeclared" in text


# --- rule 2: columns ----------------------------------------------------------------------------


def test_missing_required_column_names_table_column_and_present_columns() -> None:
    tables = _tables()
    tables["transactions"] = tables["transactions"].drop(columns="amount")
    message = _error(tables, sources={"transactions": "raw/tx.csv"})
    assert "table 'transactions' (raw/tx.csv)" in message
    assert "missing required column 'amount'" in message
    assert "'order_id'" in message  # the columns that are there


def test_all_problems_are_reported_together() -> None:
    tables = _tables()
    tables["transactions"] = tables["transactions"].drop(columns="amount")
    tables["events"] = tables["events"].drop(columns="event_type")
    with pytest.raises(DataContractError) as caught:
        validate_tables(tables)
    error = caught.value
    assert len(error.problems) == 2
    assert "2 places" in str(error)
    assert "'amount'" in str(error)
    assert "'event_type'" in str(error)


# --- rule 3: unparseable values ------------------------------------------------------------------


def test_unparseable_timestamps_give_column_count_and_examples() -> None:
    tables = _tables()
    tables["events"]["ts"] = ["2024-02-02", "not a date", "31/31/2024"]
    message = _error(tables, sources={"events": "data/events.csv"})
    assert "table 'events' (data/events.csv), column 'ts'" in message
    assert "2 rows are not timestamps" in message
    assert "'not a date'" in message
    assert "'31/31/2024'" in message


def test_mixed_iso_timestamp_shapes_parse() -> None:
    tables = _tables()
    tables["events"]["ts"] = ["2024-02-02", "2024-02-02 10:00:00", "2024-02-02T10:00:00Z"]
    cleaned, _ = validate_tables(tables)
    assert cleaned["events"]["ts"].notna().all()


def test_one_non_iso_format_is_guessed_and_applied() -> None:
    tables = _tables()
    tables["events"]["ts"] = ["31.01.2024 10:00", "01.02.2024 11:30", "02.02.2024 00:00"]
    cleaned, _ = validate_tables(tables)
    assert sorted(cleaned["events"]["ts"])[0] == pd.Timestamp("2024-01-31 10:00", tz="UTC")


def test_partial_dates_are_refused_not_completed_from_today() -> None:
    tables = _tables()
    tables["events"]["ts"] = ["Jan 5", "Feb 6", "2024-02-02"]
    message = _error(tables)
    assert "column 'ts': 2 rows are not timestamps" in message
    assert "'Jan 5'" in message


def test_numeric_timestamps_are_refused() -> None:
    tables = _tables()
    tables["events"]["ts"] = [1_706_000_000, 1_706_000_001, 1_706_000_002]
    message = _error(tables)
    assert "column 'ts': 3 rows are numbers, not timestamps" in message
    assert "1706000000" in message


def test_non_numeric_amount_gives_count_and_examples() -> None:
    tables = _tables()
    tables["transactions"]["amount"] = ["10.5", "$3", "12,5"]
    message = _error(tables)
    assert "table 'transactions', column 'amount': 2 rows are not finite numbers" in message
    assert "'$3'" in message
    assert "'12,5'" in message


def test_numeric_strings_are_coerced() -> None:
    tables = _tables()
    tables["transactions"]["amount"] = ["10.5", " -3 ", "0"]
    tables["events"]["value"] = ["", "1.5", None]
    cleaned, _ = validate_tables(tables)
    assert sorted(cleaned["transactions"]["amount"]) == [-3.0, 0.0, 10.5]
    assert cleaned["events"]["value"].isna().sum() == 2


def test_missing_amount_is_an_error() -> None:
    tables = _tables()
    tables["transactions"]["amount"] = [10.0, np.nan, np.nan]
    message = _error(tables)
    assert "column 'amount': 2 rows have no value" in message


def test_bad_optional_numeric_is_an_error_but_nan_is_fine() -> None:
    tables = _tables()
    tables["transactions"]["discount"] = ["0.1", "ten percent", None]
    message = _error(tables)
    assert "column 'discount': 1 rows are not finite numbers; examples: 'ten percent'" in message


def test_list_cells_are_an_error_not_a_crash() -> None:
    tables = _tables()
    tables["events"]["channel"] = [["web"], "email", "web"]
    message = _error(tables)
    assert "table 'events', column 'channel': 1 rows are lists or mappings" in message
    assert "['web']" in message


def test_a_table_that_is_not_a_dataframe_is_named() -> None:
    tables: dict[str, object] = dict(_tables())
    tables["events"] = [{"customer_id": "c1"}]
    message = _error(tables)  # type: ignore[arg-type]
    assert "table 'events' is a list, not a pandas DataFrame" in message


# --- rule 4: missing keys -----------------------------------------------------------------------


def test_rows_without_ids_are_dropped_and_counted() -> None:
    tables = _tables()
    tables["transactions"]["customer_id"] = ["c1", None, "  "]
    tables["campaigns"]["campaign_id"] = ["spring", np.nan]

    cleaned, report = validate_tables(tables)

    assert len(cleaned["transactions"]) == 1
    drop = _drops(report, "transactions")["missing customer_id"]
    assert drop.rows == 2
    assert drop.examples == ("row 2", "row 3")
    assert _drops(report, "campaigns")["missing campaign_id"].rows == 1
    assert report.rows_in["transactions"] == 3
    assert report.rows_out["transactions"] == 1


def test_rows_without_timestamp_are_dropped_and_counted() -> None:
    tables = _tables()
    tables["events"]["ts"] = ["2024-02-02", None, ""]
    cleaned, report = validate_tables(tables)
    assert cleaned["events"]["customer_id"].tolist() == ["c2"]
    drop = _drops(report, "events")["missing ts"]
    assert drop.rows == 2
    assert drop.examples == ("'c1'", "'c3'")


# --- rule 5: duplicates -------------------------------------------------------------------------


def test_duplicate_customers_are_an_error() -> None:
    tables = _tables()
    tables["customers"]["customer_id"] = ["c1", "c1", "c3"]
    message = _error(tables, sources={"customers": "crm.parquet"})
    assert "table 'customers' (crm.parquet), column 'customer_id'" in message
    assert "1 ids appear more than once (2 rows)" in message
    assert "'c1'" in message


# --- rule 6: unknown customers ------------------------------------------------------------------


def test_rows_of_unknown_customers_are_dropped_and_counted() -> None:
    tables = _tables()
    tables["events"]["customer_id"] = ["c2", "ghost", "ghost"]
    tables["campaigns"]["customer_id"] = ["c1", "nobody"]

    cleaned, report = validate_tables(tables)

    assert cleaned["events"]["customer_id"].tolist() == ["c2"]
    drop = _drops(report, "events")["customer_id not in customers"]
    assert (drop.rows, drop.examples) == (2, ("'ghost'",))
    assert _drops(report, "campaigns")["customer_id not in customers"].rows == 1


# --- rule 7: future rows ------------------------------------------------------------------------


def test_rows_after_as_of_are_dropped_and_counted() -> None:
    tables = _tables()
    as_of = pd.Timestamp("2024-02-01 12:00")  # naive: read as UTC

    cleaned, report = validate_tables(tables, as_of=as_of)

    assert (cleaned["transactions"]["ts"] <= as_of.tz_localize("UTC")).all()
    assert (
        _drops(report, "transactions")[
            "ts after as_of 2024-02-01T12:00:00+00:00 (timestamp in the future)"
        ].rows
        == 1
    )
    assert (
        _drops(report, "events")["ts after as_of 2024-02-01T12:00:00+00:00 (timestamp in the future)"].rows
        == 2
    )
    future = _drops(report, "events")["ts after as_of 2024-02-01T12:00:00+00:00 (timestamp in the future)"]
    assert future.examples == ("2024-02-02 00:00:00+00:00",)
    assert len(cleaned["campaigns"]) == 0
    assert any("'campaigns' has no rows left" in w for w in report.warnings)


def test_customers_created_after_as_of_are_dropped_with_their_rows() -> None:
    tables = _tables()
    tables["customers"]["created_at"] = pd.to_datetime(["2024-01-01", "2024-01-05", "2024-04-01"])
    tables["events"]["ts"] = pd.to_datetime(["2024-02-02", "2024-01-02", "2024-02-02"])
    tables["events"]["customer_id"] = ["c2", "c1", "c1"]
    tables["campaigns"]["ts"] = pd.to_datetime(["2024-03-01", "2024-03-01"])

    cleaned, report = validate_tables(tables, as_of=pd.Timestamp("2024-03-15", tz="UTC"))

    assert "c3" not in set(cleaned["customers"]["customer_id"])
    future = [d for d in _drops(report, "customers").values() if "created_at after" in d.reason]
    assert future[0].rows == 1
    assert _drops(report, "campaigns")["customer_id not in customers"].rows == 1


def test_adding_future_rows_changes_nothing_before_as_of() -> None:
    as_of = pd.Timestamp("2024-03-31", tz="UTC")
    base, _ = validate_tables(_tables(), as_of=as_of)
    tables = _tables()
    late = pd.DataFrame(
        {"customer_id": ["c1"], "ts": pd.to_datetime(["2024-05-01"]), "event_type": ["visit"]}
    )
    tables["events"] = pd.concat([tables["events"], late], ignore_index=True)
    cleaned, _ = validate_tables(tables, as_of=as_of)
    pd.testing.assert_frame_equal(cleaned["events"], base["events"])


# --- rule 8: event types ------------------------------------------------------------------------


def test_event_types_are_cleaned_and_unknown_ones_counted() -> None:
    tables = _tables()
    tables["events"]["event_type"] = [" Visit ", "PUSH_OPEN", "push_open"]

    cleaned, report = validate_tables(tables)

    assert sorted(cleaned["events"]["event_type"]) == [OTHER_EVENT, OTHER_EVENT, "visit"]
    assert report.other_event_types == {"push_open": 2}
    assert any("'push_open'" in w for w in report.warnings)


# --- rule 9: stages -----------------------------------------------------------------------------


def test_unknown_stage_is_an_error_listing_values() -> None:
    tables = _tables()
    tables["stage_history"]["stage"] = ["Purchase", "vip"]
    message = _error(tables)
    assert "table 'stage_history', column 'stage': 1 rows have an unknown stage" in message
    assert "'vip'" in message


def test_stage_case_is_normalised() -> None:
    tables = _tables()
    tables["stage_history"]["stage"] = [" Purchase", "RETENTION"]
    cleaned, _ = validate_tables(tables)
    assert cleaned["stage_history"]["stage"].tolist() == ["purchase", "retention"]


# --- rule 10: treated ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["TRUE", "no"], [True, False]),
        (["Yes", "false"], [True, False]),
        ([1, 0], [True, False]),
        ([1.0, 0.0], [True, False]),
        (["1", "0"], [True, False]),
        ([" y", "N "], [True, False]),  # the spellings snapshot labels accept, too
    ],
)
def test_treated_accepts_common_spellings(raw: list[object], expected: list[bool]) -> None:
    tables = _tables()
    tables["campaigns"]["treated"] = raw
    cleaned, _ = validate_tables(tables)
    assert cleaned["campaigns"]["treated"].tolist() == expected
    assert cleaned["campaigns"]["treated"].dtype == bool


def test_treated_rejects_other_values() -> None:
    tables = _tables()
    tables["campaigns"]["treated"] = ["maybe", None]
    message = _error(tables)
    assert "column 'treated': 2 rows are not true/false" in message
    assert "'maybe'" in message
    assert "<missing>" in message


# --- rule 11: demographics ----------------------------------------------------------------------


def test_declared_demographic_must_exist() -> None:
    tables = _tables()
    demographics = (Demographic(name="plan", kind="categorical"),)
    message = _error(tables, demographics=demographics)
    assert "table 'customers'" in message
    assert "declared demographic 'plan'" in message


def test_numeric_demographic_strings_are_coerced() -> None:
    tables = _tables()
    tables["customers"]["age"] = ["31", "", None]
    cleaned, _ = validate_tables(tables, demographics=DEMOGRAPHICS)
    ages = cleaned["customers"]["age"]
    assert ages.iloc[0] == 31.0
    assert ages.isna().sum() == 2


def test_numeric_demographic_rejects_text() -> None:
    tables = _tables()
    tables["customers"]["age"] = ["31", "thirty", "old"]
    message = _error(tables, demographics=DEMOGRAPHICS)
    assert "column 'age': 2 rows are not finite numbers" in message
    assert "'thirty'" in message


def test_categorical_demographic_becomes_text_with_missing_kept() -> None:
    tables = _tables()
    tables["customers"]["region"] = [1.0, np.nan, 2.0]
    cleaned, _ = validate_tables(tables, demographics=DEMOGRAPHICS)
    assert cleaned["customers"]["region"].tolist() == ["1", None, "2"]


# --- rule 12: activity before created_at ---------------------------------------------------------


def test_activity_before_created_at_moves_created_at_back() -> None:
    tables = _tables()
    tables["transactions"]["ts"] = pd.to_datetime(["2023-12-01", "2024-02-03", "2024-01-10"])
    tables["events"]["ts"] = pd.to_datetime(["2023-11-15", "2024-01-02", "2024-02-02"])

    cleaned, report = validate_tables(tables)

    created = cleaned["customers"].set_index("customer_id")["created_at"]
    assert created["c1"] == pd.Timestamp("2023-12-01", tz="UTC")
    assert created["c2"] == pd.Timestamp("2023-11-15", tz="UTC")
    assert created["c3"] == pd.Timestamp("2024-02-01", tz="UTC")
    assert len(cleaned["transactions"]) == 3  # the early rows are kept
    assert any(w.startswith("2 customers have transactions or events before") for w in report.warnings)


# --- the report ---------------------------------------------------------------------------------


def test_report_to_dict_is_json_and_summary_has_a_line_per_item() -> None:
    tables = _tables()
    tables["events"]["customer_id"] = ["c2", "ghost", "c3"]
    tables["events"]["event_type"] = ["visit", "push", "cart"]

    _, report = validate_tables(tables)

    data = json.loads(json.dumps(report.to_dict()))
    assert data["drops"] == [
        {
            "table": "events",
            "reason": "customer_id not in customers",
            "rows": 1,
            "examples": ["'ghost'"],
        }
    ]
    assert data["rows_out"]["events"] == 2
    lines = report.summary_lines()
    assert len(lines) == len(report.rows_in) + len(report.drops) + len(report.warnings)
    assert "events: 3 rows in, 2 kept" in lines
    assert "dropped 1 events rows: customer_id not in customers (e.g. 'ghost')" in lines


def test_contract_error_is_a_value_error_with_problems() -> None:
    error = DataContractError("table 'x' is empty")
    assert isinstance(error, ValueError)
    assert error.problems == ("table 'x' is empty",)
    assert str(error) == "table 'x' is empty"


# --- tables a source declares absent --------------------------------------------------------------


def test_declared_absent_tables_become_empty_typed_tables_with_a_warning() -> None:
    tables = _tables()
    del tables["events"]
    tables["transactions"] = tables["transactions"].iloc[:0]

    cleaned, report = validate_tables(tables, optional=["events", "transactions", "campaigns"])

    for name in ("events", "transactions"):
        assert cleaned[name].empty
        assert str(cleaned[name]["ts"].dtype) == UTC_US
        assert any(f"table {name!r} is declared absent" in w for w in report.warnings)
    assert list(cleaned["events"].columns) == ["customer_id", "ts", "event_type"]
    assert report.rows_in["events"] == report.rows_out["events"] == 0
    assert not any("no rows left" in w for w in report.warnings)
    assert len(cleaned["campaigns"]) == 2  # optional but present: validated as usual


def test_a_required_table_not_declared_absent_is_still_an_error() -> None:
    tables = _tables()
    del tables["events"]
    assert "required table 'events'" in _error(tables, optional=["transactions"])


def test_customers_cannot_be_optional() -> None:
    with pytest.raises(ValueError, match="other than 'customers'"):
        validate_tables(_tables(), optional=["customers"])


def test_parse_timestamps_reads_naive_values_in_a_zone() -> None:
    from ingest.validate import parse_timestamps

    values = pd.Series(["2024-07-01 12:00", "2024-01-15 12:00:00", "2024-07-01T12:00:00Z", None, "soon"])
    parsed, bad = parse_timestamps(values, "Europe/Berlin")
    assert parsed.tolist()[:3] == [
        pd.Timestamp("2024-07-01 10:00", tz="UTC"),
        pd.Timestamp("2024-01-15 11:00", tz="UTC"),
        pd.Timestamp("2024-07-01 12:00", tz="UTC"),
    ]
    assert bad.tolist() == [False, False, False, False, True]
    ambiguous, _ = parse_timestamps(pd.Series(pd.to_datetime(["2024-10-27 02:30"])), "Europe/Berlin")
    assert ambiguous.iloc[0] == pd.Timestamp("2024-10-27 01:30", tz="UTC")  # read as standard time
    _, numbers = parse_timestamps(pd.Series([1_706_000_000]))
    assert numbers.tolist() == [True]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_a_zoned_value_never_shifts_the_naive_values_beside_it(zone: str) -> None:
    from ingest.validate import parse_timestamps

    values = pd.Series(
        ["2024-01-01T10:00:00+05:00", "2024-01-01T10:00:00", None, "2024-01-01 10:00:00-03:00"]
    )
    parsed, bad = parse_timestamps(values, zone)
    naive = pd.Timestamp("2024-01-01 10:00", tz=zone).tz_convert("UTC")  # in the mapping's zone, not +05:00
    assert parsed[0] == pd.Timestamp("2024-01-01 05:00", tz="UTC")
    assert parsed[1] == naive
    assert pd.isna(parsed[2]) and not bad.any()
    assert parsed[3] == pd.Timestamp("2024-01-01 13:00", tz="UTC")
