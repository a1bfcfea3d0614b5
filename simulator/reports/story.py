"""What run a page is about, and the narrative of its key numbers in plain words.

:class:`RunFacts` gathers the run's identity (scenario, seed, window, policy,
currency) from ``run.json``, ``summary.json`` and the resolved scenario;
:func:`narrative` writes the sentences a report opens with, generated from the
run's numbers (a window that is not steady is warned of first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from simulator.engine.policy import PRESETS
from simulator.reports.display import count, missing, money, number, percent, tier_order
from simulator.reports.run_tables import RunTables
from simulator.steady import recommended_warmup_days
from simulator.timeutil import parse_instant

__all__ = [
    "RunFacts",
    "flat_items",
    "narrative",
    "policy_label",
    "vintage_waste_by_tier",
]

# ---------------------------------------------------------------------------
# What run this is


@dataclass(frozen=True)
class RunFacts:
    """What the page says about the run itself: names, window, policy, currency."""

    scenario: str
    seed: str
    measure_start: int
    end: int
    sim_start: int | None
    currency: str
    credit_price_cents: int
    policy: str
    description: str
    refund_mode: str
    refund_window_days: int | None

    @classmethod
    def of(cls, tables: RunTables, scenario: Mapping[str, Any] | None = None) -> RunFacts:
        """The facts of a run from its tables' ``run.json`` and its resolved scenario."""
        meta = tables.meta
        sim_start = None
        if isinstance(meta.get("sim_start"), str):
            try:
                sim_start = parse_instant(meta["sim_start"])
            except ValueError:
                sim_start = None
        description = ""
        if isinstance(scenario, Mapping) and isinstance(scenario.get("description"), str):
            description = " ".join(scenario["description"].split())
        return cls(
            scenario=str(meta.get("scenario", "run")),
            seed=str(meta.get("seed", "?")),
            measure_start=tables.measure_start,
            end=tables.end,
            sim_start=sim_start,
            currency=tables.currency,
            credit_price_cents=tables.credit_price_cents,
            policy=policy_label(scenario),
            description=description,
            refund_mode=tables.refund_mode,
            refund_window_days=tables.refund_window_days,
        )

    @property
    def window(self) -> str:
        """``2014-01-01 to 2014-12-31`` (times shown only when not a whole day)."""
        start = _utc(self.measure_start)
        first = start.strftime(
            "%Y-%m-%d" if start.strftime("%H%M%S") == "000000" else "%Y-%m-%d %H:%M UTC"
        )
        last_t = _utc(self.end)
        whole = last_t.strftime("%H%M%S") in ("235959", "000000")
        last = last_t.strftime("%Y-%m-%d" if whole else "%Y-%m-%d %H:%M UTC")
        return f"{first} to {last}"

    @property
    def window_days(self) -> float:
        return (self.end + 1 - self.measure_start) / 86400

    @property
    def warmup_days(self) -> float | None:
        return None if self.sim_start is None else (self.measure_start - self.sim_start) / 86400

    @property
    def start_month(self) -> str:
        return _utc(self.measure_start).strftime("%Y-%m")

    @property
    def start_date(self) -> str:
        return _utc(self.measure_start).strftime("%Y-%m-%d")

    @property
    def title(self) -> str:
        return f"{self.scenario}, seed {self.seed}, {self.window}, policy {self.policy}"


def _utc(t: int) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def policy_label(scenario: Mapping[str, Any] | None) -> str:
    """The run's policy: its preset's name (``inmail-2014``) when the resolved policy is the
    preset's, ``custom (inmail-2014 with refund.window_days = 14)`` when keys differ."""
    block = scenario.get("policy") if isinstance(scenario, Mapping) else None
    if not isinstance(block, Mapping):
        return "not recorded (no scenario.yaml)"
    preset = block.get("preset")
    if not isinstance(preset, str) or preset not in PRESETS:
        return "custom"
    base = dict(flat_items(PRESETS[preset]))
    own = dict(flat_items({k: v for k, v in block.items() if k != "preset"}))
    changed = [k for k in sorted(base.keys() | own.keys()) if base.get(k, ...) != own.get(k, ...)]
    if not changed:
        return preset
    shown = ", ".join(f"{k} = {_yaml_value(own.get(k))}" for k in changed[:3])
    more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
    return f"custom ({preset} with {shown}{more})"


def flat_items(mapping: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            yield from flat_items(value, f"{prefix}{key}.")
        elif isinstance(value, list | tuple):
            yield f"{prefix}{key}", tuple(value)
        else:
            yield f"{prefix}{key}", value


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "[" + ", ".join(map(_yaml_value, value)) + "]"
    return str(value)


# ---------------------------------------------------------------------------
# The narrative


def narrative(
    values: Mapping[str, Any],
    run: RunFacts,
    steady: Mapping[str, Any] | None = None,
    waste_by_tier: Sequence[tuple[str, int, int]] = (),
) -> list[str]:
    """Paragraphs of plain text saying what the run's key numbers are, from the numbers.

    ``values`` are :func:`metrics`; ``waste_by_tier`` (tier, credits expired, credits issued,
    over the window's vintages whose fate is known: :func:`vintage_waste_by_tier`) names the
    most wasteful tier. A window that is not steady is warned of first.
    """
    cur = run.currency
    paragraphs: list[str] = []
    if steady is not None and steady.get("steady") is not True:
        paragraphs.append(_steady_warning(steady))

    def v(name: str) -> Any:
        value = values.get(name)
        return None if missing(value) else value

    # Who was there.
    window = f"the measured window ({run.window}: {_days(run.window_days)} days"
    if run.warmup_days:
        window += f", after a {_days(run.warmup_days)}-day warm-up)"
    else:
        window += ", with no warm-up)"
    # Present in the window (summary.json), else the headline's members (present, or with a
    # ledger entry in the window, such as an expiry after leaving in the warm-up).
    members = v("members_present") if v("members_present") is not None else v("members")
    if members is not None:
        text = f"{count(members)} members were present in {window}"
        initial, arrivals = v("members_initial"), v("arrivals")
        if initial is not None and arrivals is not None:
            joined = (
                f"{count(arrivals)} joined during the window"
                if arrivals
                else "nobody joined during the window"
            )
            text += f"; {count(initial)} were there when the simulation started and {joined}"
        changes = [
            (v("cancellations"), "cancelled a subscription", "cancellation"),
            (v("tier_changes"), "changed tier", "tier change"),
        ]
        said = [
            f"{count(n)} {verb}" if n else f"there was no {noun}"
            for n, verb, noun in changes
            if n is not None
        ]
        paragraphs.append(text + "." + (f" In the window, {' and '.join(said)}." if said else ""))
    else:
        paragraphs.append(f"This report covers {window}.")

    # Credits.
    issued = v("credits_issued")
    if issued:
        how = [
            f"{count(v(name))} {word}"
            for name, word in (
                ("credits_granted", "granted"),
                ("credits_purchased", "bought"),
                ("credits_refunded", "refunded"),
            )
            if v(name)
        ]
        text = (
            f"Members were issued {count(issued)} credits ({', '.join(how)}) and spent "
            f"{count(v('credits_spent'))}."
        )
        expired = v("credits_expired") or 0
        if expired:
            text += (
                f" {count(expired)} credits expired unspent, {percent(v('expiry_waste_rate'))} "
                f"of those issued (expiry_waste_rate), worth {money(v('expired_value_cents'), cur)}"
                " at the credit price."
            )
        else:
            text += " No credit expired unspent."
        losses = (
            (v("credits_capped"), "were removed by balance caps"),
            (v("credits_forfeited"), "were forfeited on cancelling or changing tier"),
        )
        removed = [f"{count(n)} {how}" for n, how in losses if n]
        if removed:
            text += f" Besides, {' and '.join(removed)}."
        vintage = v("vintage_waste_rate")
        if vintage is not None:
            text += (
                f" Followed to their fate, {percent(vintage)} of the grant and refund credits "
                "issued in the window expired (vintage_waste_rate)."
            )
        # Tiers with a sliver of the credits (basic, with a few refunds) would win on noise.
        total = sum(n for _, _, n in waste_by_tier)
        wasted = [(t, e / n, n) for t, e, n in waste_by_tier if n > 0 and n * 100 >= total]
        if wasted:
            tier, rate, n = max(wasted, key=lambda w: w[1])
            small = [t for t, _, n in waste_by_tier if n * 100 < total]
            text += (
                f" By tier, {tier} wasted the largest share: {percent(rate)} of its "
                f"{count(n)} credits issued in the window and followed to their fate expired"
                + (
                    f" (tiers with under 1 % of those credits left out: {', '.join(small)})."
                    if small
                    else "."
                )
            )
        paragraphs.append(text)
    elif issued is not None:
        paragraphs.append("No credit was issued in the measured window.")

    # InMails.
    sent = v("inmails_sent")
    if sent is not None:
        text = (
            f"{count(sent)} InMails were sent ({count(v('inmails_paid'))} paid with a credit, "
            f"{count(v('inmails_free'))} free)"
        )
        rejected = v("inmails_rejected")
        if rejected:
            no_credit = v("inmails_rejected_no_credit")
            why = f", {count(no_credit)} of them for lack of credit" if no_credit else ""
            text += f"; {count(rejected)} attempts were rejected{why}."
        elif rejected is not None:
            text += "; no attempt was rejected."
        else:
            text += "."
        if v("response_rate") is not None:
            text += f" {percent(v('response_rate'))} of the InMails sent got a response."
        text += " " + _refund_sentence(values, run)
        paragraphs.append(text.strip())

    # Money.
    purchases, sub = v("purchases"), v("subscription_revenue_cents")
    net = v("net_revenue_cents")
    if purchases is not None and sub is not None:
        if purchases:
            text = (
                f"Members made {count(purchases)} credit purchases ({count(v('credits_purchased'))}"
                f" credits) for {money(v('purchase_revenue_cents'), cur)}; subscriptions brought "
                f"{money(sub, cur)}, so revenue over the window was {money(net, cur)}."
            )
        elif sub:
            text = (
                f"Members bought no credits, so all of the window's revenue, {money(sub, cur)}, "
                "came from subscriptions."
            )
        else:
            text = "The window had no revenue: no credit was bought and no subscription billed."
        refused = v("purchases_rejected")
        if refused:
            text += f" {count(refused)} purchase attempts were refused by the policy."
        paragraphs.append(text)

    if steady is not None and steady.get("steady") is True:
        paragraphs.append(
            "The window passed the steady-state check (largest MSER truncation "
            f"{steady.get('suggested_truncation_weeks')} weeks, at most "
            f"{steady.get('threshold_weeks')}), so the warm-up was long enough for these rates."
        )
    elif steady is None:
        paragraphs.append(
            "This run records no steady-state check (summary.json has no steady_state block): "
            "whether its warm-up was long enough is not known."
        )
    return paragraphs


def vintage_waste_by_tier(vintages: pd.DataFrame) -> list[tuple[str, int, int]]:
    """(tier, credits expired, credits issued) over the vintages of ``credit_vintages`` issued
    in the measured window whose credits have all reached their fate (none live at the end),
    tiers in order: a per-tier waste that, unlike expired / issued in the window, neither
    mixes generations nor exceeds 1."""
    known = vintages[~vintages["warmup"].astype(bool) & (vintages["live_at_end"] == 0)]
    sums = known.groupby("tier", sort=False)[["expired", "issued"]].sum()
    return [
        (t, int(sums.loc[t, "expired"]), int(sums.loc[t, "issued"])) for t in tier_order(sums.index)
    ]


def _refund_sentence(values: Mapping[str, Any], run: RunFacts) -> str:
    if run.refund_mode == "none":
        return "The policy gives no credits back (refund mode none)."
    rate, settled = values.get("refund_rate"), values.get("settled")
    rule = (
        f"no response within {run.refund_window_days} days"
        if run.refund_mode == "no_response_within"
        else f"a response within {run.refund_window_days} days"
    )
    if missing(rate) or settled == 0:
        return "No paid InMail's refund window closed by the end, so the refund rate is not known."
    return (
        f"Of the paid InMails whose refund window closed by the end, {percent(rate)} earned "
        f"their credit back (refund_rate; a credit comes back for {rule})."
    )


def _steady_warning(steady: Mapping[str, Any]) -> str:
    """The warning of a window that is not steady, with the advice ``creditsim run`` prints."""
    if steady.get("steady") is None:
        return (
            "Caution: whether the measured window is steady is not known (too few weeks with data "
            "for the steady-state check), so the rates below may still carry the run's start-up."
        )

    settled, weeks = steady.get("suggested_warmup_days"), steady.get("suggested_truncation_weeks")
    if steady.get("capped"):
        when = f"have not settled {settled} days into the run (MSER truncation at its cap, {weeks}"
        more = "more than "
    else:
        when, more = f"settle only {settled} days into the run (MSER truncation {weeks}", ""
    advice = (
        f" Rerun with a warm-up of {more}{recommended_warmup_days(settled)} days (twice that, as "
        "warmup_days: auto would choose) before relying on them."
        if isinstance(settled, int)
        else ""
    )
    return (
        f"Warning: the measured window is not steady: its weekly series {when} weeks), so the "
        "rates below still carry the run's start-up transient." + advice
    )


def _days(days: float | None) -> str:
    return "?" if days is None else number(days, 1)
