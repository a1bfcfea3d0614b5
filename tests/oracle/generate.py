"""Random, valid replay histories and random policies, biased to the boundaries.

* :func:`random_history` -> rows (dicts of strings, RULES.md section 8 columns) in
  their logical order: by instant, and within one instant in the file order
  they must keep (R10 "in the order given").
* :func:`write_history_csv` writes them with the columns in a shuffled order and
  the rows out of time order, except that rows with the same instant keep
  their relative order.
* :func:`random_policy` -> a scenario ``policy:`` block (a preset plus overrides).

Every history is valid per section 8 whatever the policy, provided ``tiers``
and ``categories`` come from the policy it is replayed under (see
:func:`history_params_for`): InMail ids are unique, a response comes strictly
after its send, from the sender, at most once per InMail.
"""

from __future__ import annotations

import bisect
import csv
import random
from collections import defaultdict
from typing import Any

from .reference import DAY, add_months, first_of_next_month, format_instant, parse_instant

__all__ = [
    "HISTORY_COLUMNS",
    "history_params_for",
    "random_history",
    "random_policy",
    "write_history_csv",
    "write_scenario",
]

HISTORY_COLUMNS = [
    "time",
    "member",
    "action",
    "tier",
    "quantity",
    "inmail",
    "category",
    "subject_chars",
    "body_chars",
    "free",
    "response",
]
PREMIUM_TIERS = ["premium_career", "premium_business", "sales_navigator", "recruiter_lite"]
CATEGORIES = [
    "career_opportunity",
    "consulting_offer",
    "new_venture",
    "job_inquiry",
    "expertise_request",
    "business_deal",
    "reference_request",
    "get_back_in_touch",
]
RESPONSES = ["accept", "decline", "reply"]
MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


# --------------------------------------------------------------------------- time helpers


def _instant(year: int, month: int, day: int, second_of_day: int) -> int:
    return parse_instant(f"{year:04d}-{month:02d}-{day:02d}T00:00:00Z") + second_of_day


def _random_year(rng: random.Random) -> int:
    return rng.choices([2023, 2024, 2025, 2000, 2099, 2100], [3, 6, 2, 1, 1, 1])[0]


def _random_start(rng: random.Random, year: int) -> int:
    if rng.random() < 0.3:
        month, day = rng.choice(
            [
                (1, 29),
                (1, 30),
                (1, 31),
                (2, 29),
                (2, 28),
                (3, 31),
                (5, 31),
                (8, 31),
                (10, 31),
                (12, 31),
                (11, 30),
            ]
        )
    else:
        month = rng.randint(1, 12)
        day = rng.choice([1, 28, 29, 30, 31, rng.randint(1, 31)])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    last = 29 if month == 2 and leap else MONTH_DAYS[month - 1]
    day = min(day, last)
    second = rng.choice([0, 0, 9 * 3600, 86_399, 12 * 3600 + 34 * 60 + 56, rng.randint(0, 86_399)])
    return _instant(year, month, day, second)


# --------------------------------------------------------------------------- histories


class _Member:
    """The generator's rough picture of one member, used only to aim at boundaries."""

    def __init__(self, ident: str) -> None:
        self.id = ident
        self.interesting: list[int] = []  # sorted
        self.grant_instants: list[int] = []  # sorted; anniversaries and 1st-of-months
        self.sends: list[tuple[str, int]] = []

    def add(self, *instants: int) -> None:
        for x in instants:
            bisect.insort(self.interesting, x)

    def after_subscribe(self, a: int, day_counts: list[int]) -> None:
        self.grant_instants = []
        firsts = []
        f = a
        for _ in range(14):
            f = first_of_next_month(f)
            firsts.append(f)
        for k in range(14):
            for g in (add_months(a, k), firsts[k]):
                bisect.insort(self.grant_instants, g)
                self.add(g, g - 1, g + 1)
                for d in day_counts:
                    self.add(g + d * DAY, g + d * DAY - 1)

    def after_send(self, s: int, day_counts: list[int]) -> None:
        for d in day_counts:
            self.add(s + d * DAY, s + d * DAY - 1, s + d * DAY + 1)
            for e in day_counts:
                self.add(s + (d + e) * DAY)

    def after_purchase(self, p: int, day_counts: list[int]) -> None:
        for d in day_counts:
            self.add(p + d * DAY, p + d * DAY - 1)


def random_history(
    rng: random.Random,
    n_members: int,
    *,
    tiers: list[str] | None = None,
    categories: list[str] | None = None,
    day_counts: list[int] | None = None,
    n_actions: tuple[int, int] = (3, 30),
    response_prob: float = 0.6,
) -> list[dict[str, str]]:
    """Rows of a valid history, in logical order (see the module docstring).

    ``tiers``: premium tier names the policy knows; ``categories``: the policy's
    categories (sends mostly use them, sometimes an unknown one);
    ``day_counts``: day counts of the policy (windows, expiries) to aim at.
    """
    tiers = list(tiers or PREMIUM_TIERS)
    categories = list(categories or CATEGORIES)
    day_counts = sorted(set(day_counts or []) | {7, 90})
    unknown_categories = [c for c in CATEGORIES if c not in categories] + ["spam", "Job_Inquiry"]
    rows: list[tuple[int, float, dict[str, str]]] = []
    counter = {"inmail": 0, "seq": 0}

    def emit(member: _Member, t: int, action: str, seq: float | None = None, **cells: str) -> None:
        row = {c: "" for c in HISTORY_COLUMNS}
        row.update(time=format_instant(t), member=member.id, action=action, **cells)
        if seq is None:
            counter["seq"] += 1
            seq = counter["seq"]
        rows.append((t, seq, row))

    def send(member: _Member, t: int) -> None:
        counter["inmail"] += 1
        ident = rng.choice(["im", "x", "mail-"]) + str(counter["inmail"])
        r = rng.random()
        body = (
            rng.choice([0, 2001, 1, 2000, 5000])
            if r < 0.12
            else rng.choice([1, 2000, rng.randint(1, 2000), rng.randint(1, 300)])
        )
        r = rng.random()
        subject = (
            rng.choice([0, 201, 1, 200])
            if r < 0.12
            else rng.choice([1, 200, rng.randint(1, 200), rng.randint(1, 60)])
        )
        category = rng.choice(unknown_categories) if rng.random() < 0.06 else rng.choice(categories)
        free = "true" if rng.random() < 0.15 else "false"
        emit(
            member,
            t,
            "send",
            inmail=ident,
            body_chars=str(body),
            subject_chars=str(subject),
            category=category,
            free=free,
        )
        member.sends.append((ident, t))
        member.after_send(t, day_counts)

    def purchase(member: _Member, t: int) -> None:
        q = (
            rng.choice([0, 11, 25])
            if rng.random() < 0.2
            else rng.choice([1, 10, rng.randint(1, 10), rng.randint(1, 5)])
        )
        emit(member, t, "purchase", quantity=str(q))
        member.after_purchase(t, day_counts)

    def subscribe(member: _Member, t: int) -> None:
        tier = "basic" if rng.random() < 0.15 else rng.choice(tiers)
        emit(member, t, rng.choice(["subscribe", "change_tier"]), tier=tier)
        if tier != "basic":
            member.after_subscribe(t, day_counts)

    def cancel(member: _Member, t: int) -> None:
        emit(member, t, "cancel")

    year = _random_year(rng)
    for m in range(n_members):
        member = _Member(rng.choice(["m", "u", "member_", "acct-"]) + str(m + 1))
        t = _random_start(rng, year)
        # most members start by subscribing; some stay basic and buy or send
        if rng.random() < 0.75:
            subscribe(member, t)
        for _ in range(rng.randint(*n_actions)):
            # the next instant
            r = rng.random()
            if r < 0.15:
                pass  # same instant as the previous action
            elif r < 0.55:
                i = bisect.bisect_right(member.interesting, t)
                j = bisect.bisect_right(member.interesting, t + 75 * DAY)
                if i < j:
                    t = member.interesting[rng.randrange(i, min(j, i + 12))]
                else:
                    t += rng.randint(1, 20 * DAY)
            else:
                t += rng.choice(
                    [1, 59, 3600, DAY, rng.randint(1, 3 * DAY), rng.randint(1, 40 * DAY)]
                )
            # the action(s)
            r = rng.random()
            if r < 0.30:
                send(member, t)
            elif r < 0.40:
                # a burst of sends: several at one instant or one second apart
                step = rng.choice([0, 1])
                count = rng.randint(2, 8)
                for k in range(count):
                    send(member, t + k * step)
                t += step * (count - 1)
            elif r < 0.52:
                purchase(member, t)
            elif r < 0.66:
                subscribe(member, t)
            elif r < 0.76:
                # a cancel, often exactly at a grant instant
                k = bisect.bisect_left(member.grant_instants, t)
                if rng.random() < 0.5 and k < len(member.grant_instants):
                    t = member.grant_instants[
                        min(len(member.grant_instants) - 1, k + rng.randint(0, 2))
                    ]
                cancel(member, t)
            else:
                # a same-instant group, often at a grant instant, in varied order
                k = bisect.bisect_left(member.grant_instants, t)
                if rng.random() < 0.5 and k < len(member.grant_instants):
                    t = member.grant_instants[k]
                group = [cancel, subscribe, send, purchase]
                group += rng.choices([send, purchase, cancel, subscribe], k=rng.randint(0, 3))
                rng.shuffle(group)
                for act in group[: rng.randint(2, len(group))]:
                    act(member, t)

        # responses: by the sender, strictly after the send, at most one each
        last_seq = counter["seq"]
        for ident, s in member.sends:
            if rng.random() >= response_prob:
                continue
            d = rng.choice(day_counts)
            offset = rng.choice(
                [
                    d * DAY,
                    d * DAY,
                    d * DAY + 1,
                    d * DAY - 1,
                    7 * DAY,
                    7 * DAY + 1,
                    90 * DAY,
                    90 * DAY + 1,
                    1,
                    rng.randint(1, 100 * DAY),
                ]
            )
            offset = max(1, offset)
            emit(
                member,
                s + offset,
                "respond",
                seq=rng.uniform(0, last_seq + 1),
                inmail=ident,
                response=rng.choice(RESPONSES),
            )
    rows.sort(key=lambda x: (x[0], x[1]))
    return [row for _, _, row in rows]


def write_history_csv(
    rows: list[dict[str, str]],
    path: Any,
    rng: random.Random,
    *,
    shuffle_columns: bool = True,
    row_order: str | None = None,
    plus_offset_prob: float = 0.1,
    filler_prob: float = 0.03,
) -> None:
    """Write ``rows`` (logical order) as HISTORY.csv.

    ``row_order``: "sorted", "shuffled" (any order of time, same-instant rows
    keeping their relative order) or "blocks" (a few swapped blocks); random
    when None. Some instants are written with ``+00:00``; a few cells that a
    row does not need get a well-formed filler value (they must be ignored).
    """
    columns = list(HISTORY_COLUMNS)
    if shuffle_columns:
        rng.shuffle(columns)
    n = len(rows)
    mode = row_order or rng.choice(["sorted", "shuffled", "shuffled", "blocks"])
    perm = list(range(n))
    if mode == "shuffled":
        rng.shuffle(perm)
    elif mode == "blocks" and n > 2:
        for _ in range(rng.randint(1, 4)):
            a, b = sorted(rng.sample(range(n + 1), 2))
            perm = perm[a:b] + perm[:a] + perm[b:]
    # rows with the same instant keep their relative (logical) order
    times = [parse_instant(r["time"]) for r in rows]
    positions: dict[int, list[int]] = defaultdict(list)
    for pos, idx in enumerate(perm):
        positions[times[idx]].append(pos)
    for _t, poss in positions.items():
        idxs = sorted(perm[p] for p in poss)
        for p, idx in zip(poss, idxs, strict=True):
            perm[p] = idx
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        for idx in perm:
            row = dict(rows[idx])
            if rng.random() < plus_offset_prob:
                row["time"] = row["time"][:-1] + "+00:00"
            if rng.random() < filler_prob:
                _fill_unneeded(row, rng)
            w.writerow(row)


_NEEDS = {
    "subscribe": {"tier"},
    "change_tier": {"tier"},
    "cancel": set(),
    "purchase": {"quantity"},
    "send": {"inmail", "category", "subject_chars", "body_chars", "free"},
    "respond": {"inmail", "response"},
}
_FILLERS = {
    "tier": "premium_career",
    "quantity": "3",
    "category": "job_inquiry",
    "subject_chars": "5",
    "body_chars": "7",
    "free": "false",
    "response": "accept",
}


def _fill_unneeded(row: dict[str, str], rng: random.Random) -> None:
    spare = [c for c in _FILLERS if c not in _NEEDS[row["action"]]]
    if spare:
        c = rng.choice(spare)
        row[c] = _FILLERS[c]


# --------------------------------------------------------------------------- policies


def random_policy(rng: random.Random) -> dict[str, Any]:
    """A random ``policy:`` block: one of the presets plus random overrides."""
    block: dict[str, Any] = {}
    preset = rng.choice(["inmail-2014", "inmail-2015"])
    if preset == "inmail-2015" or rng.random() < 0.5:
        block["preset"] = preset
    if rng.random() < 0.25:
        return block  # a bare preset

    def maybe(p: float) -> bool:
        return rng.random() < p

    if maybe(0.3):
        block["spend_order"] = rng.choice(["fifo", "earliest_expiry"])
    for key, choices in (
        ("grant_expiry_days", [None, 1, 7, 30, 31, 60, 90, 365]),
        ("refund_expiry_days", [None, 1, 7, 30, 90]),
        ("purchase_expiry_days", [None, 1, 7, 30, 90, 91]),
    ):
        if maybe(0.25):
            block[key] = rng.choice(choices)
    refund: dict[str, Any] = {}
    if maybe(0.35):
        refund["mode"] = rng.choice(["no_response_within", "response_within", "none"])
    if maybe(0.3):
        refund["window_days"] = rng.choice([1, 7, 30, 90])
    if maybe(0.15):
        refund["counts_as_response"] = rng.sample(RESPONSES, rng.randint(1, 3))
    if refund:
        block["refund"] = refund
    if maybe(0.3):
        block["cancel_effective"] = rng.choice(["immediate", "end_of_period"])
    if maybe(0.25):
        block["premium_buys_only_when_empty"] = rng.choice([True, False])
    if maybe(0.15):
        block["max_per_purchase"] = rng.choice([1, 5, 20])
    if maybe(0.15):
        block["max_purchased_balance"] = rng.choice([1, 5, 15, 30])
    if maybe(0.1):
        block["max_body_chars"] = rng.choice([100, 1999, 5000])
    if maybe(0.1):
        block["max_subject_chars"] = rng.choice([50, 201])
    if maybe(0.1):
        block["categories"] = rng.sample(CATEGORIES, rng.randint(1, 5))
    tiers: dict[str, Any] = {}
    for name in [*PREMIUM_TIERS, "basic"]:
        if maybe(0.15):
            over: dict[str, Any] = {}
            if name != "basic" and maybe(0.5):
                over["monthly_credits"] = rng.choice([0, 0, 1, 2, 5, 60])
            if maybe(0.5):
                over["cap"] = rng.choice([None, 1, 4, 12, 100])
            elif over.get("monthly_credits") == 0 and maybe(0.7):
                over["cap"] = rng.choice([1, 2])
            if name != "basic" and maybe(0.4):
                over["grant_schedule"] = rng.choice(["anniversary", "calendar_month"])
            if maybe(0.4):
                over["purchasable"] = rng.choice([True, False])
            if over:
                tiers[name] = over
    if maybe(0.3):
        new: dict[str, Any] = {"monthly_credits": rng.choice([0, 3, 20])}
        for key, choices in (
            ("cap", [None, 2, 25]),
            ("grant_schedule", ["anniversary", "calendar_month"]),
            ("purchasable", [True, False]),
        ):
            if maybe(0.4):
                new[key] = rng.choice(choices)
        tiers[rng.choice(["gold", "team_pro"])] = new
    if tiers:
        block["tiers"] = tiers
    return block


def history_params_for(policy: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for :func:`random_history` from a *resolved* policy
    (``reference.resolve_policy``): its premium tiers, categories, day counts."""
    days = [policy["refund"]["window_days"]]
    days += [
        policy[k]
        for k in ("grant_expiry_days", "refund_expiry_days", "purchase_expiry_days")
        if policy[k] is not None
    ]
    return {
        "tiers": [t for t in policy["tiers"] if t != "basic"],
        "categories": list(policy["categories"]),
        "day_counts": days,
    }


def write_scenario(block: dict[str, Any] | None, path: Any) -> None:
    """Write a scenario YAML file holding only a ``policy:`` block."""
    import yaml

    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump({"policy": block or {}}, f, sort_keys=False)
