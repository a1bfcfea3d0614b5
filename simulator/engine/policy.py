"""The credit policy: presets, overrides and validation (RULES.md sections 3, 6, 7).

A policy is read from the ``policy`` block of a scenario (plain YAML data),
merged over its preset (mappings key by key, lists replaced whole), checked
once, and frozen into a :class:`Policy`. Every problem is reported as one line
naming the file, the key path and the bad value.

Choices where RULES.md is silent (each documented in ``scenarios/README.md``):

* ``basic`` never gets grants (RULES.md section 2), so a ``monthly_credits``
  other than 0 for ``basic`` is an error, not silently ignored.
* Tier names are text of letters, digits, ``_``, ``.`` and ``-`` (they appear
  in CSV cells and lot ids are ``member:n``).
* A new tier's unnamed keys come from the *preset's* ``basic`` tier, before
  the scenario's own overrides of ``basic`` (RULES.md section 7 says "the
  preset's basic tier").
* ``max_per_purchase`` is a whole number >= 1; ``max_purchased_balance`` and
  ``cap`` are whole numbers >= 0 (``cap`` may be null: no cap); ``categories``
  must not be empty; ``counts_as_response`` may be empty (no response counts).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulator.engine.schema import Checker, FrozenMap, Path, show
from simulator.errors import PolicyError
from simulator.vocabulary import RESPONSE_KINDS

__all__ = [
    "CATEGORIES",
    "MAX_CAP",
    "MAX_CHARS",
    "MAX_DAYS",
    "MAX_MONTHLY_CREDITS",
    "MAX_PER_PURCHASE",
    "PRESETS",
    "RESPONSES",
    "Policy",
    "RefundRule",
    "Tier",
    "policy_from_yaml_block",
    "resolve_policy",
]

CATEGORIES = (
    "career_opportunity",
    "consulting_offer",
    "new_venture",
    "job_inquiry",
    "expertise_request",
    "business_deal",
    "reference_request",
    "get_back_in_touch",
)
RESPONSES = RESPONSE_KINDS
REFUND_MODES = ("no_response_within", "response_within", "none")
SPEND_ORDERS = ("earliest_expiry", "fifo")
CANCEL_EFFECTIVE = ("end_of_period", "immediate")
GRANT_SCHEDULES = ("anniversary", "calendar_month")
# Upper bounds of the policy's numbers. They catch typos and keep every count
# the engine writes within the ledger's 32-bit quantity and balance columns
# (2,147,483,647): grants are at most MAX_MONTHLY_CREDITS a month, so even a
# century without expiry holds about 12 million granted credits; purchases add
# at most MAX_CAP to the purchased balance; refunds only give back credits that
# were spent. Documented in scenarios/README.md ("policy").
MAX_DAYS = 36_500  # a century: expiries and credit-back windows
MAX_MONTHLY_CREDITS = 10_000
MAX_CAP = 1_000_000_000  # a tier's balance cap and max_purchased_balance
MAX_PER_PURCHASE = 1_000
MAX_CHARS = 1_000_000  # max_body_chars, max_subject_chars

_TIER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")


def _tier(credits: int, cap: int | None = None, schedule: str = "anniversary") -> dict[str, Any]:
    return {
        "monthly_credits": credits,
        "cap": cap,
        "grant_schedule": schedule,
        "purchasable": True,
    }


_INMAIL_2014: dict[str, Any] = {
    "grant_expiry_days": 90,
    "refund_expiry_days": 90,
    "purchase_expiry_days": None,
    "spend_order": "earliest_expiry",
    "max_body_chars": 2000,
    "max_subject_chars": 200,
    "categories": list(CATEGORIES),
    "max_per_purchase": 10,
    "max_purchased_balance": 10,
    "premium_buys_only_when_empty": True,
    "cancel_effective": "end_of_period",
    "refund": {
        "mode": "no_response_within",
        "window_days": 7,
        "counts_as_response": list(RESPONSES),
    },
    "tiers": {
        "basic": _tier(0),
        "premium_career": _tier(5),
        "premium_business": _tier(15),
        "sales_navigator": _tier(50),
        "recruiter_lite": _tier(30),
    },
}


def _inmail_2015() -> dict[str, Any]:
    p = copy.deepcopy(_INMAIL_2014)
    p["refund"]["mode"] = "response_within"
    p["refund"]["window_days"] = 90
    caps = {
        "premium_career": 15,
        "premium_business": 45,
        "sales_navigator": 150,
        "recruiter_lite": 120,
    }
    for name, cap in caps.items():
        p["tiers"][name]["cap"] = cap
    p["tiers"]["sales_navigator"]["grant_schedule"] = "calendar_month"
    for tier in p["tiers"].values():
        tier["purchasable"] = False
    return p


PRESETS: Mapping[str, Mapping[str, Any]] = FrozenMap(
    {"inmail-2014": _INMAIL_2014, "inmail-2015": _inmail_2015()}
)
DEFAULT_PRESET = "inmail-2014"
_TOP_KEYS = ("preset", *_INMAIL_2014.keys())
_TIER_KEYS = tuple(_tier(0).keys())
_REFUND_KEYS = tuple(_INMAIL_2014["refund"].keys())


@dataclass(frozen=True, slots=True)
class Tier:
    """One plan: its monthly grant, balance cap, grant schedule and whether it may buy."""

    name: str
    monthly_credits: int
    cap: int | None
    grant_schedule: str
    purchasable: bool

    @property
    def is_basic(self) -> bool:
        return self.name == "basic"


@dataclass(frozen=True, slots=True)
class RefundRule:
    """R6: when an InMail earns its credit back."""

    mode: str
    window_days: int
    counts_as_response: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    """A complete, validated policy (RULES.md section 7). Immutable."""

    preset: str
    grant_expiry_days: int | None
    refund_expiry_days: int | None
    purchase_expiry_days: int | None
    spend_order: str
    max_body_chars: int
    max_subject_chars: int
    categories: tuple[str, ...]
    max_per_purchase: int
    max_purchased_balance: int
    premium_buys_only_when_empty: bool
    cancel_effective: str
    refund: RefundRule
    tiers: Mapping[str, Tier]

    def to_dict(self) -> dict[str, Any]:
        """The policy as a complete section-7 block (every key present)."""
        return {
            "preset": self.preset,
            "grant_expiry_days": self.grant_expiry_days,
            "refund_expiry_days": self.refund_expiry_days,
            "purchase_expiry_days": self.purchase_expiry_days,
            "spend_order": self.spend_order,
            "max_body_chars": self.max_body_chars,
            "max_subject_chars": self.max_subject_chars,
            "categories": list(self.categories),
            "max_per_purchase": self.max_per_purchase,
            "max_purchased_balance": self.max_purchased_balance,
            "premium_buys_only_when_empty": self.premium_buys_only_when_empty,
            "cancel_effective": self.cancel_effective,
            "refund": {
                "mode": self.refund.mode,
                "window_days": self.refund.window_days,
                "counts_as_response": list(self.refund.counts_as_response),
            },
            "tiers": {
                name: {
                    "monthly_credits": t.monthly_credits,
                    "cap": t.cap,
                    "grant_schedule": t.grant_schedule,
                    "purchasable": t.purchasable,
                }
                for name, t in self.tiers.items()
            },
        }

    def with_overrides(self, overrides: Mapping[str, Any], source: str = "<overrides>") -> Policy:
        """A new policy: this one's complete block with ``overrides`` merged over it."""
        base = self.to_dict()
        merged = _merge(base, {k: v for k, v in overrides.items() if k != "preset"})
        return _validate(merged, source, ("policy",))


def _merge(base: Any, over: Any) -> Any:
    """Mappings merge key by key; anything else (lists included) is replaced whole."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(over)


def resolve_policy(block: Any = None, source: str = "<policy>", path: Path = ("policy",)) -> Policy:
    """Validate a raw ``policy`` block (or ``None`` for the default) into a :class:`Policy`.

    Raises :class:`PolicyError` listing every problem, each naming ``source``
    and the key path.
    """
    check = Checker(source)
    if block is None:
        block = {}
    raw = check.mapping(path, block)
    if raw is None:
        raise PolicyError(*check.problems)
    preset_name = raw.get("preset", DEFAULT_PRESET)
    if check.choice((*path, "preset"), preset_name, PRESETS) is None:
        raise PolicyError(*check.problems)
    check.known_keys(path, raw, _TOP_KEYS)
    preset = copy.deepcopy(dict(PRESETS[preset_name]))
    # Tiers the preset lacks are new tiers: their unnamed keys default to the
    # preset's basic tier, and they must give monthly_credits.
    tiers_over = raw.get("tiers")
    if isinstance(tiers_over, Mapping):
        for name, spec in tiers_over.items():
            if name in preset["tiers"] or not isinstance(name, str):
                continue
            if isinstance(spec, Mapping) and "monthly_credits" not in spec:
                check.fail((*path, "tiers", name, "monthly_credits"), "is required for a new tier")
            preset["tiers"][name] = dict(preset["tiers"]["basic"])
    # Unknown keys are reported, and the rest is still checked, so one run of
    # the validator names every problem.
    merged = _merge(preset, {k: v for k, v in raw.items() if k in _TOP_KEYS and k != "preset"})
    merged["preset"] = preset_name
    try:
        policy = _validate(merged, source, path)
    except PolicyError as exc:
        raise PolicyError(*check.problems, *exc.problems) from None
    if check.problems:
        raise PolicyError(*check.problems)
    return policy


def _validate(raw: Mapping[str, Any], source: str, path: Path) -> Policy:
    check = Checker(source)
    p = path
    expiry = {
        key: check.integer((*p, key), raw[key], minimum=1, maximum=MAX_DAYS, nullable=True)
        for key in ("grant_expiry_days", "refund_expiry_days", "purchase_expiry_days")
    }
    spend_order = check.choice((*p, "spend_order"), raw["spend_order"], SPEND_ORDERS)
    max_body = check.integer(
        (*p, "max_body_chars"), raw["max_body_chars"], minimum=1, maximum=MAX_CHARS
    )
    max_subject = check.integer(
        (*p, "max_subject_chars"), raw["max_subject_chars"], minimum=1, maximum=MAX_CHARS
    )
    categories = check.text_list((*p, "categories"), raw["categories"], allow_empty=False)
    max_per = check.integer(
        (*p, "max_per_purchase"), raw["max_per_purchase"], minimum=1, maximum=MAX_PER_PURCHASE
    )
    max_bal = check.integer(
        (*p, "max_purchased_balance"), raw["max_purchased_balance"], minimum=0, maximum=MAX_CAP
    )
    only_empty = check.boolean(
        (*p, "premium_buys_only_when_empty"), raw["premium_buys_only_when_empty"]
    )
    cancel = check.choice((*p, "cancel_effective"), raw["cancel_effective"], CANCEL_EFFECTIVE)

    refund: RefundRule | None = None
    rraw = check.mapping((*p, "refund"), raw["refund"])
    if rraw is not None:
        check.known_keys((*p, "refund"), rraw, _REFUND_KEYS)
        mode = check.choice((*p, "refund", "mode"), rraw.get("mode"), REFUND_MODES)
        window = check.integer(
            (*p, "refund", "window_days"), rraw.get("window_days"), minimum=1, maximum=MAX_DAYS
        )
        counts = check.text_list(
            (*p, "refund", "counts_as_response"),
            rraw.get("counts_as_response"),
            options=RESPONSES,
            allow_empty=True,
        )
        if mode is not None and window is not None and counts is not None:
            refund = RefundRule(mode, window, counts)

    tiers: dict[str, Tier] = {}
    traw = check.mapping((*p, "tiers"), raw["tiers"])
    if traw is not None:
        for name, spec in traw.items():
            tp = (*p, "tiers", name)
            if not _TIER_NAME.match(name):
                check.fail(tp, "a tier name must be letters, digits, '_', '.' or '-'")
                continue
            tspec = check.mapping(tp, spec)
            if tspec is None:
                continue
            check.known_keys(tp, tspec, _TIER_KEYS)
            credits = check.integer(
                (*tp, "monthly_credits"),
                tspec["monthly_credits"],
                minimum=0,
                maximum=MAX_MONTHLY_CREDITS,
            )
            cap = check.integer(
                (*tp, "cap"), tspec["cap"], minimum=0, maximum=MAX_CAP, nullable=True
            )
            schedule = check.choice(
                (*tp, "grant_schedule"), tspec["grant_schedule"], GRANT_SCHEDULES
            )
            purchasable = check.boolean((*tp, "purchasable"), tspec["purchasable"])
            if name == "basic" and credits not in (None, 0):
                check.fail(
                    (*tp, "monthly_credits"),
                    f"basic never gets grants, so it must be 0, got {show(credits)}",
                )
                continue
            if None in (credits, schedule, purchasable) or (
                cap is None and tspec["cap"] is not None
            ):
                continue
            assert credits is not None and schedule is not None and purchasable is not None
            tiers[name] = Tier(name, credits, cap, schedule, purchasable)

    if check.problems:
        raise PolicyError(*check.problems)
    assert spend_order and max_body and max_subject and categories and max_per and cancel
    assert max_bal is not None and only_empty is not None and refund is not None
    return Policy(
        preset=str(raw["preset"]),
        grant_expiry_days=expiry["grant_expiry_days"],
        refund_expiry_days=expiry["refund_expiry_days"],
        purchase_expiry_days=expiry["purchase_expiry_days"],
        spend_order=spend_order,
        max_body_chars=max_body,
        max_subject_chars=max_subject,
        categories=categories,
        max_per_purchase=max_per,
        max_purchased_balance=max_bal,
        premium_buys_only_when_empty=only_empty,
        cancel_effective=cancel,
        refund=refund,
        tiers=FrozenMap(tiers),
    )


def policy_from_yaml_block(document: Any, source: str) -> Policy:
    """The policy of a scenario document (a parsed YAML mapping or ``None``).

    Replay needs only the ``policy`` block; other sections are not looked at.
    """
    if document is None:
        return resolve_policy(None, source)
    if not isinstance(document, Mapping):
        raise PolicyError(f"{source}: <top level>: must be a mapping, got {show(document)}")
    return resolve_policy(document.get("policy"), source)
