"""The monthly snapshot grid: the dates at which stages and features are computed (core.cutoffs)."""

from __future__ import annotations

from core.cutoffs import complete_cutoffs, data_end, snapshot_dates

__all__ = ["complete_cutoffs", "data_end", "snapshot_dates"]
