"""The files of a fit: scenario.yaml, fit.csv, validation.csv, plots and fit.html.

Job: draw the fit's figures (matplotlib, Agg) and write its output folder,
with ``fit.html`` one self-contained page (figures inlined as data: URIs, no
external file), in the house style of ``report.html``: what was fitted, the
parameters with their intervals and methods, the delay fit against
Kaplan-Meier, the validation table and figure, and the scenario itself.

Boundary: drawing and writing; every number comes from the :class:`Fit`.
"""

from __future__ import annotations

import base64
import html
import io
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
    """The figure ``name`` (one of :data:`PLOTS`)."""
    import matplotlib  # drawing is optional: loaded only when a figure is asked for

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # after choosing the backend

    if name not in PLOTS:
        raise UsageError(f"plot: expected one of {', '.join(PLOTS)}, got {name!r}")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if name == "delays":
        rec = fit.recipients_fit
        km = rec.get("km")
        if km is not None:
            ax.step(km["days"], km["survival"], where="post", color="k", label="Kaplan-Meier")
            ax.fill_between(km["days"], km["low"], km["high"], step="post", color="k", alpha=0.15)
            days = np.linspace(0, float(km["days"].max()), 400)
            for kind in DELAY_KINDS:
                style = "-" if kind == rec["best"] else ":"
                ax.plot(days, model_survival(rec, kind, days), style, label=f"{kind} (cure model)")
            ax.set_xlim(0, max(1.0, float(np.quantile(rec["data"]["delay"], 0.99)) * 2))
            ax.legend()
        else:
            ax.text(0.5, 0.5, "recipients not fitted (too few responses)", ha="center")
        ax.set_xlabel("days since the InMail was sent")
        ax.set_ylabel("share of accepted sends not yet answered")
        ax.set_title("Response delays: censoring-aware fits against Kaplan-Meier")
    elif name == "rates":
        p = fit.parameters
        rows = p[p["parameter"].str.endswith("sending.inmails_per_month") & (p["source"] == "fit")]
        y = np.arange(len(rows))
        est = rows["estimate"].to_numpy()
        err = np.vstack([est - rows["low"].to_numpy(), rows["high"].to_numpy() - est])
        ax.errorbar(est, y, xerr=err, fmt="o", capsize=4)
        ax.set_yticks(y, rows["cohort"].tolist())
        ax.set_xscale("log")
        ax.set_xlabel("InMails per month (95 % interval)")
        ax.set_title("Sending rate by cohort")
    else:
        v = fit.validation
        if v is None or v.empty:
            ax.text(0.5, 0.5, "no validation (--validate N)", ha="center", va="center")
            ax.set_axis_off()
        else:
            mean = v["simulated_mean"].to_numpy(dtype=float)
            scale = np.where(np.abs(mean) > 0, np.abs(mean), 1.0)
            y = np.arange(len(v))
            xerr = [(mean - v["low"]) / scale, (v["high"] - mean) / scale]
            label = "simulated (95 % prediction interval)"
            ax.errorbar(mean / scale, y, xerr=xerr, fmt="o", capsize=4, label=label)
            ax.plot(v["observed"] / scale, y, "kx", markersize=9, label="observed history")
            ax.set_yticks(y, v["metric"].tolist())
            ax.set_xlabel("relative to the simulations' mean")
            ax.set_title("Validation: the fitted scenario against the history")
            ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    return fig


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt  # already loaded by figure()

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


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
