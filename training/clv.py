"""Buy-till-you-die customer models: BG/NBD purchases and Gamma-Gamma spend, fitted by maximum likelihood.

What they are for:
- a churn baseline: `BGNBD.p_no_purchase(rfm, window)` is the probability that a customer makes no
  purchase in the next `window` days given the history, and is the baseline's churn score;
  `BGNBD.expected_purchases(rfm, window)` is the expected number of purchases in that window;
- customer value: expected purchases x `GammaGamma.expected_spend` (expected value per purchase).

Models (small re-implementations with SciPy, not the archived `lifetimes` package):
- BG/NBD: Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An Alternative to the
  Pareto/NBD Model", Marketing Science 24(2). While alive a customer buys as a Poisson process with
  rate lambda ~ Gamma(r, alpha) (shape r, rate alpha); after every repeat purchase they drop out for
  good with probability p ~ Beta(a, b). Nobody drops out at the first purchase.
- Gamma-Gamma: Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note; the model is
  from Fader, Hardie & Berger 2004/2005 "RFM and CLV: Using Iso-value Curves for Customer Base
  Analysis"). Transaction values are Gamma(p, nu) with nu ~ Gamma(q, v) across customers,
  independent of the purchase process.

Units: the public API is in days (`RFM` times, `t_days`, and `BGNBD.alpha` is a rate per day). The
BG/NBD fit runs internally in weeks (better scaled, comparable with the published CDNOW estimates);
the Gamma-Gamma fit rescales money by its mean. Neither rescaling changes the maximum (the
optional penalizers are defined on those internal scales).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import integrate, optimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

FIT_UNIT_DAYS = 7.0  # the BG/NBD is fitted in weeks
_LOG_BOUND = 18.0  # |log parameter| bound during fitting (in fitting units); a fit on it is not identified
# Eq. 10 is 0/0 at a = 1: within this distance of 1 it is interpolated linearly from a = 1 -+ it.
_A_NEAR_ONE = 1e-4

FEATURE_COLUMNS = ("purchases_total", "days_since_first_purchase", "days_since_last_purchase")
MONETARY_COLUMN = "avg_order_value"


class FitError(ValueError):
    """The data cannot identify the model (e.g. nobody repeats) or the optimiser did not converge."""


def _as_float_array(values: object, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


@dataclass(frozen=True, eq=False)
class RFM:
    """Per-customer recency/frequency (and optionally monetary) summaries, in days.

    - `x`: repeat purchases = number of purchases - 1 (integer >= 0);
    - `t_x`: time of the last purchase measured from the first one (0 when x = 0);
    - `T`: customer age = time from the first purchase to the cutoff (t_x <= T);
    - `monetary`: average value of the customer's transactions (see `orders`), optional;
    - `has_purchase`: False for customers without any purchase yet. They carry x = t_x = T = 0, are
      left out of the fits, and their predictions are those of a customer whose first purchase is
      at the cutoff (the model's prior for a new customer: P(alive) = 1).

    Arrays are converted to float and validated; a `ValueError` names the first violated rule.
    """

    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    monetary: np.ndarray | None = None
    has_purchase: np.ndarray = field(default=None)  # type: ignore[arg-type]  # None: all True

    def __post_init__(self) -> None:
        x, t_x, T = (_as_float_array(getattr(self, n), n) for n in ("x", "t_x", "T"))
        if not (x.shape == t_x.shape == T.shape):
            raise ValueError(f"x, t_x and T must have the same length: {x.shape}, {t_x.shape}, {T.shape}")
        for name, array in (("x", x), ("t_x", t_x), ("T", T)):
            if not np.isfinite(array).all():
                raise ValueError(f"{name} has {int((~np.isfinite(array)).sum())} NaN/inf values")
            if (array < 0).any():
                raise ValueError(f"{name} has {int((array < 0).sum())} negative values")
        if (x != np.round(x)).any():
            raise ValueError("x (repeat purchases) must be whole numbers")
        if (t_x > T).any():
            raise ValueError(
                f"t_x > T for {int((t_x > T).sum())} customers: the last purchase is after the cutoff"
            )
        if ((x == 0) & (t_x != 0)).any():
            raise ValueError("t_x must be 0 for customers without repeat purchases (x = 0)")
        has = np.ones(x.shape, bool) if self.has_purchase is None else np.asarray(self.has_purchase, bool)
        if has.shape != x.shape:
            raise ValueError(f"has_purchase has shape {has.shape}, expected {x.shape}")
        if ((~has) & ((x != 0) | (T != 0))).any():
            raise ValueError("customers without a purchase must have x = t_x = T = 0")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "t_x", t_x)
        object.__setattr__(self, "T", T)
        object.__setattr__(self, "has_purchase", has)
        if self.monetary is not None:
            monetary = _as_float_array(self.monetary, "monetary")
            if monetary.shape != x.shape:
                raise ValueError(f"monetary has shape {monetary.shape}, expected {x.shape}")
            if not np.isfinite(monetary).all() or (monetary < 0).any():
                raise ValueError("monetary must be finite and >= 0 (use 0 for customers without a purchase)")
            object.__setattr__(self, "monetary", monetary)

    def __len__(self) -> int:
        return int(self.x.size)

    @property
    def orders(self) -> np.ndarray:
        """Number of purchases (x + 1; 0 without a purchase): the count `avg_order_value` averages."""
        return np.where(self.has_purchase, self.x + 1.0, 0.0)

    def subset(self, mask: np.ndarray) -> RFM:
        m = None if self.monetary is None else self.monetary[mask]
        return RFM(self.x[mask], self.t_x[mask], self.T[mask], m, self.has_purchase[mask])


def rfm_from_features(frame: pd.DataFrame) -> RFM:
    """RFM arrays from Journey's transactional features, one entry per row of `frame` (same order).

    x = purchases_total - 1, T = days_since_first_purchase, t_x = T - days_since_last_purchase,
    monetary = avg_order_value (averaged over all `purchases_total` orders, first one included;
    the column is optional).

    Rows without a purchase yet (purchases_total 0 or NaN) get has_purchase = False,
    x = t_x = T = 0 and monetary = 0: they are excluded from fitting, and predicted as a customer
    whose first purchase is at the cutoff (well defined, no NaN). Rows with a purchase but missing
    or inconsistent recencies raise ValueError.
    """
    missing = [c for c in FEATURE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"rfm_from_features needs the columns {missing}")
    n = frame["purchases_total"].to_numpy(dtype=float)
    first = frame["days_since_first_purchase"].to_numpy(dtype=float)
    last = frame["days_since_last_purchase"].to_numpy(dtype=float)
    if (n < 0).any() or np.isinf(n).any() or (n[np.isfinite(n)] != np.round(n[np.isfinite(n)])).any():
        raise ValueError("purchases_total must be a whole number >= 0 (or NaN for no purchase)")
    has = np.nan_to_num(n, nan=0.0) > 0
    bad = has & ~(np.isfinite(first) & np.isfinite(last) & (last >= 0) & (last <= first))
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} rows with purchases have missing or inconsistent recencies "
            "(need 0 <= days_since_last_purchase <= days_since_first_purchase)"
        )
    x = np.where(has, n - 1.0, 0.0)
    T = np.where(has, first, 0.0)
    t_x = np.where(has, first - last, 0.0)
    if (has & (x == 0) & (t_x != 0)).any():
        raise ValueError(
            "rows with one purchase must have days_since_last_purchase == days_since_first_purchase"
        )
    monetary = None
    if MONETARY_COLUMN in frame.columns:
        value = frame[MONETARY_COLUMN].to_numpy(dtype=float)
        if (has & ~np.isfinite(value)).any():
            raise ValueError(f"{MONETARY_COLUMN} is missing for rows with purchases")
        monetary = np.where(has, value, 0.0)
    return RFM(x, t_x, T, monetary, has)


def _times(rfm: RFM, t_days: float | np.ndarray) -> np.ndarray:
    t = np.broadcast_to(np.asarray(t_days, dtype=float), rfm.x.shape)
    if not np.isfinite(t).all() or (t < 0).any():
        raise ValueError("t_days must be finite and >= 0")
    return t


# ---------------------------------------------------------------------------------------------- BG/NBD


def _bgnbd_terms(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FHL (2005) eq. 6 as log L = A + log(exp(t1) + exp(t2)); t2 = -inf when x = 0."""
    r, alpha, a, b = params
    A = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    t1 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    repeat = x > 0
    xr = np.where(repeat, x, 1.0)  # keeps b + x - 1 > 0 in the masked-out entries
    t2 = np.where(repeat, betaln(a + 1, b + xr - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x), -np.inf)
    return A, t1, t2


def _bgnbd_loglik(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    A, t1, t2 = _bgnbd_terms(params, x, t_x, T)
    return A + np.logaddexp(t1, t2)


def _bgnbd_loglik_grad(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Gradient of the summed log-likelihood with respect to (r, alpha, a, b)."""
    r, alpha, a, b = params
    _, t1, t2 = _bgnbd_terms(params, x, t_x, T)
    w2 = np.exp(t2 - np.logaddexp(t1, t2))  # weight of the "dropped out after t_x" term
    w1 = 1.0 - w2
    repeat = x > 0
    xr = np.where(repeat, x, 1.0)
    d_ab = digamma(a + b)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w1 * np.log(alpha + T) - w2 * np.log(alpha + t_x)
    d_alpha = r / alpha - (r + x) * (w1 / (alpha + T) + w2 / (alpha + t_x))
    da1 = d_ab - digamma(a + b + x)
    db1 = digamma(b + x) - digamma(a + b + x) - digamma(b) + d_ab
    da2 = np.where(repeat, digamma(a + 1) - digamma(a + b + x) - digamma(a) + d_ab, 0.0)
    db2 = np.where(repeat, digamma(b + xr - 1) - digamma(a + b + x) - digamma(b) + d_ab, 0.0)
    return np.array([d_r.sum(), d_alpha.sum(), (w1 * da1 + w2 * da2).sum(), (w1 * db1 + w2 * db2).sum()])


def _fit_log_params(
    negative: Callable[[np.ndarray], tuple[float, np.ndarray]], start: np.ndarray, what: str
) -> np.ndarray:
    """Minimise over log-parameters with L-BFGS-B (analytic gradient), polished by Nelder-Mead if needed."""
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * start.size
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = optimize.minimize(negative, start, jac=True, method="L-BFGS-B", bounds=bounds)
        if not result.success or not np.isfinite(result.fun):
            result = optimize.minimize(
                lambda z: negative(z)[0],
                result.x if np.isfinite(result.fun) else start,
                method="Nelder-Mead",
                bounds=bounds,
                options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 20_000, "maxfev": 40_000},
            )
    if not result.success or not np.isfinite(result.fun) or not np.isfinite(result.x).all():
        raise FitError(f"{what} fit did not converge: {result.message}")
    if (np.abs(result.x) > _LOG_BOUND - 0.5).any():
        raise FitError(
            f"{what} fit ran to a parameter bound (log-parameters {np.round(result.x, 2).tolist()}): the "
            "data do not identify the model (e.g. no heterogeneity or no drop-out visible); use more "
            "customers or a penalizer > 0"
        )
    return np.asarray(result.x, dtype=float)


@dataclass(frozen=True)
class BGNBD:
    """Fitted BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

    lambda ~ Gamma(shape r, rate alpha) with alpha per day (alpha in weeks = alpha / 7);
    drop-out probability after each repeat purchase p ~ Beta(a, b).
    """

    r: float
    alpha: float
    a: float
    b: float

    def __post_init__(self) -> None:
        values = (self.r, self.alpha, self.a, self.b)
        if not all(np.isfinite(v) and v > 0 for v in values):
            raise ValueError(f"BG/NBD parameters must be finite and > 0, got {values}")

    @property
    def params(self) -> np.ndarray:
        return np.array([self.r, self.alpha, self.a, self.b], dtype=float)

    def log_likelihood(self, rfm: RFM) -> np.ndarray:
        """Per-customer log-likelihood of (x, t_x, T) in days (FHL 2005 eq. 6).

        It is a density in the purchase times, so it depends on the time unit: the value in weeks is
        this plus x * log(7).
        """
        return _bgnbd_loglik(self.params, rfm.x, rfm.t_x, rfm.T)

    def p_alive(self, rfm: RFM) -> np.ndarray:
        """P(still alive at the cutoff | x, t_x, T) (FHL 2005 eq. 12); 1 when x = 0 by definition.

        1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x)), computed in logs.
        """
        x, repeat = rfm.x, rfm.x > 0
        log_odds_dead = (
            np.log(self.a)
            - np.log(self.b + np.where(repeat, x, 1.0) - 1)
            + (self.r + x) * (np.log(self.alpha + rfm.T) - np.log(self.alpha + rfm.t_x))
        )
        return np.where(repeat, expit(-log_odds_dead), 1.0)

    def expected_purchases(self, rfm: RFM, t_days: float | np.ndarray) -> np.ndarray:
        """E[number of purchases in (T, T + t] | x, t_x, T] (FHL 2005 eq. 10).

        Eq. 10 is P(alive) (a + b + x - 1) / (a - 1) [1 - ((alpha + T) / (alpha + T + t))^(r + x)
        2F1(r + x, b + x; a + b + x - 1; z)] with z = t / (alpha + T + t). The 2F1 is evaluated after
        Euler's transformation, (1 - z)^(r + x) 2F1(r + x, b + x; c; z) = (1 - z)^(a - 1)
        2F1(a + b - 1 - r, a - 1; c; z), which does not overflow for large x. The formula holds for
        a < 1 too (by analytic continuation); at a = 1 it is 0/0, so for |a - 1| < 1e-4 it is
        interpolated linearly between a = 1 -+ 1e-4 (error ~1e-8 relative). Entries where the result
        is not finite or negative fall back to quadrature of the same expectation over p.
        """
        t = _times(rfm, t_days)
        r, alpha, a, b = self.params
        x, T = rfm.x, rfm.T
        if abs(a - 1.0) < _A_NEAR_ONE:  # linear interpolation across the removable singularity
            lo = _conditional_purchases(r, alpha, 1.0 - _A_NEAR_ONE, b, x, T, t)
            hi = _conditional_purchases(r, alpha, 1.0 + _A_NEAR_ONE, b, x, T, t)
            conditional = lo + (a - 1.0 + _A_NEAR_ONE) / (2 * _A_NEAR_ONE) * (hi - lo)
        else:
            conditional = _conditional_purchases(r, alpha, a, b, x, T, t)
        bad = ~np.isfinite(conditional) | (conditional < 0)
        for i in np.flatnonzero(bad):
            conditional[i] = _conditional_purchases_quad(r, alpha, a, b, x[i], T[i], t[i])
        return np.where(t > 0, self.p_alive(rfm) * conditional, 0.0)

    def p_no_purchase(self, rfm: RFM, t_days: float | np.ndarray) -> np.ndarray:
        """P(no purchase in (T, T + t] | x, t_x, T): the churn score of the BG/NBD baseline.

        Derivation: a dead customer never buys; an alive one drops out only right after a purchase,
        so with rate lambda they make no purchase in the next t with probability exp(-lambda t).
        Given the history and being alive, lambda ~ Gamma(r + x, alpha + T) (likelihood
        lambda^x exp(-lambda T) times the Gamma(r, alpha) prior), whose Laplace transform gives
        E[exp(-lambda t)] = ((alpha + T) / (alpha + T + t))^(r + x). Hence
        P0 = (1 - P(alive)) + P(alive) ((alpha + T) / (alpha + T + t))^(r + x).
        """
        t = _times(rfm, t_days)
        survive = -np.expm1(-(self.r + rfm.x) * np.log1p(t / (self.alpha + rfm.T)))
        return 1.0 - self.p_alive(rfm) * survive


def _conditional_purchases(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, T: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """E[purchases in (T, T + t] | alive at T, history]: FHL (2005) eq. 10 without the P(alive) factor."""
    z = t / (alpha + T + t)
    with np.errstate(all="ignore"):
        f = hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        bracket = 1.0 - np.exp((a - 1) * np.log1p(-z)) * f
        return np.asarray((a + b + x - 1) / (a - 1) * bracket, dtype=float)


def _conditional_purchases_quad(
    r: float, alpha: float, a: float, b: float, x: float, T: float, t: float
) -> float:
    """E[purchases in t | alive, history] = E_p[(1 - (1 + p t / (alpha + T))^-(r + x)) / p], p ~ Beta(a, b+x).

    Given alive the posterior is lambda ~ Gamma(r + x, alpha + T), p ~ Beta(a, b + x), and an alive
    customer with (lambda, p) makes (1 - exp(-lambda p t)) / p purchases in t in expectation
    (Poisson generating function); averaging over lambda gives the integrand. Quadrature over the
    log-odds u of p, where the Beta density has no endpoint singularities and decays like
    exp(a u) / exp(-(b + x) u) in the tails.
    """
    k, s, beta = r + x, t / (alpha + T), b + x
    if s == 0:
        return 0.0
    log_norm = betaln(a, beta)

    def integrand(u: float) -> float:
        log_p, log_q = -np.logaddexp(0.0, -u), -np.logaddexp(0.0, u)  # log p, log(1 - p)
        p = np.exp(log_p)
        g = -np.expm1(-k * np.log1p(p * s)) / p if p * s > 1e-12 else k * s
        return float(g * np.exp(a * log_p + beta * log_q - log_norm))

    mode, scale = float(np.log(a / beta)), float(-np.log(s))
    lo, hi = min(mode, scale) - 50.0 / a - 5.0, max(mode, scale) + 50.0 / beta + 5.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        value, _ = integrate.quad(integrand, lo, hi, points=sorted({mode, scale}), limit=500, epsrel=1e-10)
    return float(value)


def fit_bgnbd(rfm: RFM, penalizer: float = 0.0) -> BGNBD:
    """Maximum-likelihood BG/NBD fit (FHL 2005) on the customers with a purchase.

    The objective is the mean negative log-likelihood (in weeks) plus penalizer * sum of the squared
    log-parameters (alpha per week): a ridge that pulls every parameter towards 1 on the log scale,
    so directions the data do not identify stay finite. It is minimised over log-parameters by
    L-BFGS-B with the analytic gradient (Nelder-Mead if that stops early). Raises FitError (a
    ValueError) when nobody repeats, nobody has any age, or the fit does not converge or runs to a
    parameter bound (|log parameter| = 18: not identified; use more data or penalizer > 0).

    Data with no visible drop-out or no rate heterogeneity have their maximum at infinity; the fit
    then either runs to a bound (FitError) or stops at extreme but finite values, whose predictions
    are those of the limiting model.
    """
    if penalizer < 0 or not np.isfinite(penalizer):
        raise ValueError("penalizer must be >= 0")
    fit = rfm.subset(rfm.has_purchase)
    if len(fit) == 0:
        raise FitError("no customers with a purchase to fit the BG/NBD on")
    if not (fit.x > 0).any():
        raise FitError(
            "nobody made a repeat purchase (all x = 0): the BG/NBD purchase rate and drop-out are not "
            "identified"
        )
    if not (fit.T > 0).any():
        raise FitError("all customer ages T are 0: the BG/NBD is not identified")
    x, t_x, T = fit.x, fit.t_x / FIT_UNIT_DAYS, fit.T / FIT_UNIT_DAYS
    n = float(x.size)

    def negative(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        value = -_bgnbd_loglik(params, x, t_x, T).sum() / n + penalizer * float(log_params @ log_params)
        grad = -_bgnbd_loglik_grad(params, x, t_x, T) * params / n + 2 * penalizer * log_params
        if not np.isfinite(value):
            return np.inf, np.zeros_like(params)
        return float(value), grad

    rate = (x.sum() + 1.0) / max(float(T.sum()), 1e-9)  # purchases per week, rough
    start = np.log([1.0, 1.0 / rate, 1.0, 3.0])
    r, alpha_weeks, a, b = np.exp(_fit_log_params(negative, start, "BG/NBD"))
    return BGNBD(r=float(r), alpha=float(alpha_weeks * FIT_UNIT_DAYS), a=float(a), b=float(b))


# ----------------------------------------------------------------------------------------- Gamma-Gamma


def _gg_inputs(frequency: object, monetary: object) -> tuple[np.ndarray, np.ndarray]:
    x = _as_float_array(frequency, "frequency")
    m = _as_float_array(monetary, "monetary")
    if x.shape != m.shape:
        raise ValueError(f"frequency and monetary must have the same length: {x.shape}, {m.shape}")
    if not np.isfinite(x).all() or (x < 0).any() or (x != np.round(x)).any():
        raise ValueError("frequency must be whole numbers >= 0")
    return x, m


def _gg_loglik(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """log f(m | p, q, v, x): density of the mean m of x transactions (Fader & Hardie 2013)."""
    p, q, v = params
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(v + m * x)
    )


def _gg_loglik_grad(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    p, q, v = params
    px = p * x
    d_common = digamma(px + q) - np.log(v + m * x)
    d_p = x * (d_common - digamma(px) + np.log(m) + np.log(x))
    d_q = d_common - digamma(q) + np.log(v)
    d_v = q / v - (px + q) / (v + m * x)
    return np.array([d_p.sum(), d_q.sum(), d_v.sum()])


@dataclass(frozen=True)
class GammaGamma:
    """Fitted Gamma-Gamma spend model (Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value").

    Transaction values ~ Gamma(shape p, rate nu), nu ~ Gamma(shape q, rate v) across customers
    (v in money units). `frequency` everywhere is the number of transactions that `monetary`
    averages: with Journey's `avg_order_value` (all orders) that is `RFM.orders` = x + 1; with
    data whose mean excludes the first purchase (as in the paper's CDNOW example) it is x.
    """

    p: float
    q: float
    v: float

    def __post_init__(self) -> None:
        values = (self.p, self.q, self.v)
        if not all(np.isfinite(value) and value > 0 for value in values):
            raise ValueError(f"Gamma-Gamma parameters must be finite and > 0, got {values}")

    @property
    def mean_spend(self) -> float:
        """Population mean transaction value p v / (q - 1); infinite (ValueError) when q <= 1."""
        if self.q <= 1:
            raise ValueError(f"the Gamma-Gamma population mean spend is infinite for q = {self.q:.3g} <= 1")
        return self.p * self.v / (self.q - 1)

    def log_likelihood(self, frequency: np.ndarray, monetary: np.ndarray) -> np.ndarray:
        """Per-customer log density of the observed mean value given frequency >= 1 transactions."""
        x, m = _gg_inputs(frequency, monetary)
        if (x < 1).any() or (m <= 0).any():
            raise ValueError("the Gamma-Gamma likelihood needs frequency >= 1 and monetary > 0")
        return _gg_loglik(np.array([self.p, self.q, self.v]), x, m)

    def expected_spend(self, frequency: np.ndarray, monetary: np.ndarray) -> np.ndarray:
        """E[mean transaction value | x transactions with mean m] = p (v + m x) / (p x + q - 1).

        A credibility-weighted mix of the population mean p v / (q - 1) and m. For frequency 0 it is
        the population mean (monetary is ignored there and may be NaN).
        """
        x, m = _gg_inputs(frequency, monetary)
        buyers = x > 0
        if (buyers & ~(np.isfinite(m) & (m >= 0))).any():
            raise ValueError("monetary must be finite and >= 0 where frequency > 0")
        if (~buyers).any():
            population = self.mean_spend
        elif (self.p * x + self.q - 1 <= 0).any():
            raise ValueError("the conditional expected spend is infinite: p x + q <= 1")
        else:
            population = np.nan  # unused
        mb = np.where(buyers, m, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            conditional = self.p * (self.v + mb * x) / (self.p * x + self.q - 1)
        return np.where(buyers, conditional, population)


def fit_gamma_gamma(frequency: np.ndarray, monetary: np.ndarray, penalizer: float = 0.0) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma fit on the customers with frequency >= 1 and monetary > 0.

    `frequency` = number of transactions averaged in `monetary` (see GammaGamma). Others are
    ignored. Money is rescaled by its mean while fitting; the penalty penalizer * (sum of squared
    log-parameters) is on that scale. Raises FitError when fewer than 10 customers qualify, the
    values are all equal, or the fit does not converge or runs to a bound.
    """
    if penalizer < 0 or not np.isfinite(penalizer):
        raise ValueError("penalizer must be >= 0")
    x, m = _gg_inputs(frequency, monetary)
    use = (x >= 1) & np.isfinite(m) & (m > 0)
    x, m = x[use], m[use]
    if x.size < 10:
        raise FitError(
            f"only {x.size} customers with frequency >= 1 and monetary > 0: too few for Gamma-Gamma"
        )
    if np.ptp(m) == 0:
        raise FitError("all monetary values are equal: the Gamma-Gamma spread is not identified")
    scale = float(m.mean())
    ms = m / scale
    n = float(x.size)

    def negative(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        value = -_gg_loglik(params, x, ms).sum() / n + penalizer * float(log_params @ log_params)
        grad = -_gg_loglik_grad(params, x, ms) * params / n + 2 * penalizer * log_params
        if not np.isfinite(value):
            return np.inf, np.zeros_like(params)
        return float(value), grad

    p, q, v = np.exp(_fit_log_params(negative, np.log([1.0, 2.0, 1.0]), "Gamma-Gamma"))
    return GammaGamma(p=float(p), q=float(q), v=float(v * scale))
