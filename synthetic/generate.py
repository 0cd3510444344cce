"""Seeded synthetic contract tables with learnable churn, journey stages and campaign uplift.

Each customer gets static latents at creation: engagement (lognormal, higher for referral and
organic sign-ups), value (lognormal, higher on better plans), a complaint-prone trait and an
app-versus-web habit. The world then moves in weekly steps (synthetic.dynamics):

- prospects visit, view products, open e-mails and now and then fill a cart, at rates that scale
  with engagement; each week they convert with a probability that rises with engagement and recent
  cart/checkout activity, and a share never converts (they stay in awareness/consideration);
- buyers order Poisson(value x engagement) times a week, each order with a checkout event and a
  lognormal amount whose mean scales with value; about 4% of orders are later refunded;
- engagement follows a random walk with a slight downward drift and each complaint pushes it
  down, so activity fades before churn; support contacts and complaints rise as engagement falls;
  engaged buyers write 4-5 star reviews and refer friends, unhappy ones write 1-2 star reviews;
- the weekly latent churn hazard is sigmoid(a - b log(engagement) + c recent complaints + d low
  value); after churn there are no more orders and only a trickle of e-mail opens and visits;
- every quarter (the first week of March, June, September and December, after the monthly data
  refresh) a random 30% of active buyers is targeted and half of them treated (the rest is
  a held-out control). How a treated customer responds depends on their state at the contact, as
  with real retention offers: a persuadable (lapsing: engagement below their own habit, but still
  buying) is won back with probability 0.6, a moderate customer (mid-frequency, not lapsing) with
  0.2: the customer orders within the week and does not churn for 8 weeks. A sure thing (buys
  often, not lapsing) and a lost cause (expected to buy less than once in 90 days, or engagement
  far below habit) do not respond, and a do-not-disturb customer (complained in about the last
  four weeks) leaves at the contact with probability 0.4. Everyone else carries on exactly as
  without the contact, so the effect on the 90-day no-purchase (churn) label is known:
  true_uplift x q for true_uplift >= 0 and true_uplift x (1 - q) below, with q the label's
  probability without a contact.

The truth table holds the latents and the latent conversion and churn times; campaign_truth holds
each campaign row's segment and true_uplift (the signed response probability).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthetic.dynamics import (
    DAY,
    RESPONSE,
    SEGMENTS,
    SIM_EVENTS,
    WEEK,
    Array,
    Population,
    SimResult,
    simulate,
)

GENDERS = ("female", "male", "other")
REGIONS = ("north", "south", "east", "west", "central")
CHANNELS = ("organic", "paid_search", "social", "referral", "email")
PLANS = ("basic", "standard", "premium")
CATEGORIES = ("electronics", "home", "fashion", "beauty", "sports", "books", "toys", "grocery")
EVENT_CHANNELS = ("web", "app", "email", "support")
# Channel of each simulated event family: 0 = web or app by the customer's habit, else fixed.
_FAMILY_CHANNEL = np.array([0, 0, 0, 0, 2, 2, 3, 3, 0, 0, 0])
_CHANNEL_LIFT = np.array([0.1, -0.1, -0.2, 0.3, 0.0])
_PLAN_VALUE = np.array([-0.25, 0.0, 0.35])
_REFUND_SHARE, _DISCOUNT_SHARE = 0.04, 0.25
MAX_CUSTOMERS = 9_999_999


def generate_tables(
    n_customers: int, seed: int, start: str = "2023-01-01", end: str = "2025-01-01"
) -> dict[str, pd.DataFrame]:
    """Generate customers, events, transactions, campaigns and the latent truth over [start, end).

    Keys: the contract tables customers, events, transactions and campaigns; truth (per
    customer) and campaign_truth (per campaign row), which are not contract tables.

    The same arguments always give identical frames: all randomness comes from one
    np.random.default_rng(seed). Times are UTC, rows sorted by (customer_id, ts). Raises
    ValueError for fewer than one customer, a non-integer seed or an end not after start.
    """
    start_us, span = _check_args(n_customers, seed, start, end)
    rng = np.random.default_rng(seed)
    pop, demo = _draw_population(n_customers, span, rng)
    sim = simulate(pop, span, rng, _campaign_weeks(start_us, span))
    ids = _make_ids("C", n_customers, 7)
    return {
        "customers": _customers_frame(ids, pop, demo, start_us),
        "events": _events_frame(sim, pop, ids, start_us, span, rng),
        "transactions": _transactions_frame(sim, pop, ids, start_us, span, rng),
        "campaigns": _campaigns_frame(sim, ids, start_us, span, rng),
        "truth": _truth_frame(ids, pop, sim, start_us),
        "campaign_truth": _campaign_truth_frame(sim, ids, start_us, span),
    }


def _check_args(n_customers: int, seed: int, start: str, end: str) -> tuple[int, int]:
    """Validate the arguments; return the start in epoch microseconds and the span in seconds."""
    for name, number in (("n_customers", n_customers), ("seed", seed)):
        if isinstance(number, bool) or not isinstance(number, int | np.integer):
            raise ValueError(f"{name} must be an integer, got {number!r}")
    if not 1 <= n_customers <= MAX_CUSTOMERS:
        raise ValueError(f"n_customers must be between 1 and {MAX_CUSTOMERS}, got {n_customers}")
    t0, t1 = _utc(start, "start"), _utc(end, "end")
    if t1 <= t0:
        raise ValueError(f"end ({t1}) must be after start ({t0})")
    span = int((t1 - t0).total_seconds())
    if span < DAY:
        raise ValueError(f"the span from start ({t0}) to end ({t1}) must be at least one day")
    return int(t0.value // 1_000), span


def _utc(text: str, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} is not a valid timestamp: {text!r}") from exc
    if ts is pd.NaT:
        raise ValueError(f"{name} is not a valid timestamp: {text!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _make_ids(prefix: str, n: int, width: int) -> Array:
    """Ids prefix + zero-padded 1..n (object array of str), built without a Python loop."""
    digits = np.strings.zfill(np.arange(1, n + 1).astype(str), width)
    return np.strings.add(prefix, digits).astype(object)


def _created_times(n: int, span: int, rng: np.random.Generator) -> Array:
    """~35% sign up in the first 60 days, the rest spread over the span up to end - 30 days."""
    late_end = span - min(30 * DAY, span // 2)
    early_end = min(60 * DAY, late_end)
    early = rng.random(n) < 0.35
    return (np.where(early, early_end, late_end) * rng.random(n)).astype(np.int64)


def _draw_population(n: int, span: int, rng: np.random.Generator) -> tuple[Population, dict[str, Array]]:
    """Demographics and the static latents that drive the dynamics."""
    created = _created_times(n, span, rng)
    age = np.round(np.clip(rng.normal(41.0, 13.0, n), 18.0, 80.0))
    demo: dict[str, Array] = {
        "age": age,
        "gender": rng.choice(3, n, p=[0.49, 0.48, 0.03]),
        "region": rng.choice(5, n, p=[0.22, 0.2, 0.2, 0.18, 0.2]),
        "acquisition_channel": rng.choice(5, n, p=[0.35, 0.25, 0.2, 0.1, 0.1]),
        "plan": rng.choice(3, n, p=[0.5, 0.35, 0.15]),
    }
    log_eng0 = rng.normal(0.0, 0.5, n) + _CHANNEL_LIFT[demo["acquisition_channel"]]
    log_value = rng.normal(0.0, 0.45, n) + _PLAN_VALUE[demo["plan"]]
    pop = Population(
        created=created,
        log_eng0=log_eng0 - 0.004 * (age - 41.0),
        log_value=log_value,
        prone=rng.random(n) < 0.07,
        never_convert=rng.random(n) < 0.2,
        app_share=np.clip(rng.beta(2.0, 2.0, n) + (40.0 - age) / 100.0, 0.02, 0.98),
    )
    return pop, demo


def _campaign_weeks(start_us: int, span: int) -> frozenset[int]:
    """Quarterly campaigns: the first simulated week starting on or after 1 March, June, September
    and December (campaigns follow the monthly data refresh, so the newest snapshot is days old)."""
    t0 = pd.Timestamp(start_us, unit="us", tz="UTC")
    months = pd.date_range(t0.normalize(), t0 + pd.Timedelta(seconds=span), freq="MS")
    starts = months[months.month.isin([3, 6, 9, 12]) & (months >= t0)]
    return frozenset(int(-(-(d - t0).total_seconds() // WEEK)) for d in starts)


def _to_utc(start_us: int, seconds: Array) -> pd.DatetimeIndex:
    """Seconds since the span start (-1 = missing) as datetime64[us, UTC]."""
    us = np.where(seconds >= 0, start_us + seconds * 1_000_000, np.iinfo(np.int64).min)
    return pd.DatetimeIndex(us.astype("datetime64[us]")).tz_localize("UTC")


def _sort_order(cust: Array, ts: Array, span: int) -> Array:
    """Row order by (customer, time); one int64 key so a single stable argsort does it."""
    return np.argsort(cust.astype(np.int64) * span + ts, kind="stable")


def _pick(labels: tuple[str, ...], codes: Array) -> Array:
    return np.array(labels, dtype=object)[codes]


def _customers_frame(ids: Array, pop: Population, demo: dict[str, Array], start_us: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ids,
            "created_at": _to_utc(start_us, pop.created),
            "age": demo["age"].astype(np.float64),
            "gender": _pick(GENDERS, demo["gender"]),
            "region": _pick(REGIONS, demo["region"]),
            "acquisition_channel": _pick(CHANNELS, demo["acquisition_channel"]),
            "plan": _pick(PLANS, demo["plan"]),
        },
        copy=False,
    )


def _events_frame(
    sim: SimResult, pop: Population, ids: Array, start_us: int, span: int, rng: np.random.Generator
) -> pd.DataFrame:
    order = _sort_order(sim.ev_cust, sim.ev_ts, span)
    cust, kind, rating = sim.ev_cust[order], sim.ev_type[order], sim.ev_rating[order]
    channel = _FAMILY_CHANNEL[kind]
    on_app = (channel == 0) & (rng.random(order.size) < pop.app_share[cust])
    return pd.DataFrame(
        {
            "customer_id": ids[cust],
            "ts": _to_utc(start_us, sim.ev_ts[order]),
            "event_type": _pick(SIM_EVENTS, kind),
            "channel": _pick(EVENT_CHANNELS, np.where(on_app, 1, channel)),
            "value": np.where(rating > 0, rating, np.nan),
        },
        copy=False,
    )


def _order_lines(cust: Array, log_value: Array, rng: np.random.Generator) -> dict[str, Array]:
    """Amount paid (after the discount), quantity and discount (money off) of each order."""
    n = cust.size
    value = np.exp(log_value[cust])
    gross = np.maximum(32.0 * value * rng.lognormal(-0.18, 0.6, n), 2.0)
    discounted = rng.random(n) < _DISCOUNT_SHARE
    discount = np.round(np.where(discounted, gross * rng.uniform(0.05, 0.3, n), 0.0), 2)
    return {
        "amount": np.round(gross - discount, 2),
        "quantity": (1 + rng.poisson(0.3 + 0.4 * value)).astype(np.float64),
        "discount": discount,
    }


def _categories(cust: Array, n_customers: int, rng: np.random.Generator) -> Array:
    """Each customer has a first and second favourite category; 20% of orders go elsewhere."""
    n_cat = len(CATEGORIES)
    first = rng.integers(0, n_cat, n_customers)
    second = (first + rng.integers(1, n_cat, n_customers)) % n_cat
    u = rng.random(cust.size)
    anywhere = rng.integers(0, n_cat, cust.size)
    return np.where(u < 0.55, first[cust], np.where(u < 0.8, second[cust], anywhere))


def _orders(sim: SimResult, pop: Population, span: int, rng: np.random.Generator) -> dict[str, Array]:
    """Order rows in (customer, time) order, numbered O000000001... in that order."""
    order = _sort_order(sim.ord_cust, sim.ord_ts, span)
    cust = sim.ord_cust[order]
    return {
        "cust": cust,
        "ts": sim.ord_ts[order],
        **_order_lines(cust, pop.log_value, rng),
        "category": _categories(cust, pop.size, rng),
        "order": np.arange(cust.size),
    }


def _refunds(orders: dict[str, Array], span: int, rng: np.random.Generator) -> dict[str, Array]:
    """Full (60%) or partial refunds of ~4% of orders, 1-30 days later, kept if before the end."""
    pick = np.flatnonzero(rng.random(orders["ts"].size) < _REFUND_SHARE)
    ts = orders["ts"][pick] + rng.integers(DAY, 30 * DAY, pick.size)
    pick, ts = pick[ts < span], ts[ts < span]
    full = rng.random(pick.size) < 0.6
    share = np.where(full, 1.0, rng.uniform(0.2, 0.9, pick.size))
    quantity = orders["quantity"][pick]
    return {
        "cust": orders["cust"][pick],
        "ts": ts,
        "amount": -np.maximum(np.round(orders["amount"][pick] * share, 2), 0.01),
        "quantity": -np.where(full, quantity, np.maximum(1.0, np.floor(quantity * share))),
        "discount": np.zeros(pick.size),
        "category": orders["category"][pick],
        "order": orders["order"][pick],
    }


def _transactions_frame(
    sim: SimResult, pop: Population, ids: Array, start_us: int, span: int, rng: np.random.Generator
) -> pd.DataFrame:
    orders = _orders(sim, pop, span, rng)
    refunds = _refunds(orders, span, rng)
    rows = {key: np.concatenate([orders[key], refunds[key]]) for key in orders}
    order = _sort_order(rows["cust"], rows["ts"], span)
    order_ids = _make_ids("O", orders["ts"].size, 9)
    return pd.DataFrame(
        {
            "customer_id": ids[rows["cust"][order]],
            "ts": _to_utc(start_us, rows["ts"][order]),
            "amount": rows["amount"][order],
            "order_id": order_ids[rows["order"][order]],
            "quantity": rows["quantity"][order],
            "category": _pick(CATEGORIES, rows["category"][order]),
            "discount": rows["discount"][order],
        },
        copy=False,
    )


def _campaigns_frame(
    sim: SimResult, ids: Array, start_us: int, span: int, rng: np.random.Generator
) -> pd.DataFrame:
    """One row per targeted customer and campaign; controls were not contacted and cost nothing."""
    order = _sort_order(sim.camp_cust, sim.camp_ts, span)
    treated = sim.camp_treated[order]
    cost = np.where(treated, np.round(rng.uniform(1.0, 5.0, order.size), 2), 0.0)
    return pd.DataFrame(
        {
            "customer_id": ids[sim.camp_cust[order]],
            "ts": _to_utc(start_us, sim.camp_ts[order]),
            "campaign_id": _campaign_ids(sim.camp_week[order], start_us),
            "treated": treated.astype(bool),
            "cost": cost,
        },
        copy=False,
    )


def _campaign_ids(week: Array, start_us: int) -> Array:
    """retention-<date of the campaign week's first day>."""
    weeks = np.unique(week)
    dates = _to_utc(start_us, weeks * WEEK).strftime("retention-%Y-%m-%d").to_numpy(dtype=object)
    return dates[np.searchsorted(weeks, week)]


def _truth_frame(ids: Array, pop: Population, sim: SimResult, start_us: int) -> pd.DataFrame:
    """Latents and latent event times; converted_at is the first order, NaT for never-buyers."""
    never = np.iinfo(np.int64).max
    first = np.full(pop.size, never, dtype=np.int64)
    np.minimum.at(first, sim.ord_cust, sim.ord_ts)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "engagement": np.exp(pop.log_eng0),
            "value": np.exp(pop.log_value),
            "converted_at": _to_utc(start_us, np.where(first == never, -1, first)),
            "churned_at": _to_utc(start_us, sim.churned_at),
        },
        copy=False,
    )


def _campaign_truth_frame(sim: SimResult, ids: Array, start_us: int, span: int) -> pd.DataFrame:
    """Each campaign row's response segment and true_uplift, in the campaigns table's row order."""
    order = _sort_order(sim.camp_cust, sim.camp_ts, span)
    segment = sim.camp_segment[order]
    return pd.DataFrame(
        {
            "customer_id": ids[sim.camp_cust[order]],
            "campaign_id": _campaign_ids(sim.camp_week[order], start_us),
            "segment": _pick(SEGMENTS, segment),
            "true_uplift": RESPONSE[segment].astype(np.float64),
        },
        copy=False,
    )
