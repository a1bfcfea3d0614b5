"""Estimators of recipients: response probability, its multipliers, kinds and delays.

Job: the scenario's ``recipients`` block from the accepted sends and their
responses, right-censored at ``until`` (an InMail sent close to ``until`` may
still be answered later). The simulator draws, for each accepted send, a
response with probability ``q = min(1, response_probability x
length_multipliers[bucket] x category_multipliers[category])`` and, if so, a
delay from ``delay``; a response later than the end is never seen. So the
likelihood is a *mixture cure model* (Farewell 1982): a send answered after
``d`` contributes ``q f(d)``, one unanswered by ``until`` (``c`` after it was
sent) contributes ``1 - q F(c)``. Every parameter is fitted jointly by
maximum likelihood (scipy), for each delay family (exponential, lognormal,
gamma), with Wald intervals from the Hessian (delta method for the
normalised multipliers); the family with the lowest AIC is chosen.

Normalisation (the product ``p x length x category`` only fixes ratios):
the length multipliers average 1 over the observed mix of length buckets
of accepted sends, and so do the category multipliers over the observed
category mix; ``response_probability`` absorbs the rest. Compare a true
scenario with :func:`normalised_recipients`.

"None fits": the chosen family's curve ``1 - mean(q) F(t)`` is compared with
the Kaplan-Meier estimate (lifelines) of the time to response of all sends,
up to the 90th percentile of follow-up; when they differ by more than
:data:`KM_TOLERANCE` anywhere, the delay is written as ``empirical``: 1,000
quantiles of the KM-based delay distribution (which stops where follow-up
does, so long delays are then under-represented: ``fit.csv`` says so).

:func:`fit_recipients` with ``censored=False`` is the naive fit (every
unanswered send a non-responder, delays as observed) for comparison.

Boundary: numbers from arrays; :mod:`simulator.calibration.result` assembles them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from simulator.behaviour import length_bucket_index
from simulator.calibration.reader import ACT_RESPOND, ACT_SEND, Observed
from simulator.calibration.replayed import Replayed
from simulator.calibration.stats import Z95, Estimate, mle, wilson
from simulator.engine import Policy
from simulator.scenario import Recipients
from simulator.timeutil import DAY
from simulator.vocabulary import LENGTH_BUCKETS, RESPONSE_KINDS

__all__ = [
    "DELAY_KINDS",
    "KM_TOLERANCE",
    "fit_delay_naive",
    "fit_recipients",
    "normalised_recipients",
]

DELAY_KINDS = ("exponential", "lognormal", "gamma")
KM_TOLERANCE = 0.02  # largest |KM - model| of the response curve that still "fits"
# Follow-up bins of the unanswered sends (seconds): hourly for two days, every
# six hours to 30 days, daily to 400, then monthly; each bin is evaluated at its
# sends' mean follow-up, so F is nearly linear across it.
_EDGES = np.concatenate([
    np.arange(0, 2 * DAY, 3600), np.arange(2 * DAY, 30 * DAY, DAY // 4),
    np.arange(30 * DAY, 400 * DAY, DAY), np.arange(400 * DAY, 40_000 * DAY, 30 * DAY),
]).astype(np.float64)  # fmt: skip


def _delay_logpdf_sum(kind: str, x: np.ndarray, s: dict[str, float]) -> float:
    """Sum of log f(d) over the responders, from their sufficient statistics (d in days)."""
    n, sd, sl, sl2 = s["n"], s["sum"], s["log"], s["log2"]
    if kind == "exponential":
        mean = math.exp(x[0])
        return -n * math.log(mean) - sd / mean
    if kind == "lognormal":
        mu, sig = x[0], math.exp(x[1])
        return (
            -sl
            - n * math.log(sig)
            - 0.5 * n * math.log(2 * math.pi)
            - (sl2 - 2 * mu * sl + n * mu * mu) / (2 * sig * sig)
        )
    shape, mean = math.exp(x[0]), math.exp(x[1])
    scale = mean / shape
    return (
        (shape - 1) * sl
        - sd / scale
        - n * shape * math.log(scale)
        - n * float(special.gammaln(shape))
    )


def _delay_cdf(kind: str, x: np.ndarray, days: np.ndarray) -> np.ndarray:
    if kind == "exponential":
        return -np.expm1(-days / math.exp(x[0]))
    if kind == "lognormal":
        return special.ndtr((np.log(np.maximum(days, 1e-12)) - x[0]) / math.exp(x[1]))
    shape, mean = math.exp(x[0]), math.exp(x[1])
    return special.gammainc(shape, days * shape / mean)


def _delay_start(kind: str, s: dict[str, float]) -> list[float]:
    mean = s["sum"] / s["n"]
    mu = s["log"] / s["n"]
    var = max(s["log2"] / s["n"] - mu * mu, 1e-6)
    if kind == "exponential":
        return [math.log(mean)]
    if kind == "lognormal":
        return [mu, 0.5 * math.log(var)]
    return [0.0, math.log(mean)]


def _delay_params(
    kind: str, x: np.ndarray, cov: np.ndarray, off: int
) -> dict[str, tuple[float, float, float, float]]:
    """Scenario delay keys with (estimate, se, low, high) from log-scale parameters."""

    def log_param(i: int) -> tuple[float, float, float, float]:
        v, var = math.exp(x[off + i]), cov[off + i, off + i]
        sd = math.sqrt(var) if math.isfinite(var) and var >= 0 else math.nan
        return v, v * sd, v * math.exp(-Z95 * sd), v * math.exp(Z95 * sd)

    if kind == "exponential":
        return {"mean_days": log_param(0)}
    if kind == "lognormal":
        var = cov[off, off]
        sd = math.sqrt(var) if math.isfinite(var) and var >= 0 else math.nan
        med = math.exp(x[off])
        return {
            "median_days": (med, med * sd, med * math.exp(-Z95 * sd), med * math.exp(Z95 * sd)),
            "sigma": log_param(1),
        }
    return {"shape": log_param(0), "mean_days": log_param(1)}


def _data(obs: Observed, rep: Replayed, policy: Policy) -> dict[str, Any]:
    """The accepted sends reduced to counts: by cell, by cell and follow-up bin, by hour.

    Memory stays a few bytes a send: per-send arrays are small integers and
    are freed as soon as they are counted; only the responders' delays stay.
    """
    sends = (obs.action == ACT_SEND) & (rep.reason == 0)
    ncat = len(policy.categories)
    bucket = np.minimum(length_bucket_index(obs.body_chars[sends]), 3).astype(np.int16)
    cell = bucket * ncat + obs.category[sends].astype(np.int16)
    del bucket
    follow = (obs.until - obs.time[sends]).astype(np.int64)  # seconds of follow-up
    resp_rows = np.flatnonzero(obs.action == ACT_RESPOND)
    sent_rows = obs.link[resp_rows]
    ok = sends[sent_rows]
    resp_rows, sent_rows = resp_rows[ok], sent_rows[ok]
    kinds = np.bincount(obs.response[resp_rows].astype(np.int64), minlength=len(RESPONSE_KINDS))
    # Each responder's delay at its send's place among the accepted sends.
    by_row = np.zeros(len(obs), np.int64)
    by_row[sent_rows] = obs.time[resp_rows] - obs.time[sent_rows]
    delay_s = by_row[sends]
    del by_row, resp_rows, sent_rows, sends
    r = delay_s > 0
    delay = delay_s[r].astype(np.float64) / DAY
    ncell = 4 * ncat
    # Unanswered sends by cell and follow-up bin (counted, not sorted).
    nbins = len(_EDGES)
    unanswered = ~r
    b = np.searchsorted(_EDGES, follow[unanswered], side="right") - 1
    key = cell[unanswered].astype(np.int64) * nbins + b
    del b
    count = np.bincount(key, minlength=ncell * nbins).astype(np.float64)
    total = np.bincount(key, weights=follow[unanswered], minlength=ncell * nbins)
    del key
    used = np.flatnonzero(count)
    # Kaplan-Meier input: every accepted send's time to response (or follow-up), by hour.
    hours = np.maximum(np.ceil(np.where(r, delay_s, follow) / 3600), 1).astype(np.int64)
    km = np.bincount(hours * 2 + r, minlength=2 * (int(hours.max(initial=0)) + 1))
    follow_hours = np.bincount(np.ceil(follow / 3600).astype(np.int64))
    cum = np.cumsum(follow_hours)
    horizon = float(np.searchsorted(cum, 0.9 * cum[-1])) / 24 if len(cum) else 0.0
    return {
        "n_sends": len(cell),
        "cell_sends": np.bincount(cell, minlength=ncell).astype(np.float64),
        "cell_resp": np.bincount(cell[r], minlength=ncell).astype(np.float64),
        "nr_cell": used // nbins,
        "nr_count": count[used],
        "nr_follow": total[used] / count[used] / DAY,
        "delay": delay,
        "kinds": kinds,
        "stats": {
            "n": float(len(delay)),
            "sum": float(delay.sum()),
            "log": float(np.log(np.maximum(delay, 1e-9)).sum()),
            "log2": float((np.log(np.maximum(delay, 1e-9)) ** 2).sum()),
        },
        "km_counts": km,
        "horizon_days": horizon,
    }


def _structure(
    d: dict[str, Any], ncat: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Observed buckets and categories (the free multipliers) and their shares."""
    sends = d["cell_sends"].reshape(4, ncat)
    w_b, w_c = sends.sum(1), sends.sum(0)
    total = max(int(w_b.sum()), 1)  # no accepted send: no share (recipients is then too small)
    return np.flatnonzero(w_b), np.flatnonzero(w_c), w_b / total, w_c / total


def _probabilities(x: np.ndarray, buckets: np.ndarray, cats: np.ndarray, ncat: int) -> np.ndarray:
    a = np.zeros(4)
    g = np.zeros(ncat)
    a[buckets[1:]] = x[1 : len(buckets)]
    g[cats[1:]] = x[len(buckets) : len(buckets) + len(cats) - 1]
    return np.minimum(math.exp(x[0]) * np.exp(a)[:, None] * np.exp(g)[None, :], 1 - 1e-12).ravel()


def fit_recipients(
    obs: Observed, rep: Replayed, policy: Policy, censored: bool = True
) -> dict[str, Any]:
    """Fit every delay family (cure model); choose by AIC; return the block, rows and curves."""
    ncat = len(policy.categories)
    d = _data(obs, rep, policy)
    buckets, cats, w_b, w_c = _structure(d, ncat)
    n_q = len(buckets) + len(cats) - 1
    s = d["stats"]
    fits: dict[str, Any] = {}
    if s["n"] < 2 or d["n_sends"] < 20:
        return {
            "block": None,
            "rows": [],
            "problem": f"{int(s['n'])} responses to "
            f"{d['n_sends']} accepted sends (needs 2 responses and 20 sends)",
            "data": d,
        }
    for kind in DELAY_KINDS:

        def nll(x: np.ndarray, kind: str = kind) -> float:
            q = _probabilities(x, buckets, cats, ncat)
            ll = float((d["cell_resp"] * np.log(q)).sum())
            if censored:
                fq = q[d["nr_cell"]] * _delay_cdf(kind, x[n_q:], d["nr_follow"])
            else:
                fq = q[d["nr_cell"]]
            ll += float((d["nr_count"] * np.log1p(-np.minimum(fq, 1 - 1e-12))).sum())
            return -(ll + _delay_logpdf_sum(kind, x[n_q:], s))

        p0 = max(s["n"] / d["n_sends"], 1e-6)
        x0 = np.array([math.log(p0)] + [0.0] * (n_q - 1) + _delay_start(kind, s))
        x, cov = mle(nll, x0)
        q = _probabilities(x, buckets, cats, ncat)
        q_mean = float((q * d["cell_sends"]).sum() / d["n_sends"])
        fits[kind] = {"x": x, "cov": cov, "aic": 2 * nll(x) + 2 * len(x), "q_mean": q_mean}
    best = min(fits, key=lambda k: fits[k]["aic"])
    return _assemble(best, fits, d, policy, buckets, cats, w_b, w_c, n_q, censored)


def _assemble(
    best: str,
    fits: dict[str, Any],
    d: dict[str, Any],
    policy: Policy,
    buckets: np.ndarray,
    cats: np.ndarray,
    w_b: np.ndarray,
    w_c: np.ndarray,
    n_q: int,
    censored: bool,
) -> dict[str, Any]:
    ncat = len(policy.categories)
    x, cov = fits[best]["x"], fits[best]["cov"]
    aics = ", ".join(f"{k} {v['aic']:,.1f}" for k, v in fits.items())
    method = f"mixture cure model MLE, delay {best} by AIC ({aics}); Wald, delta method"
    if not censored:
        method = f"naive (censoring ignored) MLE, delay {best} by AIC ({aics})"

    def normalised(z: np.ndarray) -> np.ndarray:
        a = np.zeros(4)
        g = np.zeros(ncat)
        a[buckets[1:]] = z[1 : len(buckets)]
        g[cats[1:]] = z[len(buckets) : n_q]
        lm, cm = np.exp(a), np.exp(g)
        sb, sc = float((w_b * lm).sum()), float((w_c * cm).sum())
        return np.concatenate([[math.exp(z[0]) * sb * sc], lm / sb, cm / sc])

    est = normalised(x)
    jac = np.zeros((len(est), len(x)))
    for i in range(len(x)):
        h = np.zeros(len(x))
        h[i] = 1e-6
        jac[:, i] = (normalised(x + h) - normalised(x - h)) / 2e-6
    var = np.einsum("ij,jk,ik->i", jac, cov, jac)
    names = (
        ["recipients.response_probability"]
        + [f"recipients.length_multipliers.{b}" for b in LENGTH_BUCKETS]
        + [f"recipients.category_multipliers.{c}" for c in policy.categories]
    )
    counts = np.concatenate(
        [
            [d["n_sends"]],
            d["cell_sends"].reshape(4, ncat).sum(1),
            d["cell_sends"].reshape(4, ncat).sum(0),
        ]
    )
    rows: list[Estimate] = []
    observed = set(buckets.tolist()) | {4 + c for c in cats.tolist()}
    for i, (name, value) in enumerate(zip(names, est, strict=True)):
        if i and (i - 1) not in observed:
            rows.append(
                Estimate(
                    "recipients",
                    "",
                    name,
                    math.nan,
                    math.nan,
                    math.nan,
                    math.nan,
                    0,
                    "sends",
                    "not observed",
                    source="fixed",
                    note="no accepted send in this bucket or category: 1.0",
                )
            )
            continue
        se = math.sqrt(var[i]) if var[i] >= 0 else math.nan
        rows.append(
            Estimate(
                "recipients",
                "",
                name,
                float(value),
                se,
                float(value) - Z95 * se,
                float(value) + Z95 * se,
                int(counts[i]),
                "accepted sends",
                method + ("; normalised to average 1 over the observed mix" if i else ""),
            )
        )
    lm = {b: float(est[1 + i]) if i in observed else 1.0 for i, b in enumerate(LENGTH_BUCKETS)}
    cm = {c: float(est[5 + i]) for i, c in enumerate(policy.categories) if 4 + i in observed}
    kinds = d["kinds"]
    total = int(kinds.sum())
    mix = {}
    for i, k in enumerate(RESPONSE_KINDS):
        p, se, lo, hi = wilson(int(kinds[i]), total)
        mix[k] = p
        rows.append(
            Estimate(
                "recipients",
                "",
                f"recipients.response_kinds.{k}",
                p,
                se,
                lo,
                hi,
                total,
                "responses",
                "share of responses; Wilson",
            )
        )
    delay: dict[str, Any] = {"kind": best}
    for key, (v, se, lo, hi) in _delay_params(best, x, cov, n_q).items():
        delay[key] = v
        rows.append(
            Estimate(
                "recipients",
                "",
                f"recipients.delay.{key}",
                v,
                se,
                lo,
                hi,
                int(d["stats"]["n"]),
                "responses",
                method,
            )
        )
    q = _probabilities(x, buckets, cats, ncat)
    q_mean = float((q * d["cell_sends"]).sum() / d["n_sends"])
    block = {
        "response_probability": float(est[0]),
        "length_multipliers": lm,
        "category_multipliers": cm,
        "response_kinds": mix,
        "delay": delay,
    }
    return {
        "block": block,
        "rows": rows,
        "problem": None,
        "data": d,
        "best": best,
        "fits": fits,
        "q_mean": q_mean,
        "n_q": n_q,
    }


def fit_delay_naive(obs: Observed, rep: Replayed, policy: Policy) -> dict[str, Any]:
    """The naive fit: censoring ignored (for comparison with :func:`fit_recipients`)."""
    return fit_recipients(obs, rep, policy, censored=False)


def normalised_recipients(
    rec: Recipients, bucket_share: np.ndarray, category_share: dict[str, float]
) -> dict[str, float]:
    """A scenario's recipients in the fit's normalisation (for comparing a truth with a fit).

    ``bucket_share``: share of accepted sends in each length bucket; ``category_share``:
    share of accepted sends in each category. Returns ``{parameter: value}`` keyed as fit.csv.
    """
    lm = np.array([rec.length_multipliers[b] for b in LENGTH_BUCKETS])
    cats = list(category_share)
    cm = np.array([rec.category_multipliers.get(c, 1.0) for c in cats])
    w = np.array([category_share[c] for c in cats])
    sb, sc = float((bucket_share * lm).sum()), float((w * cm).sum())
    out = {"recipients.response_probability": rec.response_probability * sb * sc}
    out.update(
        {
            f"recipients.length_multipliers.{b}": float(v / sb)
            for b, v in zip(LENGTH_BUCKETS, lm, strict=True)
        }
    )
    out.update(
        {
            f"recipients.category_multipliers.{c}": float(v / sc)
            for c, v in zip(cats, cm, strict=True)
        }
    )
    return out


def kaplan_meier(d: dict[str, Any]) -> pd.DataFrame:
    """Kaplan-Meier (lifelines) of the time to response of every accepted send, in days.

    Durations are rounded up to the hour and counted, so the fit takes
    thousands of weighted rows, not millions. Columns: ``days``, ``survival``,
    ``low``, ``high`` (95 %, Greenwood-exponential as lifelines gives it).
    """
    from lifelines import KaplanMeierFitter  # an optional extra (creditsim[fit]): loaded here

    counts = d["km_counts"]
    key = np.flatnonzero(counts)
    km = KaplanMeierFitter()
    km.fit(key // 2 / 24, event_observed=(key % 2).astype(bool), weights=counts[key])
    s = km.survival_function_.iloc[:, 0]
    ci = km.confidence_interval_
    return pd.DataFrame(
        {
            "days": s.index.to_numpy(),
            "survival": s.to_numpy(),
            "low": ci.iloc[:, 0].to_numpy(),
            "high": ci.iloc[:, 1].to_numpy(),
        }
    )


def model_survival(result: dict[str, Any], kind: str, days: np.ndarray) -> np.ndarray:
    """``1 - mean(q) F(t)``: the fitted share of sends still unanswered ``days`` after sending."""
    fit = result["fits"][kind]
    x = fit["x"][result["n_q"] :]
    return 1 - fit["q_mean"] * _delay_cdf(kind, x, days)


def check_delay(result: dict[str, Any]) -> dict[str, Any]:
    """Compare the chosen delay with Kaplan-Meier; switch to ``empirical`` when none fits."""
    d = result["data"]
    km = kaplan_meier(d)
    horizon = d["horizon_days"]
    part = km[km["days"] <= horizon]
    days = part["days"].to_numpy()
    se = (part["high"] - part["low"]).to_numpy() / (2 * Z95)
    worst = {}
    for kind in result["fits"]:
        gap = np.abs(model_survival(result, kind, days) - part["survival"].to_numpy())
        worst[kind] = float(np.max(gap - 2.58 * se)) if len(gap) else 0.0
    result["km"] = km
    result["km_gap"] = worst
    best = result["best"]
    if worst[best] <= KM_TOLERANCE:
        return result
    fitting = [k for k in DELAY_KINDS if worst[k] <= KM_TOLERANCE]
    if fitting:
        return result  # the AIC choice is kept; another family fits, fit.csv says so below
    # None fits: the KM-based delay distribution, F(t) = (1 - S(t)) / mean(q), as quantiles.
    q_mean = result["q_mean"]
    cdf = np.clip((1 - km["survival"].to_numpy()) / max(q_mean, 1e-12), 0, 1)
    grid = (np.arange(1000) + 0.5) / 1000 * cdf.max()
    seconds = np.maximum(1, np.rint(np.interp(grid, cdf, km["days"].to_numpy()) * DAY)).astype(int)
    result["block"]["delay"] = {"kind": "empirical", "delay_seconds": seconds.tolist()}
    result["rows"] = [
        dataclasses.replace(row, note="not used: no family fits (recipients.delay.kind)")
        if row.parameter.startswith("recipients.delay.") else row
        for row in result["rows"]
    ]  # fmt: skip
    result["rows"].append(
        Estimate(
            "recipients",
            "",
            "recipients.delay.kind",
            math.nan,
            math.nan,
            math.nan,
            math.nan,
            int(d["stats"]["n"]),
            "responses",
            "empirical: 1,000 quantiles of (1 - KM) / mean(q)",
            note=f"no family within {KM_TOLERANCE} of Kaplan-Meier beyond its 99 % band "
            f"(worst gaps: {', '.join(f'{k} {v:.3f}' for k, v in worst.items())}); delays past "
            f"{horizon:.0f} days of follow-up are not represented",
        )
    )
    return result
