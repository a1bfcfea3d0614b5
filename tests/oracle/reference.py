"""A deliberately simple reference implementation ("oracle") of RULES.md.

It is written from RULES.md alone, shares no code with ``simulator``, and
favours obviousness over speed: each member is replayed on its own (members
share no credits, R10), by stepping from one instant at which anything is due
to the next and running the six steps of R10 at each, with plain lists.

Public entry point: :func:`reference_replay`.  It assumes the history is valid
(RULES.md section 8); it does no error handling.
"""

from __future__ import annotations

import calendar
import copy
import csv
import datetime as dt
from typing import Any

import yaml

__all__ = [
    "LEDGER_COLUMNS",
    "add_months",
    "format_instant",
    "parse_instant",
    "reference_balances",
    "reference_replay",
    "resolve_policy",
]

DAY = 86_400
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LEDGER_COLUMNS = ["time", "member", "kind", "lot", "quantity", "inmail", "reason", "balance_after"]

# --------------------------------------------------------------------------- time (section 1)


def parse_instant(text: str) -> int:
    """ISO 8601 UTC (``Z`` or ``+00:00``) -> whole seconds since the Unix epoch."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = dt.datetime.fromisoformat(text)
    return (moment - EPOCH) // dt.timedelta(seconds=1)


def to_datetime(instant: int) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=instant)


def format_instant(instant: int) -> str:
    d = to_datetime(instant)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}Z"


def add_months(anchor: int, k: int) -> int:
    """The k-th monthly anniversary of ``anchor``: same day-of-month and time of
    day, k calendar months later, clamped to the month's last day. Always
    computed from the anchor."""
    d = to_datetime(anchor)
    months = d.year * 12 + (d.month - 1) + k
    year, month0 = divmod(months, 12)
    month = month0 + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return (d.replace(year=year, month=month, day=day) - EPOCH) // dt.timedelta(seconds=1)


def first_of_next_month(instant: int) -> int:
    """00:00:00 UTC on the 1st of the month after ``instant``'s month, which is
    the first 1st-of-month midnight strictly after ``instant``."""
    d = to_datetime(instant)
    year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return (dt.datetime(year, month, 1, tzinfo=dt.UTC) - EPOCH) // dt.timedelta(seconds=1)


def next_grant_after(anchor: int, schedule: str, t: int) -> int:
    """The first grant instant strictly after ``t`` (t >= anchor) of a plan
    anchored at ``anchor`` (R1)."""
    if schedule == "calendar_month":
        return first_of_next_month(max(t, anchor))
    assert schedule == "anniversary", schedule
    # Start the search one month before t's month (a shortcut only: the
    # anniversaries strictly increase with k, and the (k-1)-th falls in an
    # earlier calendar month than t, hence before t).
    a, b = to_datetime(anchor), to_datetime(t)
    k = max(1, (b.year - a.year) * 12 + (b.month - a.month))
    assert k == 1 or add_months(anchor, k - 1) <= t
    while add_months(anchor, k) <= t:
        k += 1
    return add_months(anchor, k)


def is_grant_instant(anchor: int, schedule: str, t: int) -> bool:
    return t == anchor or (t > anchor and next_grant_after(anchor, schedule, t - 1) == t)


# --------------------------------------------------------------------------- policy (sections 6, 7)

_CATEGORIES = [
    "career_opportunity",
    "consulting_offer",
    "new_venture",
    "job_inquiry",
    "expertise_request",
    "business_deal",
    "reference_request",
    "get_back_in_touch",
]


def _tier(credits: int) -> dict[str, Any]:
    return {
        "monthly_credits": credits,
        "cap": None,
        "grant_schedule": "anniversary",
        "purchasable": True,
    }


def preset(name: str) -> dict[str, Any]:
    """The full parameter set of a preset (section 6)."""
    p: dict[str, Any] = {
        "preset": name,
        "grant_expiry_days": 90,
        "refund_expiry_days": 90,
        "purchase_expiry_days": None,
        "spend_order": "earliest_expiry",
        "max_body_chars": 2000,
        "max_subject_chars": 200,
        "categories": list(_CATEGORIES),
        "max_per_purchase": 10,
        "max_purchased_balance": 10,
        "premium_buys_only_when_empty": True,
        "cancel_effective": "end_of_period",
        "refund": {
            "mode": "no_response_within",
            "window_days": 7,
            "counts_as_response": ["accept", "decline", "reply"],
        },
        "tiers": {
            "basic": _tier(0),
            "premium_career": _tier(5),
            "premium_business": _tier(15),
            "sales_navigator": _tier(50),
            "recruiter_lite": _tier(30),
        },
    }
    if name == "inmail-2015":
        p["refund"]["mode"] = "response_within"
        p["refund"]["window_days"] = 90
        caps = {
            "premium_career": 15,
            "premium_business": 45,
            "sales_navigator": 150,
            "recruiter_lite": 120,
        }
        for tier, cap in caps.items():
            p["tiers"][tier]["cap"] = cap
        p["tiers"]["sales_navigator"]["grant_schedule"] = "calendar_month"
        for tier in p["tiers"].values():
            tier["purchasable"] = False
    else:
        assert name == "inmail-2014", name
    return p


def _merge(base: dict[str, Any], over: dict[str, Any]) -> None:
    """Mappings merge key by key; anything else (lists included) is replaced."""
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def resolve_policy(block: dict[str, Any] | None) -> dict[str, Any]:
    """A scenario's ``policy:`` block -> the full parameter set."""
    block = dict(block or {})
    p = preset(block.pop("preset", "inmail-2014"))
    preset_basic = copy.deepcopy(p["tiers"]["basic"])
    tiers_over = block.pop("tiers", None) or {}
    _merge(p, block)
    for name, over in tiers_over.items():
        if name not in p["tiers"]:
            # A new tier: its keys default to the preset's basic tier (ambiguity,
            # see README: we take the preset's basic, before any override).
            p["tiers"][name] = copy.deepcopy(preset_basic)
        _merge(p["tiers"][name], over or {})
    return p


def load_policy(path: str | None) -> dict[str, Any]:
    if path is None:
        return resolve_policy(None)
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    return resolve_policy(doc.get("policy"))


# --------------------------------------------------------------------------- one member


class Lot:
    def __init__(self, n: int, source: str, issued: int, expires: int | None, qty: int):
        self.n = n
        self.source = source
        self.issued = issued
        self.expires = expires
        self.remaining = qty


class InMail:
    def __init__(self, ident: str, sent_at: int, status: str):
        self.id = ident
        self.sent_at = sent_at
        self.status = status  # "paid", "free" or "rejected"
        self.response: str | None = None
        self.response_at: int | None = None
        self.refunded = False


def _days(n: int | None) -> int | None:
    return None if n is None else n * DAY


class Member:
    def __init__(self, ident: str, policy: dict[str, Any]):
        self.id = ident
        self.p = policy
        self.plan = "basic"
        self.anchor: int | None = None
        self.pending_cancel: int | None = None
        self.lots: list[Lot] = []
        self.inmails: list[InMail] = []  # in the order sent
        self.by_id: dict[str, InMail] = {}
        self.ledger: list[dict[str, str]] = []

    # ---- helpers
    def tier(self) -> dict[str, Any]:
        return self.p["tiers"][self.plan]

    def balance(self) -> int:
        return sum(lot.remaining for lot in self.lots)

    def spend_key(self, lot: Lot) -> tuple:
        if self.p["spend_order"] == "fifo":
            return (lot.issued, lot.n)
        return (lot.expires is None, lot.expires or 0, lot.issued, lot.n)

    def in_spend_order(self, lots: list[Lot]) -> list[Lot]:
        return sorted(lots, key=self.spend_key)

    def live(self, t: int, sources: tuple[str, ...] = ("grant", "purchase", "refund")) -> list[Lot]:
        return [
            lot
            for lot in self.lots
            if lot.source in sources
            and lot.remaining > 0
            and (lot.expires is None or t < lot.expires)
        ]

    def write(
        self, t: int, kind: str, lot: Lot | None, qty: int, inmail: str = "", reason: str = ""
    ) -> None:
        self.ledger.append(
            {
                "time": format_instant(t),
                "member": self.id,
                "kind": kind,
                "lot": f"{self.id}:{lot.n}" if lot is not None else "",
                "quantity": str(qty),
                "inmail": inmail,
                "reason": reason,
                "balance_after": str(self.balance()),
            }
        )

    def new_lot(self, t: int, source: str, qty: int, expiry_days: int | None) -> Lot:
        expires = None if expiry_days is None else t + expiry_days * DAY
        lot = Lot(len(self.lots) + 1, source, t, expires, qty)
        self.lots.append(lot)
        return lot

    def remove(self, t: int, lot: Lot, qty: int, kind: str) -> None:
        lot.remaining -= qty
        self.write(t, kind, lot, qty)

    def refund(self, t: int, mail: InMail) -> None:
        mail.refunded = True
        lot = self.new_lot(t, "refund", 1, self.p["refund_expiry_days"])
        self.write(t, "refund", lot, 1, inmail=mail.id)

    def forfeit_allotted(self, t: int) -> None:
        for lot in self.in_spend_order(self.live(t, ("grant", "refund"))):
            self.remove(t, lot, lot.remaining, "forfeit")

    def cancel_takes_effect(self, t: int) -> None:
        self.forfeit_allotted(t)
        self.plan = "basic"
        self.anchor = None
        self.pending_cancel = None

    def schedule(self) -> str:
        return self.tier()["grant_schedule"]

    # ---- what is due next (strictly after t)
    def next_due(self, t: int) -> int | None:
        cands: list[int] = []
        if self.plan != "basic":
            cands.append(next_grant_after(self.anchor, self.schedule(), t))
        if self.pending_cancel is not None and self.pending_cancel > t:
            cands.append(self.pending_cancel)
        for lot in self.lots:
            if lot.remaining > 0 and lot.expires is not None and lot.expires > t:
                cands.append(lot.expires)
        refund = self.p["refund"]
        if refund["mode"] == "no_response_within":
            for mail in self.inmails:
                due = mail.sent_at + refund["window_days"] * DAY
                if mail.status == "paid" and not mail.refunded and due > t:
                    cands.append(due)
        return min(cands) if cands else None

    # ---- one instant, R10
    def run_instant(self, t: int, rows: list[dict[str, str]]) -> None:
        p = self.p
        refund = p["refund"]
        counts = set(refund["counts_as_response"])
        window = refund["window_days"] * DAY

        # 1. responses, in the order given
        for row in rows:
            if row["action"] != "respond":
                continue
            mail = self.by_id[row["inmail"]]
            mail.response = row["response"]
            mail.response_at = t
            if mail.status != "paid":
                continue  # free or rejected: a response changes nothing
            if (
                refund["mode"] == "response_within"
                and mail.response in counts
                and t <= mail.sent_at + window
                and not mail.refunded
            ):
                self.refund(t, mail)

        # 2. no_response_within refunds due now, in the order sent
        if refund["mode"] == "no_response_within":
            for mail in self.inmails:
                if mail.status != "paid" or mail.refunded or mail.sent_at + window != t:
                    continue
                answered = (
                    mail.response in counts
                    and mail.response_at is not None
                    and mail.response_at <= t
                )
                if not answered:
                    self.refund(t, mail)

        # 3. expiries due now, in spend order
        due = [lot for lot in self.lots if lot.expires == t and lot.remaining > 0]
        for lot in self.in_spend_order(due):
            self.remove(t, lot, lot.remaining, "expire")

        # 4. a cancel falling due; then cancel/subscribe/change_tier in order
        if self.pending_cancel == t:
            self.cancel_takes_effect(t)
        for row in rows:
            action = row["action"]
            if action == "cancel":
                if self.plan == "basic":
                    continue
                if p["cancel_effective"] == "immediate":
                    self.cancel_takes_effect(t)
                else:
                    self.pending_cancel = next_grant_after(self.anchor, self.schedule(), t)
            elif action in ("subscribe", "change_tier"):
                tier = row["tier"]
                if tier == "basic":
                    if self.plan != "basic":
                        self.cancel_takes_effect(t)
                    continue
                self.forfeit_allotted(t)
                self.pending_cancel = None
                self.anchor = t
                self.plan = tier

        # 5. grants due now, then caps
        if self.plan != "basic" and is_grant_instant(self.anchor, self.schedule(), t):
            tier = self.tier()
            if tier["monthly_credits"] > 0:
                lot = self.new_lot(t, "grant", tier["monthly_credits"], p["grant_expiry_days"])
                self.write(t, "grant", lot, tier["monthly_credits"])
            if tier["cap"] is not None:
                excess = sum(lot.remaining for lot in self.live(t, ("grant", "refund")))
                excess -= tier["cap"]
                for lot in self.in_spend_order(self.live(t, ("grant", "refund"))):
                    if excess <= 0:
                        break
                    take = min(lot.remaining, excess)
                    self.remove(t, lot, take, "cap")
                    excess -= take

        # 6. purchases and sends, in the order given
        for row in rows:
            if row["action"] == "purchase":
                self.purchase(t, int(row["quantity"]))
            elif row["action"] == "send":
                self.send(t, row)

    def purchase(self, t: int, n: int) -> None:
        p = self.p
        purchased = sum(lot.remaining for lot in self.live(t, ("purchase",)))
        allotted = sum(lot.remaining for lot in self.live(t, ("grant", "refund")))
        reason = ""
        if not 1 <= n <= p["max_per_purchase"]:
            reason = "quantity"
        elif not self.tier()["purchasable"]:
            reason = "not_purchasable"
        elif purchased + n > p["max_purchased_balance"]:
            reason = "purchased_cap"
        elif self.plan != "basic" and allotted != 0 and p["premium_buys_only_when_empty"]:
            reason = "allotment_left"
        if reason:
            self.write(t, "reject", None, 0, reason=reason)
            return
        lot = self.new_lot(t, "purchase", n, p["purchase_expiry_days"])
        self.write(t, "purchase", lot, n)

    def send(self, t: int, row: dict[str, str]) -> None:
        p = self.p
        ident = row["inmail"]
        free = row["free"].strip() == "true"
        body = int(row["body_chars"])
        subject = int(row["subject_chars"])
        reason = ""
        if not 1 <= body <= p["max_body_chars"]:
            reason = "body_length"
        elif not 1 <= subject <= p["max_subject_chars"]:
            reason = "subject_length"
        elif row["category"] not in p["categories"]:
            reason = "category"
        elif not free and not self.live(t):
            reason = "no_credit"
        if reason:
            mail = InMail(ident, t, "rejected")
            self.write(t, "reject", None, 0, inmail=ident, reason=reason)
        elif free:
            mail = InMail(ident, t, "free")
        else:
            mail = InMail(ident, t, "paid")
            lot = self.in_spend_order(self.live(t))[0]
            lot.remaining -= 1
            self.write(t, "spend", lot, 1, inmail=ident)
        self.inmails.append(mail)
        self.by_id[ident] = mail


# --------------------------------------------------------------------------- replay (section 8)


def read_history(path: str) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = [dict(r) for r in csv.DictReader(f)]
    for i, row in enumerate(rows):
        row["_t"] = parse_instant(row["time"])  # type: ignore[assignment]
        row["_line"] = i + 2  # type: ignore[assignment]
        row["action"] = row["action"].strip()
        row["member"] = row["member"].strip()
    return rows


def replay_members(
    history_csv_path: str, policy_yaml_path_or_None: str | None, until_iso_or_None: str | None
) -> tuple[list[Member], int | None]:
    """Replay a (valid) history; return each member named in a row at or before
    ``until`` (in order of first appearance, in time order) with its final
    state, and the ``until`` instant used."""
    policy = load_policy(policy_yaml_path_or_None)
    rows = read_history(str(history_csv_path))
    if not rows:
        return [], None
    until = (
        parse_instant(until_iso_or_None)
        if until_iso_or_None is not None
        else max(r["_t"] for r in rows)
    )
    # Stable sort: rows with the same instant keep their file order.
    rows = sorted((r for r in rows if r["_t"] <= until), key=lambda r: r["_t"])
    members: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        members.setdefault(r["member"], []).append(r)

    out: list[Member] = []
    for ident, mrows in members.items():
        m = Member(ident, policy)
        i = 0
        t = mrows[0]["_t"] - 1
        while True:
            cands = []
            if i < len(mrows):
                cands.append(mrows[i]["_t"])
            nxt = m.next_due(t)
            if nxt is not None:
                cands.append(nxt)
            if not cands:
                break
            t = min(cands)
            if t > until:
                break
            now = []
            while i < len(mrows) and mrows[i]["_t"] == t:
                now.append(mrows[i])
                i += 1
            m.run_instant(t, now)
        out.append(m)
    return out, until


def reference_replay(
    history_csv_path: str, policy_yaml_path_or_None: str | None, until_iso_or_None: str | None
) -> list[dict[str, str]]:
    """Replay a (valid) history; return the ledger rows, grouped by member in
    order of first appearance, each member's rows in ledger order."""
    members, _ = replay_members(history_csv_path, policy_yaml_path_or_None, until_iso_or_None)
    return [row for m in members for row in m.ledger]


def reference_balances(
    history_csv_path: str, policy_yaml_path_or_None: str | None, until_iso_or_None: str | None
) -> dict[str, dict[str, str]]:
    """``balances.csv`` rows (section 8) keyed by member: balance, allotted and
    purchased credits at ``until``, for every member named in a row at or
    before ``until``."""
    members, until = replay_members(history_csv_path, policy_yaml_path_or_None, until_iso_or_None)
    out = {}
    for m in members:
        allotted = sum(lot.remaining for lot in m.live(until, ("grant", "refund")))
        purchased = sum(lot.remaining for lot in m.live(until, ("purchase",)))
        out[m.id] = {
            "member": m.id,
            "balance": str(m.balance()),
            "allotted": str(allotted),
            "purchased": str(purchased),
        }
    return out
