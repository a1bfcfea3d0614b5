"""The run's summary: ``summary.json`` as sums over members, merged and finished.

Job: reduce a batch's tables to the sums behind ``summary.json``
(:func:`summary_counts`, on the Arrow columns with numpy, no per-row Python),
add the sums of a run's batches (:func:`merge_counts`) and turn them into the
summary (:func:`finish_summary`: rates, money in cents and in units, the
steady-state block). Every value is a sum over members, so the summary is the
same for any batch size, number of workers or executor. :data:`SUMMARY_METRICS`
names its numbers, in order.

Boundary: reads tables, writes nothing; running the batches and writing the
run directory are :mod:`simulator.runner`'s, the shared definitions of the
rates :mod:`simulator.metrics`'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from simulator.columns import arrow_codes, arrow_seconds, arrow_text, iso_seconds
from simulator.metrics import json_value, rate, window_metrics
from simulator.population import Roster
from simulator.scenario import Scenario
from simulator.steady import NO_RESPONSE, merge_bins, steady_bins, steady_block
from simulator.tables import SimTables
from simulator.timeutil import DAY
from simulator.vocabulary import NO_INSTANT, SEND_REASONS

__all__ = [
    "SUMMARY_METRICS",
    "finish_summary",
    "merge_counts",
    "summarise",
    "summary_counts",
]

#: The numbers of ``summary.json`` (:func:`summarise`), in its order: the metrics a
#: sweep's results.parquet and a sensitivity study carry (a test keeps this in step).
SUMMARY_METRICS: tuple[str, ...] = (
    "members", "members_initial", "arrivals", "members_present",
    "inmails_attempted", "inmails_sent", "inmails_paid", "inmails_free", "inmails_rejected",
    *(f"inmails_rejected_{reason}" for reason in SEND_REASONS),
    "responses", "response_rate", "refunds", "refund_rate", "refund_rate_settled_inmails",
    "late_responses", "credits_granted", "credits_purchased", "credits_refunded",
    "credits_spent", "credits_expired", "credits_capped", "credits_forfeited",
    "credits_expired_issued_before_window", "expiry_waste_rate", "grant_expiry_rate",
    "vintage_waste_rate", "purchase_revenue_cents", "purchase_revenue",
    "subscription_revenue_cents", "subscription_revenue", "net_revenue_cents", "net_revenue",
    "cancellations", "tier_changes",
)  # fmt: skip


def summarise(tables: SimTables, scenario: Scenario, members: Roster) -> dict[str, Any]:
    """Headline metrics over the measured window ``[start, end]`` (warm-up excluded).

    :func:`finish_summary` of :func:`summary_counts`: README's table of
    ``summary.json`` says what each rate divides by what.
    """
    return finish_summary(summary_counts(tables, scenario, members), scenario)


def summary_counts(
    tables: SimTables, scenario: Scenario, members: Roster, lo: int = 0, hi: int | None = None
) -> dict[str, Any]:
    """The sums behind ``summary.json`` of the members ``lo`` to ``hi`` (by global index).

    ``tables`` hold exactly those members (the whole run by default). Every
    value is a sum over members (``steady`` holds :func:`simulator.steady.steady_bins`),
    so the counts of a run's member batches, merged by :func:`merge_counts`,
    are the counts of the whole run, and :func:`finish_summary` of them is its
    summary whatever the batches. Computed on the Arrow columns with numpy (no
    per-row Python), so it stays cheap for tens of millions of ledger entries.
    """
    hi = members.size if hi is None else hi
    start, end = scenario.start, scenario.end
    led, inm = tables.arrow["ledger"], tables.arrow["inmails"]
    lt = arrow_seconds(led.column("time"))
    in_window = lt >= start
    kind, kind_names = arrow_codes(led.column("kind"))
    qty = led.column("quantity").to_numpy()

    def credits(name: str) -> int:
        if name not in kind_names:
            return 0
        return int(qty[in_window & (kind == kind_names.index(name))].sum())

    def kind_is(name: str) -> np.ndarray:
        return kind == (kind_names.index(name) if name in kind_names else -2)

    # Of the window's expiries, the credits issued before it (in the warm-up).
    issued_before = arrow_seconds(led.column("lot_issued_at")) < start
    expired_before = int(qty[in_window & kind_is("expire") & issued_before].sum())

    sent_at = arrow_seconds(inm.column("sent_at"))
    w = sent_at >= start
    rejection = arrow_text(inm.column("rejection"))[w]
    accepted = rejection == ""
    free = inm.column("free").to_numpy(zero_copy_only=False)[w]
    paid = inm.column("paid").to_numpy(zero_copy_only=False)[w]
    response = arrow_text(inm.column("response"))[w]
    responded_at = arrow_seconds(inm.column("responded_at"))[w]
    refunded_at = arrow_seconds(inm.column("refunded_at"))[w]
    window_end = arrow_seconds(inm.column("window_end"))[w]
    settled = paid & (window_end != _NONE) & (window_end <= end)
    responded = accepted & (response != "")
    late = paid & (responded_at != _NONE) & (window_end != _NONE) & (responded_at > window_end)
    # Lot sources as codes (comparing millions of texts is slow); -2: absent.
    src_codes, src_names = arrow_codes(led.column("lot_source"))

    def source_is(name: str) -> np.ndarray:
        code = src_names.index(name) if name in src_names else -2
        return src_codes == code

    lot_issued_at = arrow_seconds(led.column("lot_issued_at"))
    vintage_expired, vintage_issued = _vintage_waste(
        kind_is, qty, source_is, lot_issued_at, scenario
    )
    bill = tables.arrow["billing"]
    bill_cents = bill.column("amount_cents").to_numpy()
    hist = tables.history
    actions = arrow_text(hist.column("action"))
    h_window = iso_seconds(hist.column("time")) >= start
    arrived = members.joined[max(lo, members.initial) : hi]
    mem = tables.arrow["members"]
    m_arrived = arrow_seconds(mem.column("arrived_at"))
    m_left = arrow_seconds(mem.column("left_at"))
    # Present at some instant of [start, end]: arrived by its end, not left by its start.
    present = ((m_arrived == _NONE) | (m_arrived <= end)) & ((m_left == _NONE) | (m_left > start))
    counts: dict[str, Any] = {
        "members": hi - lo,
        "members_initial": max(0, min(hi, members.initial) - lo),
        "arrivals": int(((arrived >= start) & (arrived <= end)).sum()),
        "members_present": int(present.sum()),
        "inmails_attempted": int(w.sum()),
        "inmails_sent": int(accepted.sum()),
        "inmails_paid": int(paid.sum()),
        "inmails_free": int((accepted & free).sum()),
        "inmails_rejected": int((~accepted).sum()),
        **{f"inmails_rejected_{r}": int((rejection == r).sum()) for r in SEND_REASONS},
        "responses": int(responded.sum()),
        "refunds": int((in_window & kind_is("refund")).sum()),
        "refund_rate_settled_inmails": int(settled.sum()),
        "settled_refunded": int((settled & (refunded_at != _NONE)).sum()),
        "late_responses": int(late.sum()),
        **{f"credits_{key}": credits(name) for key, name in _CREDITS},
        "credits_expired_issued_before_window": expired_before,
        "grants_expired": int(qty[in_window & kind_is("expire") & source_is("grant")].sum()),
        "vintage_expired": vintage_expired,
        "vintage_issued": vintage_issued,
        "subscription_revenue_cents": int(
            bill_cents[arrow_seconds(bill.column("time")) >= start].sum()
        ),
        "cancellations": int(((actions == "cancel") & h_window).sum()),
        "tier_changes": int(((actions == "change_tier") & h_window).sum()),
    }

    def entries(name: str) -> tuple[np.ndarray, np.ndarray]:
        rows = kind_is(name)
        return lt[rows], qty[rows]

    # Each credit of a lot that expires, by the instant its lot fell due (its
    # issue plus its source's expiry): issued, and lost (expired, or capped or
    # forfeited before that).
    policy = scenario.policy
    due_t: list[np.ndarray] = []
    due_q: list[np.ndarray] = []
    lost_t: list[np.ndarray] = []
    lost_q: list[np.ndarray] = []
    lost = kind_is("expire") | kind_is("cap") | kind_is("forfeit")
    expiries = {"grant": policy.grant_expiry_days, "purchase": policy.purchase_expiry_days,
                "refund": policy.refund_expiry_days}  # fmt: skip
    for name, days in expiries.items():
        if days is not None:
            t, q = entries(name)
            due_t.append(t + days * DAY)
            due_q.append(q)
            rows = lost & source_is(name)
            lost_t.append(lot_issued_at[rows] + days * DAY)
            lost_q.append(qty[rows])
    none = np.zeros(0, np.int64)
    senders = inm.column("sender").dictionary_encode().combine_chunks().indices.to_numpy()
    counts["steady"] = steady_bins(
        start=start,
        end=end,
        due=(np.concatenate([none, *due_t]), np.concatenate([none, *due_q])),
        lost=(np.concatenate([none, *lost_t]), np.concatenate([none, *lost_q])),
        spent=entries("spend"),
        sent_at=sent_at[w][accepted],
        responded_at=np.where(responded, responded_at, NO_RESPONSE)[accepted],
        settled=settled[accepted],
        refunded=(refunded_at != _NONE)[accepted],
        attempts=(sent_at, senders),
    )
    return counts


_CREDITS = (("granted", "grant"), ("purchased", "purchase"), ("refunded", "refund"),
            ("spent", "spend"), ("expired", "expire"), ("capped", "cap"),
            ("forfeited", "forfeit"))  # fmt: skip


def merge_counts(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The :func:`summary_counts` of the union of disjoint member batches: the sums."""
    parts = list(parts)
    merged = {key: sum(p[key] for p in parts) for key in parts[0] if key != "steady"}
    merged["steady"] = merge_bins(p["steady"] for p in parts)
    return merged


def finish_summary(counts: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    """``summary.json`` (without ``steady_state.auto``) from :func:`summary_counts`.

    One function, one convention: counts are ints, rates are floats or
    ``None`` when their denominator is 0, money is in cents and in units.
    """
    c = counts
    # The metrics the report headline shares, defined once (simulator.metrics).
    shared = window_metrics(
        {
            **c,
            "settled": c["refund_rate_settled_inmails"],
            "settled_refunds": c["settled_refunded"],
        },
        scenario.pricing.credit_price_cents,
    )
    purchase_cents = int(shared["purchase_revenue_cents"])
    subscription_cents = int(shared["subscription_revenue_cents"])
    net_cents = int(shared["net_revenue_cents"])
    out: dict[str, Any] = {key: c[key] for key in (
        "members", "members_initial", "arrivals", "members_present", "inmails_attempted",
        "inmails_sent", "inmails_paid", "inmails_free", "inmails_rejected",
        *(f"inmails_rejected_{reason}" for reason in SEND_REASONS), "responses")}  # fmt: skip
    out.update({
        "response_rate": _ratio(c["responses"], c["inmails_sent"]),
        "refunds": c["refunds"],
        "refund_rate": json_value(shared["refund_rate"]),
        "refund_rate_settled_inmails": c["refund_rate_settled_inmails"],
        "late_responses": c["late_responses"],
        **{f"credits_{key}": c[f"credits_{key}"] for key, _ in _CREDITS},
        "credits_expired_issued_before_window": c["credits_expired_issued_before_window"],
        "expiry_waste_rate": json_value(shared["expiry_waste_rate"]),
        "grant_expiry_rate": _ratio(c["grants_expired"], c["credits_granted"]),
        "vintage_waste_rate": _ratio(c["vintage_expired"], c["vintage_issued"]),
        "purchase_revenue_cents": purchase_cents,
        "purchase_revenue": purchase_cents / 100,
        "subscription_revenue_cents": subscription_cents,
        "subscription_revenue": subscription_cents / 100,
        "net_revenue_cents": net_cents,
        "net_revenue": net_cents / 100,
        "cancellations": c["cancellations"],
        "tier_changes": c["tier_changes"],
    })  # fmt: skip
    out["steady_state"] = steady_block(
        c["steady"], start=scenario.start, end=scenario.end, warmup_days=scenario.warmup_days
    )
    return out


def _vintage_waste(
    kind_is: Callable[[str], np.ndarray],
    qty: np.ndarray,
    source_is: Callable[[str], np.ndarray],
    issued_at: np.ndarray,
    scenario: Scenario,
) -> tuple[int, int]:
    """Credits expired and issued, over the *resolved vintages* of the measured window.

    A vintage is the credits of one lot source issued in one calendar month
    (``reports/credit_vintages.csv``). Counted: grant and refund lots issued
    in the measured window in months that end at least the source's expiry
    (``grant_expiry_days``, ``refund_expiry_days``) before the run's end, so
    every such credit has met its fate (spent, expired, capped or forfeited)
    by the end. A source that never expires has no resolved vintage.
    """
    policy = scenario.policy
    expired = issued = 0
    for name, days in (("grant", policy.grant_expiry_days),
                       ("refund", policy.refund_expiry_days)):  # fmt: skip
        if days is None:
            continue
        rows = np.flatnonzero(source_is(name) & (issued_at >= scenario.start))
        # Of those, the entries of lots whose months end early enough.
        rows = rows[_month_end(issued_at[rows]) + days * DAY <= scenario.end + 1]
        issued += int(qty[rows[kind_is(name)[rows]]].sum())
        expired += int(qty[rows[kind_is("expire")[rows]]].sum())
    return expired, issued


def _month_end(instants: np.ndarray) -> np.ndarray:
    """The first instant of the calendar month after each instant (UTC).

    A search in the few month starts the instants span, not a datetime
    conversion of every instant.
    """
    if len(instants) == 0:
        return instants.copy()
    lo, hi = (np.array([instants.min(), instants.max()]).astype("datetime64[s]")
              .astype("datetime64[M]"))  # fmt: skip
    starts = np.arange(lo, hi + 2).astype("datetime64[s]").astype(np.int64)
    return starts[np.searchsorted(starts, instants, side="right")]


_NONE = NO_INSTANT


def _ratio(a: int, b: int) -> float | None:
    """A rate of summary.json: the shared convention (:mod:`simulator.metrics`), as JSON."""
    return json_value(rate(a, b))
