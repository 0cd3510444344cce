"""validate_source: a mapped source read, validated, written as clean tables, reported as JSON."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from core.config import Settings
from core.io import read_raw_tables, table_path, write_tables
from ingest.mapping import MappingError
from pipelines.sources import usability_path, validate_source
from pipelines.steps import validate_data
from synthetic.generate import generate_tables

REPO = Path(__file__).resolve().parents[2]
AS_OF = pd.Timestamp("2025-01-01", tz="UTC")
SHOP = """
    description: a shop exported as CSV
    root: exports
    absent: [events]
    demographics: [{name: tier, kind: categorical}]
    customers: {file: people.csv, columns: {customer_id: id, created_at: since, tier: tier}}
    transactions:
      file: sales.csv
      columns: {customer_id: id, ts: ts, amount: amount}
      where: [{keep: id IS NOT NULL, reason: no customer id}]
      refunds: {when: amount < 0}
"""


def write_source(folder: Path, text: str = SHOP) -> Path:
    """A project folder with configs/sources/shop.yaml and its CSV exports; returns configs/."""
    (folder / "configs" / "sources").mkdir(parents=True, exist_ok=True)
    (folder / "configs" / "sources" / "shop.yaml").write_text(textwrap.dedent(text))
    exports = folder / "exports"
    exports.mkdir()
    pd.DataFrame({"id": ["a", "b"], "since": ["2024-01-01", "2024-02-01"], "tier": ["gold", None]}).to_csv(
        exports / "people.csv", index=False
    )
    days = pd.date_range("2024-01-05", periods=12, freq="30D").astype(str).tolist()
    sales = pd.DataFrame({"id": ["a", "b"] * 6, "ts": days, "amount": [5.0, 7.0] * 6})
    sales.loc[3, "id"] = None
    sales.to_csv(exports / "sales.csv", index=False)
    return folder / "configs"


def test_a_source_is_validated_written_and_reported(tmp_path: Path, settings: Settings) -> None:
    configs = write_source(tmp_path)
    stale = table_path(settings.paths.clean, "campaigns")
    stale.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"customer_id": ["x"]}).to_parquet(stale)  # left by an earlier source

    report = validate_source(settings, "shop", AS_OF, configs)

    assert report.ok, report.blocking
    assert report.rows["transactions"] == {"source": 12, "mapped": 11, "kept": 11}
    assert report.demographics == {"tier": "categorical"}  # the mapping's, not journey.yaml's
    clean = read_raw_tables(settings.paths.clean)
    assert set(clean) == {"customers", "transactions", "events"}
    assert not stale.exists()
    assert clean["events"].empty
    assert clean["customers"]["tier"].tolist() == ["gold", None]
    saved = json.loads(usability_path(settings, "shop").read_text())
    assert saved["usable"] is True
    assert saved["drops"][0]["reason"] == "no customer id"


def test_bad_data_is_a_blocking_report_not_a_crash(tmp_path: Path, settings: Settings) -> None:
    configs = write_source(tmp_path, SHOP.replace("      refunds: {when: amount < 0}\n", ""))
    sales = pd.read_csv(tmp_path / "exports" / "sales.csv")
    sales.loc[0, "amount"] = -5.0
    sales.to_csv(tmp_path / "exports" / "sales.csv", index=False)

    report = validate_source(settings, "shop", AS_OF, configs)

    assert not report.ok
    assert "declares no refunds rule" in report.blocking[0]
    assert not settings.paths.clean.exists()  # nothing written from a source that failed
    saved = json.loads(usability_path(settings, "shop").read_text())
    assert saved["usable"] is False and saved["blocking"] == report.blocking


def test_an_invalid_mapping_raises_with_the_file_named(tmp_path: Path, settings: Settings) -> None:
    configs = write_source(tmp_path, SHOP + "    extra_key: 1\n")
    with pytest.raises(MappingError, match=r"shop\.yaml is invalid:\n- unknown key 'extra_key'"):
        validate_source(settings, "shop", AS_OF, configs)


def test_the_synthetic_mapping_matches_the_plain_data_folder(settings: Settings) -> None:
    write_tables(generate_tables(80, seed=5, start="2023-06-01", end="2024-06-01"), settings.paths.data)
    validate_data(settings, AS_OF)
    plain = read_raw_tables(settings.paths.clean)

    report = validate_source(settings, "synthetic", AS_OF, REPO / "configs")

    assert report.ok, report.blocking
    mapped = read_raw_tables(settings.paths.clean)
    assert set(mapped) == set(plain)
    for name, frame in plain.items():
        pd.testing.assert_frame_equal(mapped[name], frame)


@pytest.mark.parametrize("setting", ["", "      zero_amounts: purchase\n"])
def test_zero_amount_lines_are_purchases_only_when_the_mapping_says_so(
    tmp_path: Path, settings: Settings, setting: str
) -> None:
    from features.tables import connect, open_tables

    configs = write_source(tmp_path, SHOP + setting)
    sales = pd.read_csv(tmp_path / "exports" / "sales.csv")
    sales.loc[sales["id"] == "a", "amount"] = 0.0  # a customer whose orders were all free
    sales.to_csv(tmp_path / "exports" / "sales.csv", index=False)

    report = validate_source(settings, "shop", AS_OF, configs)

    assert report.ok, report.blocking
    warning = next(w for w in report.warnings if "amount 0" in w)
    orders = open_tables(connect(), settings.paths.clean).orders.execute()
    bought = set(orders["customer_id"])
    if setting:
        assert "counted as purchases" in warning
        assert bought == {"a", "b"}
    else:
        assert "zero_amounts: purchase" in warning
        assert bought == {"b"}
