"""The HTML pages of reports: a run's report.html and the replications page.

Job: turn what :mod:`simulator.reports` computed (the report frames, the
headline metrics, ``run.json``, ``summary.json``, the resolved scenario and
the PNG figures) into one self-contained page an analyst can forward: a
title naming the scenario, seed, measured window and policy; a narrative of
the key numbers generated from the run (:mod:`simulator.reports.story`); the
key findings with their definitions (:mod:`simulator.reports.display`); the
steady-state check; the plots; previews of the tables
(:mod:`simulator.reports.page_tables`); every metric; and the run's metadata last.

Boundary: pure functions from values to text. Nothing here reads the ledger,
computes a metric of the run, reads or writes a file, or draws:
:mod:`simulator.reports` computes and writes, :mod:`simulator.plots` draws.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from simulator.reports.definitions import HEADLINE_DEFINITIONS
from simulator.reports.display import (
    DASH,
    count,
    definition,
    display_name,
    key_findings,
    metric_text,
    metrics,
    missing,
    money,
    number,
    percent,
)
from simulator.reports.page_tables import (
    PLOT_NOTES,
    TITLES,
    html_table,
    pairs_table,
    table_section,
)
from simulator.reports.registry import REPORTS
from simulator.reports.run_tables import RunTables
from simulator.reports.story import RunFacts, flat_items, narrative, vintage_waste_by_tier

__all__ = [
    "replications_page",
    "run_page",
    "steady_block",
]

# ---------------------------------------------------------------------------
# The steady-state section


def _steady_section(block: Mapping[str, Any], png: bytes | None, currency: str) -> str:
    # matplotlib (simulator.plots) only when a page is built: workers import this package.
    from simulator.plots import steady_state_title

    esc = html.escape
    threshold, cap = block.get("threshold_weeks"), block.get("cap_weeks")
    z, bias = block.get("z_threshold", 3.0), block.get("bias_threshold", 0.025)
    explain = (
        "Four weekly series over the measured window (expiry waste, refund rate, response rate, "
        "spend per active member). For each, MSER picks the truncation (the number of leading "
        "weeks dropped) that minimises the squared standard error of the mean of the remaining "
        "weeks, searching truncations up to half the weeks that have data in that series "
        f"(cap_weeks, {cap}, is the largest such cap, as a week of the window). A truncation "
        f"counts only if the weeks it drops differ from the rest by more than {number(z)} "
        "standard errors (bias_z, allowing for autocorrelation) and keeping them moves the "
        f"window's mean by more than {percent(bias)} of the rest's mean (bias); otherwise the "
        "series' truncation is 0 (weeks before a series' first data always count). The window "
        f"is steady when the largest truncation that counts is at most threshold_weeks "
        f"({threshold}) and none reached its cap; a truncation at the cap means the run needs a "
        f"longer warm-up than the cap shows. Method: {block.get('method', 'MSER')}."
    )
    keys = (
        "steady",
        "suggested_truncation_weeks",
        "warmup_days",
        "suggested_warmup_days",
        "threshold_weeks",
        "cap_weeks",
        "z_threshold",
        "bias_threshold",
        "capped",
    )
    facts = [
        (
            f"steady_state.{k}",
            _steady_value(k, block[k], currency),
            HEADLINE_DEFINITIONS.get(f"steady_state.{k}", ""),
        )
        for k in keys
        if block.get(k) is not None
    ]
    auto = block.get("auto")
    if isinstance(auto, Mapping):
        for k, value in flat_items(auto):
            if not isinstance(value, tuple):
                facts.append(
                    (
                        f"steady_state.auto.{k}",
                        _steady_value(k, value, currency),
                        HEADLINE_DEFINITIONS["steady_state.auto"],
                    )
                )
    per_series = block.get("truncation_weeks") or {}
    rows = pd.DataFrame(
        {
            "series": [str(k) for k in per_series],
            "mser_weeks": [_of(block, "mser_weeks", k) for k in per_series],
            "bias_z": [_of(block, "bias_z", k) for k in per_series],
            "bias": [percent(_of(block, "bias", k)) for k in per_series],
            "truncation_weeks": [
                "too few weeks with data" if v is None else str(v) for v in per_series.values()
            ],
        }
    )
    rows["mser_weeks"] = [DASH if missing(x) else str(int(x)) for x in rows["mser_weeks"]]
    rows["bias_z"] = [number(x, 2) for x in rows["bias_z"]]
    verdict = steady_state_title(block)
    cls = "ok" if block.get("steady") is True else "warn"
    body = [
        f'<p class="{cls}"><strong>{esc(verdict)}</strong></p>',
        f'<p class="note">{esc(explain)}</p>',
        html_table(rows, currency),
        '<p class="note">Per series: mser_weeks is MSER\'s minimum; bias_z and bias are the '
        "tests of the weeks it would drop; truncation_weeks is the truncation that counts.</p>",
        pairs_table(facts, ("metric", "value", "definition")),
    ]
    if png is not None:
        body.append(_html_image("steady_state", png))
    return "\n".join(body)


def _of(block: Mapping[str, Any], key: str, series: str) -> Any:
    part = block.get(key)
    return part.get(series) if isinstance(part, Mapping) else None


def _steady_value(key: str, value: Any, currency: str) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return metric_text(key, value, currency)
    return str(value)


# ---------------------------------------------------------------------------
# Pages


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1180px;padding:0 1em;"
    "color:#222;line-height:1.45}"
    "h1{font-size:1.6em;margin-bottom:0.2em}h1 .sub{display:block;font-size:0.6em;color:#555;"
    "font-weight:normal}"
    "h2{border-bottom:1px solid #ddd;margin-top:2em}h4{margin:1em 0 0.2em}"
    # Wide tables scroll inside themselves, so the page never overflows at 1,280 px.
    "table{border-collapse:collapse;font-size:13px;margin:0.5em 0 1.2em;"
    "display:block;overflow-x:auto;max-width:100%}"
    "th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}"
    "th{background:#f0f0f0}td.num{text-align:right;white-space:nowrap}th.num{text-align:right}"
    "table.defs td:last-child{max-width:46em}code{font-size:12px}"
    "img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}"
    "nav{display:flex;flex-wrap:wrap;gap:0.25em 1em;padding:0.5em 0;"
    "border-bottom:1px solid #ddd}nav a{white-space:nowrap}"
    ".contents{font-size:13px}"
    ".note{color:#555;font-size:12px;max-width:60em}"
    ".narrative p{max-width:60em}"
    ".warn{background:#fff3cd;border-left:4px solid #c80;padding:0.5em 0.8em}"
    ".ok{border-left:4px solid #3a3;padding:0.2em 0.8em}"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere}"
)


def _html_image(name: str, png: bytes) -> str:
    """An <img> holding ``png`` as a data: URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'


def _head(title: str) -> list[str]:
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head><body>",
    ]


def _nav(links: Sequence[tuple[str, str]], cls: str = "") -> str:
    esc = html.escape
    attr = f' class="{cls}"' if cls else ""
    return (
        f"<nav{attr}>" + "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in links) + "</nav>"
    )


def run_page(
    tables: RunTables,
    frames: Mapping[str, pd.DataFrame],
    images: Mapping[str, bytes],
    *,
    headline: Mapping[str, Any],
    scenario: Mapping[str, Any] | None = None,
    ext: str = "csv",
) -> str:
    """A run's report.html: title, narrative, key findings, steady state, plots, table
    previews, all metrics, run metadata (last). ``frames`` are the report tables written to
    ``reports/<name>.<ext>``, ``headline`` the metrics of :func:`reports.headline`, ``images``
    the PNGs by name (``steady_state`` shown in its own section), ``scenario`` the resolved
    scenario (``scenario.yaml``) if known."""
    esc = html.escape
    run = RunFacts.of(tables, scenario)
    summary = tables.summary
    values = metrics(headline, summary)
    steady = steady_block(summary)
    images = dict(images)
    steady_png = images.pop("steady_state", None)
    vintages = frames.get("credit_vintages")
    waste_by_tier = [] if vintages is None else vintage_waste_by_tier(vintages)

    parts = _head(run.title)
    parts.append(
        f'<h1>{esc(run.scenario)}<span class="sub">seed {esc(run.seed)} · measured '
        f"{esc(run.window)} · policy {esc(run.policy)} · amounts in {esc(run.currency)}</span></h1>"
    )
    if run.description:
        parts.append(f'<p class="note">{esc(run.description)}</p>')
    sections = [("summary", "Summary"), ("findings", "Key findings")]
    if steady is not None:
        sections.append(("steady_state", "Steady state"))
    if images:
        sections.append(("plots", "Plots"))
    # The written reports in the registry's order (the headline is the metrics section).
    tables_shown = [
        r.name for r in REPORTS if r.written and r.name != "headline" and r.name in frames
    ]
    sections += [("tables", "Tables"), ("metrics", "All metrics"), ("metadata", "Run metadata")]
    parts.append(_nav(sections))

    parts.append('<h2 id="summary">Summary</h2><div class="narrative">')
    for i, text in enumerate(narrative(values, run, steady, waste_by_tier)):
        warn = i == 0 and steady is not None and steady.get("steady") is not True
        parts.append(f'<p class="warn">{esc(text)}</p>' if warn else f"<p>{esc(text)}</p>")
    parts.append("</div>")

    parts.append('<h2 id="findings">Key findings</h2>')
    parts.append(
        '<p class="note">Over the measured window unless the definition says otherwise; money '
        f"in {esc(run.currency)}, rates as percentages (– : undefined, a zero denominator).</p>"
    )
    parts.append(pairs_table(key_findings(values, run.currency), ("metric", "value", "definition")))

    if steady is not None:
        parts.append('<h2 id="steady_state">Is the measured window steady?</h2>')
        parts.append(_steady_section(steady, steady_png, run.currency))

    if images:
        parts.append('<h2 id="plots">Plots</h2>')
        parts.append(_nav([(f"plot-{n}", TITLES.get(n, n)) for n in images], "contents"))
        for name, png in images.items():
            parts.append(f'<h3 id="plot-{esc(name)}">{esc(TITLES.get(name, name))}</h3>')
            if name in PLOT_NOTES:
                parts.append(f'<p class="note">{esc(PLOT_NOTES[name])}</p>')
            parts.append(_html_image(name, png))

    parts.append('<h2 id="tables">Tables</h2>')
    parts.append(
        '<p class="note">Previews of the tables in reports/: warm-up rows hidden, long tables '
        "summarised; each links to its full file.</p>"
    )
    parts.append(_nav([(n, TITLES.get(n, n)) for n in tables_shown], "contents"))
    for name in tables_shown:
        parts.append(table_section(name, frames[name], run, ext))

    parts.append('<h2 id="metrics">All metrics</h2>')
    link = f"reports/headline.{ext}"
    parts.append(
        '<p class="note">Every headline metric, recomputed from the tables '
        f'(<a href="{esc(link)}">{esc(link)}</a>), and the simulator\'s summary.json metrics it '
        "lacks; summary.<name> marks a summary.json figure that differs from the headline one "
        "of the same name.</p>"
    )
    rows = [
        (display_name(k), metric_text(k, x, run.currency), definition(k)) for k, x in values.items()
    ]
    parts.append(pairs_table(rows, ("metric", "value", "definition")))

    parts.append('<h2 id="metadata">Run metadata</h2>')
    parts.append(_metadata_table(tables.meta, run))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _metadata_table(meta: Mapping[str, Any], run: RunFacts) -> str:
    esc = html.escape
    rows = [("policy", run.policy)]
    for key, value in flat_items(meta):
        if isinstance(value, tuple):
            continue
        if key == "credit_price_cents":
            rows.append(("credit_price", money(value, run.currency)))
        elif key.startswith("counts."):
            rows.append((key, count(value)))
        elif key.startswith("timings.") and isinstance(value, int | float):
            rows.append((key, f"{number(value, 1)} s"))
        elif isinstance(value, float):
            rows.append((key, number(value, 4)))
        else:
            rows.append((key, "null" if value is None else str(value)))
    return (
        "<table><tbody>"
        + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
        + "</tbody></table>"
    )


def steady_block(summary: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``summary.json``'s ``steady_state`` block, or None when absent (older runs) or unusable."""
    block = summary.get("steady_state")
    if not isinstance(block, Mapping):
        return None
    if not isinstance(block.get("week_start"), list) or not isinstance(
        block.get("series"), Mapping
    ):
        return None
    return block


def replications_page(
    scenario: str,
    seeds: Sequence[Any],
    frame: pd.DataFrame,
    images: Mapping[str, bytes],
    currency: str = "USD",
) -> str:
    """The replications page: each metric's mean and 95 % t-interval over seeds, with its
    definition, the plot, and the seeds last. Values are shown by the metric's unit."""
    esc = html.escape
    title = f"creditsim replications: {scenario} ({len(seeds)} seeds)"
    parts = [*_head(title), f"<h1>{esc(title)}</h1>"]
    parts.append(_nav([("table", "Replications"), ("plots", "Plot"), ("metadata", "Seeds")]))
    parts.append('<h2 id="table">Replications</h2>')
    parts.append(
        '<p class="note">Per metric of summary.json: n runs, mean, sample standard deviation '
        "and the 95 % Student-t interval of the mean.</p>"
    )
    rows = []
    for rec in frame.to_dict("records"):
        name = str(rec["metric"])

        def show(x: Any, name: str = name) -> str:
            return metric_text(name, x, currency)

        rows.append(
            {
                "metric": display_name(name),
                "n": count(rec["n"]),
                **{k: show(rec[k]) for k in ("mean", "std", "ci_low", "ci_high")},
                "definition": definition(name),
            }
        )
    shown = pd.DataFrame(
        rows, columns=["metric", "n", "mean", "std", "ci_low", "ci_high", "definition"]
    )
    parts.append(html_table(shown, currency, classes="defs"))
    if images:
        parts.append('<h2 id="plots">Plot</h2>')
        parts += [_html_image(name, png) for name, png in images.items()]
    parts.append('<h2 id="metadata">Seeds</h2>')
    parts.append(f"<p>{esc(', '.join(map(str, seeds)))}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
