"""Data checks beyond the contract: duplicated files, outlier amounts, implausible dates.

Each check is a pure function of typed rows and the `validation` settings; it returns the problems
that refuse the data (a file loaded twice, a 1970 timestamp) or the warnings a user should read
(a refund of a million). Rows are named by their 1-based row number in the source, which the
caller passes as the frames' index + 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from core.config import Validation

MAX_EXAMPLES = 5
_DAY_US = 86_400 * 1_000_000


# --- exact duplicates ------------------------------------------------------------------------------


def duplicate_check(label: str, duplicate_of: pd.Series, settings: Validation) -> tuple[list[str], list[str]]:
    """Problems and warnings about rows that exactly repeat an earlier source row.

    `duplicate_of` holds, per row (index: source position), the source position of the first
    identical row, or -1. Below the share they are counted and kept: identical purchases in one
    second are real. Above it the table is refused: the usual cause is a file appended twice.
    """
    repeats = duplicate_of[duplicate_of >= 0]
    if repeats.empty:
        return [], []
    share = len(repeats) / len(duplicate_of)
    pairs = ", ".join(f"row {r} = row {int(f) + 1}" for r, f in _numbered(repeats))
    said = (
        f"{label}: {len(repeats):,} of {len(duplicate_of):,} rows ({share:.1%}) exactly repeat an earlier "
        f"row (every column equal); examples: {pairs}"
    )
    if share > settings.max_duplicate_share and len(repeats) >= settings.min_duplicate_rows:
        return [
            f"{said}. More than validation.max_duplicate_share ({settings.max_duplicate_share:.0%}): is "
            "the file loaded twice, or two overlapping exports concatenated? Remove the copies, or raise "
            "validation.max_duplicate_share if such repeats are real"
        ], []
    return [], [
        f"{said}; kept (at most {settings.max_duplicate_share:.0%} may repeat, or fewer than "
        f"{settings.min_duplicate_rows} rows)"
    ]


def first_copies(frame: pd.DataFrame) -> pd.Series:
    """Per row, the index of the first identical row when it repeats one, else -1."""
    if frame.empty:
        return pd.Series(-1, index=frame.index, dtype=np.int64)
    try:
        repeated = frame.duplicated(keep="first").to_numpy()
        if not repeated.any():
            return pd.Series(-1, index=frame.index, dtype=np.int64)
        hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:  # unhashable cells (lists): the contract check reports them
        return pd.Series(-1, index=frame.index, dtype=np.int64)
    positions = pd.Series(frame.index.to_numpy(), index=hashes)
    first = positions.groupby(level=0).transform("min").to_numpy()
    return pd.Series(np.where(repeated, first, -1), index=frame.index, dtype=np.int64)


# --- outlier amounts -------------------------------------------------------------------------------


def outlier_warning(label: str, amounts: pd.Series, settings: Validation) -> list[str]:
    """Amounts far outside the usual size, flagged with their rows and kept.

    The rule is relative to the median absolute non-zero amount, so it holds for cents or for
    invoices in the thousands alike; a factor of 1,000 leaves heavy but real tails alone (a big
    wholesale order) and catches typing errors and sentinel values (a refund of -1,000,000).
    """
    size = amounts.abs()
    nonzero = size[size > 0]
    if nonzero.empty:
        return []
    median = float(nonzero.median())
    limit = settings.outlier_factor * median
    far = amounts[size > limit]
    if far.empty:
        return []
    shown = ", ".join(f"row {r} ({v:,.2f})" for r, v in _numbered(far))
    return [
        f"{label}, column 'amount': {len(far):,} amounts are more than validation.outlier_factor "
        f"({settings.outlier_factor:g}) x the median absolute amount {median:,.2f} (beyond {limit:,.2f}); "
        f"examples: {shown}{' ...' if len(far) > MAX_EXAMPLES else ''}. They are kept: if they are errors "
        "(a misplaced decimal, a test refund), fix the source or drop them with a `where` filter"
    ]


# --- plausible dates -------------------------------------------------------------------------------


def date_problems(
    stamps: Mapping[str, pd.Series], labels: Mapping[str, str], settings: Validation
) -> list[str]:
    """Activity dated before `earliest`, or isolated from the rest by a long gap: refused by row.

    `stamps` maps a table to its `ts` (UTC, index: source position). Such rows stretch the snapshot
    grid over decades of nothing (a single 1970 row: 658 monthly snapshots instead of 22).
    """
    earliest = pd.Timestamp(settings.earliest, tz="UTC")
    problems = []
    for name, ts in stamps.items():
        early = ts[ts < earliest]
        if not early.empty:
            problems.append(
                f"{labels[name]}, column 'ts': {len(early):,} rows are dated before validation.earliest "
                f"({earliest.date()}): {_dated(early)}. A date of 1970-01-01 or 1900-01-01 is usually a "
                "missing value stored as zero: fix the source, drop the rows with a `where` filter, or "
                "set validation.earliest"
            )
    if problems or not stamps:
        return problems
    low, high = isolated_bounds(np.concatenate([_micros(ts) for ts in stamps.values()]), settings)
    for name, ts in stamps.items():
        micros = _micros(ts)
        cut = ts[(micros < low) | (micros > high)]
        if not cut.empty:
            problems.append(
                f"{labels[name]}, column 'ts': {len(cut):,} rows lie more than validation.max_gap_days "
                f"({settings.max_gap_days}) days away from the rest of the activity, which runs "
                f"{_day(low)} .. {_day(high)}: {_dated(cut)}. Fix their dates or drop them with a "
                "`where` filter; if the gap is real, raise validation.max_gap_days"
            )
    return problems


def isolated_bounds(micros: np.ndarray, settings: Validation) -> tuple[int, int]:
    """The first and last timestamp of the main body of activity (microseconds since the epoch).

    A gap longer than max_gap_days with at most max_isolated_share of all rows before (or after)
    it cuts those rows off; the widest such cut on each side is taken.
    """
    if len(micros) == 0:
        return 0, 0
    ordered = np.sort(micros)
    gaps = np.flatnonzero(np.diff(ordered) > settings.max_gap_days * _DAY_US)  # gap after position i
    allowed = settings.max_isolated_share * len(ordered)
    before = gaps[gaps + 1 <= allowed]
    after = gaps[len(ordered) - gaps - 1 <= allowed]
    low = ordered[before.max() + 1] if len(before) else ordered[0]
    high = ordered[after.min()] if len(after) else ordered[-1]
    return int(low), int(high)


def _micros(ts: pd.Series) -> np.ndarray:
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]").view("int64")


def _day(micros: int) -> str:
    return str(pd.Timestamp(micros, unit="us").date())


def _dated(ts: pd.Series) -> str:
    shown = ", ".join(f"row {r} ({v.isoformat(sep=' ')})" for r, v in _numbered(ts))
    return shown + (f" and {len(ts) - MAX_EXAMPLES:,} more" if len(ts) > MAX_EXAMPLES else "")


def _numbered(values: pd.Series) -> list[tuple[int, Any]]:
    """The first few values with their 1-based source row numbers (the index is 0-based)."""
    head = values.head(MAX_EXAMPLES)
    return list(zip((head.index.to_numpy(dtype=np.int64) + 1).tolist(), head.tolist(), strict=True))
