"""`in_key_order`: rows sorted by (snapshot, customer number), by slicing sorted blocks where it can."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pyarrow as pa

from features.build import MAX_BLOCKS, in_key_order

DAY_US = 86_400_000_000


def _sorted_table(customers: int = 1000, snapshots: int = 3) -> pa.Table:
    """Rows in (as_of, cid) order, with a payload column that records the original row."""
    as_of = np.repeat(np.arange(snapshots, dtype=np.int64) * 30 * DAY_US + 19_000 * DAY_US, customers)
    cid = np.tile(np.arange(1, customers + 1, dtype=np.int32), snapshots)
    return pa.table(
        {
            "as_of": pa.array(as_of).cast(pa.timestamp("us", tz="UTC")),
            "cid": cid,
            "row": np.arange(len(cid)),
        }
    )


def test_sorted_blocks_in_any_order_come_back_as_slices():
    table = _sorted_table()
    cuts = [0, 400, 1100, 1900, 2500, table.num_rows]
    blocks = [table.slice(a, b - a) for a, b in pairwise(cuts)]
    shuffled = pa.concat_tables([blocks[i] for i in (3, 0, 4, 2, 1)]).combine_chunks()
    out = in_key_order(shuffled, "as_of")
    assert out["row"].to_pylist() == list(range(table.num_rows))
    assert out["row"].num_chunks == len(blocks)  # slices of the input, no copy


def test_rows_in_any_order_are_sorted():
    table = _sorted_table()
    rng = np.random.default_rng(0)
    shuffled = table.take(rng.permutation(table.num_rows))
    out = in_key_order(shuffled, "as_of")
    assert out["row"].to_pylist() == list(range(table.num_rows))
    assert out.equals(table)


def test_too_many_blocks_are_copied_in_order():
    table = _sorted_table(customers=MAX_BLOCKS, snapshots=2)
    swapped = np.arange(table.num_rows).reshape(-1, 2)[:, ::-1].ravel()  # every pair swapped
    out = in_key_order(table.take(swapped), "as_of")
    assert out.equals(table)
    assert out["row"].num_chunks == 1


def test_time_orders_before_the_customer_number():
    table = pa.table(
        {
            "as_of": pa.array([2 * DAY_US, DAY_US, 2 * DAY_US, DAY_US]).cast(pa.timestamp("us", tz="UTC")),
            "cid": pa.array([1, 9, 0, 3], pa.int32()),
        }
    )
    out = in_key_order(table, "as_of")
    assert out["cid"].to_pylist() == [3, 9, 0, 1]


def test_an_empty_table_stays_empty():
    table = _sorted_table().slice(0, 0)
    assert in_key_order(table, "as_of").num_rows == 0
