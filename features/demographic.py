"""Demographic features in Ibis: declared attributes and tenure."""

from __future__ import annotations

from collections.abc import Sequence

from ibis.expr.types import Table

from core.config import Demographic
from features.windows import days_since, epoch_day, keys


def demographic_features(grid: Table, customers: Table, declared: Sequence[Demographic]) -> Table:
    """Declared attributes (numeric as float, categorical as string) and days since first contact."""
    j = grid.join(customers, "customer_id")
    attrs = {d.name: j[d.name].cast("float64" if d.kind == "numeric" else "string") for d in declared}
    return j.select(*keys(grid), **attrs, tenure_days=days_since(epoch_day(j.as_of), epoch_day(j.created_at)))
