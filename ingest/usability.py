"""A data usability report of one mapped source, in the spirit of Dynamics 365's data-quality page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from core.cutoffs import NotEnoughHistory, SplitRules
from core.schema import EVENT_FAMILIES, OTHER_EVENT
from ingest.mapping import ACTIVITY, SourceMapping
from ingest.validate import Drop, ValidationReport

MISSING_WARN = 0.2  # a column this empty hardly informs a model: say so
DROP_WARN = 0.1  # dropping this share of a table's rows deserves a look at the mapping
REPEAT_WARN = 0.05  # below this share of repeat buyers "no purchase in the window" is nearly always true
CONSIDERATION = ("product_view", "cart", "checkout")
ADVOCACY = ("referral", "review")


@dataclass
class UsabilityReport:
    """What a mapped source holds and supports; `blocking` problems make it unusable as it is."""

    source: str
    prediction_window_days: int
    description: str = ""
    single_snapshot: bool = False
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    customers: int = 0
    span: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)
    missing_share: dict[str, dict[str, float]] = field(default_factory=dict)
    drops: list[Drop] = field(default_factory=list)
    event_types: dict[str, int] = field(default_factory=dict)
    supports: dict[str, str] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)
    demographics: dict[str, str] = field(default_factory=dict)
    blocking: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.blocking

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form, written beside the terminal text."""
        data = {key: value for key, value in vars(self).items() if key != "drops"}
        data["drops"] = [
            {"table": d.table, "reason": d.reason, "rows": int(d.rows), "examples": [*d.examples]}
            for d in self.drops
        ]
        data["usable"] = self.ok
        return data

    def lines(self) -> list[str]:
        """The report as terminal lines, most important first."""
        lines = [f"source {self.source}: {self.description}".rstrip(": ")]
        lines += _row_lines(self) + _history_lines(self) + _missing_lines(self.missing_share)
        lines += [_drop_line(drop) for drop in self.drops] + _event_lines(self)
        lines += [f"supports {what}: {answer}" for what, answer in self.supports.items()]
        lines += [f"BLOCKING: {problem}" for problem in self.blocking]
        lines += [f"warning: {warning}" for warning in self.warnings]
        lines += [f"recommendation: {advice}" for advice in self.recommendations]
        verdict = "usable" if self.ok else f"NOT usable: {len(self.blocking)} blocking problem(s)"
        return [*lines, f"verdict: {verdict}"]


def usability_report(
    clean: dict[str, pd.DataFrame],
    report: ValidationReport,
    source_drops: list[Drop],
    prediction_window_days: int,
    mapping: SourceMapping,
    *,
    labels: pd.DataFrame | None = None,
    rules: SplitRules | None = None,
    stage_horizon_days: int = 30,
) -> UsabilityReport:
    """Rows, customers, span, missing values, drops, history, event coverage, and what follows.

    The history verdict comes from the planner training uses (core.cutoffs, with `rules`, the
    configuration's split settings), so "usable" means `journey train` finds a split.
    """
    out = UsabilityReport(
        source=mapping.name,
        description=mapping.description,
        single_snapshot=mapping.single_snapshot,
        prediction_window_days=prediction_window_days,
        rows=_rows(report, source_drops),
        customers=len(clean["customers"]),
        span=_span(clean),
        missing_share=_missing(clean),
        drops=[*source_drops, *report.drops],
        event_types=_event_counts(clean),
        labels=_label_stats(labels, mapping),
        demographics={d.name: d.kind for d in mapping.demographics},
    )
    windows = {"churn": prediction_window_days, "stage": stage_horizon_days}
    out.history = _history(clean, out.span, windows, mapping, rules or SplitRules())
    out.supports = _supports(clean, out, mapping)
    out.blocking = _blocking(clean, out, mapping)
    out.warnings = [*report.warnings, *_warnings(clean, out, mapping)]
    out.recommendations = _recommendations(out, mapping)
    return out


def blocked_report(
    mapping: SourceMapping, problems: list[str], source_drops: list[Drop], prediction_window_days: int
) -> UsabilityReport:
    """The report of a source that could not be read or validated: its problems block it."""
    return UsabilityReport(
        source=mapping.name,
        description=mapping.description,
        single_snapshot=mapping.single_snapshot,
        prediction_window_days=prediction_window_days,
        drops=list(source_drops),
        demographics={d.name: d.kind for d in mapping.demographics},
        blocking=list(problems),
        recommendations=[
            f"fix the mapping (configs/sources/{mapping.name}.yaml) or the data named above; "
            "docs/sources.md describes every key"
        ],
    )


# --- measurements ---------------------------------------------------------------------------------


def _rows(report: ValidationReport, source_drops: list[Drop]) -> dict[str, dict[str, int]]:
    """Per table: rows read from the source, rows after the mapping's rules, rows kept by validation."""
    dropped: dict[str, int] = {}
    for drop in source_drops:
        dropped[drop.table] = dropped.get(drop.table, 0) + drop.rows
    return {
        name: {"source": rows + dropped.get(name, 0), "mapped": rows, "kept": report.rows_out.get(name, 0)}
        for name, rows in report.rows_in.items()
    }


def _activity(clean: dict[str, pd.DataFrame]) -> list[pd.Series]:
    return [clean[name]["ts"] for name in ACTIVITY if name in clean and len(clean[name])]


def _span(clean: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """First and last dated row of the activity tables (else of customers.created_at)."""
    stamps = _activity(clean)
    measured = " and ".join(n for n in ACTIVITY if n in clean and len(clean[n]))
    if not stamps:
        stamps, measured = [clean["customers"]["created_at"]], "customers.created_at (no activity tables)"
    start, end = min(s.min() for s in stamps), max(s.max() for s in stamps)
    if pd.isna(start):
        return {}
    days = (end - start) / pd.Timedelta(days=1)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "days": round(days, 1),
        "measured_on": measured,
    }


def _missing(clean: dict[str, pd.DataFrame]) -> dict[str, dict[str, float]]:
    return {
        name: {str(c): round(float(frame[c].isna().mean()), 4) for c in frame.columns}
        for name, frame in clean.items()
        if len(frame)
    }


def _event_counts(clean: dict[str, pd.DataFrame]) -> dict[str, int]:
    events = clean.get("events")
    if events is None or not len(events):
        return {}
    counts = events["event_type"].value_counts()
    return {family: int(counts.get(family, 0)) for family in (*EVENT_FAMILIES, OTHER_EVENT)}


def _orders(clean: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Purchases: positive lines, one order per customer and timestamp (the contract's rule)."""
    tx = clean.get("transactions")
    if tx is None or not len(tx):
        return pd.DataFrame({"customer_id": [], "ts": []})
    return tx.loc[tx["amount"] > 0, ["customer_id", "ts"]].drop_duplicates()


def _history(
    clean: dict[str, pd.DataFrame],
    span: dict[str, Any],
    windows: dict[str, int],
    mapping: SourceMapping,
    rules: SplitRules,
) -> dict[str, Any]:
    """The split training will use for each task (or why none fits), and who can be labelled."""
    window = windows["churn"]
    if mapping.single_snapshot:
        return {"single_snapshot": True, "enough": False, "splits": {}}
    orders = _orders(clean)
    per_customer = orders.groupby("customer_id")["ts"].agg(["min", "size"])
    splits: dict[str, dict[str, Any]] = {}
    first, newest = (pd.Timestamp(span["start"]), pd.Timestamp(span["end"])) if span else (None, None)
    for task, days in windows.items():
        if first is None or newest is None:
            splits[task] = {"window_days": days, "problem": "no dated activity"}
            continue
        try:
            plan = rules.plan_for_span(first, newest, days)
            splits[task] = {"window_days": days, "mode": plan.mode, "plan": plan.describe()}
        except NotEnoughHistory as err:
            splits[task] = {"window_days": days, "problem": str(err)}
        splits[task]["longest_window_days"] = rules.longest(first, newest)
    churn_plan = splits.get("churn", {})
    # the newest moment whose label window [t, t + window) closes inside the data
    last_cutoff = newest - pd.Timedelta(days=window) if newest is not None and len(orders) else None
    enough = int((per_customer["min"] <= last_cutoff).sum()) if last_cutoff is not None else 0
    active = pd.concat([clean[n]["customer_id"] for n in ACTIVITY if n in clean]).nunique()
    return {
        "span_days": span.get("days", 0.0),
        "enough": "mode" in churn_plan,
        "stage_enough": "mode" in splits.get("stage", {}),
        "splits": splits,
        "customers_with_activity": int(active),
        "buyers": len(per_customer),
        "repeat_buyers": int((per_customer["size"] >= 2).sum()),
        "orders": len(orders),
        "refund_lines": int((clean["transactions"]["amount"] < 0).sum()) if "transactions" in clean else 0,
        "customers_with_enough_history": enough,
    }


def _label_stats(labels: pd.DataFrame | None, mapping: SourceMapping) -> dict[str, Any]:
    label = mapping.snapshot_label
    if labels is None or label is None:
        return {}
    values = labels[label.name]
    return {
        "name": label.name,
        "as_of": label.as_of.isoformat(),
        "rows": len(labels),
        "positive_share": round(float(values.mean()), 4) if len(values) else None,
        "classes": sorted(int(v) for v in values.unique()),
    }


# --- judgements ------------------------------------------------------------------------------------


def _supports(clean: dict[str, pd.DataFrame], out: UsabilityReport, mapping: SourceMapping) -> dict[str, str]:
    """Feature families and labels this source can feed, each with the reason."""
    covered = [f for f, n in out.event_types.items() if n and f != OTHER_EVENT]
    tx_rows, h = out.rows.get("transactions", {}).get("kept", 0), out.history
    churn = _churn_support(out, mapping)
    return {
        "behavioural features": f"yes: {len(covered)} event families ({', '.join(covered)})"
        if covered
        else "no: no events",
        "transactional features": f"yes: {tx_rows:,} lines, {h.get('orders', 0):,} orders, "
        f"{h.get('refund_lines', 0):,} refund lines"
        if tx_rows
        else "no: no transactions",
        "demographic features": f"yes: {', '.join(out.demographics) or 'none declared'}, plus tenure "
        "since created_at",
        "churn label": churn,
        "next_stage label": _split_support(h, "stage") if _activity(clean) else "no: no dated activity",
        "consideration stage": "yes"
        if any(out.event_types.get(f) for f in CONSIDERATION)
        else "no: no product_view, cart or checkout events",
        "snapshot churn label": _snapshot_support(out),
    }


def _churn_support(out: UsabilityReport, mapping: SourceMapping) -> str:
    h = out.history
    if mapping.single_snapshot:
        return "no: a single snapshot has no purchases after any cutoff"
    if not h.get("buyers"):
        return "no: no purchases"
    if not h.get("enough"):
        return _split_support(h, "churn")
    if h["repeat_buyers"] / h["buyers"] < REPEAT_WARN:
        return f"degenerate: only {h['repeat_buyers']:,} of {h['buyers']:,} buyers buy more than once"
    return (
        f"{_split_support(h, 'churn')}; {h['customers_with_enough_history']:,} customers with enough history"
    )


def _split_support(h: dict[str, Any], task: str) -> str:
    """yes with the split training will use, or no with the longest window each mode supports."""
    plan = h.get("splits", {}).get(task, {})
    if "mode" in plan:
        return f"yes, {plan['plan']}"
    longest = plan.get("longest_window_days", {})
    modes = "; ".join(f"{m} up to {d} days" if d else f"{m}: none" for m, d in longest.items())
    return f"no: no split fits a {plan.get('window_days')}-day window ({modes or 'no dated activity'})"


def _snapshot_support(out: UsabilityReport) -> str:
    if not out.labels:
        return "no: no snapshot_label declared"
    share = out.labels["positive_share"]
    shown = f"{share:.1%}" if share is not None else "n/a"
    return f"yes: {out.labels['rows']:,} customers, {shown} positive, as of {out.labels['as_of']} (nominal)"


def _blocking(clean: dict[str, pd.DataFrame], out: UsabilityReport, mapping: SourceMapping) -> list[str]:
    problems = [] if out.customers else ["no customers are left after validation"]
    if mapping.single_snapshot:
        if not out.labels:
            problems.append("a single-snapshot source needs a snapshot_label: there is nothing else to learn")
        elif len(out.labels["classes"]) < 2:
            problems.append(
                f"snapshot label {out.labels['name']!r} has one class only: {out.labels['classes']}"
            )
        return problems
    if not len(clean.get("transactions", ())):
        problems.append("no transactions: churn labels and the purchase stages need purchases")
    elif not out.history["enough"]:
        plan = out.history["splits"].get("churn", {})
        problems.append(
            f"no training split fits the {plan.get('window_days')}-day churn window on "
            f"{out.history['span_days']:.0f} days of history: {plan.get('problem', 'no dated activity')}"
        )
    return problems


def _warnings(clean: dict[str, pd.DataFrame], out: UsabilityReport, mapping: SourceMapping) -> list[str]:
    warnings = [
        f"{table}.{column}: {share:.1%} of values missing"
        for table, shares in out.missing_share.items()
        for column, share in shares.items()
        if share >= MISSING_WARN
    ]
    for drop in out.drops:
        source = out.rows.get(drop.table, {}).get("source", 0)
        if source and drop.rows / source >= DROP_WARN:
            warnings.append(f"{drop.rows / source:.1%} of {drop.table} rows dropped: {drop.reason}")
    warnings += _transaction_warnings(clean, mapping.zero_amount_orders)
    h = out.history
    if not mapping.single_snapshot and h.get("buyers") and h["repeat_buyers"] / h["buyers"] < REPEAT_WARN:
        warnings.append(
            f"only {h['repeat_buyers']:,} of {h['buyers']:,} buyers buy more than once: the churn label "
            "('no purchase in the next window') is almost always 1"
        )
    if mapping.single_snapshot:
        warnings.append(
            "single snapshot: no dated activity, so no behavioural or transactional features, no rolling "
            "cutoffs and no out-of-time validation"
        )
    return warnings


def _transaction_warnings(clean: dict[str, pd.DataFrame], zero_amount_orders: bool) -> list[str]:
    tx = clean.get("transactions")
    zero = int((tx["amount"] == 0).sum()) if tx is not None else 0
    if zero and zero_amount_orders:
        return [f"{zero:,} transactions have amount 0: counted as purchases (`zero_amounts: purchase`)"]
    if not zero:
        return []
    return [
        f"{zero:,} transactions have amount 0: neither purchases nor refunds (set `zero_amounts: purchase` "
        "in the transactions mapping to count them as purchases: free samples, orders paid by voucher)"
    ]


def _recommendations(out: UsabilityReport, mapping: SourceMapping) -> list[str]:
    advice = []
    h = out.history
    if mapping.single_snapshot:
        advice.append(
            "train a one-snapshot classifier on the snapshot label with the demographic attributes; "
            "for rolling churn and next-stage models add dated history (billing, usage or support rows)"
        )
    elif h.get("buyers") and not h["enough"]:
        longest = h["splits"].get("churn", {}).get("longest_window_days", {})
        best = max(longest.values(), default=0)
        advice.append(
            f"shorten labels.prediction_window_days to at most {best} (the longest window any split "
            f"supports on this history) or add older data"
            if best
            else "add older data: no label window fits this history"
        )
    if "events" in mapping.absent and not mapping.single_snapshot:
        advice.append(
            "add web, e-mail or support events to get behavioural features and the consideration stage"
        )
    if "transactions" in mapping.absent and not mapping.single_snapshot:
        advice.append("map purchases as transactions: churn is defined by them")
    if out.event_types.get(OTHER_EVENT):
        advice.append(f"map the event types counted as {OTHER_EVENT!r} in the mapping's event_types")
    if "degenerate" in out.supports.get("churn label", ""):
        advice.append("use the next_stage (conversion) label on this source rather than churn")
    for drop in out.drops:
        source = out.rows.get(drop.table, {}).get("source", 0)
        if source and drop.rows / source >= DROP_WARN:
            advice.append(f"check why {drop.rows:,} {drop.table} rows fail: {drop.reason}")
    return advice


# --- terminal text -------------------------------------------------------------------------------------


def _row_lines(out: UsabilityReport) -> list[str]:
    lines = [
        f"{name}: {r['source']:,} rows read, {r['mapped']:,} after mapping rules, {r['kept']:,} kept"
        for name, r in out.rows.items()
    ]
    return lines


def _history_lines(out: UsabilityReport) -> list[str]:
    lines = []
    if out.span:
        lines.append(
            f"time span: {out.span['start'][:10]} .. {out.span['end'][:10]} ({out.span['days']:.0f} days, "
            f"on {out.span['measured_on']})"
        )
    h = out.history
    if "span_days" in h:
        for task, plan in h["splits"].items():
            what = f"{task} split ({plan['window_days']}-day window)"
            longest = plan.get("longest_window_days", {})
            lines.append(
                f"{what}: {plan['plan']}"
                if "mode" in plan
                else f"{what}: NONE FITS ({', '.join(f'{m} up to {d} days' for m, d in longest.items())})"
            )
        lines.append(
            f"buyers {h['buyers']:,}, repeat buyers {h['repeat_buyers']:,}, customers with enough "
            f"history {h['customers_with_enough_history']:,}, with any activity "
            f"{h['customers_with_activity']:,}"
        )
    if out.labels:
        lines.append(f"snapshot label: {_snapshot_support(out).removeprefix('yes: ')}")
    return lines


def _missing_lines(shares: dict[str, dict[str, float]]) -> list[str]:
    parts = [f"{t}.{c} {s:.1%}" for t, cols in shares.items() for c, s in cols.items() if s > 0]
    return [f"missing values: {', '.join(parts)}" if parts else "missing values: none"]


def _drop_line(drop: Drop) -> str:
    shown = f" (e.g. {', '.join(drop.examples)})" if drop.examples else ""
    return f"dropped {drop.rows:,} {drop.table} rows: {drop.reason}{shown}"


def _event_lines(out: UsabilityReport) -> list[str]:
    if not out.event_types:
        return ["event types: no events"]
    seen = [f"{f} {n:,}" for f, n in out.event_types.items() if n]
    unseen = [f for f, n in out.event_types.items() if not n and f != OTHER_EVENT]
    return [f"event types: {', '.join(seen)}", f"event families not covered: {', '.join(unseen) or 'none'}"]
