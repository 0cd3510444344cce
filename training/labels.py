"""Labels at cutoffs (SPEC section 4): churn of active buyers and the stage a horizon later."""

from __future__ import annotations

import ibis
import pandas as pd
from ibis.expr.types import Table

from core.config import Settings
from core.schema import ACTIVE_STAGES
from features.stages import known_grid, stage_at
from features.tables import SourceTables, snapshot_table


def churn_labels(stages: Table, src: SourceTables, cutoffs: list[pd.Timestamp], window_days: int) -> Table:
    """churn = 1 when an active buyer at t makes no purchase in [t, t + window).

    A purchase exactly at t counts as future: the stage at t only sees data strictly before t.
    """
    cut = snapshot_table(cutoffs, "cutoff")
    active = stages.filter(stages.stage.isin(list(ACTIVE_STAGES)))
    grid = active.join(cut, active.as_of == cut.cutoff).select("customer_id", "as_of")
    o = src.orders
    j = grid.join(
        o,
        [
            grid.customer_id == o.customer_id,
            o.ts >= grid.as_of,
            o.ts < grid.as_of + ibis.interval(days=window_days),
        ],
        how="left",
    )
    agg = j.group_by(["customer_id", "as_of"]).aggregate(future_orders=j.ts.count())
    return agg.select("customer_id", "as_of", churn=(agg.future_orders == 0).cast("int64"))


def stage_labels(src: SourceTables, cutoffs: list[pd.Timestamp], settings: Settings) -> Table:
    """next_stage = the stage at t + stage_horizon_days, for every customer known at t."""
    horizon = ibis.interval(days=settings.labels.stage_horizon_days)
    grid = known_grid(src.customers, snapshot_table(cutoffs, "as_of"))
    later = grid.select("customer_id", as_of=grid.as_of + horizon)
    dates = [t + pd.Timedelta(days=settings.labels.stage_horizon_days) for t in cutoffs]
    staged = stage_at(later, dates, src.orders, src.events, settings.stages, history=src.stage_history)
    return staged.select("customer_id", as_of=staged.as_of - horizon, next_stage=staged.stage)
