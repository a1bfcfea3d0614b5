"""The files of a fit: scenario.yaml, fit.csv, validation.csv, plots and fit.html.

Job: hand the fit's figures their numbers (:mod:`simulator.plots.calibration` draws
them) and write its output folder,
with ``fit.html`` one self-contained page (figures inlined as data: URIs, no
external file), in the house style of ``report.html``: what was fitted, the
parameters with their intervals and methods, the delay fit against
Kaplan-Meier, the validation table and figure, and the scenario itself.

Boundary: the page and the files; every number comes from the :class:`Fit`.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from simulator.calibration.recipients import DELAY_KINDS, fit_delay_naive, model_survival
from simulator.errors import UsageError
from simulator.timeutil import format_instant

if TYPE_CHECKING:
    from simulator.calibration.result import Fit

__all__ = ["PLOTS", "cohort_summary", "figure", "naive_comparison", "page", "save"]

#: The figures a fit draws, by name.
PLOTS = ("delays", "rates", "validation")

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1180px;padding:0 1em;"
    "color:#222;line-height:1.45}h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;"
    "margin-top:2em}table{border-collapse:collapse;font-size:13px;margin:0.5em 0 1.2em;"
    "display:block;overflow-x:auto;max-width:100%}th,td{border:1px solid #ccc;padding:2px 6px;"
    "text-align:left;vertical-align:top}th{background:#f0f0f0}td.num{text-align:right;"
    "white-space:nowrap}img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}"
    ".note{color:#555;font-size:12px;max-width:60em}.warn{background:#fff3cd;border-left:4px "
    "solid #c80;padding:0.5em 0.8em}.ok{border-left:4px solid #3a3;padding:0.2em 0.8em}"
    "pre{white-space:pre-wrap;font-size:12px}"
)


def figure(fit: Fit, name: str) -> Any:
    """The figure ``name`` (one of :data:`PLOTS`), drawn by :mod:`simulator.plots.calibration`."""
    # matplotlib (simulator.plots) is loaded only when a figure is asked for.
    from simulator import plots

    if name not in PLOTS:
        raise UsageError(f"plot: expected one of {', '.join(PLOTS)}, got {name!r}")
    if name == "delays":
        rec = fit.recipients_fit
        km = rec.get("km")
        if km is None:
            return plots.plot_fit_delays(None, {}, None, 1.0)
        days = np.linspace(0, float(km["days"].max()), 400)
        curves = {kind: (days, model_survival(rec, kind, days)) for kind in DELAY_KINDS}
        xmax = max(1.0, float(np.quantile(rec["data"]["delay"], 0.99)) * 2)
        return plots.plot_fit_delays(km, curves, rec["best"], xmax)
    if name == "rates":
        p = fit.parameters
        return plots.plot_fit_rates(
            p[p["parameter"].str.endswith("sending.inmails_per_month") & (p["source"] == "fit")]
        )
    return plots.plot_fit_validation(fit.validation)


def _png(fig: Any) -> bytes:
    from simulator.plots import figure_png  # matplotlib only when drawing, as above

    return figure_png(fig)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return html.escape(str(value))


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = "".join(
            f'<td class="num">{_cell(v)}</td>'
            if isinstance(v, int | float)
            else f"<td>{_cell(v)}</td>"
            for v in row
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(fit: Fit, pngs: dict[str, bytes], scenario_text: str) -> str:
    """``fit.html``: one self-contained page."""
    esc = html.escape
    obs = fit.observed
    p = fit.parameters
    base = p[p["source"] != "fit"]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(fit.scenario.name)}: creditsim fit</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>creditsim fit: {esc(fit.scenario.name)}</h1>",
        f"<p>{len(obs):,} rows of {len(obs.members):,} members from "
        f"{esc(', '.join(fit.sources))}, observed {format_instant(obs.start)} to "
        f"{format_instant(obs.until)}. {len(fit.cohorts)} cohorts, {len(p)} parameters; every "
        "interval is 95 %.</p>",
    ]  # fmt: skip
    if len(base):
        parts.append(f'<p class="warn">{len(base)} parameters are not estimated from the history '
                     "(source base or fixed): see their notes.</p>")  # fmt: skip
    parts.append(
        '<h2 id="cohorts">Cohorts</h2><p class="note">The fitted scenario\'s values '
        "(intervals in the parameter table below).</p>" + _table(cohort_summary(fit))
    )
    rec = fit.scenario.recipients
    parts.append(
        f"<p>Recipients: response probability {rec.response_probability:.3f} (times "
        f"the length and category multipliers), delay {esc(rec.delay.kind)}.</p>"
    )
    if fit.validation is not None:
        v = fit.validation
        bad = v[v["verdict"] != "consistent"]
        cls = "ok" if bad.empty else "warn"
        parts.append(f'<h2 id="validation">Validation</h2><p class="{cls}">'
                     f"{len(v) - len(bad)} of {len(v)} headline metrics of the history fall inside "
                     "the fitted scenario's 95 % prediction interval.</p>" + _table(v))  # fmt: skip
        parts.append(_img("validation", pngs))
    parts.append('<h2 id="delays">Response delays</h2><p class="note">The fitted curves are '
                 "1 - mean(q) F(t) of the mixture cure model; the step curve is Kaplan-Meier of "
                 "the time to response of every accepted send, censored at the end of observation."
                 "</p>" + _img("delays", pngs))  # fmt: skip
    naive = naive_comparison(fit)
    if len(naive):
        parts.append('<p class="note">The same fit ignoring censoring (every InMail unanswered '
                     "by the end taken as never answered, delays as seen) reads short delays "
                     "and a low response probability when delays are long against the "
                     "observation period:</p>" + _table(naive))  # fmt: skip
    parts.append('<h2 id="rates">Sending rates</h2>' + _img("rates", pngs))
    arrivals = fit.arrivals
    totals = arrivals.groupby("cohort")["arrivals"].sum()
    arrivals = arrivals[arrivals["cohort"].isin(totals[totals > 0].index)]
    if len(arrivals):
        wide = arrivals.pivot(index="start", columns="cohort", values="arrivals").reset_index()
        parts.append('<h2 id="arrivals">Arrivals by month (arrivals.csv)</h2><p class="note">'
                     "First subscriptions after each cohort's initial spread, by average month "
                     "from the start of observation.</p>" + _table(wide))  # fmt: skip
    parts.append('<h2 id="parameters">Parameters (fit.csv)</h2>' + _table(p))
    parts.append(f'<h2 id="scenario">scenario.yaml</h2><pre>{esc(scenario_text)}</pre>')
    parts.append("</body></html>")
    return "\n".join(parts)


def naive_comparison(fit: Fit) -> pd.DataFrame:
    """The censoring-aware recipients fit beside the naive one, parameter by parameter."""
    rec = fit.recipients_fit
    if rec.get("block") is None:
        return pd.DataFrame()
    naive = fit_delay_naive(fit.observed, fit.replayed, fit.scenario.policy)
    rows = [("response_probability", rec["block"]["response_probability"],
             naive["block"]["response_probability"])]  # fmt: skip
    kind = rec["best"]
    aware = rec["fits"][kind]
    plain = naive["fits"][kind]
    n_q = rec["n_q"]
    for name, value in _delay_values(kind, aware["x"][n_q:]).items():
        rows.append((f"delay ({kind}) {name}", value, _delay_values(kind, plain["x"][n_q:])[name]))
    return pd.DataFrame(rows, columns=["parameter", "censoring-aware", "naive"])


def _delay_values(kind: str, x: np.ndarray) -> dict[str, float]:
    if kind == "exponential":
        return {"mean_days": math.exp(x[0])}
    if kind == "lognormal":
        return {"median_days": math.exp(x[0]), "sigma": math.exp(x[1])}
    return {"shape": math.exp(x[0]), "mean_days": math.exp(x[1])}


def cohort_summary(fit: Fit) -> pd.DataFrame:
    """One row per fitted cohort: the headline values of its scenario block."""
    rows = []
    for c in fit.scenario.population:
        s = c.sending
        rows.append({
            "cohort": c.name, "tier": c.tier, "members": c.members,
            "inmails_per_month": s.inmails_per_month,
            "rate_shape": math.inf if s.rate_shape is None else s.rate_shape,
            "monthly_cancel": c.monthly_cancel_probability,
            "monthly_change": c.monthly_change_probability,
            "arrivals_a_month": c.arrivals.monthly_rate if c.arrivals is not None else 0.0,
            "after_cancel": c.after_cancel, "free_share": s.free_share,
            "buy_when_out": s.out_of_credit.buy_probability,
        })  # fmt: skip
    return pd.DataFrame(rows)


def _img(name: str, pngs: dict[str, bytes]) -> str:
    data = base64.b64encode(pngs[name]).decode("ascii")
    return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'


def save(fit: Fit, out: Path) -> Path:
    """Write the fit's folder ``out`` (created; files in it are replaced)."""
    from simulator.calibration.result import dump_scenario  # result imports this module lazily

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    (out / "plots").mkdir(parents=True, exist_ok=True)
    text = dump_scenario(fit.scenario)
    (out / "scenario.yaml").write_text(text, encoding="utf-8")
    fit.parameters.to_csv(out / "fit.csv", index=False)
    fit.arrivals.to_csv(out / "arrivals.csv", index=False)
    if fit.validation is not None:
        fit.validation.to_csv(out / "validation.csv", index=False)
        if fit.validation_runs is not None:
            fit.validation_runs.to_csv(out / "validation_runs.csv", index=False)
    pngs = {name: _png(figure(fit, name)) for name in PLOTS}
    for name, png in pngs.items():
        (out / "plots" / f"{name}.png").write_bytes(png)
    (out / "fit.html").write_text(page(fit, pngs, text), encoding="utf-8")
    return out
