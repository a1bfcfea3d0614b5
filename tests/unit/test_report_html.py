"""report.html as a report (issue 13): number formats, the generated narrative, previews, layout.

Most tests build values by hand and say where each expected text comes from; the page tests
use one real small run (tests/data/model/small.yaml: 75 members, 150 measured days after a
40-day warm-up, inmail-2014), simulated once for the module.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from simulator.reports import HEADLINE_DEFINITIONS, headline, load_run_tables, write_reports
from simulator.reports import display as rf
from simulator.reports import html as rh
from simulator.reports import page_tables as rt
from simulator.reports import story as rs
from simulator.runner import run, write_run
from simulator.scenario import load_scenario

SMALL = Path(__file__).resolve().parents[1] / "data" / "model" / "small.yaml"
NBSP = "\u00a0"


def text(s: str) -> str:
    """Page text with no-break spaces as plain ones (the formats join numbers to units)."""
    return html.unescape(s).replace(NBSP, " ")


# ---------------------------------------------------------------------------
# Numbers as text


@pytest.mark.parametrize(
    ("cents", "expected"),
    [
        (126879382, "USD 1,268,793.82"),  # the issue's own figure, in cents
        (0, "USD 0.00"),
        (5, "USD 0.05"),
        (-123456, "USD -1,234.56"),
        (256814000.0, "USD 2,568,140.00"),  # headline.csv stores cents as floats
    ],
)
def test_money_is_currency_units_with_separators(cents, expected):
    """Cents become currency units with thousands separators and two decimals."""
    assert text(rf.money(cents, "USD")) == expected


@pytest.mark.parametrize(
    ("share", "expected"),
    [
        (0.555, "55.5 %"),
        (0.19268556429475864, "19.3 %"),  # the raw summary.json float
        (1.0, "100.0 %"),
        (0.0057, "0.57 %"),  # below 1 %: two decimals
        (0.00001, "< 0.01 %"),
        (0.0, "0 %"),
        (1.05, "105.0 %"),  # expiry_waste's waste_rate can exceed 1
        (math.nan, "–"),
        (None, "–"),
    ],
)
def test_percent_has_sensible_digits(share, expected):
    """Rates are percentages: one decimal, two below 1 %, a dash when undefined."""
    assert text(rf.percent(share)) == expected


def test_counts_and_numbers_never_use_scientific_notation():
    """Counts get separators; large and tiny floats are written out, never as 1e+15."""
    assert rf.count(1268793) == "1,268,793"
    assert rf.count(4155.0) == "4,155"
    assert rf.number(12345.678) == "12,345.68"
    assert rf.number(90.0, 1, fixed=True) == "90.0"
    assert rf.number(math.inf) == "∞"
    for x in (2.56814e8, 1.5e15, 1.234e-5, 0.19268556429475864):
        for shown in (rf.number(x), rf.percent(x), rf.money(x, "USD"), rf.count(x)):
            assert "e" not in shown.lower() or shown.startswith("USD"), shown


def test_metric_text_follows_the_metric_name():
    """*_cents as money, *_rate/*_share and utilisation as %, the rest as counts."""
    assert text(rf.metric_text("net_revenue_cents", 119460851, "EUR")) == "EUR 1,194,608.51"
    assert text(rf.metric_text("refund_share", 0.826, "USD")) == "82.6 %"
    assert text(rf.metric_text("median_utilisation", 0.4, "USD")) == "40.0 %"
    assert rf.metric_text("credits_issued", 600187, "USD") == "600,187"


# ---------------------------------------------------------------------------
# Metrics and definitions


def test_metrics_keep_both_members_figures_and_one_money_version():
    """The summary's members (every member simulated) differs from the headline's (present in
    the window): both are kept; purchase_revenue (currency) yields to its _cents twin; net
    revenue is added as subscriptions + purchases (100 + 20 cents)."""
    got = rf.metrics(
        {"members": 10.0, "purchase_revenue_cents": 20.0, "subscription_revenue_cents": 100.0},
        {"members": 16, "members_initial": 8, "purchase_revenue": 0.2, "steady_state": {}},
    )
    assert got == {
        "members": 10,
        "purchase_revenue_cents": 20,
        "subscription_revenue_cents": 100,
        "summary.members": 16,
        "members_initial": 8,
        "net_revenue_cents": 120,
    }


def test_every_metric_of_a_real_run_is_defined(small_run):
    """Every headline and summary.json metric of a run, and every key finding, has a
    non-empty definition."""
    root, _ = small_run
    tables = load_run_tables(root)
    values = rf.metrics(headline(tables), tables.summary)
    undefined = [name for name in values if not rf.definition(name)]
    assert not undefined
    findings = rf.key_findings(values, "USD")
    assert len(findings) >= 15
    assert all(definition for _, _, definition in findings)


def test_members_figures_are_defined_apart():
    """Issue 13 (c): the members figures each say what they count."""
    assert "present" in HEADLINE_DEFINITIONS["members"]
    assert "every member simulated" in HEADLINE_DEFINITIONS["summary.members"]
    assert "warm-up" in HEADLINE_DEFINITIONS["members_initial"]
    assert "during the measured window" in HEADLINE_DEFINITIONS["arrivals"]


def test_vintage_waste_is_not_said_to_be_free_of_warm_up_bias():
    """Issue 13 (a): both waste rates are distorted by a short warm-up (baseline: vintage
    0.47 with no warm-up, 0.57 after two years; runs of scenarios/baseline.yaml, seed
    20140101, with warmup_days 0 and 730)."""
    for key in ("expiry_waste_rate", "vintage_waste_rate"):
        assert "0.47" in HEADLINE_DEFINITIONS[key] and "0.57" in HEADLINE_DEFINITIONS[key]
    assert "not free of warm-up bias" in HEADLINE_DEFINITIONS["vintage_waste_rate"]


# ---------------------------------------------------------------------------
# The narrative adapts to the run


FACTS = rs.RunFacts(
    scenario="s",
    seed="1",
    measure_start=1388534400,  # 2014-01-01T00:00:00Z
    end=1419983999,  # 2014-12-30T23:59:59Z: 364 days
    sim_start=1388534400 - 730 * 86400,
    currency="USD",
    credit_price_cents=1000,
    policy="inmail-2014",
    description="",
    refund_mode="no_response_within",
    refund_window_days=7,
)
VALUES = {
    "members": 4155,
    "members_initial": 3000,
    "arrivals": 1030,
    "credits_issued": 600,
    "credits_granted": 500,
    "credits_purchased": 0,
    "credits_refunded": 100,
    "credits_spent": 200,
    "credits_expired": 300,
    "expiry_waste_rate": 0.5,
    "expired_value_cents": 300000,
    "inmails_sent": 210,
    "inmails_paid": 200,
    "inmails_free": 10,
    "inmails_rejected": 0,
    "settled": 190,
    "refund_rate": 0.5,
    "purchases": 0,
    "purchase_revenue_cents": 0,
    "subscription_revenue_cents": 126879382,
    "net_revenue_cents": 126879382,
}
STEADY = {"steady": True, "suggested_truncation_weeks": 1, "threshold_weeks": 4}
NOT_STEADY = {
    "steady": False,
    "capped": False,
    "suggested_truncation_weeks": 30,
    "threshold_weeks": 4,
    "cap_weeks": 26,
    "suggested_warmup_days": 210,
}


def story(values=VALUES, steady=STEADY, **kw):
    return [text(p) for p in rs.narrative(values, FACTS, steady, **kw)]


def test_narrative_says_the_numbers_in_words():
    """Members, window, credits, waste and revenue, from the values above."""
    joined = " ".join(story())
    assert "4,155 members were present in the measured window (2014-01-01 to 2014-12-30: " in joined
    assert "364 days, after a 730-day warm-up)" in joined
    assert "1,030 joined during the window" in joined
    assert "(500 granted, 100 refunded)" in joined  # nothing bought: not listed
    assert "300 credits expired unspent, 50.0 % of those issued" in joined
    assert "USD 3,000.00" in joined
    assert "50.0 % earned their credit back" in joined
    assert "no attempt was rejected" in joined


def test_narrative_counts_the_members_present_when_the_summary_has_them():
    """summary.json's members_present (4,029 of the baseline) beats the headline's members
    (4,155: also those with only a ledger entry in the window, such as a late expiry)."""
    joined = " ".join(story(dict(VALUES, members_present=4029)))
    assert "4,029 members were present" in joined


def test_narrative_without_purchases_says_so():
    """No purchases: all revenue came from subscriptions."""
    joined = " ".join(story())
    assert "Members bought no credits" in joined
    assert "USD 1,268,793.82, came from subscriptions" in joined


def test_narrative_with_purchases_adds_them_up():
    """Purchases: their count, credits and revenue, and the total (1,268,793.82 + 84.00)."""
    values = dict(VALUES, purchases=3, credits_purchased=84, purchase_revenue_cents=8400,
                  net_revenue_cents=126887782)  # fmt: skip
    joined = " ".join(story(values))
    assert "Members made 3 credit purchases (84 credits) for USD 84.00" in joined
    assert "revenue over the window was USD 1,268,877.82" in joined
    assert "bought no credits" not in joined


def test_narrative_warns_first_when_the_window_is_not_steady():
    """A window that is not steady: the first paragraph is the warning, with the warm-up."""
    paragraphs = story(steady=NOT_STEADY)
    assert paragraphs[0].startswith("Warning: the measured window is not steady")
    assert "settle only 210 days into the run (MSER truncation 30 weeks)" in paragraphs[0]
    # The advice creditsim run prints: SAFETY_FACTOR (2, simulator/steady.py) x 210 days.
    assert "Rerun with a warm-up of 420 days" in paragraphs[0]
    assert not any("passed the steady-state check" in p for p in paragraphs)


def test_narrative_of_a_steady_window_says_so_last():
    """A steady window: no warning, and the check is reported after the numbers."""
    paragraphs = story()
    assert not paragraphs[0].startswith("Warning")
    assert "passed the steady-state check" in paragraphs[-1]


@pytest.mark.parametrize(
    ("steady", "expected"),
    [({"steady": None}, "Caution: whether the measured window is steady is not known"),
     (None, "records no steady-state check")],
)  # fmt: skip
def test_narrative_of_an_unknown_steadiness(steady, expected):
    """Too few weeks for MSER, or no check recorded: the page says it does not know."""
    assert any(expected in p for p in story(steady=steady))


def test_narrative_names_the_most_wasteful_tier_among_sizeable_ones():
    """The tier with the highest share expired, leaving out tiers under 1 % of the credits:
    basic (9 of 10 expired, 10 of 1,010 credits) would win on noise."""
    tiers = [("basic", 9, 10), ("premium_career", 30, 100), ("sales_navigator", 600, 900)]
    joined = " ".join(story(waste_by_tier=tiers))
    assert "sales_navigator wasted the largest share: 66.7 % of its 900 credits" in joined
    assert "left out: basic" in joined


def test_narrative_of_a_closed_population_and_no_refunds():
    """Nobody joined; a policy without refunds says so instead of a refund rate."""
    facts = rs.RunFacts(**{**FACTS.__dict__, "refund_mode": "none"})
    joined = " ".join(text(p) for p in rs.narrative(dict(VALUES, arrivals=0), facts, STEADY))
    assert "nobody joined during the window" in joined
    assert "gives no credits back" in joined


# ---------------------------------------------------------------------------
# Title and policy


def test_policy_label_names_the_preset_or_the_changes():
    """The preset's name when the resolved policy is the preset's, else what changed."""
    for preset in ("inmail-2014", "inmail-2015"):
        block = load_scenario(SMALL).with_overrides({"policy.preset": preset}).to_dict()
        assert rs.policy_label(block) == preset
    changed = load_scenario(SMALL).with_overrides({"policy.refund.window_days": 14}).to_dict()
    assert rs.policy_label(changed) == "custom (inmail-2014 with refund.window_days = 14)"
    assert rs.policy_label(None) == "not recorded (no scenario.yaml)"


# ---------------------------------------------------------------------------
# Table previews


def test_previews_hide_warm_up_rows_and_link_the_file():
    """Rows of a month before the window's start (2014-01) are hidden and counted."""
    frame = pd.DataFrame(
        {
            "tier": ["basic", "basic", "basic"],
            "month": ["2013-12", "2014-01", "2014-02"],
            "action": ["send"] * 3,
            "reason": ["no_credit"] * 3,
            "rejections": [5, 7, 11],
        }
    )
    section = text(rt.table_section("rejections", frame, FACTS, "csv"))
    assert "1 warm-up rows (before 2014-01-01) are hidden" in section
    assert '<td>send</td><td>no_credit</td><td class="num">18</td>' in section  # 7 + 11
    assert '<a href="reports/rejections.csv">' in section


def test_credit_vintages_are_summarised_without_warm_up_vintages():
    """credit_vintages: window vintages summed per tier and source; waste over settled ones."""
    frame = pd.DataFrame(
        {
            "tier": ["premium_career"] * 3,
            "lot_source": ["grant"] * 3,
            "issue_month": ["2013-12", "2014-01", "2014-12"],
            "warmup": [True, False, False],
            "issued": [5, 10, 10],
            "spent": [5, 4, 2],
            "expired": [0, 6, 0],
            "capped": [0, 0, 0],
            "forfeited": [0, 0, 0],
            "live_at_end": [0, 0, 8],
            "waste_rate": [0.0, 0.6, math.nan],
        }
    )
    section = text(rt.table_section("credit_vintages", frame, FACTS, "csv"))
    assert "1 warm-up rows" in section
    assert "60.0 %" in section  # 6 expired of the 10 of the settled vintage, not of 20
    assert "2013-12" not in section


# ---------------------------------------------------------------------------
# The page of a real small run


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """small.yaml simulated and written as a run directory with its reports."""
    out = write_run(run(load_scenario(SMALL)), tmp_path_factory.mktemp("small") / "run")
    write_reports(out)
    return out, (out / "report.html").read_text(encoding="utf-8")


def without_images(page: str) -> str:
    return re.sub(r'src="data:image/png;base64,[^"]*"', 'src=""', page)


def test_page_has_no_scientific_notation(small_run):
    """No number on the page (images aside) is written like 2.56814e+08."""
    page = without_images(small_run[1])
    assert "e+" not in page
    assert not re.search(r"\d[eE][+-]?\d", page)


def test_page_title_names_scenario_seed_window_and_policy(small_run):
    """small.yaml: scenario small, seed 11, 2024-01-01 + 150 days, inmail-2014."""
    page = small_run[1]
    title = re.search(r"<title>(.*?)</title>", page).group(1)
    assert title == "small, seed 11, 2024-01-01 to 2024-05-29, policy inmail-2014"


def test_page_shows_money_in_currency_and_rates_in_percent(small_run):
    """Key findings: revenue in USD with two decimals, rates as percentages."""
    page = text(small_run[1])
    start = page.index('<h2 id="findings">')
    findings = page[start : page.index("<h2", start + 1)]
    assert re.search(r"<code>net_revenue</code></td><td class=\"num\">USD [\d,]+\.\d\d<", findings)
    assert re.search(r"<code>refund_rate</code></td><td class=\"num\">\d+\.\d %<", findings)
    assert "_cents</code>" not in findings


def test_every_metric_row_on_the_page_has_a_definition(small_run):
    """The key findings and all-metrics tables have no empty definition cell."""
    page = small_run[1]
    for anchor in ('<h2 id="findings">', '<h2 id="metrics">'):
        start = page.index(anchor)
        table = page[start : page.index("</table>", start)]
        rows = re.findall(r"<tr><td><code>(.*?)</code>.*?<td>(.*?)</td></tr>", table)
        assert rows
        assert [name for name, definition in rows if not definition.strip()] == []


def test_links_to_tables_point_at_written_files(small_run):
    """Every reports/ link on the page names a file that exists beside it."""
    root, page = small_run
    links = re.findall(r'href="(reports/[^"]+)"', page)
    assert len(links) >= 14
    assert [link for link in links if not (root / link).is_file()] == []


def test_run_metadata_comes_last(small_run):
    """The facts of run.json (format_version, workers...) follow every other section."""
    page = small_run[1]
    meta = page.index('<h2 id="metadata">')
    assert max(m.start() for m in re.finditer("<h2", page)) == meta
    assert page.index("format_version") > meta
    assert page.index("workers") > meta


def test_per_member_utilisation_is_summarised(small_run):
    """Not one row per member: a distribution per tier, with the CSV linked."""
    page = small_run[1]
    start = page.index('<h3 id="utilisation_members">')
    section = page[start : page.index("<h3", start + 1)]
    assert section.count("<tr>") <= 10
    assert "reports/utilisation_members.csv" in section


def test_steady_section_states_the_true_search_rule(small_run):
    """Issue 13 (b): the cap is half the weeks with data; truncations are filtered."""
    page = text(small_run[1])
    section = page[page.index('<h2 id="steady_state">') : page.index('<h2 id="plots">')]
    assert "half the weeks that have data" in section
    assert "searched only up to half the window" not in section  # the old, wrong rule
    assert "3 standard errors" in section and "2.5 %" in section


def test_replications_page_formats_by_metric():
    """Rates as %, cents as currency, counts with separators, each with its definition."""
    frame = pd.DataFrame(
        {
            "metric": ["refund_rate", "net_revenue_cents", "members"],
            "n": [3, 3, 3],
            "mean": [0.5, 126879382.0, 4155.0],
            "std": [0.1, 1000.0, 10.0],
            "ci_low": [0.25, 126876898.0, 4130.2],
            "ci_high": [0.75, 126881866.0, 4179.8],
        }
    )
    page = text(rh.replications_page("s", [1, 2, 3], frame, {}))
    assert "50.0 %" in page and "USD 1,268,793.82" in page and "4,155" in page
    assert HEADLINE_DEFINITIONS["refund_rate"] in page
