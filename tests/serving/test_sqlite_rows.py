"""The direct SQLite read returns exactly what Feast's own online read returns."""

from __future__ import annotations

import math
import shutil
import sqlite3

import pytest
from feast.protos.feast.types.Value_pb2 import Value

from features.online_rows import mirror, mirrored, prepare, refresh, triggers
from features.store import open_store
from serving.batch import active, newest_features
from serving.online import OnlineFeatures
from serving.sqlite_rows import SqliteRows, decode_values, sqlite_path


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


@pytest.fixture(scope="module")
def setup(trained):
    store = open_store(trained.settings)
    service = store.list_feature_services()[0]
    features = [f.name for p in service.feature_view_projections for f in p.features]
    ids = active(newest_features(trained.settings))["customer_id"].astype(str).tolist()
    return store, service, features, ids


def test_rows_equal_feasts_for_known_unknown_and_repeated_ids(setup):
    store, service, features, ids = setup
    path = sqlite_path(store)
    assert path is not None and path.exists()
    asked = [*ids[:40], "NOPE-1", ids[3], "", ids[-1]]
    columns, stamps = SqliteRows(store, service, path).read(asked, features)
    feast = store.get_online_features(features=service, entity_rows=[{"customer_id": i} for i in asked])
    expected = feast.to_dict(include_event_timestamps=True)
    assert len(features) > 50
    for name in features:
        mismatched = [
            i for i, (a, b) in enumerate(zip(columns[name], expected[name], strict=True)) if not _same(a, b)
        ]
        assert not mismatched, (name, [(columns[name][i], expected[name][i]) for i in mismatched[:3]])
    assert stamps == [ts or None for ts in expected[f"{features[0]}__ts"]]  # Feast: 0 when unknown
    assert stamps[40] is None and stamps[42] is None and stamps[0] is not None


def _assert_same_as_feast(store, service, reader, asked, features):
    columns, stamps = reader.read(asked, features)
    feast = store.get_online_features(features=service, entity_rows=[{"customer_id": i} for i in asked])
    expected = feast.to_dict(include_event_timestamps=True)
    for name in features:
        got = columns[name]
        assert len(got) == len(asked)
        assert all(_same(a, b) for a, b in zip(got, expected[name], strict=True)), (name, got, expected[name])
    assert stamps == [ts or None for ts in expected[f"{features[0]}__ts"]]


def test_one_id_and_only_unknown_ids(setup):
    store, service, features, ids = setup
    reader = SqliteRows(store, service, sqlite_path(store))
    _assert_same_as_feast(store, service, reader, [ids[7]], features)
    columns, stamps = reader.read(["NOPE-1", "NOPE-2"], features)
    assert stamps == [None, None] and all(v == [None, None] for v in columns.values())


def test_a_customer_missing_a_feature_row_reads_like_feast(setup, tmp_path):
    """Rows of one customer lack a feature (another Feast writer, a partial write): the reader
    leaves the fast path for that table and still returns what Feast returns."""
    store, service, features, ids = setup
    reader = SqliteRows(store, service, sqlite_path(store))
    copy = tmp_path / "online.db"
    shutil.copy(sqlite_path(store), copy)
    with sqlite3.connect(copy) as conn:
        table = reader.tables[0]
        name = conn.execute(f'SELECT feature_name FROM "{table}" LIMIT 1').fetchone()[0]
        query = f'DELETE FROM "{table}" WHERE entity_key = ? AND feature_name = ?'
        gone = conn.execute(query, (reader.key(ids[2]), name))
        assert gone.rowcount == 1
    broken = SqliteRows(store, service, copy)
    for count in (3, 40):  # value by value, and enough values for the column-wise path
        columns, _ = broken.read(ids[:count], features)
        full, _ = reader.read(ids[:count], features)
        assert columns[name][2] is None and full[name][2] is not None
        differ = [(f, j) for f in features for j in range(count) if not _same(columns[f][j], full[f][j])]
        assert differ == [(name, 2)]


def test_every_value_kind_decodes_like_protobuf():
    values = [
        Value(double_val=1.5),
        Value(double_val=float("nan")),
        Value(double_val=-0.0),
        Value(),
        Value(string_val="retention"),
        Value(string_val=""),
        Value(string_val="ü" * 200),  # a two-byte length
        Value(int64_val=-7),
        Value(int32_val=3),
        Value(float_val=0.25),
        Value(bool_val=True),
        Value(bool_val=False),
    ]
    blobs = [v.SerializeToString().hex().upper() for v in values]
    decoded = decode_values(blobs).tolist()
    for value, got in zip(values, decoded, strict=True):
        kind = value.WhichOneof("val")
        want = getattr(value, kind) if kind else None
        assert _same(got, want) or (got == want and type(got) is type(want)), (value, got)


def test_the_service_reader_uses_it_and_flags_unknown_ids(setup):
    store, service, features, ids = setup
    online = OnlineFeatures(store, service.name, ttl_days=45)
    assert online.sqlite is not None
    rows = online.read([ids[0], "NOPE-2"], features)
    assert rows.known.tolist() == [True, False] and rows.as_of[1] is None
    assert rows.columns["current_stage"][0] in ("purchase", "retention", "advocacy")


def test_a_missing_file_is_an_unavailable_store(setup, tmp_path):
    store, service, features, ids = setup
    reader = SqliteRows(store, service, tmp_path / "gone.db")
    with pytest.raises(FileNotFoundError, match="journey features materialize"):
        reader.read(ids[:1], features)


def test_keys_are_feasts_keys(setup):
    store, service, _, ids = setup
    reader = SqliteRows(store, service, sqlite_path(store))
    assert reader._prefix is not None  # the fast key path is active on this Feast version
    for customer_id in [*ids[:3], "", "ünïcødé", "x" * 1000]:
        assert reader.key(customer_id) == reader.feast_key(customer_id)


def test_materialization_leaves_one_mirror_row_per_customer(setup):
    store, service, _, _ = setup
    reader = SqliteRows(store, service, sqlite_path(store))
    with sqlite3.connect(sqlite_path(store)) as conn:
        assert mirrored(conn, reader.tables) == set(reader.tables)
        for table in reader.tables:
            customers = conn.execute(f'SELECT count(DISTINCT entity_key) FROM "{table}"').fetchone()[0]
            assert conn.execute(f'SELECT count(*) FROM "{mirror(table)}"').fetchone()[0] == customers > 0


def _read_both_ways(reader, asked, features):
    reader.use_mirror = False
    grouped = reader.read(asked, features)
    reader.use_mirror = True
    return grouped, reader.read(asked, features)


def _assert_equal(a, b, features):
    (columns_a, stamps_a), (columns_b, stamps_b) = a, b
    assert stamps_a == stamps_b
    for name in features:
        assert all(_same(x, y) for x, y in zip(columns_a[name], columns_b[name], strict=True)), name


def test_the_mirror_reads_what_grouping_feasts_rows_reads(setup):
    store, service, features, ids = setup
    reader = SqliteRows(store, service, sqlite_path(store))
    for asked in ([ids[4]], [*ids[:450], "NOPE-3", ids[5]]):
        grouped, mirrored_read = _read_both_ways(reader, asked, features)
        _assert_equal(grouped, mirrored_read, features)


def _upsert(conn, table, key, name, value: float) -> None:
    """A write the way Feast 0.67's SQLite store writes (insert, or update on conflict)."""
    stamp = conn.execute(f'SELECT max(event_ts) FROM "{table}" WHERE entity_key = ?', (key,)).fetchone()[0]
    conn.execute(
        f'INSERT INTO "{table}" (entity_key, feature_name, value, event_ts) VALUES (?, ?, ?, ?) '
        "ON CONFLICT(entity_key, feature_name) DO UPDATE SET value = excluded.value",
        (key, name, Value(double_val=value).SerializeToString(), stamp),
    )


def _double_feature(conn, table) -> str:
    return conn.execute(
        f"SELECT feature_name FROM \"{table}\" WHERE hex(value) LIKE '29%' LIMIT 1"
    ).fetchone()[0]


@pytest.fixture
def on_a_copy(setup, tmp_path):
    """A reader of a copy of the online store, which a test may write to."""
    store, service, features, ids = setup
    copy = tmp_path / "online.db"
    shutil.copy(sqlite_path(store), copy)
    return SqliteRows(store, service, copy), features, ids, copy


def test_any_write_drops_the_customers_mirror_row_and_reads_stay_exact(on_a_copy):
    """Another writer (a push, `feast materialize`) changes one customer: the triggers drop that
    customer's mirror row only, and the reader groups Feast's rows for it."""
    reader, features, ids, copy = on_a_copy
    table = reader.tables[0]
    with sqlite3.connect(copy) as conn:
        name = _double_feature(conn, table)
        _upsert(conn, table, reader.key(ids[1]), name, -123.5)
        held = {k for (k,) in conn.execute(f'SELECT entity_key FROM "{mirror(table)}"')}
    assert reader.key(ids[1]) not in held and reader.key(ids[0]) in held and reader.key(ids[2]) in held
    for count in (3, 40):  # value by value, and the column-wise path
        grouped, mirrored_read = _read_both_ways(reader, ids[:count], features)
        _assert_equal(grouped, mirrored_read, features)
        assert mirrored_read[0][name][1] == -123.5


def test_a_mirror_without_its_triggers_is_ignored_and_emptied_by_prepare(on_a_copy):
    reader, features, ids, copy = on_a_copy
    table = reader.tables[0]
    with sqlite3.connect(copy) as conn:
        conn.execute(f'DROP TRIGGER "{triggers(table)[1]}"')  # e.g. Feast recreated its table
        name = _double_feature(conn, table)
        _upsert(conn, table, reader.key(ids[1]), name, 77.25)  # the mirror row is now stale
        assert mirrored(conn, reader.tables) == set(reader.tables) - {table}
    assert reader.read(ids[:3], features)[0][name][1] == 77.25
    with sqlite3.connect(copy) as conn:
        prepare(conn, table)
        assert conn.execute(f'SELECT count(*) FROM "{mirror(table)}"').fetchone()[0] == 0
        assert refresh(conn, table) > 0 and table in mirrored(conn, reader.tables)
    grouped, mirrored_read = _read_both_ways(reader, ids[:40], features)
    _assert_equal(grouped, mirrored_read, features)
    assert mirrored_read[0][name][1] == 77.25


def test_prepare_repairs_triggers_left_without_their_mirror(on_a_copy):
    """Someone dropped a mirror table: its triggers would fail every Feast write naming it, and
    the reader ignores the table; the next materialization's prepare() restores both."""
    reader, features, ids, copy = on_a_copy
    table = reader.tables[0]
    with sqlite3.connect(copy) as conn:
        conn.execute(f'DROP TABLE "{mirror(table)}"')
        name = _double_feature(conn, table)
        with pytest.raises(sqlite3.OperationalError, match="by_customer"):
            _upsert(conn, table, reader.key(ids[1]), name, 5.5)
        assert table not in mirrored(conn, reader.tables)
        prepare(conn, table)
        _upsert(conn, table, reader.key(ids[1]), name, 5.5)
        assert refresh(conn, table) > 0 and table in mirrored(conn, reader.tables)
    assert reader.read(ids[:3], features)[0][name][1] == 5.5
