"""Source mappings: every mapping key on small hand-made files, every bad mapping's message, the
shipped mappings on the real datasets, and a PostgreSQL table source."""

from __future__ import annotations

import getpass
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import duckdb
import pandas as pd
import pytest

from ingest.mapping import MappingError, SourceMapping, load_mapping
from ingest.sources import read_snapshot_labels, read_source, resolve_root
from ingest.validate import SOURCE_ROW, DataContractError, Drop, validate_tables

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
UTC = "UTC"


def mapping(text: str, folder: Path, name: str = "shop") -> SourceMapping:
    """Write a mapping YAML into folder/configs/sources and load it by name."""
    sources = folder / "configs" / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    (sources / f"{name}.yaml").write_text(textwrap.dedent(text))
    return load_mapping(name, folder / "configs")


def bad_mapping(text: str, folder: Path) -> str:
    with pytest.raises(MappingError) as caught:
        mapping(text, folder)
    return str(caught.value)


def write_csv(folder: Path, name: str, rows: dict[str, list[Any]]) -> None:
    pd.DataFrame(rows).to_csv(folder / name, index=False)


def read_error(m: SourceMapping, root: Path) -> str:
    with pytest.raises(DataContractError) as caught:
        read_source(m, root)
    return str(caught.value)


def visible(frame: pd.DataFrame) -> list[str]:
    """The mapped columns, without the hidden source row and duplicate columns validation reads."""
    return [str(c) for c in frame.columns if not str(c).startswith("__")]


def drops_by_reason(drops: list[Drop]) -> dict[str, Drop]:
    return {drop.reason: drop for drop in drops}


RETAIL = """
    root: shared
    timezone: UTC
    absent: [events]
    demographics: [{name: country, kind: categorical}]
    customers:
      derive_from: transactions
      attributes:
        country: {expression: Country, pick: most_frequent}
    transactions:
      file: retail.csv
      columns:
        customer_id: CAST(CAST(CustomerID AS BIGINT) AS VARCHAR)
        ts: InvoiceDate
        amount: Quantity * UnitPrice
        order_id: InvoiceNo
        quantity: Quantity
      where:
        - {keep: CustomerID IS NOT NULL, reason: no CustomerID}
"""
REFUNDS = """
      refunds: {when: "starts_with(InvoiceNo, 'C')"}
"""


@pytest.fixture
def retail(tmp_path: Path) -> Path:
    """A small Online Retail-like CSV: float ids, a line without a customer, a cancellation."""
    write_csv(
        tmp_path,
        "retail.csv",
        {
            "InvoiceNo": ["536365", "536365", "536366", "C536379", "536380", "536381"],
            "Quantity": [6, 2, 1, -1, 3, 4],
            "InvoiceDate": [
                "2010-12-01 08:26:00",
                "2010-12-01 08:26:00",
                "2010-12-01 09:00:00",
                "2010-12-02 10:00:00",
                "2010-12-03 11:00:00",
                "2010-12-04 12:00:00",
            ],
            "UnitPrice": [2.55, 3.0, 1.5, 4.0, 1.0, 2.0],
            "CustomerID": [17850.0, 17850.0, None, 17850.0, 13047.0, 13047.0],
            "Country": ["United Kingdom", "United Kingdom", "France", "France", "Norway", "France"],
        },
    )
    return tmp_path


# --- loading ----------------------------------------------------------------------------------


def test_shipped_mappings_load() -> None:
    names = sorted(p.stem for p in (CONFIGS / "sources").glob("*.yaml"))
    assert names == ["olist", "online_retail", "synthetic", "telco_classic", "telco_v11"]
    for name in names:
        loaded = load_mapping(name, CONFIGS)
        assert loaded.name == name
        assert loaded.description


def test_mapping_by_path_takes_its_name_from_the_file(tmp_path: Path) -> None:
    mapping(RETAIL + REFUNDS, tmp_path, name="retail_v2")
    loaded = load_mapping(str(tmp_path / "configs" / "sources" / "retail_v2.yaml"), CONFIGS)
    assert loaded.name == "retail_v2"
    assert loaded.transactions is not None
    assert loaded.transactions.columns["amount"] == "Quantity * UnitPrice"


def test_unknown_mapping_lists_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"'nope' not found.*available: \['olist'"):
        load_mapping("nope", CONFIGS)


def test_unknown_keys_are_named_with_the_allowed_ones(tmp_path: Path) -> None:
    text = RETAIL.replace("      where:", "      wher:") + "    colour: blue\n"
    message = bad_mapping(text, tmp_path)
    assert "unknown key 'transactions.wher'" in message
    assert "'where'" in message and "'refunds'" in message  # the keys allowed there
    assert "unknown key 'colour'" in message
    assert "shop.yaml" in message


def test_nested_unknown_key_in_a_list(tmp_path: Path) -> None:
    text = RETAIL.replace("reason: no CustomerID}", "reason: no CustomerID, why: x}")
    message = bad_mapping(text, tmp_path)
    assert "unknown key 'transactions.where.0.why'" in message
    assert "allowed here: ['keep', 'reason']" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("absent: [events]", "absent: []"), "events: neither mapped nor declared absent"),
        (("ts: InvoiceDate", "when: InvoiceDate"), "column 'when' is not a column of the contract table"),
        (("        ts: InvoiceDate\n", ""), "transactions: required column 'ts' is not mapped"),
        (("timezone: UTC", "timezone: Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (
            ("{name: country, kind: categorical}", "{name: region, kind: categorical}"),
            "'country' is not a declared",
        ),
        (("file: retail.csv", "file: retail.csv\n      postgres: {dsn_env: PG, table: t}"), "exactly one of"),
        (("kind: categorical", "kind: text"), "demographics.0.kind"),
    ],
)
def test_inconsistent_mappings_get_specific_messages(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    assert change[0] in RETAIL
    assert expected in bad_mapping(RETAIL.replace(*change), tmp_path)


def test_a_yaml_boolean_key_gets_a_hint(tmp_path: Path) -> None:
    text = """
        absent: [transactions, events]
        customers:
          file: c.csv
          joins: [{alias: x, file: x.csv, on: id}]
          columns: {customer_id: id, created_at: since}
    """
    message = bad_mapping(text, tmp_path)
    assert "customers.joins.0.using: Field required" in message
    assert "YAML reads unquoted on/off/yes/no as booleans" in message


def test_event_types_must_be_canonical_families(tmp_path: Path) -> None:
    text = RETAIL.replace("absent: [events]", "absent: []") + textwrap.indent(
        "events:\n  file: e.csv\n  event_types: {pageview: page_visit}\n", "    "
    )
    assert "unknown event families ['page_visit']" in bad_mapping(text, tmp_path)


def test_table_specific_keys_stay_in_their_table(tmp_path: Path) -> None:
    text = RETAIL + "    campaigns:\n      file: c.csv\n      refunds: {when: 'true'}\n"
    assert "campaigns: 'refunds' does not belong here" in bad_mapping(text, tmp_path)


def test_tenure_months_needs_a_snapshot_date(tmp_path: Path) -> None:
    text = """
        absent: [transactions, events]
        customers: {file: c.csv, tenure_months: tenure, columns: {customer_id: id}}
    """
    assert "tenure_months needs snapshot_label.as_of" in bad_mapping(text, tmp_path)


# --- roots ------------------------------------------------------------------------------------


def test_roots_shared_data_and_paths(tmp_path: Path) -> None:
    m = mapping(RETAIL, tmp_path)
    project, data = tmp_path / "project", tmp_path / "data"
    assert resolve_root(m, data_dir=data, project_dir=project, env={}) == tmp_path / "shared" / "data"
    env = {"JOURNEY_SHARED_DATA": "/srv/public"}
    assert resolve_root(m, data_dir=data, project_dir=project, env=env) == Path("/srv/public")
    as_data = m.model_copy(update={"root": "data"})
    assert resolve_root(as_data, data_dir=data, project_dir=project, env=env) == data
    relative = m.model_copy(update={"root": "raw/exports"})
    assert resolve_root(relative, data_dir=data, project_dir=project, env=env) == project / "raw/exports"


# --- reading: renames, expressions, filters, refunds ------------------------------------------------


def test_csv_renames_expressions_id_casting_and_counted_filters(retail: Path) -> None:
    m = mapping(RETAIL + REFUNDS, retail)
    tables, drops = read_source(m, retail)

    tx = tables["transactions"]
    assert visible(tx) == ["customer_id", "ts", "amount", "order_id", "quantity"]
    assert tx[SOURCE_ROW].tolist() == [1, 2, 4, 5, 6]  # rows are named by their line in the file
    assert tx["customer_id"].tolist() == ["17850", "17850", "17850", "13047", "13047"]
    assert tx["amount"].tolist() == pytest.approx([15.3, 6.0, -4.0, 3.0, 8.0])
    assert str(tx["ts"].dtype) == "datetime64[us, UTC]"
    assert drops == [Drop("transactions", "no CustomerID", 1, ("row 3",))]
    assert tables["events"].empty and list(tables["events"].columns) == ["customer_id", "ts", "event_type"]


def test_derived_customers_first_activity_and_attribute_picks(retail: Path) -> None:
    text = RETAIL + REFUNDS
    m = mapping(text, retail)
    customers = read_source(m, retail)[0]["customers"].set_index("customer_id")
    assert customers.loc["17850", "created_at"] == pd.Timestamp("2010-12-01 08:26", tz=UTC)
    # 17850: United Kingdom twice, France once; 13047: a tie, the earlier value wins
    assert customers["country"].to_dict() == {"13047": "Norway", "17850": "United Kingdom"}
    firsts = mapping(text.replace("pick: most_frequent", "pick: last"), retail)
    assert read_source(firsts, retail)[0]["customers"].set_index("customer_id")["country"].to_dict() == {
        "13047": "France",
        "17850": "France",
    }


def test_negative_quantity_without_refund_rule_is_a_specific_error(retail: Path) -> None:
    message = read_error(mapping(RETAIL, retail), retail)
    assert "table 'transactions' (retail.csv): 1 rows have a negative amount or quantity" in message
    assert "declares no refunds rule" in message
    assert "row 4 (amount -4, quantity -1)" in message


def test_refund_rule_drops_and_counts_rows_it_cannot_explain(tmp_path: Path) -> None:
    write_csv(
        tmp_path,
        "retail.csv",
        {
            "InvoiceNo": ["1", "C2", "C3", "4"],
            "Quantity": [2, -1, 1, -5],
            "InvoiceDate": ["2024-01-01 10:00"] * 4,
            "UnitPrice": [1.0] * 4,
            "CustomerID": [1.0] * 4,
            "Country": ["X"] * 4,
        },
    )
    tables, drops = read_source(mapping(RETAIL + REFUNDS, tmp_path), tmp_path)
    assert tables["transactions"]["amount"].tolist() == [2.0, -1.0]
    reasons = drops_by_reason(drops)
    assert reasons["refund by rule (starts_with(InvoiceNo, 'C')) with a positive amount"].examples == (
        "row 3",
    )
    stray = reasons["negative amount or quantity not marked a refund by (starts_with(InvoiceNo, 'C'))"]
    assert (stray.rows, stray.examples) == (1, ("row 4",))


def test_refunds_booked_as_positive_numbers_are_negated(tmp_path: Path) -> None:
    write_csv(
        tmp_path,
        "tx.csv",
        {
            "cust": ["a", "a"],
            "on_day": ["2024-01-01", "2024-01-05"],
            "total": [10.0, 4.0],
            "kind": ["sale", "refund"],
        },
    )
    text = """
        absent: [events]
        customers: {derive_from: transactions}
        transactions:
          file: tx.csv
          columns: {customer_id: cust, ts: on_day, amount: total}
          refunds: {when: "kind = 'refund'", amounts: positive}
    """
    tables, drops = read_source(mapping(text, tmp_path), tmp_path)
    assert tables["transactions"]["amount"].tolist() == [10.0, -4.0]
    assert drops == []


# --- reading: bad mappings and bad data --------------------------------------------------------------


def test_a_mapping_naming_a_missing_column_names_column_file_and_columns(retail: Path) -> None:
    text = (RETAIL + REFUNDS).replace("Quantity * UnitPrice", "Quantity * Price")
    message = read_error(mapping(text, retail), retail)
    assert "table 'transactions' (retail.csv): column 'amount' = 'Quantity * Price'" in message
    assert "names column 'Price', which is not in retail.csv" in message
    assert "'UnitPrice'" in message  # the columns that are there


def test_a_filter_naming_a_missing_column_is_named_too(retail: Path) -> None:
    text = (RETAIL + REFUNDS).replace("keep: CustomerID IS NOT NULL", "keep: Customer IS NOT NULL")
    assert "where filter 'Customer IS NOT NULL' (no CustomerID) names column 'Customer'" in read_error(
        mapping(text, retail), retail
    )


def test_invalid_sql_and_failing_casts_name_the_column(retail: Path) -> None:
    broken = (RETAIL + REFUNDS).replace("order_id: InvoiceNo", "order_id: InvoiceNo +* 1")
    assert "column 'order_id' = 'InvoiceNo +* 1' is not valid DuckDB SQL" in read_error(
        mapping(broken, retail), retail
    )
    failing = (RETAIL + REFUNDS).replace("order_id: InvoiceNo", "order_id: CAST(InvoiceNo AS INTEGER)")
    message = read_error(mapping(failing, retail), retail)
    assert "column 'order_id' = 'CAST(InvoiceNo AS INTEGER)' fails on the data" in message
    assert "C536379" in message


def test_missing_file_is_named(tmp_path: Path) -> None:
    message = read_error(mapping(RETAIL + REFUNDS, tmp_path), tmp_path)
    assert f"table 'transactions' (retail.csv): file not found: {tmp_path / 'retail.csv'}" in message


def test_unparseable_timestamp_is_left_for_validation_to_name(retail: Path) -> None:
    frame = pd.read_csv(retail / "retail.csv")
    frame.loc[1, "InvoiceDate"] = "yesterday"
    frame.to_csv(retail / "retail.csv", index=False)
    m = mapping(RETAIL + REFUNDS, retail)
    tables, _ = read_source(m, retail)
    with pytest.raises(DataContractError) as caught:
        validate_tables(tables, demographics=m.demographics, sources=m.sources(), optional=m.absent)
    message = str(caught.value)
    assert "table 'transactions' (retail.csv), column 'ts': 1 rows are not timestamps" in message
    assert "'yesterday'" in message


def test_a_bad_value_beyond_the_csv_sniffer_sample_is_no_crash(tmp_path: Path) -> None:
    n = 30_000
    stamps = pd.date_range("2024-01-01", periods=n, freq="min").astype(str).tolist()
    stamps[-1] = "31/31/2024"
    write_csv(tmp_path, "tx.csv", {"c": ["a"] * n, "t": stamps, "v": [1.0] * n})
    text = """
        absent: [events]
        customers: {derive_from: transactions}
        transactions: {file: tx.csv, columns: {customer_id: c, ts: t, amount: v}}
    """
    m = mapping(text, tmp_path)
    tables, _ = read_source(m, tmp_path)
    with pytest.raises(DataContractError, match=r"column 'ts': 1 rows are not timestamps.*'31/31/2024'"):
        validate_tables(tables, sources=m.sources(), optional=m.absent)


CUSTOMERS = """
    absent: [transactions, events]
    demographics: [{name: plan, kind: categorical}]
    customers:
      file: customers.csv
      columns: {customer_id: id, created_at: since, plan: plan}
"""


def test_exact_duplicate_customer_rows_are_dropped_and_counted(tmp_path: Path) -> None:
    write_csv(
        tmp_path,
        "customers.csv",
        {"id": ["a", "b", "a"], "since": ["2024-01-01"] * 3, "plan": ["x", "y", "x"]},
    )
    tables, drops = read_source(mapping(CUSTOMERS, tmp_path), tmp_path)
    assert tables["customers"]["customer_id"].tolist() == ["a", "b"]
    assert drops == [Drop("customers", "exact duplicate of an earlier customer row", 1, ("row 3",))]


def test_conflicting_duplicate_customer_rows_are_a_specific_error(tmp_path: Path) -> None:
    write_csv(
        tmp_path,
        "customers.csv",
        {"id": ["a", "b", "a"], "since": ["2024-01-01"] * 3, "plan": ["x", "y", "z"]},
    )
    message = read_error(mapping(CUSTOMERS, tmp_path), tmp_path)
    assert "table 'customers' (customers.csv): 1 customer ids appear on more than one row" in message
    assert "columns that differ: ['plan']" in message
    assert "'a' (rows 1, 3)" in message


# --- events, time zones, file formats -----------------------------------------------------------------


def test_event_types_time_zone_and_parquet_by_name(tmp_path: Path) -> None:
    customers = pd.DataFrame({"customer_id": ["a"], "created_at": [pd.Timestamp("2024-01-01")]})
    customers.to_parquet(tmp_path / "customers.parquet")
    events = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a"],
            "ts": ["2024-07-01 12:00", "2024-01-15 12:00", "2024-07-01 12:00+00:00"],
            "kind": ["PageView", "mail_open", "push"],
        }
    )
    events.to_parquet(tmp_path / "events.parquet")
    text = """
        timezone: Europe/London
        absent: [transactions]
        customers: {file: customers.parquet}
        events:
          file: events.parquet
          columns: {customer_id: customer_id, ts: ts, event_type: kind}
          event_types: {pageview: product_view, MAIL_OPEN: email_open}
    """
    tables, _ = read_source(mapping(text, tmp_path), tmp_path)
    events_out = tables["events"]
    assert events_out["event_type"].tolist() == ["product_view", "email_open", "push"]
    assert events_out["ts"].tolist() == [
        pd.Timestamp("2024-07-01 11:00", tz=UTC),  # BST wall clock
        pd.Timestamp("2024-01-15 12:00", tz=UTC),  # GMT
        pd.Timestamp("2024-07-01 12:00", tz=UTC),  # an explicit offset wins
    ]
    assert tables["customers"]["created_at"].iloc[0] == pd.Timestamp("2024-01-01", tz=UTC)
    clean, report = validate_tables(tables, optional=["transactions"])
    assert report.other_event_types == {"push": 1}
    assert clean["transactions"].empty


def test_a_csv_of_mixed_offsets_reads_its_naive_times_in_the_mapping_zone(tmp_path: Path) -> None:
    # DuckDB sniffs such a column as TIMESTAMPTZ and reads the naive values in the session's zone
    pd.DataFrame({"customer_id": ["a"], "created_at": ["2024-01-01"]}).to_csv(tmp_path / "c.csv", index=False)
    events = {"customer_id": ["a", "a"], "ts": ["2024-03-17 14:00:30", "2024-05-03 15:58:09+01:00"]}
    pd.DataFrame(events | {"kind": ["visit", "visit"]}).to_csv(tmp_path / "e.csv", index=False)
    text = """
        timezone: Europe/Berlin
        absent: [transactions]
        customers: {file: c.csv}
        events:
          file: e.csv
          columns: {customer_id: customer_id, ts: ts, event_type: kind}
    """
    tables, _ = read_source(mapping(text, tmp_path), tmp_path)
    assert tables["events"]["ts"].tolist() == [
        pd.Timestamp("2024-03-17 13:00:30", tz=UTC),  # CET wall clock, not UTC
        pd.Timestamp("2024-05-03 14:58:09", tz=UTC),  # the explicit offset
    ]


def test_duckdb_table_source_and_missing_table(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "crm.duckdb")) as con:
        con.execute("CREATE SCHEMA sales")
        con.execute(
            "CREATE TABLE sales.people AS "
            "SELECT 'p' || i AS pid, DATE '2024-01-01' + CAST(i AS INTEGER) AS joined FROM range(3) t(i)"
        )
    text = """
        absent: [transactions, events]
        customers:
          duckdb: {database: crm.duckdb, table: sales.people}
          columns: {customer_id: pid, created_at: joined}
    """
    tables, _ = read_source(mapping(text, tmp_path), tmp_path)
    assert tables["customers"]["customer_id"].tolist() == ["p0", "p1", "p2"]
    assert tables["customers"]["created_at"].iloc[2] == pd.Timestamp("2024-01-03", tz=UTC)
    message = read_error(mapping(text.replace("sales.people", "sales.persons"), tmp_path), tmp_path)
    assert "cannot read table 'sales.persons'" in message


# --- joins and snapshots ----------------------------------------------------------------------------


SNAPSHOT = """
    absent: [transactions, events]
    demographics: [{name: zone_pop, kind: numeric}]
    customers:
      file: people.csv
      joins:
        - {alias: places, file: places.csv, using: zip}
      tenure_months: tenure
      columns: {customer_id: src.id, zone_pop: places.pop}
    snapshot_label:
      as_of: 2020-03-31
      expression: status = 'gone'
"""


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    write_csv(
        tmp_path,
        "people.csv",
        {"id": ["a", "b", "c"], "zip": [1, 2, 1], "tenure": [0, 2, 12], "status": ["stay", "gone", "stay"]},
    )
    write_csv(tmp_path, "places.csv", {"zip": [1, 2], "pop": [100, 200]})
    return tmp_path


def test_joins_tenure_and_snapshot_label(snapshot: Path) -> None:
    m = mapping(SNAPSHOT, snapshot)
    customers = read_source(m, snapshot)[0]["customers"]
    assert customers["zone_pop"].tolist() == [100, 200, 100]
    assert customers["created_at"].tolist() == [
        pd.Timestamp("2020-03-31", tz=UTC),
        pd.Timestamp("2020-01-31", tz=UTC),
        pd.Timestamp("2019-03-31", tz=UTC),
    ]
    assert m.single_snapshot
    labels, drops = read_snapshot_labels(m, snapshot)
    assert labels["churn"].tolist() == [0, 1, 0]
    assert labels["as_of"].iloc[0] == pd.Timestamp("2020-03-31", tz=UTC)
    assert drops == []


def test_a_join_that_multiplies_rows_is_named(snapshot: Path) -> None:
    write_csv(snapshot, "places.csv", {"zip": [1, 1, 2], "pop": [100, 101, 200]})
    message = read_error(mapping(SNAPSHOT, snapshot), snapshot)
    assert "2 source rows match more than one row of a joined table ('places' on ['zip'])" in message


def test_join_aliases_must_not_hide_the_main_source(tmp_path: Path) -> None:
    text = SNAPSHOT.replace("alias: places", "alias: src")
    assert "join aliases must be unique and not 'src'" in bad_mapping(text, tmp_path)


def test_snapshot_label_from_its_own_source_and_bad_values(snapshot: Path) -> None:
    write_csv(snapshot, "status.csv", {"cid": ["a", "b", "c"], "churned": ["yes", None, "maybe"]})
    text = SNAPSHOT.replace(
        "expression: status = 'gone'", "file: status.csv\n      customer_id: cid\n      expression: churned"
    )
    with pytest.raises(
        DataContractError, match=r"1 label values are not 0/1 or true/false; examples: 'maybe'"
    ):
        read_snapshot_labels(mapping(text, snapshot), snapshot)
    write_csv(snapshot, "status.csv", {"cid": ["a", "b", "c"], "churned": ["yes", None, "no"]})
    labels, drops = read_snapshot_labels(mapping(text, snapshot), snapshot)
    assert labels.set_index("customer_id")["churn"].to_dict() == {"a": 1, "c": 0}
    assert drops == [Drop("snapshot_label", "no label value", 1, ("row 2",))]


# --- PostgreSQL ----------------------------------------------------------------------------------------


Unavailable = Callable[[str], NoReturn]


def _postgres_dsn(unavailable: Unavailable) -> str:
    import psycopg

    for user in ("postgres", getpass.getuser()):
        dsn = f"postgresql://{user}@127.0.0.1:5432/test"
        try:
            with psycopg.connect(dsn, connect_timeout=3):
                return dsn
        except psycopg.Error:
            continue
    return unavailable(
        "PostgreSQL not reachable on 127.0.0.1:5432 (database 'test', user postgres or current user)"
    )


@pytest.fixture
def pg_table(monkeypatch: pytest.MonkeyPatch, unavailable: Unavailable) -> Iterator[str]:
    """A temporary table `orders_<random>` in the test database; dropped afterwards."""
    import psycopg

    dsn = _postgres_dsn(unavailable)
    table = f"orders_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"CREATE TABLE {table} (client_no integer, paid_at timestamp, total numeric(10, 2))")
        con.execute(
            f"INSERT INTO {table} VALUES (7, '2024-05-01 10:00', 12.50), (7, '2024-06-01 09:30', 3.00), "
            "(NULL, '2024-06-02 00:00', 1.00)"
        )
    monkeypatch.setenv("JOURNEY_TEST_PG", dsn)
    try:
        yield table
    finally:
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(f"DROP TABLE IF EXISTS {table}")


@pytest.mark.postgres
def test_postgres_table_source(pg_table: str, tmp_path: Path) -> None:
    text = f"""
        timezone: Europe/Paris
        absent: [events]
        customers: {{derive_from: transactions}}
        transactions:
          postgres: {{dsn_env: JOURNEY_TEST_PG, table: public.{pg_table}}}
          columns: {{customer_id: CAST(client_no AS VARCHAR), ts: paid_at, amount: CAST(total AS DOUBLE)}}
          where: [{{keep: client_no IS NOT NULL, reason: no client number}}]
    """
    m = mapping(text, tmp_path)
    tables, drops = read_source(m, tmp_path)
    tx = tables["transactions"]
    assert tx["customer_id"].tolist() == ["7", "7"]
    assert tx["amount"].tolist() == [12.5, 3.0]
    assert tx["ts"].iloc[0] == pd.Timestamp("2024-05-01 08:00", tz=UTC)  # CEST wall clock
    assert [(d.reason, d.rows) for d in drops] == [("no client number", 1)]
    missing_table = mapping(text.replace(pg_table, "no_such_table"), tmp_path)
    assert "cannot read PostgreSQL table 'public.no_such_table' ($JOURNEY_TEST_PG)" in read_error(
        missing_table, tmp_path
    )


def test_postgres_without_its_environment_variable_says_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOURNEY_NO_SUCH_DSN", raising=False)
    text = """
        absent: [transactions, events]
        customers:
          postgres: {dsn_env: JOURNEY_NO_SUCH_DSN, table: people}
          columns: {customer_id: id, created_at: since}
    """
    assert "environment variable JOURNEY_NO_SUCH_DSN (postgres.dsn_env) is not set" in read_error(
        mapping(text, tmp_path), tmp_path
    )


# --- the shipped mappings on the generator's output ------------------------------------------------------


def test_synthetic_mapping_reads_the_generator_output(tmp_path: Path) -> None:
    from core.io import write_tables
    from synthetic.generate import generate_tables

    generated = generate_tables(60, seed=3, start="2024-01-01", end="2024-07-01")
    write_tables(generated, tmp_path)
    m = load_mapping("synthetic", CONFIGS)
    tables, drops = read_source(m, tmp_path)
    assert set(tables) == {"customers", "transactions", "events", "campaigns"}
    assert drops == []
    for name, frame in tables.items():
        assert len(frame) == len(generated[name])
        assert visible(frame) == list(generated[name].columns)
    clean, report = validate_tables(tables, demographics=m.demographics, sources=m.sources())
    assert report.drops == []
    assert (clean["transactions"]["amount"] < 0).any()  # refunds kept, signed


# --- the shipped mappings on the real datasets -------------------------------------------------------


@pytest.fixture(scope="module")
def online_retail(
    shared_data: Path, real: Callable[..., Path]
) -> tuple[SourceMapping, dict[str, pd.DataFrame], list[Drop]]:
    """Online Retail read once for the module (541,909 lines, a couple of seconds)."""
    real("online_retail", "online_retail.csv.gz")
    m = load_mapping("online_retail", CONFIGS)
    tables, drops = read_source(m, shared_data)
    return m, tables, drops


def test_online_retail_quirks_are_handled_and_counted(online_retail: Any) -> None:
    m, tables, drops = online_retail
    assert drops == [
        Drop(
            "transactions",
            "no CustomerID (cannot be placed in any customer's journey)",
            135_080,
            ("row 623", "row 1444", "row 1445", "row 1446", "row 1447"),
        )
    ]
    tx, customers = tables["transactions"], tables["customers"]
    assert len(tx) == 406_829
    assert len(customers) == tx["customer_id"].nunique() == 4_372
    assert not tx["customer_id"].str.contains(r"\.").any()  # 17850.0 -> '17850'
    refunds = tx["order_id"].str.startswith("C")
    assert int(refunds.sum()) == 8_905
    assert (tx.loc[refunds, "amount"] < 0).all() and (tx.loc[~refunds, "amount"] >= 0).all()
    assert tx["ts"].min() == pd.Timestamp("2010-12-01 08:26", tz=UTC)  # GMT in winter
    assert tx["ts"].max() == pd.Timestamp("2011-12-09 12:50", tz=UTC)
    assert customers["country"].notna().all()
    clean, report = validate_tables(
        tables, demographics=m.demographics, sources=m.sources(), optional=m.absent
    )
    assert report.drops == []
    assert len(clean["customers"]) == 4_372 and clean["events"].empty


def test_telco_classic_is_one_snapshot_with_blank_total_charges(
    shared_data: Path, real: Callable[..., Path]
) -> None:
    real("telco_churn", "WA_Fn-UseC_-Telco-Customer-Churn.csv")
    m = load_mapping("telco_classic", CONFIGS)
    tables, drops = read_source(m, shared_data)
    customers = tables["customers"]
    assert len(customers) == 7_043 and drops == []
    assert tables["transactions"].empty and tables["events"].empty
    assert int(customers["total_charges"].isna().sum()) == 11
    assert (customers["created_at"] <= pd.Timestamp("2019-10-01", tz=UTC)).all()
    labels, _ = read_snapshot_labels(m, shared_data)
    assert len(labels) == 7_043 and int(labels["churn"].sum()) == 1_869
    clean, _ = validate_tables(tables, demographics=m.demographics, sources=m.sources(), optional=m.absent)
    assert clean["customers"]["total_charges"].isna().sum() == 11


LEAKS = ("satisfaction", "churn_score", "cltv", "churn_category", "churn_reason", "status", "churn")


def test_telco_v11_keeps_the_leaking_outcome_fields_out(shared_data: Path, real: Callable[..., Path]) -> None:
    real("telco_churn", "ibm_v11")
    m = load_mapping("telco_v11", CONFIGS)
    tables, _ = read_source(m, shared_data)
    customers = tables["customers"]
    assert len(customers) == 7_043
    assert not [c for c in customers.columns if any(leak in c.lower() for leak in LEAKS)]
    assert customers["population"].notna().all()  # every zip code joins
    labels, _ = read_snapshot_labels(m, shared_data)
    assert int(labels["churn"].sum()) == 1_869
    assert set(labels["customer_id"]) == set(customers["customer_id"])


def test_olist_leads_are_customers_and_closed_deals_purchases(
    shared_data: Path, real: Callable[..., Path]
) -> None:
    real("olist_marketing_funnel")
    m = load_mapping("olist", CONFIGS)
    tables, drops = read_source(m, shared_data)
    assert drops == []
    assert len(tables["customers"]) == len(tables["events"]) == 8_000
    assert set(tables["events"]["event_type"]) == {"product_view"}
    converted = tables["customers"]["customer_id"].isin(tables["transactions"]["customer_id"])
    assert int(converted.sum()) == len(tables["transactions"]) == 842  # converted = mql_id in deals
    assert (tables["transactions"]["amount"] == 1.0).all()
    assert not {"business_segment", "lead_type"} & set(tables["customers"].columns)  # would leak
    clean, report = validate_tables(
        tables, demographics=m.demographics, sources=m.sources(), optional=m.absent
    )
    assert report.drops == [] and len(clean["transactions"]) == 842


def test_missing_data_skips_locally_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, unavailable: Unavailable
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        unavailable("real datasets not found")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        unavailable("real datasets not found")
