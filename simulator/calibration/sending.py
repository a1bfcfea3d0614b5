"""Estimators of a cohort's sending: rate and its heterogeneity, weekdays, lengths, mix.

Job: the ``sending`` block of each cohort, in the simulator's parametrisation
(:mod:`simulator.behaviour`), with a 95 % interval for every number:

* ``inmails_per_month`` and ``rate_shape``: a member's planned sends over its
  exposure are Poisson with its own rate, and the rates are gamma with mean
  ``inmails_per_month`` and shape ``rate_shape``, so counts are negative
  binomial with each member's exposure; maximum likelihood (scipy), Wald
  intervals on the log scale. A cohort seen only through its actions
  (``basic``: a member who never sends is not in the history) is fitted
  zero-truncated, and its size is the Horvitz-Thompson count ``sum 1/(1 - P0)``.
* ``weekday_weights``: sends by weekday, normalised to average 1 (the
  scenario's weights are relative); Wilson intervals.
* ``body_chars``, ``subject_chars``: lognormal (MLE on log lengths; t and
  chi-square intervals) or uniform (min and max; exact intervals of the
  extremes), whichever has the lower AIC. The scenario format has no
  empirical length kind, so these are the choices.
* ``categories`` (shares, Wilson) and ``free_share`` (Wilson).
* ``out_of_credit``: after each ``no_credit`` rejection, the share that bought
  (at once), upgraded (a second later) or waited; ``buy_quantity`` and
  ``upgrade_to`` are the commonest; the upgrade share counts only rejections
  on another tier than ``upgrade_to`` (on it, the simulator cannot upgrade).

Boundary: numbers from arrays; :mod:`simulator.calibration.result` assembles them.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from simulator.calibration.cohorts import CohortView
from simulator.calibration.reader import ACT_SEND, Observed
from simulator.calibration.replayed import NC_BUY, NC_UPGRADE, Replayed
from simulator.calibration.stats import Z95, Estimate, mle, wilson
from simulator.engine import Policy
from simulator.timeutil import DAY

__all__ = [
    "MIN_MEMBERS",
    "MIN_SENDS",
    "UNOBSERVED_OOC",
    "fit_lengths",
    "fit_rates",
    "fit_sending",
]

MIN_MEMBERS = 5  # fewer members: no rate is estimated
MIN_SENDS = 20  # fewer sends: no length, mix or weekday is estimated
MAX_SHAPE = 1e4  # a gamma shape this large is a Poisson cohort
UNOBSERVED_OOC = (
    "no member of the cohort ran out of credit, so nothing shows what it would do: written "
    "as never buying or upgrading (the base scenario's block when one is given)"
)


def fit_rates(counts: np.ndarray, exposure: np.ndarray, truncated: bool) -> dict[str, Any]:
    """Negative binomial MLE of mean rate and gamma shape with exposures (months)."""
    y = counts.astype(np.float64)
    e = np.maximum(exposure.astype(np.float64), 1e-9)

    def nll(x: np.ndarray) -> float:
        mu, k = math.exp(x[0]), math.exp(x[1])
        me = mu * e
        ll = (
            special.gammaln(y + k)
            - special.gammaln(k)
            - special.gammaln(y + 1)
            + k * np.log(k / (k + me))
            + y * np.log(me / (k + me))
        )
        if truncated:
            p0 = np.exp(k * np.log(k / (k + me)))
            ll = ll - np.log1p(-np.minimum(p0, 1 - 1e-12))
        return float(-ll.sum())

    mean = max(y.sum() / e.sum(), 1e-6)
    x, cov = mle(nll, np.array([math.log(mean), 0.0]), [(-20, 10), (-8, math.log(MAX_SHAPE))])
    mu, k = math.exp(x[0]), math.exp(x[1])
    out: dict[str, Any] = {"mu": mu, "k": k, "cov": cov, "poisson": False}
    top = math.log(MAX_SHAPE)
    if x[1] >= top - 0.01:
        # No heterogeneity seen: the Poisson model (rate_shape null), mu's interval
        # from it, and the shape's lower bound from the profile likelihood (the
        # shape where twice the drop in log-likelihood reaches chi2(1, 0.95)).
        xp, covp = mle(lambda z: nll(np.array([z[0], top])), np.array([x[0]]), [(-20, 10)])
        best = nll(np.array([xp[0], top]))

        def drop(log_k: float) -> float:
            prof = optimize.minimize_scalar(lambda z: nll(np.array([z, log_k])), bounds=(-20, 10),
                                            method="bounded")  # fmt: skip
            return float(prof.fun) - best - stats.chi2.ppf(0.95, 1) / 2

        low = -8.0 if drop(-8.0) < 0 else optimize.brentq(drop, -8.0, top)
        cov = np.array([[covp[0, 0], np.nan], [np.nan, np.nan]])
        out.update(mu=math.exp(xp[0]), k=math.inf, cov=cov, poisson=True, k_low=math.exp(low))
        x = np.array([xp[0], top])
    if truncated:
        p0 = np.exp(k * np.log(k / (k + mu * e)))
        out["members"] = float((1 / (1 - np.minimum(p0, 1 - 1e-12))).sum())
        # Delta method for the size, through a numerical gradient in (log mu, log k).
        grad = np.zeros(2)
        for i in range(2):
            d = np.zeros(2)
            d[i] = 1e-5
            mu2, k2 = math.exp(x[0] + d[0]), math.exp(x[1] + d[1])
            p02 = np.exp(k2 * np.log(k2 / (k2 + mu2 * e)))
            grad[i] = ((1 / (1 - np.minimum(p02, 1 - 1e-12))).sum() - out["members"]) / 1e-5
        var = float(grad @ cov @ grad) + out["members"] - len(y)  # plus the binomial draw
        out["members_se"] = math.sqrt(max(var, 0.0))
    return out


def _log_interval(value: float, var: float) -> tuple[float, float, float]:
    if not math.isfinite(var) or var < 0:
        return math.nan, math.nan, math.nan
    sd = math.sqrt(var)
    return value * sd, value * math.exp(-Z95 * sd), value * math.exp(Z95 * sd)


def fit_lengths(x: np.ndarray, clip: int | None = None) -> dict[str, Any]:
    """Lognormal or uniform for whole-character lengths, by AIC; parameters and intervals.

    ``clip`` is the simulator's ``clip_max`` (the policy's limit by default): a
    length at it may have been drawn longer, so the lognormal fit treats it as
    right-censored at ``clip - 0.5`` (Tobit-style MLE); without such lengths
    the fit is the closed-form MLE with exact t and chi-square intervals.
    """
    x = x.astype(np.float64)
    n = len(x)
    if n and x.min() == x.max():
        return {"kind": "fixed", "value": int(x[0]), "n": n, "aic": {}}
    at_clip = x >= clip if clip is not None else np.zeros(n, bool)
    n_c = int(at_clip.sum())
    lx = np.log(x[~at_clip])
    mu, sd = float(lx.mean()), float(lx.std(ddof=1))
    if n_c:
        cut = math.log(float(clip) - 0.5)  # type: ignore[arg-type]
        s1, s2, n_u = float(lx.sum()), float((lx**2).sum()), len(lx)

        def nll(p: np.ndarray) -> float:
            m, sig = p[0], math.exp(p[1])
            ll = -n_u * math.log(sig) - (s2 - 2 * m * s1 + n_u * m * m) / (2 * sig * sig)
            return -(ll + n_c * float(special.log_ndtr((m - cut) / sig)))

        est, cov = mle(nll, np.array([mu, math.log(sd)]))
        mu, sigma = float(est[0]), math.exp(est[1])
        se_mu, se_ls = math.sqrt(max(cov[0, 0], 0)), math.sqrt(max(cov[1, 1], 0))
        median = (
            math.exp(mu),
            math.exp(mu) * se_mu,
            math.exp(mu - Z95 * se_mu),
            math.exp(mu + Z95 * se_mu),
        )
        sig_row = (
            sigma,
            sigma * se_ls,
            sigma * math.exp(-Z95 * se_ls),
            sigma * math.exp(Z95 * se_ls),
        )
        ll_ln = -float(nll(est)) - float(lx.sum()) - 0.5 * len(lx) * math.log(2 * math.pi)
    else:
        sigma_mle = float(lx.std())
        ll_ln = float(np.sum(stats.norm.logpdf(lx, mu, sigma_mle) - lx))
        t = float(stats.t.ppf(0.975, n - 1))
        half = t * sd / math.sqrt(n)
        chi_lo, chi_hi = stats.chi2.ppf([0.975, 0.025], n - 1)
        median = (
            math.exp(mu),
            math.exp(mu) * sd / math.sqrt(n),
            math.exp(mu - half),
            math.exp(mu + half),
        )
        sig_row = (
            sd,
            sd / math.sqrt(2 * (n - 1)),
            sd * math.sqrt((n - 1) / chi_lo),
            sd * math.sqrt((n - 1) / chi_hi),
        )
    lo_x, hi_x = float(x.min()), float(x.max())
    width = hi_x - lo_x + 1.0
    ll_u = -n * math.log(width)
    aic = {"lognormal": 4 - 2 * ll_ln, "uniform": 4 - 2 * ll_u}
    tail = 1 - 0.05 ** (1 / n)
    return {
        "kind": min(aic, key=aic.__getitem__),
        "n": n,
        "aic": aic,
        "censored": n_c,
        "median": median,
        "sigma": sig_row,
        "low": (lo_x - 0.5, math.nan, lo_x - 0.5 - width * tail, lo_x + 0.5),
        "high": (hi_x + 0.5, math.nan, hi_x - 0.5, hi_x + 0.5 + width * tail),
    }


def fit_sending(
    view: CohortView, obs: Observed, rep: Replayed, policy: Policy
) -> tuple[dict[str, Any], list[Estimate], dict[str, Any]]:
    """The cohort's ``sending`` block, its fit.csv rows and extra facts (size, problems)."""
    name = view.name
    key = f"population[{name}].sending"
    rows: list[Estimate] = []
    block: dict[str, Any] = {}
    extra: dict[str, Any] = {"problems": {}}
    members = view.members
    if len(members) >= MIN_MEMBERS and view.sends.sum() > 0:
        # A member with no exposure left (it waited for credit all along) says nothing of its rate.
        exposed = view.exposure > 0
        if view.visible_only_when_active:
            # Zero-truncated: a member seen only through a purchase is not a zero of the fit.
            exposed &= view.sends > 0
        r = fit_rates(view.sends[exposed], view.exposure[exposed], view.visible_only_when_active)
        cov = r["cov"]
        n_m, expo = len(members), f"{view.exposure.sum():,.0f} member-months"
        method = (
            "negative binomial MLE with exposure"
            + (", zero-truncated" if view.visible_only_when_active else "")
            + "; Wald on log scale"
        )
        se, lo, hi = _log_interval(r["mu"], cov[0, 0])
        rows.append(
            Estimate(
                "sending",
                name,
                f"{key}.inmails_per_month",
                r["mu"],
                se,
                lo,
                hi,
                n_m,
                "members",
                method,
                note=expo,
            )
        )
        if r["poisson"]:
            k_est, se, lo, hi = math.inf, math.nan, r["k_low"], math.inf
            note = "no heterogeneity seen: Poisson (rate_shape null); lower bound: profile"
        else:
            k_est, note = r["k"], ""
            se, lo, hi = _log_interval(r["k"], cov[1, 1])
        rows.append(
            Estimate("sending", name, f"{key}.rate_shape", k_est, se, lo, hi, n_m, "members",
                     method, note=note)
        )  # fmt: skip
        block["inmails_per_month"] = r["mu"]
        block["rate_shape"] = None if r["poisson"] else r["k"]
        if "members" in r:
            extra["members"] = r["members"]
            se = r["members_se"]
            rows.append(
                Estimate(
                    "cohorts",
                    name,
                    f"population[{name}].members",
                    r["members"],
                    se,
                    max(n_m, r["members"] - Z95 * se),
                    r["members"] + Z95 * se,
                    n_m,
                    "members seen",
                    "seen members / (1 - P(no send)), Horvitz-Thompson "
                    "from the zero-truncated negative binomial; delta method",
                )
            )
    else:
        sent = int(view.sends.sum())
        why = (
            f"{len(members)} member{'s' if len(members) != 1 else ''} with {sent} planned "
            f"send{'s' if sent != 1 else ''} (needs {MIN_MEMBERS} members and a send)"
        )
        extra["problems"].update(dict.fromkeys(("inmails_per_month", "rate_shape"), why))

    in_cohort = np.zeros(len(obs.members), bool)
    in_cohort[members] = True
    planned = (obs.action == ACT_SEND) & ~rep.retry & in_cohort[obs.member]
    n_sends = int(planned.sum())
    if n_sends < MIN_SENDS:
        why = f"{n_sends} planned send{'s' if n_sends != 1 else ''} (needs {MIN_SENDS})"
        extra["problems"].update(
            dict.fromkeys(
                (
                    "weekday_weights",
                    "body_chars",
                    "subject_chars",
                    "categories",
                    "free_share",
                    "out_of_credit",
                ),
                why,
            )
        )
        return block, rows, extra
    t = obs.time[planned]
    weekday = np.bincount(((t // DAY) + 3) % 7, minlength=7)  # Monday = 0
    # Days of each weekday in the window (a year has one weekday 53 times).
    days = np.arange(obs.start // DAY, obs.until // DAY + 1)
    per_day = np.bincount((days + 3) % 7, minlength=7).astype(np.float64)
    per_day = per_day / per_day.mean()
    # Sends per day of each weekday, scaled to average 1 over the week.
    scale = 7 / float((weekday / n_sends / per_day).sum())
    weights = []
    for d in range(7):
        p, se, lo, hi = (v * scale / per_day[d] for v in wilson(weekday[d], n_sends))
        weights.append(p)
        rows.append(
            Estimate(
                "sending",
                name,
                f"{key}.weekday_weights[{d}]",
                p,
                se,
                lo,
                hi,
                n_sends,
                "sends",
                "sends per day of the weekday in the window, scaled to average 1; Wilson",
            )
        )
    block["weekday_weights"] = weights if any(weights) else [1.0] * 7
    for field_name, values, clip in (
        ("body_chars", obs.body_chars[planned], policy.max_body_chars),
        ("subject_chars", obs.subject_chars[planned], policy.max_subject_chars),
    ):
        fit = fit_lengths(np.maximum(values, 1), clip)
        method = (
            f"{fit['kind']} by AIC ("
            + ", ".join(f"{k} {v:,.0f}" for k, v in fit["aic"].items())
            + ")"
        )
        if fit["kind"] == "fixed":
            block[field_name] = {"kind": "fixed", "value": fit["value"]}
            rows.append(
                Estimate(
                    "sending",
                    name,
                    f"{key}.{field_name}.value",
                    fit["value"],
                    0.0,
                    fit["value"],
                    fit["value"],
                    n_sends,
                    "sends",
                    "every length equal",
                )
            )
            continue
        params = ("median", "sigma") if fit["kind"] == "lognormal" else ("low", "high")
        block[field_name] = {"kind": fit["kind"]}
        for p_name in params:
            est, se, lo, hi = fit[p_name]
            block[field_name][p_name] = est
            how = (
                "MLE on log lengths; t / chi-square interval"
                if fit["kind"] == "lognormal"
                else "sample extreme -/+ 0.5 (rounding); exact interval of the extreme"
            )
            rows.append(
                Estimate(
                    "sending",
                    name,
                    f"{key}.{field_name}.{p_name}",
                    est,
                    se,
                    lo,
                    hi,
                    n_sends,
                    "sends",
                    f"{method}; {how}",
                )
            )
    cats = obs.category[planned]
    known = cats >= 0
    counts = np.bincount(cats[known].astype(np.int64), minlength=len(policy.categories))
    total = int(counts.sum())
    mix = {}
    for i, c in enumerate(policy.categories):
        p, se, lo, hi = wilson(counts[i], total)
        if counts[i]:
            mix[c] = p
        rows.append(
            Estimate(
                "sending",
                name,
                f"{key}.categories.{c}",
                p,
                se,
                lo,
                hi,
                total,
                "sends",
                "share of sends (weights); Wilson",
            )
        )
    block["categories"] = mix
    free = obs.free[planned]
    p, se, lo, hi = wilson(int(free.sum()), n_sends)
    rows.append(
        Estimate(
            "sending",
            name,
            f"{key}.free_share",
            p,
            se,
            lo,
            hi,
            n_sends,
            "sends",
            "share of sends to Open Profile members; Wilson",
        )
    )
    block["free_share"] = p
    block["out_of_credit"], ooc_rows = _out_of_credit(view, rep, policy, key)
    rows.extend(ooc_rows)
    return block, rows, extra


def _out_of_credit(
    view: CohortView, rep: Replayed, policy: Policy, key: str
) -> tuple[dict[str, Any], list[Estimate]]:
    tiers = tuple(policy.tiers)
    in_cohort = np.zeros(int(rep.joined.shape[0]), bool)
    in_cohort[view.members] = True
    mine = in_cohort[rep.nc_member]
    outcome, n = rep.nc_outcome[mine], int(mine.sum())
    rows: list[Estimate] = []
    block: dict[str, Any] = {
        "buy_probability": 0.0,
        "buy_quantity": 1,
        "upgrade_probability": 0.0,
        "upgrade_to": None,
    }
    if n == 0:
        rows.append(
            Estimate("no_credit", view.name, f"{key}.out_of_credit", math.nan, math.nan, math.nan,
                     math.nan, 0, "no_credit rejections", "not observed", source="fixed",
                     note=UNOBSERVED_OOC)
        )  # fmt: skip
        return block, rows
    method = "share of no_credit rejections, found by replaying through the engine; Wilson"
    k_buy = int((outcome == NC_BUY).sum())
    p, se, lo, hi = wilson(k_buy, n)
    block["buy_probability"] = p
    rows.append(
        Estimate(
            "no_credit",
            view.name,
            f"{key}.out_of_credit.buy_probability",
            p,
            se,
            lo,
            hi,
            n,
            "no_credit rejections",
            method,
        )
    )
    quantities = Counter(rep.nc_quantity[mine][outcome == NC_BUY].tolist())
    if quantities:
        q, c = quantities.most_common(1)[0]
        block["buy_quantity"] = int(q)
        rows.append(
            Estimate(
                "no_credit",
                view.name,
                f"{key}.out_of_credit.buy_quantity",
                q,
                math.nan,
                math.nan,
                math.nan,
                k_buy,
                "purchases",
                f"commonest quantity ({c} of {k_buy})",
            )
        )
    targets = Counter(rep.nc_target[mine][outcome == NC_UPGRADE].tolist())
    if targets:
        target = int(targets.most_common(1)[0][0])
        possible = rep.nc_tier[mine] != target
        k_up = int(((outcome == NC_UPGRADE) & possible).sum())
        p, se, lo, hi = wilson(k_up, int(possible.sum()))
        block["upgrade_probability"] = min(p, 1 - block["buy_probability"])
        block["upgrade_to"] = tiers[target]
        rows.append(
            Estimate(
                "no_credit",
                view.name,
                f"{key}.out_of_credit.upgrade_probability",
                p,
                se,
                lo,
                hi,
                int(possible.sum()),
                "no_credit rejections off the target tier",
                f"{method}; upgrade_to {tiers[target]} (commonest)",
            )
        )
    k_wait = n - k_buy - int((outcome == NC_UPGRADE).sum())
    p, se, lo, hi = wilson(k_wait, n)
    rows.append(
        Estimate(
            "no_credit",
            view.name,
            f"{key}.out_of_credit.wait_share",
            p,
            se,
            lo,
            hi,
            n,
            "no_credit rejections",
            f"{method}; not a scenario key (1 - buy - upgrade)",
        )
    )
    return block, rows
