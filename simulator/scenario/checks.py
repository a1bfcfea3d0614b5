"""Checks shared by the scenario's parsers: defaults, names, known names, weight maps.

Each check takes the :class:`~simulator.engine.schema.Checker` collecting the
file's problems and the key path of the value, and returns the checked value
or None after recording one problem line. The checks of one block live with
its parser (:mod:`simulator.scenario.pricing`, ``.cohorts``, ...); the ones
here serve several blocks. A broken policy (already reported) gives None for
its tiers and categories, and then any name is accepted.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from simulator.engine.policy import Policy
from simulator.engine.schema import Checker, FrozenMap, Path, show

__all__ = [
    "known_name",
    "name_text",
    "opt",
    "policy_categories",
    "policy_tiers",
    "positive_number",
    "suggestion",
    "weight_map",
]


def opt(raw: Mapping[str, Any], key: str, default: Any) -> Any:
    """``raw[key]``, or ``default`` when the key is missing or null (null means the default)."""
    value = raw.get(key)
    return default if value is None else value


def positive_number(check: Checker, path: Path, value: Any, maximum: float) -> float | None:
    """A finite number > 0 and <= ``maximum`` (the bound is a typo guard, named apart)."""
    number = check.number(path, value, minimum=0, exclusive_minimum=True)
    if number is not None and number > maximum:
        check.fail(path, f"must be at most {maximum}, got {show(value)}")
        return None
    return number


def policy_tiers(policy: Policy | None) -> tuple[str, ...] | None:
    """The policy's tier names, or None (anything goes) when the policy is broken."""
    return tuple(policy.tiers) if policy is not None else None


def policy_categories(policy: Policy | None) -> tuple[str, ...] | None:
    """The policy's category names, or None (anything goes) when the policy is broken."""
    return policy.categories if policy is not None else None


def known_name(
    check: Checker, path: Path, value: Any, options: Sequence[str] | None, what: str
) -> str | None:
    """``value`` if it names one of ``options``, else a problem with a suggestion.

    ``options`` None (the policy is broken and already reported) accepts any name.
    """
    if options is None:
        if isinstance(value, str) and value:
            return value
        check.bad(path, f"a {what} name", value)
        return None
    names = list(options)
    if isinstance(value, str) and value in names:
        return value
    check.fail(path, f"unknown {what} {show(value)}{suggestion(value, names, what)}")
    return None


def suggestion(value: Any, names: list[str], what: str) -> str:
    """`` (did you mean 'x'?)`` for a close name, else `` (known WHATs: ...)``."""
    if isinstance(value, str):
        hint = difflib.get_close_matches(value, names, n=1)
        if hint:
            return f" (did you mean {hint[0]!r}?)"
    plural = {"category": "categories"}.get(what, what + "s")
    return f" (known {plural}: {', '.join(names)})"


def weight_map(
    check: Checker,
    path: Path,
    value: Any,
    options: Sequence[str] | None,
    what: str,
) -> FrozenMap[float] | None:
    """A mapping from names in ``options`` (None: any) to numbers >= 0, in the order written."""
    raw = check.mapping(path, value)
    if raw is None:
        return None
    names = list(options) if options is not None else None
    out: dict[str, float] = {}
    ok = True
    for key, weight in raw.items():
        if names is not None and key not in names:
            check.fail((*path, key), f"unknown {what}{suggestion(key, names, what)}")
            ok = False
            continue
        number = check.number((*path, key), weight, minimum=0)
        if number is None:
            ok = False
            continue
        out[key] = number
    return FrozenMap(out) if ok else None


def name_text(check: Checker, path: Path, value: Any) -> str | None:
    """``value`` if it is non-empty text on one line of at most 200 characters (a name)."""
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        check.bad(path, "non-empty text on one line", value)
        return None
    if len(value) > 200:
        check.bad(path, "at most 200 characters", value)
        return None
    return value
