"""Histories (RULES.md section 8) read in blocks into compact typed columns.

Job: turn one or more history CSV files into :class:`Observed`, the rows as
numpy columns (about 40 bytes a row; no text, no Python object per row), in
replay order (instant, R10 step, file, row), with each response linked to
the row of its send. The file is streamed with pyarrow's CSV reader a block
at a time, so a 10-million-row history never exists as text or as Python
objects.

Bad input is the project's own business: every block is checked with cheap
vectorised tests that accept a *subset* of what :func:`simulator.engine.read_history`
accepts. When any test fails (or pyarrow cannot parse a block), the file is
handed to :func:`~simulator.engine.read_history` itself, which raises the
:class:`~simulator.errors.HistoryError` that ``creditsim replay`` gives, line by
line; if it finds nothing wrong (the quick tests were stricter than the
rules, e.g. a 12-digit quantity), its actions are used instead (the slow,
exact path). So the error texts are ``replay``'s, never a copy of them.

Boundary: reading and checking only; no estimate, no engine run.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from simulator.engine import Action, Policy, read_history
from simulator.engine.history import ACTION_NEEDS, ACTIONS, span_problem, until_problem
from simulator.errors import HistoryError, UsageError
from simulator.vocabulary import RESPONSE_KINDS

__all__ = [
    "ACT_CANCEL",
    "ACT_CHANGE",
    "ACT_PURCHASE",
    "ACT_RESPOND",
    "ACT_SEND",
    "ACT_SUBSCRIBE",
    "Observed",
    "read_histories",
]

# Action codes, in the order of simulator.engine.ACTIONS.
ACT_RESPOND, ACT_SUBSCRIBE, ACT_CHANGE, ACT_CANCEL, ACT_PURCHASE, ACT_SEND = (
    ACTIONS.index(a) for a in ("respond", "subscribe", "change_tier", "cancel", "purchase", "send")
)
# R10 step of each action code (respond 1, tier actions 4, purchase and send 6).
_STEP = np.array(
    [
        1 if a == "respond" else 4 if a in ("subscribe", "change_tier", "cancel") else 6
        for a in ACTIONS
    ],
    dtype=np.int8,
)
_INSTANT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|\+00:00)$"
_CONTROL = r"[\x{00}-\x{1f}\x{7f}-\x{9f}\x{2028}\x{2029}]"
_WHOLE = r"^[0-9]{1,9}$"  # longer numbers are well formed too: the exact path takes them
_BLOCK = 1 << 24  # bytes of CSV parsed at a time
LENGTH_CLIP = 1 << 20  # lengths past every policy's limit are kept as this (rejects alike)


class _Doubt(Exception):
    """A quick check failed: the exact parser decides."""


@dataclass
class Observed:
    """The rows of the histories as typed columns, in replay order.

    ``member`` indexes ``members``; ``tier`` indexes ``policy.tiers`` (-1 when
    the row has none); ``category`` indexes ``policy.categories`` (-1 for a
    category outside the policy, which the engine rejects); ``response``
    indexes :data:`~simulator.vocabulary.RESPONSE_KINDS`; ``link`` is, for a
    ``respond`` row, the row of its send (-1 elsewhere). ``start`` is the
    first instant in the files, ``until`` the end of observation.
    """

    time: np.ndarray  # int64
    member: np.ndarray  # int32
    action: np.ndarray  # int8, ACT_*
    tier: np.ndarray  # int8
    quantity: np.ndarray  # int32
    category: np.ndarray  # int8
    subject_chars: np.ndarray  # int32
    body_chars: np.ndarray  # int32
    free: np.ndarray  # bool
    response: np.ndarray  # int8
    link: np.ndarray  # int64
    members: tuple[str, ...]
    sources: tuple[str, ...]
    start: int
    until: int

    def __len__(self) -> int:
        return len(self.time)


def _header(path: str) -> list[str]:
    with open(path, encoding="utf-8", newline="") as f:
        first = next(csv.reader(f, strict=True), None)
    return [c.strip() for c in first] if first else []


class _Columns:
    """The typed columns of one file, appended block by block."""

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {}

    def add(self, **cols: np.ndarray) -> None:
        for name, values in cols.items():
            self.parts.setdefault(name, []).append(values)

    def get(self, name: str, dtype: str) -> np.ndarray:
        parts = self.parts.get(name)
        return np.concatenate(parts) if parts else np.zeros(0, dtype)


def _trimmed(batch: pa.RecordBatch, name: str) -> pa.Array:
    """The column ``name``, trimmed (the caller checked it is there)."""
    return pc.utf8_trim_whitespace(batch.column(batch.schema.get_field_index(name)))


def _whole(values: pa.Array, rows: np.ndarray) -> np.ndarray:
    """Whole numbers at ``rows`` (checked), 0 elsewhere."""
    out = np.zeros(len(values), np.int64)
    if rows.any():
        taken = values.filter(pa.array(rows))
        if not pc.all(pc.match_substring_regex(taken, _WHOLE)).as_py():
            raise _Doubt
        out[rows] = pc.cast(taken, pa.int64()).to_numpy()
    return out


def _block(batch: pa.RecordBatch, policy: Policy, ids: dict[str, int], cols: _Columns) -> None:
    """Check one block and append its typed columns (raise _Doubt on any doubt)."""
    n = batch.num_rows
    action_text = _trimmed(batch, "action")
    time_text = _trimmed(batch, "time")
    member_text = _trimmed(batch, "member")
    code = pc.index_in(action_text, value_set=pa.array(ACTIONS))
    if code.null_count:
        raise _Doubt
    action = code.to_numpy().astype(np.int8)
    if not pc.all(pc.match_substring_regex(time_text, _INSTANT)).as_py():
        raise _Doubt
    head = pc.utf8_slice_codeunits(time_text, 0, 19)
    stamp = pc.strptime(head, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
    # strptime rolls 2023-02-29 over to March 1st and second 60 to the next
    # minute: an instant whose day or second does not read back is no instant.
    if stamp.null_count:
        raise _Doubt
    day = pc.cast(pc.utf8_slice_codeunits(head, 8, 10), pa.int64())
    second = pc.cast(pc.utf8_slice_codeunits(head, 17, 19), pa.int64())
    same = pc.and_(pc.equal(pc.day(stamp), day), pc.equal(pc.second(stamp), second))
    if not pc.all(same).as_py():
        raise _Doubt
    time = pc.cast(stamp, pa.int64()).to_numpy()
    if pc.any(pc.equal(pc.utf8_length(member_text), 0)).as_py():
        raise _Doubt
    if pc.any(pc.match_substring_regex(member_text, _CONTROL)).as_py():
        raise _Doubt
    encoded = pc.dictionary_encode(member_text)
    names = encoded.dictionary.to_pylist()
    lookup = np.array([ids.setdefault(m, len(ids)) for m in names], dtype=np.int32)
    member = lookup[encoded.indices.to_numpy()]

    present = {a: action == ACTIONS.index(a) for a in ACTIONS}
    for a, needs in ACTION_NEEDS.items():
        if present[a].any() and any(batch.schema.get_field_index(c) < 0 for c in needs):
            raise _Doubt
    tiered = present["subscribe"] | present["change_tier"]
    tier = np.full(n, -1, np.int8)
    if tiered.any():
        t = pc.index_in(_trimmed(batch, "tier"), value_set=pa.array(list(policy.tiers)))
        tv = t.to_numpy(zero_copy_only=False)
        tv = np.where(pd.isna(tv), -1, tv).astype(np.int64)
        if (tv[tiered] < 0).any():
            raise _Doubt
        tier[tiered] = tv[tiered]
    quantity = np.zeros(n, np.int32)
    if present["purchase"].any():
        quantity = _whole(_trimmed(batch, "quantity"), present["purchase"]).astype(np.int32)
    sends, responds = present["send"], present["respond"]
    linked = sends | responds
    inmail_hash = np.zeros(n, np.uint64)
    if linked.any():
        inmail = _trimmed(batch, "inmail")
        taken = inmail.filter(pa.array(linked))
        if pc.any(pc.equal(pc.utf8_length(taken), 0)).as_py():
            raise _Doubt
        if pc.any(pc.match_substring_regex(taken, _CONTROL)).as_py():
            raise _Doubt
        inmail_hash[linked] = pd.util.hash_array(taken.to_numpy(zero_copy_only=False))
    category = np.full(n, -1, np.int8)
    subject = np.zeros(n, np.int32)
    body = np.zeros(n, np.int32)
    free = np.zeros(n, bool)
    if sends.any():
        c = pc.index_in(_trimmed(batch, "category"), value_set=pa.array(list(policy.categories)))
        cv = c.to_numpy(zero_copy_only=False)
        category = np.where(pd.isna(cv), -1, cv).astype(np.int8)
        category[~sends] = -1
        subject = np.minimum(_whole(_trimmed(batch, "subject_chars"), sends), LENGTH_CLIP)
        body = np.minimum(_whole(_trimmed(batch, "body_chars"), sends), LENGTH_CLIP)
        subject, body = subject.astype(np.int32), body.astype(np.int32)
        f = _trimmed(batch, "free").filter(pa.array(sends))
        is_true = pc.equal(f, "true").to_numpy(zero_copy_only=False)
        is_false = pc.equal(f, "false").to_numpy(zero_copy_only=False)
        if not (is_true | is_false).all():
            raise _Doubt
        free[sends] = is_true
    response = np.full(n, -1, np.int8)
    if responds.any():
        r = pc.index_in(_trimmed(batch, "response"), value_set=pa.array(list(RESPONSE_KINDS)))
        rv = r.to_numpy(zero_copy_only=False)
        rv = np.where(pd.isna(rv), -1, rv).astype(np.int64)
        if (rv[responds] < 0).any():
            raise _Doubt
        response[responds] = rv[responds]
    cols.add(
        time=time,
        member=member,
        action=action,
        tier=tier,
        quantity=quantity,
        category=category,
        subject=subject,
        body=body,
        free=free,
        response=response,
        hash=inmail_hash,
    )


def _link(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Row of the send of each response (file order); raise _Doubt on any doubt."""
    action, h = cols["action"], cols["hash"]
    link = np.full(len(action), -1, np.int64)
    send_rows = np.flatnonzero(action == ACT_SEND)
    resp_rows = np.flatnonzero(action == ACT_RESPOND)
    order = np.argsort(h[send_rows], kind="stable")
    sorted_hash = h[send_rows][order]
    if len(sorted_hash) > 1 and (sorted_hash[1:] == sorted_hash[:-1]).any():
        raise _Doubt  # a duplicate InMail id (or, once in 10**12, two ids with one hash)
    if len(resp_rows) == 0:
        return link
    rh = h[resp_rows]
    if len(np.unique(rh)) != len(rh):
        raise _Doubt  # a second response
    pos = np.searchsorted(sorted_hash, rh)
    pos = np.minimum(pos, max(len(sorted_hash) - 1, 0))
    if len(sorted_hash) == 0 or (sorted_hash[pos] != rh).any():
        raise _Doubt  # a response to an InMail never sent
    sent = send_rows[order[pos]]
    if (cols["member"][sent] != cols["member"][resp_rows]).any():
        raise _Doubt
    if (cols["time"][sent] >= cols["time"][resp_rows]).any():
        raise _Doubt
    link[resp_rows] = sent
    return link


def _quick(path: str, policy: Policy, ids: dict[str, int]) -> dict[str, np.ndarray]:
    header = _header(path)
    if (
        not header
        or len(set(header)) != len(header)
        or not {"time", "member", "action"} <= set(header)
    ):
        raise _Doubt
    cols = _Columns()
    read = pacsv.ReadOptions(block_size=_BLOCK, column_names=header, skip_rows=1)
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    with pacsv.open_csv(path, read_options=read, convert_options=convert) as reader:
        for batch in reader:
            if batch.num_rows:
                _block(batch, policy, ids, cols)
    out = {
        "time": cols.get("time", "i8"),
        "member": cols.get("member", "i4"),
        "action": cols.get("action", "i1"),
        "tier": cols.get("tier", "i1"),
        "quantity": cols.get("quantity", "i4"),
        "category": cols.get("category", "i1"),
        "subject": cols.get("subject", "i4"),
        "body": cols.get("body", "i4"),
        "free": cols.get("free", "?"),
        "response": cols.get("response", "i1"),
        "hash": cols.get("hash", "u8"),
    }
    t = out["time"]
    if len(t) and int(t.max()) - int(t.min()) > 36_500 * 86_400:
        raise _Doubt  # replay refuses a span over MAX_DAYS
    out["link"] = _link(out)
    del out["hash"]
    return out


def _exact(path: str, policy: Policy, ids: dict[str, int]) -> dict[str, np.ndarray]:
    """The project's parser: raises replay's HistoryError, or gives the actions."""
    actions = read_history(path, policy)
    # read_history returns replay order; put the rows back in file order.
    actions = sorted(actions, key=lambda a: a.line)
    tiers = {t: i for i, t in enumerate(policy.tiers)}
    cats = {c: i for i, c in enumerate(policy.categories)}
    code = {a: i for i, a in enumerate(ACTIONS)}
    kinds = {k: i for i, k in enumerate(RESPONSE_KINDS)}
    sent_at: dict[str, int] = {}
    for i, a in enumerate(actions):
        if a.action == "send":
            sent_at[a.inmail] = i

    def column(f: object, dtype: str) -> np.ndarray:
        return np.fromiter((f(a) for a in actions), dtype, len(actions))  # type: ignore[operator]

    return {
        "time": column(lambda a: a.time, "i8"),
        "member": column(lambda a: ids.setdefault(a.member, len(ids)), "i4"),
        "action": column(lambda a: code[a.action], "i1"),
        "tier": column(lambda a: tiers.get(a.tier, -1), "i1"),
        "quantity": column(lambda a: min(a.quantity, 1 << 30), "i4"),
        "category": column(lambda a: cats.get(a.category, -1) if a.action == "send" else -1, "i1"),
        "subject": column(lambda a: min(a.subject_chars, LENGTH_CLIP), "i4"),
        "body": column(lambda a: min(a.body_chars, LENGTH_CLIP), "i4"),
        "free": column(lambda a: a.free, "?"),
        "response": column(lambda a: kinds.get(a.response, -1), "i1"),
        "link": column(lambda a: sent_at[a.inmail] if a.action == "respond" else -1, "i8"),
    }


def read_histories(
    paths: Sequence[str | os.PathLike[str]], policy: Policy, until: int | None = None
) -> Observed:
    """Read, check and order the histories at ``paths`` (each checked as ``replay`` checks it).

    ``until`` (Unix seconds) is the end of observation; default the last
    instant in the files. Rows after it are read (and checked) but dropped.
    Raises :class:`HistoryError` (``FILE:LINE: ...``, one line per problem, as
    ``creditsim replay``) or :class:`UsageError` for an ``until`` too far away.
    """
    if not paths:
        raise UsageError("fit needs at least one history file")
    ids: dict[str, int] = {}
    files: list[dict[str, np.ndarray]] = []
    problems: list[str] = []
    for p in paths:
        path = os.fspath(p)
        if not Path(path).is_file():
            # The project's reader says what is wrong with a path, in replay's words.
            try:
                _exact(path, policy, ids)
            except HistoryError as exc:
                problems.extend(exc.lines())
                continue
        try:
            cols = _quick(path, policy, ids)
        except (_Doubt, pa.ArrowInvalid, UnicodeDecodeError, csv.Error, OSError):
            try:
                cols = _exact(path, policy, ids)
            except HistoryError as exc:
                problems.extend(exc.lines())
                continue
        files.append(cols)
    if problems:
        raise HistoryError(*problems)
    # One column at a time, each file's part freed as soon as it is copied, so
    # the rows exist about once (bounded memory: about 40 bytes a row).
    offsets = np.cumsum([0] + [len(f["time"]) for f in files])
    merged: dict[str, np.ndarray] = {}
    for name in list(files[0]) if files else ():
        parts = [f.pop(name) for f in files]
        if name == "link":
            parts = [np.where(p >= 0, p + off, -1) for p, off in zip(parts, offsets, strict=False)]
        merged[name] = np.concatenate(parts)
        del parts
    del files
    time = merged["time"]
    if len(time) == 0:
        raise HistoryError(f"{os.fspath(paths[0])}:2: the history has no rows to fit")
    start, last = int(time.min()), int(time.max())
    end = last if until is None else int(until)
    first = Action(time=start, step=0, line=int(np.argmin(time)) + 2, member="", action="send")
    problem = until_problem([first], end)
    if problem is not None:
        raise UsageError(f"until: {problem}")
    if span_problem([first]) is not None:  # pragma: no cover - one action spans nothing
        raise UsageError("until: span")
    if end < start:
        raise UsageError(f"until: {end} is before the history's first instant")
    # Replay order: instant, R10 step, then file order (a stable sort keeps it).
    key = time * 8 + _STEP[merged["action"]]
    order = np.argsort(key, kind="stable")
    del key
    keep = order[time[order] <= end]
    n_rows = len(time)
    del order, time
    where = np.full(n_rows, -1, np.int64)
    where[keep] = np.arange(len(keep))
    link = merged.pop("link")[keep]
    link = np.where(link >= 0, where[np.maximum(link, 0)], -1)
    del where
    cols = {name: merged.pop(name)[keep] for name in list(merged)}
    inv = {v: k for k, v in ids.items()}
    return Observed(
        time=cols["time"],
        member=cols["member"],
        action=cols["action"],
        tier=cols["tier"],
        quantity=cols["quantity"],
        category=cols["category"],
        subject_chars=cols["subject"],
        body_chars=cols["body"],
        free=cols["free"],
        response=cols["response"],
        link=link,
        members=tuple(inv[i] for i in range(len(inv))),
        sources=tuple(os.fspath(p) for p in paths),
        start=start,
        until=end,
    )
