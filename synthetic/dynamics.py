"""Weekly latent dynamics behind the synthetic tables (see synthetic.generate for the story)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from core.schema import EVENT_FAMILIES

Array = npt.NDArray[Any]

HOUR = 3_600
DAY = 24 * HOUR
WEEK = 7 * DAY

# The event families of the contract a shop without subscriptions produces, in the contract's order
# (the rate columns below and the _CART... indices follow it).
SIM_EVENTS: tuple[str, ...] = tuple(f for f in EVENT_FAMILIES if not f.startswith("subscription_"))
_CART, _CHECKOUT, _SUPPORT, _COMPLAINT, _REVIEW, _REFERRAL, _LOGIN = 2, 3, 6, 7, 8, 9, 10
PROSPECT, BUYER, CHURNED = 0, 1, 2

# Weekly event rates at engagement 1; rows are PROSPECT, BUYER, CHURNED (a trickle of e-mail).
# Buyers' checkouts come one per order, so their free-standing checkout rate is zero.
_BASE_RATES = np.array(
    [
        [0.34, 0.38, 0.04, 0.010, 0.26, 0.04, 0.007, 0.001, 0.0, 0.0, 0.03],
        [0.42, 0.46, 0.10, 0.0, 0.27, 0.07, 0.035, 0.009, 0.025, 0.009, 0.21],
        [0.02, 0.0, 0.0, 0.0, 0.06, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    ]
)
# Rate ~ engagement**exponent: support and complaints rise as engagement falls (dissatisfaction),
# referrals need high engagement (advocacy).
_EXP_LEVELS = np.array([-0.7, 0.5, 1.0, 1.5])
_EXP_INDEX = np.array([2, 2, 2, 2, 1, 2, 0, 0, 1, 3, 2])

ORDER_RATE = 0.23  # weekly orders of a buyer at engagement 1 and value 1
DRIFT, WALK_SD, COMPLAINT_HIT = -0.01, 0.12, 0.15  # log-engagement random walk
# Hazard logit: a - b log(engagement) + e (drop below the customer's habit) + c complaints
# - d log(value); the habit is a slow moving average of log engagement.
CHURN_A, CHURN_B, CHURN_C, CHURN_D, CHURN_E = -6.4, 1.2, 0.8, 0.8, 3.5
HABIT_RATE = 0.08
CONV_A, CONV_B, CONV_C = -3.0, 1.0, 0.8  # weekly conversion logit coefficients
CAMPAIGN_SHARE, CAMPAIGN_WEEKS = 0.30, 8
# Campaign response by the customer's state at the contact (synthetic.generate tells the story).
# A treated customer responds with probability |RESPONSE[segment]|: a positive responder is won
# back (an order within the week, no churn for CAMPAIGN_WEEKS weeks), a negative one leaves at
# the contact. Non-responders carry on exactly as if not contacted.
SEGMENTS = ("persuadable", "moderate", "sure_thing", "lost_cause", "do_not_disturb")
RESPONSE = np.array([0.6, 0.2, 0.0, 0.0, -0.4])
WINDOW_WEEKS = 13  # the churn label's 90 days
LOST_ORDERS, SURE_ORDERS = 1.0, 4.0  # expected orders over the window at today's rates
LAPSE_GAP, LOST_GAP = 0.25, 0.8  # engagement below the customer's habit (log scale)
UPSET = 0.3  # complaint memory (decays 0.75 a week): a complaint in about the last four weeks


@dataclass(frozen=True)
class Population:
    """Per-customer static latents; times are whole seconds since the span start."""

    created: Array
    log_eng0: Array
    log_value: Array
    prone: Array
    never_convert: Array
    app_share: Array

    @property
    def size(self) -> int:
        """Number of customers."""
        return int(self.created.size)


@dataclass
class SimState:
    """Mutable per-customer state carried from one week to the next."""

    log_eng: Array
    habit: Array
    converted: Array
    churned_at: Array
    complaints: Array
    carts: Array
    protected_until: Array

    @classmethod
    def start(cls, pop: Population) -> SimState:
        """State before the first week: everyone a prospect at the initial engagement."""
        n = pop.size
        return cls(
            log_eng=pop.log_eng0.copy(),
            habit=pop.log_eng0.copy(),
            converted=np.zeros(n, dtype=bool),
            churned_at=np.full(n, -1, dtype=np.int64),
            complaints=np.zeros(n),
            carts=np.zeros(n),
            protected_until=np.full(n, -1, dtype=np.int64),
        )


@dataclass
class Buffers:
    """Per-week output chunks, concatenated once at the end."""

    events: list[tuple[Array, Array, Array, Array]] = field(default_factory=list)
    orders: list[tuple[Array, Array]] = field(default_factory=list)
    campaigns: list[tuple[Array, Array, Array, Array, Array]] = field(default_factory=list)


@dataclass(frozen=True)
class SimResult:
    """Raw output: customer indices, seconds since the span start, codes, 1-5 ratings (0 = none)."""

    ev_cust: Array
    ev_ts: Array
    ev_type: Array
    ev_rating: Array
    ord_cust: Array
    ord_ts: Array
    camp_cust: Array
    camp_ts: Array
    camp_week: Array
    camp_treated: Array
    camp_segment: Array
    churned_at: Array


@dataclass(frozen=True)
class Week:
    """The customers known during one week and their active interval [lo, hi)."""

    number: int
    idx: Array
    lo: Array
    hi: Array
    end: int
    campaign: bool = False


def sigmoid(x: Array) -> Array:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def uniform_times(lo: Array, hi: Array, rng: np.random.Generator) -> Array:
    """One whole-second time per row, uniform in [lo, hi); rows need hi > lo."""
    width = hi - lo
    offset = (rng.random(lo.size) * width).astype(np.int64)
    return lo + np.minimum(offset, width - 1)


def simulate(
    pop: Population, span: int, rng: np.random.Generator, campaign_weeks: frozenset[int] = frozenset()
) -> SimResult:
    """Run the weekly simulation over [0, span) seconds; loops over weeks, never customers.

    A campaign goes out in each of `campaign_weeks` (week numbers) that is complete and not the first.
    """
    state, buf = SimState.start(pop), Buffers()
    for number in range(-(-span // WEEK)):
        _simulate_week(pop, state, buf, _open_week(pop, number, span, campaign_weeks), rng)
    return _collect(buf, state)


def _open_week(pop: Population, number: int, span: int, campaign_weeks: frozenset[int]) -> Week:
    lo_w, hi_w = number * WEEK, min((number + 1) * WEEK, span)
    idx = np.flatnonzero(pop.created < hi_w)
    lo = np.maximum(pop.created[idx], lo_w)
    campaign = number > 0 and number in campaign_weeks and lo_w + WEEK <= span
    return Week(number, idx, lo, np.full(idx.size, hi_w, dtype=np.int64), hi_w, campaign)


def _simulate_week(pop: Population, st: SimState, buf: Buffers, wk: Week, rng: np.random.Generator) -> None:
    idx = wk.idx
    buyer = st.converted[idx] & (st.churned_at[idx] < 0)
    churn_from, left = wk.lo.copy(), np.zeros(idx.size, dtype=bool)
    if wk.campaign:
        churn_from, left = _run_campaign(pop, st, buf, wk, buyer, rng)
    churning = _draw_churn(pop, st, wk, buyer & ~left, churn_from, rng) | left
    new = _draw_conversion(pop, st, wk, rng)
    status = np.where(st.churned_at[idx] >= 0, CHURNED, PROSPECT)
    status[buyer | new] = BUYER
    hi = np.where(churning, st.churned_at[idx], wk.hi)
    counts = _emit_events(pop, st, buf, wk, hi, status, rng)
    _emit_orders(pop, st, buf, wk, hi, status == BUYER, new, rng)
    _update_state(st, wk, counts, rng)


def _run_campaign(
    pop: Population, st: SimState, buf: Buffers, wk: Week, buyer: Array, rng: np.random.Generator
) -> tuple[Array, Array]:
    """Target a random share of active buyers at 09:00-10:00 on the week's first day.

    Returns the churn-from times (a targeted customer was still active when contacted) and the
    local mask of customers the contact drove away (churned one second after it).
    """
    local = np.flatnonzero(buyer)
    local = local[rng.random(local.size) < CAMPAIGN_SHARE]
    treated = rng.random(local.size) < 0.5
    ts = wk.number * WEEK + 9 * HOUR + rng.integers(0, HOUR, local.size)
    cust = wk.idx[local]
    segment = campaign_segments(pop, st, cust)
    response = RESPONSE[segment]
    responds = treated & (rng.random(local.size) < np.abs(response))
    won, lost = responds & (response > 0), responds & (response < 0)
    st.protected_until[cust[won]] = wk.number + CAMPAIGN_WEEKS - 1
    _emit_winback(buf, cust[won], ts[won], wk.end, rng)
    st.churned_at[cust[lost]] = ts[lost] + 1
    buf.campaigns.append((cust, ts, np.full(local.size, wk.number), treated, segment))
    churn_from = wk.lo.copy()
    churn_from[local] = ts
    left = np.zeros(wk.idx.size, dtype=bool)
    left[local[lost]] = True
    return churn_from, left


def campaign_segments(pop: Population, st: SimState, cust: Array) -> Array:
    """Response segment (index into SEGMENTS) of active buyers from their state right now.

    lost_cause: rarely buys (under LOST_ORDERS expected orders in the window) or engagement far
    below habit; persuadable: lapsing (engagement below habit) but still buying; sure_thing: buys
    often and is not lapsing; moderate: the rest; do_not_disturb: complained recently, whatever else.
    """
    orders = WINDOW_WEEKS * ORDER_RATE * np.exp(pop.log_value[cust] + st.log_eng[cust])
    gap = st.habit[cust] - st.log_eng[cust]
    lost = (orders < LOST_ORDERS) | (gap > LOST_GAP)
    lapsing = gap > LAPSE_GAP
    sure = (orders >= SURE_ORDERS) & ~lapsing
    code = np.select([lost, lapsing, sure], [3, 0, 2], default=1)
    return np.where(st.complaints[cust] >= UPSET, 4, code)


def _emit_winback(buf: Buffers, cust: Array, ts: Array, week_end: int, rng: np.random.Generator) -> None:
    """A won-back customer's order (with its checkout) between the contact and the week's end."""
    at = uniform_times(ts + 600, np.full(ts.size, week_end, dtype=np.int64), rng)
    buf.orders.append((cust, at))
    checkout = at - rng.integers(30, 600, at.size)
    kind = np.full(at.size, _CHECKOUT, dtype=np.int8)
    buf.events.append((cust.astype(np.int32), checkout, kind, np.zeros(at.size, np.int8)))


def _draw_churn(
    pop: Population,
    st: SimState,
    wk: Week,
    buyer: Array,
    churn_from: Array,
    rng: np.random.Generator,
) -> Array:
    """Latent churn of active buyers this week; sets churned_at and returns the local mask."""
    j = wk.idx[buyer]
    logit = (
        CHURN_A
        - CHURN_B * st.log_eng[j]
        + CHURN_E * np.maximum(st.habit[j] - st.log_eng[j], 0.0)
        + CHURN_C * st.complaints[j]
        - CHURN_D * pop.log_value[j]
    )
    hazard = sigmoid(logit) * (wk.hi[buyer] - wk.lo[buyer]) / WEEK
    hazard = np.where(st.protected_until[j] >= wk.number, 0.0, hazard)
    churning = np.zeros(wk.idx.size, dtype=bool)
    churning[buyer] = rng.random(j.size) < np.clip(hazard, 0.0, 1.0)
    cust = wk.idx[churning]
    st.churned_at[cust] = uniform_times(churn_from[churning], wk.hi[churning], rng)
    return churning


def _draw_conversion(pop: Population, st: SimState, wk: Week, rng: np.random.Generator) -> Array:
    """Prospects who make their first purchase this week (local mask)."""
    idx = wk.idx
    prospect = ~st.converted[idx] & ~pop.never_convert[idx]
    logit = CONV_A + CONV_B * st.log_eng[idx] + CONV_C * np.minimum(st.carts[idx], 3.0)
    p = sigmoid(logit) * (wk.hi - wk.lo) / WEEK
    new = prospect & (rng.random(idx.size) < p)
    st.converted[idx[new]] = True
    return new


def _event_rates(pop: Population, st: SimState, wk: Week, hi: Array, status: Array) -> Array:
    idx = wk.idx
    powers = np.exp(np.outer(st.log_eng[idx], _EXP_LEVELS))[:, _EXP_INDEX]
    rates = _BASE_RATES[status] * powers * ((hi - wk.lo) / WEEK)[:, None]
    rates[:, [_SUPPORT, _COMPLAINT]] *= np.where(pop.prone[idx], 3.0, 1.0)[:, None]
    rates[:, _REFERRAL] *= ~pop.prone[idx]
    rates[:, _LOGIN] *= 2.0 * pop.app_share[idx]
    return rates


def _emit_events(
    pop: Population,
    st: SimState,
    buf: Buffers,
    wk: Week,
    hi: Array,
    status: Array,
    rng: np.random.Generator,
) -> Array:
    """Poisson counts per (customer, family), spread uniformly over each active interval."""
    counts = rng.poisson(_event_rates(pop, st, wk, hi, status))
    n_fam = len(SIM_EVENTS)
    local = np.repeat(np.repeat(np.arange(wk.idx.size), n_fam), counts.ravel())
    kind = np.repeat(np.tile(np.arange(n_fam, dtype=np.int8), wk.idx.size), counts.ravel())
    ts = uniform_times(wk.lo[local], hi[local], rng)
    rating = np.zeros(local.size, dtype=np.int8)
    is_review = kind == _REVIEW
    rating[is_review] = _review_ratings(pop, st, wk.idx[local[is_review]], rng)
    buf.events.append((wk.idx[local].astype(np.int32), ts, kind, rating))
    return counts


def _review_ratings(pop: Population, st: SimState, cust: Array, rng: np.random.Generator) -> Array:
    """1-5 stars from current satisfaction: engaged buyers rate 4-5, complainers 1-2."""
    mood = (
        st.log_eng[cust] - 1.2 * pop.prone[cust] - 0.5 * st.complaints[cust] + rng.normal(0.0, 0.6, cust.size)
    )
    return (1 + np.digitize(mood, [-1.0, -0.5, -0.1, 0.3])).astype(np.int8)


def _emit_orders(
    pop: Population,
    st: SimState,
    buf: Buffers,
    wk: Week,
    hi: Array,
    buying: Array,
    new: Array,
    rng: np.random.Generator,
) -> None:
    """Orders ~ Poisson(value x engagement); a new buyer orders at least once; one checkout each."""
    idx = wk.idx
    rate = ORDER_RATE * np.exp(pop.log_value[idx] + st.log_eng[idx]) * (hi - wk.lo) / WEEK
    counts = rng.poisson(rate * buying)
    counts[new] = np.maximum(counts[new], 1)
    local = np.repeat(np.arange(idx.size), counts)
    ts = uniform_times(wk.lo[local], hi[local], rng)
    buf.orders.append((idx[local], ts))
    checkout = np.maximum(ts - rng.integers(30, 600, ts.size), wk.lo[local])
    kind = np.full(ts.size, _CHECKOUT, dtype=np.int8)
    buf.events.append((idx[local].astype(np.int32), checkout, kind, np.zeros(ts.size, np.int8)))


def _update_state(st: SimState, wk: Week, counts: Array, rng: np.random.Generator) -> None:
    """Random walk of engagement (complaints push it down); decayed complaint and cart memory."""
    idx = wk.idx
    live = st.churned_at[idx] < 0
    complaints = counts[:, _COMPLAINT]
    step = DRIFT + WALK_SD * rng.standard_normal(idx.size) - COMPLAINT_HIT * complaints
    st.log_eng[idx] = np.where(live, np.clip(st.log_eng[idx] + step, -3.0, 2.0), st.log_eng[idx])
    st.habit[idx] += HABIT_RATE * (st.log_eng[idx] - st.habit[idx])
    st.complaints[idx] = 0.75 * st.complaints[idx] + complaints
    st.carts[idx] = 0.5 * st.carts[idx] + counts[:, _CART] + counts[:, _CHECKOUT]


def _cat(chunks: list[Any], i: int, dtype: Any) -> Array:
    parts = [c[i] for c in chunks]
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype=dtype)


def _collect(buf: Buffers, st: SimState) -> SimResult:
    ev, od, cp = buf.events, buf.orders, buf.campaigns
    return SimResult(
        ev_cust=_cat(ev, 0, np.int32),
        ev_ts=_cat(ev, 1, np.int64),
        ev_type=_cat(ev, 2, np.int8),
        ev_rating=_cat(ev, 3, np.int8),
        ord_cust=_cat(od, 0, np.int64),
        ord_ts=_cat(od, 1, np.int64),
        camp_cust=_cat(cp, 0, np.int64),
        camp_ts=_cat(cp, 1, np.int64),
        camp_week=_cat(cp, 2, np.int64),
        camp_treated=_cat(cp, 3, bool),
        camp_segment=_cat(cp, 4, np.int8),
        churned_at=st.churned_at.copy(),
    )
