"""The credit rules engine alone in the API: replay a history, explain its ledger.

Job: :func:`replay` runs :mod:`simulator.engine` over a history (a CSV file,
a DataFrame or a list of rows) under a policy and returns a :class:`Replay`
-- its ledger and closing balances as DataFrames, each ledger line explained
by the rule behind it (:meth:`Replay.explain`), and :meth:`Replay.save`.
:func:`replay_to_dir` is ``creditsim replay``: a history file, or every
history part of a run directory, replayed and written to a folder.

Boundary: the rules are the engine's; this module only presents them. Its
messages name parameters (``until``, ``out``), never flags.
"""

from __future__ import annotations

import datetime
import math
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from simulator.api.run_dirs import check_out_dir
from simulator.api.tables import _DAY
from simulator.engine import (
    BALANCE_COLUMNS,
    HISTORY_COLUMNS,
    LEDGER_COLUMNS,
    PRESETS,
    Policy,
    balances_rows,
    ledger_rows,
    parse_history_rows,
    read_history,
    resolve_policy,
)
from simulator.engine import replay as _engine_replay
from simulator.engine.history import until_problem
from simulator.engine.policy import policy_from_yaml_block
from simulator.errors import HistoryError, PolicyError, UsageError
from simulator.outputs import atomic_write_bytes, atomic_write_many, csv_text
from simulator.runformat import history_parts, read_meta
from simulator.scenario import Scenario
from simulator.timeutil import format_instant, parse_instant
from simulator.yamlio import load_yaml_file

__all__ = ["Replay", "ReplayedDir", "replay", "replay_to_dir"]

_EXPLAIN_REJECT = {
    "body_length": "the body is not 1..{max_body_chars} characters (R4)",
    "subject_length": "the subject is not 1..{max_subject_chars} characters (R4)",
    "category": "the category is not one of the policy's categories (R4)",
    "no_credit": "no credit left to pay for it (R4)",
    "quantity": "a purchase must be 1..{max_per_purchase} credits (R5)",
    "not_purchasable": "this plan may not buy credits (R5)",
    "purchased_cap": "the purchased balance would exceed {max_purchased_balance} (R5)",
    "allotment_left": "a premium member may buy only once its allotted credits are used up (R5)",
}


class Replay:
    """The credit rules engine run over a history: its ledger and closing balances.

    ``ledger``: RULES.md section 5 (``time`` as ``datetime64[s, UTC]``,
    ``quantity`` and ``balance_after`` as integers), in time order;
    ``balances``: ``member``, ``balance``, ``allotted``, ``purchased`` at
    ``until``; ``policy``; ``until`` (a UTC Timestamp); ``actions``: how
    many history rows were applied. :meth:`explain` says why each ledger
    line is there; :meth:`save` writes what ``creditsim replay`` writes.

    >>> audit = replay("scenarios/examples/history.csv")
    >>> audit.balances
      member  balance  allotted  purchased
    0  alice        0         0          0
    1    bob        3         0          3
    """

    def __init__(self, policy: Policy, actions: list[Any], until: int | None) -> None:
        result = _engine_replay(policy, actions, until)
        self.policy = policy
        self._actions = actions
        self._result = result
        self._until = result.until
        self.until = pd.Timestamp(result.until, unit="s", tz="UTC")
        self.actions = sum(1 for a in actions if a.time <= result.until)
        self._ledger_text = ledger_rows(result.engine)
        self._balances_text = balances_rows(result)

    @property
    def until_text(self) -> str:
        """``until`` as ISO 8601 UTC text (``2024-03-01T00:00:00Z``)."""
        return format_instant(self._until)

    @property
    def rows(self) -> int:
        """How many rows the history has (``actions``: those applied, up to ``until``)."""
        return len(self._actions)

    @property
    def members(self) -> int:
        """How many members the history names up to ``until``."""
        return len(self._balances_text)

    @property
    def held(self) -> int:
        """Credits held by all members at ``until``."""
        return sum(int(row[1]) for row in self._balances_text)

    def kinds(self) -> dict[str, int]:
        """Ledger entries per kind (``grant``, ``spend``, ...), sorted by kind."""
        counts: dict[str, int] = {}
        for row in self._ledger_text:
            counts[row[2]] = counts.get(row[2], 0) + 1
        return dict(sorted(counts.items()))

    @cached_property
    def ledger(self) -> pd.DataFrame:
        """Every credit movement and rejection, with the balance after it."""
        frame = pd.DataFrame(self._ledger_text, columns=list(LEDGER_COLUMNS))
        for name in ("member", "kind", "lot", "inmail", "reason"):
            frame[name] = frame[name].astype(str)
        # The engine writes whole seconds as ``YYYY-MM-DDTHH:MM:SSZ``, years 0 to 9999:
        # numpy parses them all (pandas' own parser stops at nanosecond bounds under pandas 2).
        seconds = np.array([t.removesuffix("Z") for t in frame["time"]], dtype="datetime64[s]")
        frame["time"] = pd.Series(seconds, index=frame.index).dt.tz_localize("UTC")
        for name in ("quantity", "balance_after"):
            frame[name] = frame[name].astype(np.int64)
        return frame

    @cached_property
    def balances(self) -> pd.DataFrame:
        """Each member's balance, allotted (grant + refund) and purchased credits at ``until``."""
        frame = pd.DataFrame(self._balances_text, columns=list(BALANCE_COLUMNS))
        frame["member"] = frame["member"].astype(str)
        for name in BALANCE_COLUMNS[1:]:
            frame[name] = frame[name].astype(np.int64)
        return frame

    def explain(self, member: str | None = None) -> pd.DataFrame:
        """The ledger (of ``member``, or everyone) with an ``explanation`` of each line.

        Each explanation names the rule (RULES.md section 4) behind the
        entry: which lot a spend came from and when that lot expires, why a
        refund was paid, why credits expired, were capped or forfeited, why
        an action was rejected.

        >>> replay("scenarios/examples/history.csv").explain("bob")[["kind", "explanation"]]
        ... # doctest: +SKIP
        """
        led = self.ledger
        if member is not None:
            if member not in set(led["member"]):
                raise KeyError(f"no ledger entry for member {member!r}")
            led = led[led["member"] == member]
        led = led.reset_index(drop=True)
        text = [self._explain_row(row) for row in led.itertuples(index=False)]
        out = led.copy()
        out["explanation"] = text
        return out

    @cached_property
    def _lots(self) -> dict[str, tuple[str, int]]:
        """Lot id -> (source, issued at)."""
        lots: dict[str, tuple[str, int]] = {}
        for time, _m, kind, lot, *_ in self._ledger_text:
            if kind in ("grant", "purchase", "refund") and lot and lot not in lots:
                lots[lot] = (kind, parse_instant(time))
        return lots

    @cached_property
    def _plans(self) -> dict[str, list[tuple[int, str, str]]]:
        """Member -> its subscribe/change_tier/cancel actions as (time, action, tier)."""
        plans: dict[str, list[tuple[int, str, str]]] = {}
        for a in self._actions:
            if a.action in ("subscribe", "change_tier", "cancel") and a.time <= self._until:
                plans.setdefault(a.member, []).append((a.time, a.action, a.tier))
        return plans

    def _tier_at(self, member: str, t: int) -> str | None:
        tier = None
        for when, action, name in self._plans.get(member, []):
            if when > t:
                break
            if action != "cancel":
                tier = name
        return tier

    def _expiry_text(self, source: str, issued: int) -> str:
        days = {
            "grant": self.policy.grant_expiry_days,
            "refund": self.policy.refund_expiry_days,
            "purchase": self.policy.purchase_expiry_days,
        }[source]
        if days is None:
            return "never expires"
        return f"expires {format_instant(issued + days * _DAY)} ({days} days, R2)"

    def _explain_row(self, row: Any) -> str:
        p = self.policy
        t = int(row.time.timestamp())
        lot = row.lot
        source, issued = self._lots.get(lot, ("", t))
        q = int(row.quantity)
        credits = f"{q} credit{'s' if q != 1 else ''}"
        kind = row.kind
        if kind == "grant":
            tier = self._tier_at(row.member, t) or "its plan"
            expiry = self._expiry_text("grant", t)
            return f"monthly grant of {tier} (R1): {credits} in new lot {lot}, {expiry}"
        if kind == "purchase":
            return f"bought {credits} in new lot {lot}, {self._expiry_text('purchase', t)} (R5)"
        if kind == "spend":
            rule = (
                "the live lot that expires first (R3)"
                if p.spend_order == "earliest_expiry"
                else "the oldest live lot (R3, fifo)"
            )
            return (
                f"paid InMail {row.inmail}: 1 credit from {source} lot {lot} (issued "
                f"{format_instant(issued)}), {rule}"
            )
        if kind == "refund":
            window = p.refund.window_days
            why = (
                f"no response within {window} days"
                if p.refund.mode == "no_response_within"
                else f"a response within {window} days"
            )
            return (
                f"credit back for InMail {row.inmail}: {why} (R6); new refund lot {lot}, "
                f"{self._expiry_text('refund', t)}"
            )
        if kind == "expire":
            return (
                f"{credits} of {source} lot {lot} (issued {format_instant(issued)}) expired "
                "unused (R2)"
            )
        if kind == "cap":
            held = self._tier_at(row.member, t)
            cap = p.tiers[held].cap if held is not None and held in p.tiers else None
            what = f"the cap of {cap} for {held}" if cap is not None else "the tier's cap"
            return (
                f"{credits} of {source} lot {lot} removed: after the grant the allotted "
                f"balance was above {what} (R7)"
            )
        if kind == "forfeit":
            changed = any(
                when == t and action != "cancel"
                for when, action, _ in self._plans.get(row.member, [])
            )
            why = (
                "the plan changed at this instant (R9)"
                if changed
                else "the cancelled subscription ended (R8)"
            )
            return f"{credits} of {source} lot {lot} forfeited: {why}"
        if kind == "reject":
            reason = _EXPLAIN_REJECT.get(row.reason, row.reason).format(
                max_body_chars=p.max_body_chars,
                max_subject_chars=p.max_subject_chars,
                max_per_purchase=p.max_per_purchase,
                max_purchased_balance=p.max_purchased_balance,
            )
            what = f"send of InMail {row.inmail}" if row.inmail else "purchase"
            return f"{what} rejected, nothing consumed: {reason}"
        return kind  # pragma: no cover - every kind is handled above

    def save(self, out: str | os.PathLike[str], *, part: str | None = None) -> Path:
        """Write ``out/ledger.csv`` and ``out/balances.csv`` exactly as ``creditsim replay`` does.

        With ``part`` (a history part's name, ``part-00000``), write
        ``out/ledger/part-00000.csv`` and ``out/balances/part-00000.csv``
        instead, as ``creditsim replay RUN/history`` does for each part.

        >>> replay("scenarios/examples/history.csv").save("runs/example")  # doctest: +SKIP
        """
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        ledger = csv_text(LEDGER_COLUMNS, self._ledger_text)
        balances = csv_text(BALANCE_COLUMNS, self._balances_text)
        if part is None:
            atomic_write_many(path, {"ledger.csv": ledger, "balances.csv": balances})
            return path
        for folder, text in (("ledger", ledger), ("balances", balances)):
            (path / folder).mkdir(exist_ok=True)
            atomic_write_bytes(path / folder / f"{part}.csv", text.encode("utf-8"))
        return path

    def __repr__(self) -> str:
        held = int(self.balances["balance"].sum()) if len(self._balances_text) else 0
        return (
            f"<Replay: {self.actions} actions, {len(self._balances_text)} member(s), "
            f"{len(self._ledger_text)} ledger entries up to {format_instant(self._until)}, "
            f"{held} credits held>"
        )


def _policy(policy: Any) -> Policy:
    """A Policy from None, a Policy, a Scenario, a Run, a preset name, a block or a YAML path."""
    if policy is None:
        return resolve_policy(None)
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, Scenario):
        return policy.policy
    if isinstance(getattr(policy, "scenario", None), Scenario):  # a Run
        return cast(Scenario, policy.scenario).policy
    if isinstance(policy, Mapping):
        return resolve_policy(dict(policy), source="<policy>")
    if isinstance(policy, str) and policy in _preset_names():
        return resolve_policy({"preset": policy}, source="<policy>")
    if isinstance(policy, str | os.PathLike):
        return policy_from_yaml_block(load_yaml_file(os.fspath(policy), PolicyError), str(policy))
    raise UsageError(
        f"policy must be None, a Policy, a Scenario, a preset name, a policy "
        f"block (dict) or a scenario file, got {type(policy).__name__}"
    )


def _preset_names() -> tuple[str, ...]:
    return tuple(PRESETS)


def _cell(value: Any) -> str:
    """One history cell as the text the CSV format expects."""
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, pd.Timestamp | datetime.datetime):
        ts = pd.Timestamp(value)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return format_instant(int(ts.timestamp()))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _history_rows(history: Any) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A DataFrame or a list of rows (dicts, or sequences in HISTORY_COLUMNS order) as a
    header and ``(line, cells)`` rows, each cell the text a file would hold (line 2 is the
    first row), for :func:`~simulator.engine.history.parse_history_rows`."""
    if isinstance(history, pd.DataFrame):
        frame = history
    else:
        rows = list(history)
        if rows and not isinstance(rows[0], Mapping):
            for i, row in enumerate(rows):
                if len(row) != len(HISTORY_COLUMNS):
                    raise HistoryError(
                        f"<history>: row {i}: expected {len(HISTORY_COLUMNS)} "
                        f"values ({', '.join(HISTORY_COLUMNS)}), got "
                        f"{len(row)}"
                    )
            frame = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
        else:
            frame = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS) if not rows else None)
    header = [str(c) for c in frame.columns]
    rows_of = frame.itertuples(index=False, name=None)
    cells = [(line, [_cell(v) for v in row]) for line, row in enumerate(rows_of, start=2)]
    return header, cells


def replay(
    history: str | os.PathLike[str] | pd.DataFrame | Iterable[Any],
    policy: Any = None,
    until: str | int | datetime.datetime | None = None,
    allow_long_span: bool = False,
) -> Replay:
    """Run the credit rules engine alone over ``history`` and return the :class:`Replay`.

    ``history`` is a CSV file (RULES.md section 8), a DataFrame with those
    columns, or a list of rows (dicts, or sequences in ``HISTORY_COLUMNS``
    order); rows of a DataFrame or list are checked exactly like a file's,
    line 2 being the first row. ``policy`` is None (``inmail-2014``), a
    preset name (``"inmail-2015"``), a policy block (``{"preset":
    "inmail-2015", "refund": {"window_days": 30}}``), a scenario file whose
    ``policy:`` block applies, a Scenario, a Run, or a Policy. ``until``
    (an ISO instant, Unix seconds or a datetime) defaults to the last
    instant in the history. Bad input raises :class:`HistoryError` with
    one line per problem. A history (with ``until``) spanning more than
    36,500 days is refused as a likely typo unless ``allow_long_span``.

    >>> audit = replay("scenarios/examples/history.csv", policy="inmail-2015")
    >>> rows = [{"time": "2024-01-01T00:00:00Z", "member": "ann", "action": "subscribe",
    ...          "tier": "premium_career"}]
    >>> replay(rows, until="2024-03-01T00:00:00Z").ledger["kind"].tolist()
    ['grant', 'grant', 'grant']
    """
    pol = _policy(policy)
    if isinstance(history, str | os.PathLike):
        actions = read_history(os.fspath(history), pol, allow_long_span)
    else:
        header, rows = _history_rows(history)
        actions = parse_history_rows(header, rows, pol, "<history>", allow_long_span)
    end = _instant(until, "until")
    if end is not None and not allow_long_span:
        problem = until_problem(actions, end)
        if problem is not None:
            raise UsageError(f"until: {problem}")
    return Replay(pol, actions, end)


def _instant(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise UsageError(f"{what}: expected an instant, got {value!r}")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp | datetime.datetime):
        return parse_instant(_cell(value))
    try:
        return parse_instant(str(value))
    except ValueError as exc:
        raise UsageError(f"{what}: {exc}") from None


@dataclass
class ReplayedDir:
    """What :func:`replay_to_dir` wrote to ``out``.

    For a history file: ``replay`` (the :class:`Replay`), its ``ledger.csv`` and
    ``balances.csv``. For a run directory or a folder of history parts:
    ``parts`` replayed (one ledger and balances CSV per part, under
    ``out/ledger/`` and ``out/balances/``) and ``defaults``, what was taken
    from the run (its policy, its end). ``actions``, ``members`` and
    ``entries`` are totals over the parts.
    """

    out: Path
    replay: Replay | None = None
    parts: int = 0
    actions: int = 0
    members: int = 0
    entries: int = 0
    defaults: list[str] = field(default_factory=list)


def replay_to_dir(
    history: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    policy: Any = None,
    until: str | int | datetime.datetime | None = None,
    overwrite: bool = False,
    allow_long_span: bool = False,
) -> ReplayedDir:
    """Replay ``history`` and write the ledger and balances to ``out`` (``creditsim replay``
    is this call).

    ``history`` is a history CSV file (``out/ledger.csv`` and
    ``out/balances.csv`` are written), or a run directory, its ``history/``
    folder or any folder of history parts (every part is replayed:
    ``out/ledger/part-i.csv`` and ``out/balances/part-i.csv``; a run's own
    ``scenario.yaml`` and ``end`` are the defaults of ``policy`` and
    ``until``, so each ledger part is the run's ``ledger/part-i.parquet`` as
    text). ``out`` must be new, empty, or an earlier replay's output (then
    replaced only with ``overwrite``: the files of the earlier replay are
    removed, nothing else). Other arguments as :func:`replay`.
    """
    end = _instant(until, "until")
    if Path(history).is_dir():
        return _replay_parts(Path(history), out, policy, end, overwrite, allow_long_span)
    result = replay(history, policy, end, allow_long_span=allow_long_span)
    folder = check_out_dir(out, overwrite, "replay")
    try:
        result.save(folder)  # ledger.csv and balances.csv replaced whole, or not at all
        _clear_replay(folder, files=False)  # the parts of an earlier replay of a run
    except OSError as exc:
        raise UsageError(f"out {folder}: cannot write: {exc.strerror or exc}") from None
    entries = sum(result.kinds().values())
    return ReplayedDir(folder, result, 0, result.actions, result.members, entries)


def _replay_parts(
    folder: Path,
    out: str | os.PathLike[str],
    policy: Any,
    until: int | None,
    overwrite: bool,
    allow_long_span: bool,
) -> ReplayedDir:
    """Every history part of ``folder`` replayed, one ledger and balances file per part."""
    if (folder / "run.json").is_file():
        folder = folder / "history"  # a run directory: its history
    paths = history_parts(folder)
    if not paths:
        raise UsageError(f"{folder}: a folder without history parts (part-00000.csv, ...): "
                         "give a history file, a run directory or its history/ folder")  # fmt: skip
    run_dir = folder.parent
    used: list[str] = []
    if (run_dir / "run.json").is_file() and folder.name == "history":
        meta = read_meta(run_dir)
        if policy is None:
            policy = run_dir / "scenario.yaml"
            used.append(f"the policy of {policy}")
        if until is None:
            until = parse_instant(str(meta["end"]))
            used.append(f"the run's end, {meta['end']}")
    target = check_out_dir(out, overwrite, "replay")
    done = ReplayedDir(target, parts=len(paths), defaults=used)
    try:
        _clear_replay(target)
    except OSError as exc:
        raise UsageError(f"out {target}: cannot write: {exc.strerror or exc}") from None
    for path in paths:
        result = replay(path, policy, until, allow_long_span=allow_long_span)
        try:
            result.save(target, part=path.stem)
        except OSError as exc:
            raise UsageError(f"out {target}: cannot write: {exc.strerror or exc}") from None
        done.actions += result.actions
        done.members += result.members
        done.entries += sum(result.kinds().values())
    return done


def _clear_replay(out: Path, files: bool = True) -> None:
    """Remove an earlier replay's output from ``out`` (allowed by ``overwrite``): its
    ``ledger/`` and ``balances/`` parts and (with ``files``) its ``ledger.csv`` and
    ``balances.csv``, so no file of an earlier replay (a part this one has not) is left
    beside this one's. Nothing else in ``out`` is touched."""
    for name in ("ledger", "balances"):
        if (out / name).is_dir():
            shutil.rmtree(out / name)
        if files:
            (out / f"{name}.csv").unlink(missing_ok=True)
