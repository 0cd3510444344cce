"""Tests of the BG/NBD and Gamma-Gamma models in training/clv.py.

- closed forms against independent numerical integration over (lambda, p) / nu, a hand-computed
  case and published CDNOW values (Fader, Hardie & Lee 2005 and Hardie's spreadsheet);
- recovery of the parameters of simulated populations, and agreement of the predictions with the
  simulated purchases of a holdout period, by group of customers;
- properties, the feature mapping and the handling of customers without purchases, bad input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special, stats

from training.clv import (
    BGNBD,
    RFM,
    FitError,
    GammaGamma,
    _bgnbd_loglik,
    _bgnbd_loglik_grad,
    _conditional_purchases,
    _conditional_purchases_quad,
    fit_bgnbd,
    fit_gamma_gamma,
    rfm_from_features,
)

WEEK = 7.0
# FHL (2005) maximum-likelihood estimates on CDNOW (alpha per week there, per day here).
CDNOW = BGNBD(r=0.243, alpha=4.414 * WEEK, a=0.793, b=2.426)
CDNOW_GG = GammaGamma(p=6.25, q=3.74, v=15.44)  # Fader & Hardie (2013) estimates on CDNOW

TRUE = BGNBD(r=0.8, alpha=20.0, a=0.8, b=2.5)  # simulated population, alpha per day
TRUE_GG = GammaGamma(p=6.0, q=4.0, v=15.0)
HORIZON = 180.0  # holdout days


def rfm(x: float, t_x: float, T: float) -> RFM:
    return RFM(np.array([x]), np.array([t_x]), np.array([T]))


# ------------------------------------------------------------------------------ simulated population


@dataclass
class Population:
    rfm: RFM
    future: np.ndarray  # purchases in (T, T + HORIZON]
    spend: np.ndarray  # mean value of the orders in the calibration period (x + 1 of them)
    true_mean_spend: np.ndarray  # p / nu: each customer's true expected value per order


def simulate(model: BGNBD, gg: GammaGamma, T: np.ndarray, rng: np.random.Generator) -> Population:
    """BG/NBD customers: first purchase at 0, Poisson(lambda) purchases, drop-out with probability p
    after each repeat purchase; observed until T and then for HORIZON more days."""
    n = T.size
    lam = rng.gamma(model.r, 1.0 / model.alpha, n)
    p = rng.beta(model.a, model.b, n)
    x, t_x, future = np.zeros(n), np.zeros(n), np.zeros(n)
    now, alive = np.zeros(n), np.ones(n, bool)
    while alive.any():
        i = np.flatnonzero(alive)
        now[i] += rng.exponential(1.0 / lam[i])
        before = now[i] <= T[i]
        holdout = ~before & (now[i] <= T[i] + HORIZON)
        x[i[before]] += 1
        t_x[i[before]] = now[i[before]]
        future[i[holdout]] += 1
        stop = (now[i] > T[i] + HORIZON) | (rng.uniform(size=i.size) < p[i])
        alive[i[stop]] = False
    nu = rng.gamma(gg.q, 1.0 / gg.v, n)  # Gamma-Gamma spend, independent of the purchase process
    orders = x + 1
    spend = rng.gamma(gg.p * orders, 1.0 / nu) / orders  # mean of x + 1 Gamma(p, nu) order values
    return Population(RFM(x, t_x, T, spend), future, spend, gg.p / nu)


@pytest.fixture(scope="module")
def population() -> Population:
    rng = np.random.default_rng(20240601)
    return simulate(TRUE, TRUE_GG, rng.uniform(180.0, 540.0, 20_000), rng)


@pytest.fixture(scope="module")
def fitted(population: Population) -> BGNBD:
    return fit_bgnbd(population.rfm)


def groups(r: RFM) -> dict[str, np.ndarray]:
    """Customers by number of repeat purchases, and the repeaters by recency."""
    x, recent = r.x, r.t_x > r.T / 2
    return {
        "x=0": x == 0,
        "x=1": x == 1,
        "x=2-3": (x >= 2) & (x <= 3),
        "x=4-7": (x >= 4) & (x <= 7),
        "x=8-15": (x >= 8) & (x <= 15),
        "x>=16": x >= 16,
        "x>=1, last purchase in first half": (x >= 1) & ~recent,
        "x>=1, last purchase in second half": (x >= 1) & recent,
    }


# ------------------------------------------------------------------------------ numerical integration


NODES, WEIGHTS = np.polynomial.legendre.leggauss(64)


def composite(edges: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of 64-point Gauss-Legendre on each piece between consecutive edges."""
    lo, hi = np.array(edges[:-1])[:, None], np.array(edges[1:])[:, None]
    return ((lo + hi) / 2 + (hi - lo) / 2 * NODES).ravel(), ((hi - lo) / 2 * WEIGHTS).ravel()


def expect_lambda_p(f, model: BGNBD, x: int, c: float) -> float:
    """E[f(lambda, p)] under the BG/NBD prior, by composite Gauss-Legendre quadrature over
    log(lambda) and logit(p): independent of the closed forms. The prior densities have no endpoint
    singularities in those variables; the pieces are refined around the peak of lambda^x
    exp(-lambda c) (1 - p)^x, where the integrands of the BG/NBD expressions concentrate."""
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    top = math.log((r + x) / (alpha + c))
    v, wv = composite([top - 60 / r, top - 12, top - 4, top - 1.5, top, top + 1.5, top + 4, top + 12])
    mid = math.log(a / (b + x))
    u, wu = composite([mid - 60 / a, mid - 12, mid - 4, mid - 1.5, mid, mid + 1.5, mid + 4, mid + 60 / b])
    lam, p = np.exp(v)[:, None], special.expit(u)[None, :]
    # log of the Gamma(r, alpha) density times d lambda / d log(lambda) = lambda, and of the
    # Beta(a, b) density times d p / d logit(p) = p (1 - p)
    log_gamma = r * math.log(alpha) - math.lgamma(r) + r * v[:, None] - alpha * lam
    log_beta = a * np.log(p) + b * special.log_expit(-u)[None, :] - special.betaln(a, b)
    log_prior = log_gamma + log_beta
    return float(wv @ (f(lam, p) * np.exp(log_prior)) @ wu)


def integrated(model: BGNBD, x: int, t_x: float, T: float, ts: list[float]) -> dict[str, list[float]]:
    """Log-likelihood, P(alive), and for each t E[purchases in t] and P(no purchase in t), by
    integrating the individual-level BG/NBD expressions over the prior of (lambda, p)."""

    def alive_at_T(lam, p):  # survived the x repeat purchases, none since
        return (1 - p) ** x * lam**x * np.exp(-lam * T)

    alive = expect_lambda_p(alive_at_T, model, x, T)
    dead = 0.0
    if x > 0:  # dropped out right after the purchase at t_x
        dead = expect_lambda_p(
            lambda lam, p: p * (1 - p) ** (x - 1) * lam**x * np.exp(-lam * t_x), model, x, t_x
        )
    likelihood = alive + dead
    out: dict[str, list[float]] = {"log_likelihood": [math.log(likelihood)], "p_alive": [alive / likelihood]}
    out["expected_purchases"], out["p_no_purchase"] = [], []
    for t in ts:
        # alive with (lambda, p): E[purchases in t] = sum_n (1-p)^(n-1) P(N(t) >= n)
        #   = (1 - e^(-lambda p t)) / p (Poisson generating function)
        bought = expect_lambda_p(
            lambda lam, p, t=t: alive_at_T(lam, p) * -np.expm1(-lam * p * t) / p, model, x, T
        )
        some = expect_lambda_p(lambda lam, p, t=t: alive_at_T(lam, p) * -np.expm1(-lam * t), model, x, T)
        out["expected_purchases"].append(bought / likelihood)
        out["p_no_purchase"].append(1.0 - some / likelihood)
    return out


# (x, t_x, T) in weeks: customers 1, 2, 3, 6 and 18 of the CDNOW calibration data, and a heavy buyer.
CUSTOMERS = [(2, 30.43, 38.86), (1, 1.71, 38.86), (0, 0.0, 38.86), (7, 29.43, 38.86), (1, 4.86, 38.86)]
CUSTOMERS += [(25, 60.0, 61.0)]


@pytest.mark.parametrize(("x", "t_x", "T"), CUSTOMERS)
def test_bgnbd_closed_forms_match_numerical_integration_at_cdnow_estimates(x, t_x, T):
    c, ts = rfm(x, t_x * WEEK, T * WEEK), [1.0 * WEEK, 39.0 * WEEK, 200.0 * WEEK]
    want = integrated(CDNOW, x, t_x * WEEK, T * WEEK, ts)
    assert CDNOW.log_likelihood(c)[0] == pytest.approx(want["log_likelihood"][0], abs=1e-9)
    assert CDNOW.p_alive(c)[0] == pytest.approx(want["p_alive"][0], rel=1e-9)
    for i, t in enumerate(ts):
        assert CDNOW.expected_purchases(c, t)[0] == pytest.approx(want["expected_purchases"][i], rel=1e-9)
        assert CDNOW.p_no_purchase(c, t)[0] == pytest.approx(want["p_no_purchase"][i], rel=1e-9)


def test_bgnbd_matches_published_cdnow_values():
    # Hardie's BG/NBD spreadsheet (also lifetimes' test): customer 1, next 39 weeks -> 1.226.
    assert CDNOW.expected_purchases(rfm(2, 30.43 * WEEK, 38.86 * WEEK), 39 * WEEK)[0] == pytest.approx(
        1.226, abs=5e-4
    )
    # E[X(t)] for a new customer (FHL 2005 eq. 9, the spreadsheet's cumulative repeat sales curve):
    # a customer whose first purchase is at the cutoff (x = t_x = T = 0) is exactly that case. The
    # sheet uses the unrounded estimates; the 3-decimal ones move these values by up to 0.16%.
    weeks = np.array([0.1429, 1.0, 3.0, 31.8571, 32.0, 78.0])
    published = np.array([0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576])
    new = RFM(np.zeros(6), np.zeros(6), np.zeros(6))
    np.testing.assert_allclose(CDNOW.expected_purchases(new, weeks * WEEK), published, rtol=2.5e-3, atol=5e-5)


def test_bgnbd_hand_computed_case():
    # r = alpha = a = b = 1: lambda ~ Exp(1), p ~ U(0, 1); x = 1, t_x = 1, T = 2.
    # L = B(1, 2)/B(1, 1) (1/3)^2 + B(2, 1)/B(1, 1) (1/2)^2 = 1/18 + 1/8 = 13/72, P(alive) = (1/18)/L = 4/13,
    # P(no purchase in t = 1) = 1 - 4/13 (1 - (3/4)^2) = 45/52.
    model, c = BGNBD(1.0, 1.0, 1.0, 1.0), rfm(1, 1.0, 2.0)
    assert model.log_likelihood(c)[0] == pytest.approx(math.log(13 / 72), rel=1e-12)
    assert model.p_alive(c)[0] == pytest.approx(4 / 13, rel=1e-12)
    assert model.p_no_purchase(c, 1.0)[0] == pytest.approx(45 / 52, rel=1e-12)
    # x = 0: L = (alpha / (alpha + T))^r whatever a and b.
    assert CDNOW.log_likelihood(rfm(0, 0.0, 70.0))[0] == pytest.approx(
        0.243 * math.log(CDNOW.alpha / (CDNOW.alpha + 70.0)), rel=1e-12
    )


def test_log_likelihood_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 20, 200).astype(float)
    T = rng.uniform(1, 80, 200)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, 200), 0.0)
    params = np.array([0.4, 3.0, 0.7, 2.5])
    numeric = optimize.approx_fprime(params, lambda q: _bgnbd_loglik(q, x, t_x, T).sum(), 1e-7)
    np.testing.assert_allclose(_bgnbd_loglik_grad(params, x, t_x, T), numeric, rtol=1e-5)


@pytest.mark.parametrize("a", [0.3, 0.793, 1.0 - 1e-9, 1.0, 1.0 + 3e-5, 1.5, 4.0])
def test_expected_purchases_closed_form_matches_quadrature_over_p(a):
    # Eq. 10 (Euler-transformed 2F1, interpolated across a = 1) against the quadrature fallback.
    model = BGNBD(0.6, 25.0, a, 3.0)
    x = np.array([0, 1, 3, 10, 60, 400], dtype=float)
    T = np.array([0.0, 30.0, 200.0, 400.0, 700.0, 900.0])
    c = RFM(x, np.where(x > 0, T / 2, 0.0), T)
    for t in (1.0, 90.0, 3650.0):
        want = [
            _conditional_purchases_quad(0.6, 25.0, a, 3.0, xi, Ti, t) for xi, Ti in zip(x, T, strict=True)
        ]
        np.testing.assert_allclose(model.expected_purchases(c, t) / model.p_alive(c), want, rtol=1e-6)


def test_expected_purchases_stays_finite_where_the_hypergeometric_function_fails():
    # z = t / (alpha + T + t) near 1 with large parameters: scipy's 2F1 returns NaN here.
    model, c = BGNBD(2.0, 30.0, 4.0, 40.0), rfm(1000, 0.0, 0.0)
    t = np.array([30.0, 365.0, 3650.0])
    with np.errstate(invalid="ignore"):
        raw = _conditional_purchases(2.0, 30.0, 4.0, 40.0, np.full(3, 1000.0), np.zeros(3), t)
    assert np.isnan(raw[-1])  # the guarded case is real
    value = np.concatenate([model.expected_purchases(c, ti) for ti in t])
    assert np.isfinite(value).all() and (np.diff(value) > 0).all()
    # an alive customer cannot exceed the long-run mean number of purchases before dropping out
    assert value[-1] <= (4.0 + 40.0 + 1000.0 - 1) / (4.0 - 1) + 1e-9


# ------------------------------------------------------------------------------ simulation


def test_bgnbd_recovers_simulated_parameters(population, fitted):
    # Tolerances ~4 standard deviations of the estimates over repeated simulations of this design.
    assert fitted.r == pytest.approx(TRUE.r, rel=0.06)
    assert fitted.alpha == pytest.approx(TRUE.alpha, rel=0.08)
    assert fitted.a == pytest.approx(TRUE.a, rel=0.13)
    assert fitted.b == pytest.approx(TRUE.b, rel=0.17)
    # it is a maximum: at least as likely as the truth
    assert fitted.log_likelihood(population.rfm).sum() >= TRUE.log_likelihood(population.rfm).sum()


def log_params_in_weeks(model: BGNBD) -> np.ndarray:
    return np.log([model.r, model.alpha / WEEK, model.a, model.b])


def test_penalizer_pulls_log_parameters_towards_zero_and_rescues_unidentified_fits(population, fitted):
    shrunk = fit_bgnbd(population.rfm, penalizer=0.1)
    assert np.sum(log_params_in_weeks(shrunk) ** 2) < np.sum(log_params_in_weeks(fitted) ** 2)
    three = RFM(np.array([1.0, 0.0, 2.0]), np.array([5.0, 0.0, 8.0]), np.array([10.0, 10.0, 10.0]))
    with pytest.raises(FitError, match="parameter bound"):
        fit_bgnbd(three)
    assert np.isfinite(fit_bgnbd(three, penalizer=0.01).params).all()


def test_bgnbd_fit_does_not_depend_on_the_time_unit(population, fitted):
    r = population.rfm
    in_hours = fit_bgnbd(RFM(r.x, r.t_x * 24, r.T * 24))
    assert in_hours.r == pytest.approx(fitted.r, rel=1e-4)
    assert in_hours.alpha == pytest.approx(fitted.alpha * 24, rel=1e-4)
    assert in_hours.a == pytest.approx(fitted.a, rel=1e-4)


@pytest.mark.parametrize("use_fit", [False, True], ids=["true parameters", "fitted parameters"])
def test_predictions_match_simulated_holdout_by_group(population, fitted, use_fit):
    model = fitted if use_fit else TRUE
    expected = model.expected_purchases(population.rfm, HORIZON)
    none = model.p_no_purchase(population.rfm, HORIZON)
    actual, actual_none = population.future, (population.future == 0).astype(float)
    # The true model's predictions are the conditional expectations given each history, so group
    # means differ from the simulated ones by sampling noise only; 4 standard errors also covered the
    # fitted model in 25 of 25 simulated populations (the largest |z| with the truth was 2.3).
    for name, members in groups(population.rfm).items():
        n = members.sum()
        assert n >= 300, name
        se = actual[members].std() / np.sqrt(n)
        assert abs(expected[members].mean() - actual[members].mean()) <= 4 * se, name
        se_none = actual_none[members].std() / np.sqrt(n)
        assert abs(none[members].mean() - actual_none[members].mean()) <= 4 * se_none, name


def test_gamma_gamma_recovers_simulated_parameters_and_spend(population):
    orders = population.rfm.orders
    gg = fit_gamma_gamma(orders, population.spend)
    assert gg.p == pytest.approx(TRUE_GG.p, rel=0.2)
    assert gg.q == pytest.approx(TRUE_GG.q, rel=0.08)
    assert gg.v == pytest.approx(TRUE_GG.v, rel=0.25)
    assert gg.mean_spend == pytest.approx(TRUE_GG.mean_spend, rel=0.03)
    # conditional expected spend against each customer's true mean order value, by number of orders
    predicted = gg.expected_spend(orders, population.spend)
    truth = population.true_mean_spend
    for lo, hi in [(1, 1), (2, 3), (4, 8), (9, 10_000)]:
        members = (orders >= lo) & (orders <= hi)
        se = (truth[members] - predicted[members]).std() / np.sqrt(members.sum())
        assert abs(predicted[members].mean() - truth[members].mean()) <= 4 * se + 0.02 * truth[members].mean()
    # and it predicts better than the raw average order value
    assert np.mean((predicted - truth) ** 2) < np.mean((population.spend - truth) ** 2)


@pytest.mark.parametrize(("x", "m"), [(1, 12.0), (3, 20.0), (10, 55.0)])
def test_gamma_gamma_closed_forms_match_numerical_integration(x, m):
    p, q, v = CDNOW_GG.p, CDNOW_GG.q, CDNOW_GG.v

    def joint(nu: float) -> float:  # mean of x Gamma(p, nu) values is Gamma(p x, x nu)
        return stats.gamma.pdf(m, p * x, scale=1.0 / (x * nu)) * stats.gamma.pdf(nu, q, scale=1.0 / v)

    density, _ = integrate.quad(joint, 0, np.inf, epsabs=0, epsrel=1e-11, limit=200)
    spend, _ = integrate.quad(lambda nu: p / nu * joint(nu), 0, np.inf, epsabs=0, epsrel=1e-11, limit=200)
    f, mm = np.array([float(x)]), np.array([m])
    assert CDNOW_GG.log_likelihood(f, mm)[0] == pytest.approx(math.log(density), abs=1e-8)
    assert CDNOW_GG.expected_spend(f, mm)[0] == pytest.approx(spend / density, rel=1e-8)


# ------------------------------------------------------------------------------ properties


params = st.tuples(st.floats(0.05, 5.0), st.floats(0.5, 200.0), st.floats(0.1, 5.0), st.floats(0.1, 20.0))
histories = st.tuples(st.integers(0, 200), st.floats(0.0, 1.0), st.floats(0.0, 2000.0))


@settings(max_examples=300, deadline=None)
@given(params, histories, st.floats(0.0, 1000.0), st.floats(0.0, 1000.0))
def test_prediction_properties(theta, history, t1, t2):
    model = BGNBD(*theta)
    x, share, T = history
    t_x = share * T if x > 0 else 0.0
    c = rfm(x, t_x, T)
    lo, hi = sorted((t1, t2))
    e_lo, e_hi = model.expected_purchases(c, lo)[0], model.expected_purchases(c, hi)[0]
    assert 0.0 <= e_lo <= e_hi * (1 + 1e-9) + 1e-12
    alive = model.p_alive(c)[0]
    assert 0.0 <= alive <= 1.0
    if x == 0:
        assert alive == 1.0
    p_lo, p_hi = model.p_no_purchase(c, lo)[0], model.p_no_purchase(c, hi)[0]
    assert 0.0 <= p_hi <= p_lo * (1 + 1e-12) <= 1.0 + 1e-12
    assert model.p_no_purchase(c, 0.0)[0] == pytest.approx(1.0) and e_lo >= 0


@settings(max_examples=200, deadline=None)
@given(params, st.integers(1, 200), st.floats(1.0, 2000.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_more_recent_last_purchase_means_more_likely_alive(theta, x, T, s1, s2):
    model = BGNBD(*theta)
    early, late = sorted((s1 * T, s2 * T))
    c = RFM(np.array([x, x], dtype=float), np.array([early, late]), np.array([T, T]))
    alive = model.p_alive(c)
    assert alive[0] <= alive[1]
    if late - early > 1e-3 * T and 1e-6 < alive[1] < 1 - 1e-6:  # strictly, away from rounding
        assert alive[0] < alive[1]


# ------------------------------------------------------------------------------ features and no-purchase rows


def test_rfm_from_features_maps_columns_and_handles_customers_without_purchases(population, fitted):
    frame = pd.DataFrame(
        {
            "purchases_total": [3, 1, 0, np.nan],
            "days_since_first_purchase": [100.0, 50.0, np.nan, np.nan],
            "days_since_last_purchase": [10.0, 50.0, np.nan, np.nan],
            "avg_order_value": [20.0, 5.0, np.nan, np.nan],
        }
    )
    r = rfm_from_features(frame)
    np.testing.assert_array_equal(r.x, [2, 0, 0, 0])
    np.testing.assert_array_equal(r.T, [100, 50, 0, 0])
    np.testing.assert_array_equal(r.t_x, [90, 0, 0, 0])
    np.testing.assert_array_equal(r.has_purchase, [True, True, False, False])
    np.testing.assert_array_equal(r.orders, [3, 1, 0, 0])
    assert r.monetary is not None
    np.testing.assert_array_equal(r.monetary, [20, 5, 0, 0])
    # no NaN anywhere; those without a purchase are predicted as new customers (P(alive) = 1)
    for values in (fitted.p_alive(r), fitted.expected_purchases(r, 90), fitted.p_no_purchase(r, 90)):
        assert np.isfinite(values).all()
    assert (fitted.p_alive(r)[2:] == 1).all()
    new = fitted.expected_purchases(rfm(0, 0.0, 0.0), 90)[0]
    np.testing.assert_allclose(fitted.expected_purchases(r, 90)[2:], new)
    gg = CDNOW_GG
    np.testing.assert_allclose(gg.expected_spend(r.orders, r.monetary)[2:], gg.mean_spend)
    # and they are left out of the fit
    p = population.rfm
    extra = RFM(
        np.r_[p.x, 0.0, 0.0],
        np.r_[p.t_x, 0.0, 0.0],
        np.r_[p.T, 0.0, 0.0],
        None,
        np.r_[p.has_purchase, False, False],
    )
    assert fit_bgnbd(extra) == fitted


# ------------------------------------------------------------------------------ bad input


def test_bad_input_is_a_clear_value_error():
    with pytest.raises(ValueError, match="t_x > T"):
        rfm(2, 50.0, 40.0)
    with pytest.raises(ValueError, match="negative"):
        rfm(-1, 0.0, 40.0)
    with pytest.raises(ValueError, match="negative"):
        rfm(1, 0.0, -4.0)
    with pytest.raises(ValueError, match="NaN"):
        rfm(1, np.nan, 4.0)
    with pytest.raises(ValueError, match="whole numbers"):
        rfm(1.5, 1.0, 4.0)
    with pytest.raises(ValueError, match="t_x must be 0"):
        rfm(0, 1.0, 4.0)
    with pytest.raises(ValueError, match="t_days"):
        CDNOW.expected_purchases(rfm(1, 1.0, 4.0), -1.0)
    with pytest.raises(ValueError, match="> 0"):
        BGNBD(0.0, 1.0, 1.0, 1.0)
    nobody_repeats = RFM(np.zeros(500), np.zeros(500), np.linspace(10, 300, 500))
    with pytest.raises(FitError, match="nobody made a repeat purchase"):
        fit_bgnbd(nobody_repeats)
    assert issubclass(FitError, ValueError)
    with pytest.raises(ValueError, match="inconsistent recencies"):
        rfm_from_features(
            pd.DataFrame(
                {
                    "purchases_total": [2],
                    "days_since_first_purchase": [5.0],
                    "days_since_last_purchase": [9.0],
                }
            )
        )
    with pytest.raises(ValueError, match="needs the columns"):
        rfm_from_features(pd.DataFrame({"purchases_total": [2]}))
    with pytest.raises(FitError, match="too few"):
        fit_gamma_gamma(np.ones(5), np.arange(1.0, 6.0))
    with pytest.raises(ValueError, match="frequency"):
        CDNOW_GG.expected_spend(np.array([-1.0]), np.array([3.0]))
    with pytest.raises(ValueError, match="infinite"):
        _ = GammaGamma(2.0, 0.8, 10.0).expected_spend(np.array([0.0]), np.array([0.0]))
