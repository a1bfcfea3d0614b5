"""What each metric of a run means, in one sentence: the glossary of the report pages.

Job: :data:`HEADLINE_DEFINITIONS`, the definition of every metric of
``summary.json`` and ``headline.csv``, of the report columns that need one
and of the steady-state check; report.html shows each beside its number,
and the replications page beside its interval.

Boundary: text only; what computes each metric is in the report modules
(:mod:`simulator.reports`) and :mod:`simulator.metrics`.
"""

from __future__ import annotations

__all__ = ["HEADLINE_DEFINITIONS"]

#: What each metric is, in one sentence; for a rate, what it divides by what, over which
#: window. Keys are the metrics of ``summary.json`` and :func:`headline` (where the two
#: differ, as for ``members``, the summary's is ``summary.<name>``), ``report.column`` for
#: columns of a report's rows and ``steady_state.<key>`` for the steady-state check. The
#: measured window is ``measure_start <= time <= end``; report.html shows each definition
#: beside its number.
HEADLINE_DEFINITIONS: dict[str, str] = {
    "members": (
        "Members of the measured window (headline.csv): those present at some instant of it "
        "(arrived by its end, not left at or before its start: members_present) and those with "
        "a ledger entry in it, such as an expiry or a refund after leaving in the warm-up "
        "(summary.json's members counts every member simulated instead)."
    ),
    "summary.members": (
        "summary.json's members: every member simulated, warm-up included, i.e. members_initial "
        "plus every member who joined later, in the warm-up or the measured window, present in "
        "the window or not."
    ),
    "members_present": (
        "summary.json's count of the members present at some instant of the measured window "
        "(arrived by its end, not left at or before its start); headline.csv's members also "
        "counts those with only a ledger entry in it."
    ),
    "members_initial": (
        "Members present when the simulation started (sim_start, the start of the warm-up), "
        "before any arrival."
    ),
    "arrivals": (
        "Members who joined during the measured window; arrivals during the warm-up are not "
        "counted, so members_initial + arrivals is less than summary.json's members when "
        "members joined in the warm-up."
    ),
    "inmails_attempted": "Send attempts in the measured window, accepted or rejected.",
    "inmails_sent": "InMails sent (accepted) in the measured window, paid or free.",
    "inmails_paid": "InMails sent in the measured window that cost a credit.",
    "inmails_free": (
        "InMails sent in the measured window that cost no credit (free sends, such as to Open "
        "Profile members)."
    ),
    "inmails_rejected": (
        "Send attempts in the measured window that were rejected (no credit, a body or subject "
        "too long, a category not allowed)."
    ),
    "inmails_rejected_no_credit": (
        "Send attempts in the measured window rejected because the member had no credit."
    ),
    "purchases_rejected": (
        "Credit purchases attempted in the measured window and refused by the policy (too many "
        "credits at once or over the purchased-balance limit, or a tier that may not buy)."
    ),
    "responses": (
        "InMails sent (accepted) in the measured window that got a response (accept, decline or "
        "reply) by the end of the run."
    ),
    "credits_granted": "Credits of the monthly grants issued in the measured window.",
    "credits_purchased": "Credits bought in the measured window.",
    "credits_refunded": (
        "Credits given back in the measured window for paid InMails that earned a refund, "
        "including InMails sent late in the warm-up."
    ),
    "credits_issued": (
        "credits_granted + credits_purchased + credits_refunded: every credit issued in the "
        "measured window."
    ),
    "credits_spent": "Credits spent in the measured window, one per paid InMail.",
    "credits_expired": (
        "Credits that expired unspent in the measured window, whenever they were issued "
        "(lots of the warm-up included)."
    ),
    "credits_capped": (
        "Credits removed in the measured window by a tier's balance cap (the inmail-2015 rules "
        "cap balances; inmail-2014 has no caps)."
    ),
    "credits_forfeited": (
        "Credits removed in the measured window when their member cancelled or changed tier."
    ),
    "credits_expired_issued_before_window": (
        "Of credits_expired, those issued before the measured window (in the warm-up): in a "
        "window shorter than a credit's life they are most of the expiries, and "
        "expiry_waste_rate can pass 100 %."
    ),
    "expired_value_cents": (
        "credits_expired x the credit price: what the expired credits would cost to buy."
    ),
    "refunds": (
        "Refunds paid in the measured window, one credit each (= credits_refunded), including "
        "refunds of InMails sent late in the warm-up."
    ),
    "settled": (
        "Paid InMails sent in the measured window whose refund window closed by the end: the "
        "denominator of refund_rate."
    ),
    "refund_rate_settled_inmails": (
        "summary.json's name for settled: paid InMails sent in the measured window whose "
        "refund window closed by the end."
    ),
    "settled_refunds": "Of the settled paid InMails, those refunded: the numerator of refund_rate.",
    "late_responses": (
        "Paid InMails sent in the measured window whose response came only after their refund "
        "window had closed."
    ),
    "purchases": (
        "Credit purchases in the measured window (one purchase can buy several credits)."
    ),
    "purchase_revenue_cents": (
        "credits_purchased x the credit price: revenue from credits bought in the measured window."
    ),
    "subscription_revenue_cents": "Subscription charges billed in the measured window.",
    "net_revenue_cents": (
        "subscription_revenue + purchase_revenue: all revenue of the measured window (refunds "
        "give credits back, not money, so nothing is deducted)."
    ),
    "cancellations": "Subscriptions cancelled in the measured window.",
    "tier_changes": "Changes of tier in the measured window.",
    "response_rate": (
        "Responses (accept, decline or reply, at any time up to the end) to the InMails "
        "sent in the measured window / the InMails sent in the window (accepted, paid or "
        "free; rejected attempts excluded)."
    ),
    "refund_rate": (
        "Refunded / settled paid InMails: of the paid InMails sent in the measured window "
        "whose refund window closed by the end, the share that was refunded (InMails still "
        "inside their window would bias it, so they are left out)."
    ),
    "refund_share": (
        "Refunds paid in the measured window / credits spent in the window (paid InMails "
        "sent in it): the share of spending that came back."
    ),
    "expiry_waste_rate": (
        "Credits expired in the measured window / credits granted + purchased + refunded in "
        "the window; the window's expiries include credits issued in the warm-up, so a short "
        "or empty warm-up distorts it (baseline scenario: 0.35 with no warm-up against 0.57 "
        "after its two-year warm-up); vintage_waste_rate follows the window's own lots to "
        "their fate instead of mixing generations, but a short warm-up distorts it as well "
        "(0.47 against 0.57)."
    ),
    "grant_expiry_rate": (
        "Credits of grant lots expired in the measured window / credits granted in the "
        "window (warm-up grants expiring in the window count, as in expiry_waste_rate)."
    ),
    "vintage_waste_rate": (
        "Credits expired / credits issued, over grant and refund lots issued in the measured "
        "window in calendar months that end at least grant_expiry_days (for grants) or "
        "refund_expiry_days (for refunds) days before the run's end, so every such lot has "
        "reached its fate (the rows of credit_vintages.csv with warmup false); it does not mix "
        "generations, but it is not free of warm-up bias: members who enter the window with "
        "the small balances of a short warm-up spend more of each new lot (baseline: 0.47 "
        "with no warm-up against 0.57 after two years)."
    ),
    "never_send_share": (
        "Members who sent no accepted InMail in the measured window / all members (of the "
        "members table or with a ledger entry in the window)."
    ),
    "median_utilisation": (
        "Median, over the member-tier pairs with credits granted in the measured window, of "
        "credits spent / credits granted in the window."
    ),
    "expiry_waste.waste_rate": (
        "A month's credits expired / the same month's credits issued (granted + purchased + "
        "refunded), per tier, although the credits expiring in a month were issued up to the "
        "expiry period (90 days by default) earlier: it mixes generations and can exceed 1 "
        "(credit_vintages.csv follows each month's credits to their fate instead)."
    ),
    "expiry_waste.lost_rate": (
        "A month's credits lost (expired + capped + forfeited) / the same month's credits "
        "issued, per tier: like waste_rate, but counting credits removed by a balance cap or "
        "forfeited on leaving or on a tier change as well as expired ones; it mixes "
        "generations the same way and can exceed 1."
    ),
    "utilisation.members": (
        "Member-tier pairs, not members: a member who held several tiers in the measured "
        "window is counted once in each, so the column can sum to more than the members."
    ),
    "credit_vintages.waste_rate": (
        "Of the credits of one vintage (tier at issue, lot source, issue month, warm-up or "
        "not), the share that expired by the end of the run; empty while some of them are "
        "still live at the end, since their fate is not known yet."
    ),
    "steady_state.steady": (
        "Whether the measured window passed the check: the largest truncation that counts is "
        "at most threshold_weeks and none reached its cap."
    ),
    "steady_state.suggested_truncation_weeks": (
        "The largest truncation that counts over the four weekly series, in weeks."
    ),
    "steady_state.warmup_days": "Days simulated before the measured window (the warm-up).",
    "steady_state.suggested_warmup_days": (
        "warmup_days plus the largest truncation that counts, in days: how far into the run the "
        "weekly series settle (= warmup_days when the window is steady; creditsim run advises a "
        "warm-up of twice it when not)."
    ),
    "steady_state.threshold_weeks": "The largest truncation, in weeks, still called steady.",
    "steady_state.cap_weeks": (
        "The search cap as a week of the window: MSER tries truncations up to half the weeks "
        "that have data in a series (not half the window); the largest cap over the series."
    ),
    "steady_state.z_threshold": (
        "A truncation counts only if the weeks it drops differ from the rest by more than this "
        "many standard errors (autocorrelation allowed for), and bias_threshold is exceeded too."
    ),
    "steady_state.bias_threshold": (
        "A truncation counts only if keeping the weeks it drops moves the window's mean by more "
        "than this share of the rest's mean, and z_threshold is exceeded too."
    ),
    "steady_state.capped": (
        "Whether a truncation that counts reached its search cap: the run needs a longer warm-up "
        "than the cap can show."
    ),
    "steady_state.method": "How the truncations are found.",
    "steady_state.auto": (
        "How warmup_days: auto chose the warm-up from a pilot run (absent when the scenario "
        "gave warmup_days)."
    ),
}
