"""The run directory, format 2: one part per member batch, written where it is made.

A run directory holds ``scenario.yaml``, ``summary.json``, ``run.json`` and
one dataset folder per table::

    ledger/part-00000.parquet   inmails/part-00000.parquet   members/...
    billing/part-00000.parquet  history/part-00000.csv       ...

Part ``i`` holds the rows of batch ``i``'s members (``run.json["batches"]``
gives each batch's member index range and row counts), sorted as the tables
are (time, then member); every batch writes every part, even an empty one,
so parts pair up by name across tables and ``history/part-i.csv`` replays
(``creditsim replay``) to exactly ``ledger/part-i.parquet``. The Parquet
folders are datasets as they are: ``pandas.read_parquet(RUN/ledger)``,
``pyarrow.dataset``, DuckDB and Dask read them; part names sort in batch order.

A run is written into the hidden folder ``.NAME.partial`` beside ``NAME``
(:func:`staging_dir`) and renamed into place when complete, so no folder
that looks complete is ever half-written. While it is being written, each
batch that finished leaves a record in ``.NAME.partial/.batches/`` (its
member range, row counts and the sums behind ``summary.json``);
``creditsim run --resume`` keeps those batches and simulates only the rest.

Every reader of a run directory (reports, audit, replay, ``cs.load_run``) comes
through :func:`read_meta`, which takes the run only whole (:func:`check_parts`):
each part of each batch ``run.json`` lists, and no other, the Parquet parts
with the rows ``run.json`` gives and their table's one schema, read from
their footers alone. Anything else is one line naming the part (and column).

Format 1 (``ledger.parquet``, ``history.csv``, ... in one file each; creditsim
0.1) is not read: :func:`read_meta` refuses it with one line saying how to
make the run again (its ``scenario.yaml`` holds everything the run needs,
seed included, so re-running gives the same run).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from simulator import __version__
from simulator.engine.history import HISTORY_COLUMNS
from simulator.errors import InputError, UsageError
from simulator.outputs import atomic_write_text, current_umask, fsync_path
from simulator.tables import SimTables, plain_table

__all__ = [
    "FORMAT_VERSION",
    "PARTS",
    "TABLES",
    "batch_records",
    "check_parts",
    "drop_records",
    "first_line",
    "history_parts",
    "history_text",
    "part_footer",
    "part_path",
    "parts",
    "plan_of",
    "read_json",
    "read_meta",
    "schema_problem",
    "split_tables",
    "staging_dir",
    "start_staging",
    "write_parts",
    "write_record",
]

FORMAT_VERSION = 2
#: The Parquet datasets of a run directory, in the order they are written.
TABLES = ("ledger", "inmails", "members", "billing")
#: Every per-batch part: the four datasets and the history.
PARTS = (*TABLES, "history")
_RECORDS = ".batches"
_PLAN = "plan.json"


def part_path(root: str | Path, table: str, index: int) -> Path:
    """``root/table/part-0000i.parquet`` (``.csv`` for the history)."""
    suffix = "csv" if table == "history" else "parquet"
    return Path(root) / table / f"part-{index:05d}.{suffix}"


def parts(root: str | Path, table: str) -> list[Path]:
    """The parts of one table of a run directory, in batch order."""
    suffix = ".csv" if table == "history" else ".parquet"
    folder = Path(root) / table
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith("part-") and p.suffix == suffix)


def history_parts(root: str | Path) -> list[Path]:
    """The history parts of a run directory (or the CSV files of a ``history/`` folder)."""
    root = Path(root)
    return parts(root.parent, "history") if root.name == "history" else parts(root, "history")


def staging_dir(out: str | Path) -> Path:
    """The hidden folder a run of ``out`` is written in: ``.NAME.partial`` beside it."""
    out = Path(out)
    return out.parent / f".{out.name}.partial"


def read_json(
    path: str | Path, root: str | Path, folder: str = "creditsim run directory"
) -> dict[str, Any]:
    """A JSON object file of the folder ``root`` (a run's ``run.json``, ``summary.json``;
    a sweep's ``sweep.json``, with ``folder`` naming what ``root`` should be).

    Raises :class:`InputError`, one line, for a missing file (``root`` is then
    not such a folder), an unreadable one or one that is not a JSON object.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{root}: not a {folder} (no {path.name})") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


def read_meta(root: str | Path) -> dict[str, Any]:
    """``run.json`` of a run directory of this format, its parts checked; one clear line if not.

    Raises :class:`InputError` for a folder without ``run.json``, an unreadable
    one, a run directory of format 1 (with how to make it again), and a run
    whose parts are not those ``run.json`` lists (:func:`check_parts`). Every
    reader of a run directory comes through here.
    """
    root = Path(root)
    path = root / "run.json"
    meta = read_json(path, root)
    version = meta.get("format_version")
    if version == 1:
        raise InputError(
            f"{root}: a run directory of format 1 (one file per table, creditsim 0.1), which "
            f"this creditsim does not read; make it again in format 2 with `creditsim run "
            f"{root / 'scenario.yaml'} --out NEW_FOLDER` (same scenario and seed, same run)"
        )
    if version != FORMAT_VERSION:
        raise InputError(f"{path}: run format {version!r}; this creditsim reads format "
                         f"{FORMAT_VERSION}")  # fmt: skip
    check_parts(root, meta)
    return meta


def check_parts(root: str | Path, meta: dict[str, Any]) -> None:
    """Raise :class:`InputError` unless ``root`` holds exactly the parts ``meta`` lists.

    For every batch of ``run.json``'s ``batches`` and every table, its part
    must be there (the history's too); a Parquet part's footer must give the
    row count ``run.json`` gives and its schema must be that of the table's
    other parts, and no other part may be in a table's folder. Only footers
    are read, never data, so a run of thousands of parts is checked in well
    under a second. The first problem found is the one line raised.
    """
    root = Path(root)
    batches = _listed_batches(meta, root / "run.json")
    n = len(batches)
    listed = f"run.json lists {n:,} batch{'es' * (n != 1)}"
    for table in PARTS:
        if not (root / table).is_dir():
            raise InputError(f"{root / table}: missing (a run directory has one folder of "
                             "parts per table)")  # fmt: skip
        wanted = [part_path(root, table, i) for i in range(n)]
        for path in wanted:
            if not path.is_file():
                raise InputError(f"{path}: missing ({listed})")
        extra = sorted(set(parts(root, table)) - set(wanted))
        if extra:
            raise InputError(f"{extra[0]}: not a part of this run ({listed})")
        if table == "history":
            continue  # text: counted by the readers that read it (audit)
        schemas: dict[Path, pa.Schema] = {}
        for path, batch in zip(wanted, batches, strict=True):
            rows, schemas[path] = part_footer(path)
            if rows != batch["rows"][table]:
                raise InputError(f"{path}: has {rows:,} rows, run.json says "
                                 f"{batch['rows'][table]:,}")  # fmt: skip
        problem = schema_problem(schemas)
        if problem is not None:
            raise InputError(problem)


def _listed_batches(meta: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """``meta["batches"]``, each with a whole row count per part, in index order."""
    batches = meta.get("batches")
    if batches is None:
        raise InputError(f"{path.parent}: not a complete run directory (run.json lists no "
                         "batches)")  # fmt: skip
    if not isinstance(batches, list) or not batches:
        raise InputError(f"{path}: batches: expected a list of the run's batches, got "
                         f"{batches!r}"[:300])  # fmt: skip
    for i, batch in enumerate(batches):
        rows = batch.get("rows") if isinstance(batch, dict) else None
        if (not isinstance(batch, dict) or batch.get("index") != i or not isinstance(rows, dict)
                or not all(type(rows.get(name)) is int for name in PARTS)):  # fmt: skip
            raise InputError(f"{path}: batches[{i}]: expected index {i} and whole row counts "
                             f"of {', '.join(PARTS)}")  # fmt: skip
    return batches


def part_footer(path: str | Path) -> tuple[int, pa.Schema]:
    """A Parquet part's row count and Arrow schema, from its footer alone (no data read).

    Raises :class:`InputError`, one line, for a file that is not readable Parquet
    (one cut short has no footer).
    """
    try:
        with pq.ParquetFile(path) as part:
            return part.metadata.num_rows, part.schema_arrow
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: cannot read: {first_line(exc)}") from None


def schema_problem(schemas: dict[Path, pa.Schema]) -> str | None:
    """None if the parts of one table share a schema; else one line naming the odd part
    and its first column that differs.

    The schema most parts have (the earliest part's, on a tie) is the table's:
    one part rewritten by hand or by another tool is the one named.
    """
    if not schemas:
        return None
    texts = {path: schema.to_string(show_schema_metadata=False) for path, schema in
             schemas.items()}  # fmt: skip
    votes: dict[str, int] = {}
    for text in texts.values():
        votes[text] = votes.get(text, 0) + 1
    best = max(votes.values())
    ref_path = next(p for p, t in texts.items() if votes[t] == best)
    ref = schemas[ref_path]
    for path, schema in schemas.items():
        if texts[path] == texts[ref_path]:
            continue
        theirs = f"{ref_path.name} has"
        for field in ref:
            if field.name not in schema.names:
                return f"{path}: no column {field.name!r} ({theirs} it, {field.type})"
            mine = schema.field(field.name)
            if mine.type != field.type:
                return f"{path}: column {field.name!r} is {mine.type}, {theirs} {field.type}"
        for field in schema:
            if field.name not in ref.names:
                return f"{path}: column {field.name!r} that {ref_path.name} does not have"
        for mine, field in zip(schema, ref, strict=True):
            if mine.name != field.name:
                return (f"{path}: column {mine.name!r} where {theirs} {field.name!r} (the "
                        "parts of a table have their columns in one order)")  # fmt: skip
        return f"{path}: a schema other than {ref_path.name}'s (nullability or metadata)"
    return None


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (pyarrow's run to many), at most 200 characters."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:200] + "..."


# ---------------------------------------------------------------------------
# Writing a batch's parts


def write_parts(folder: str | Path, index: int, tables: SimTables) -> None:
    """Write batch ``index``'s parts (every table, even empty) into the run folder ``folder``.

    Each part is written under a temporary name, flushed to the disk and
    renamed, and the folders' entries are flushed after, so a part that
    exists is whole, and stays whole through a crash of the machine: the
    batch's record (:func:`write_record`), written next, never names parts
    that are not on the disk. The dictionary columns are decoded (files carry
    plain text).
    """
    for name in PARTS:
        path = part_path(folder, name, index)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            if name == "history":
                pacsv.write_csv(tables.history, tmp, pacsv.WriteOptions(quoting_style="needed"))
            else:
                pq.write_table(plain_table(tables.arrow[name]), tmp)
            fsync_path(tmp)
            os.chmod(tmp, 0o666 & ~current_umask())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    for name in PARTS:
        fsync_path(Path(folder) / name)
    fsync_path(folder)


def split_tables(tables: SimTables, ranges: list[range]) -> list[SimTables]:
    """A run's tables (members in global index order) split into its batches' tables.

    A member's rows all belong to its batch and every table's order is a
    stable order over members, so each batch's rows, taken in order, are
    exactly the tables that batch would have written.
    """
    ids = tables.arrow["members"].column("member")
    starts = np.array([r.start for r in ranges], dtype=np.int64)

    def batch_of(column: pa.ChunkedArray) -> np.ndarray:
        if len(column) == 0:
            return np.zeros(0, np.int64)
        index = pc.index_in(column, value_set=ids.combine_chunks()).to_numpy(zero_copy_only=False)
        return np.searchsorted(starts, index, side="right") - 1

    who = {"inmails": "sender"}  # the column naming each row's member
    where = {name: batch_of(tables.arrow[name].column(who.get(name, "member"))) for name in TABLES}
    where["history"] = batch_of(tables.history.column("member"))
    out = []
    for i in range(len(ranges)):

        def take(table: pa.Table, name: str, i: int = i) -> pa.Table:
            return table.filter(pa.array(where[name] == i))

        arrow = {name: take(tables.arrow[name], name) for name in TABLES}
        out.append(SimTables(arrow["ledger"], arrow["inmails"], arrow["members"],
                             arrow["billing"], take(tables.history, "history"), 0))  # fmt: skip
    return out


# ---------------------------------------------------------------------------
# The staging folder and its batch records (for --resume)


def start_staging(
    out: str | Path, plan: dict[str, Any], resume: bool
) -> tuple[Path, dict[int, dict[str, Any]]]:
    """Prepare ``.NAME.partial`` for a run of ``plan``; return it and the batches already done.

    Without ``resume`` any earlier staging folder is removed. With it, an
    interrupted run of the same ``plan`` (scenario, batch size, creditsim
    version) is kept with its finished batches (:func:`batch_records`), and
    whatever else it had written (reports, temporary files) is removed, to be
    written again; one of another plan is an error, and a missing one means
    starting from the beginning.
    """
    folder = staging_dir(Path(out).absolute())  # workers may run elsewhere: no relative path
    plan_text = json.dumps(plan, sort_keys=True)
    records = folder / _RECORDS
    if resume and (records / _PLAN).is_file():
        held = (records / _PLAN).read_text(encoding="utf-8")
        if held != plan_text:
            raise UsageError(_other_plan(folder, held, plan))
        _keep_only_batches(folder)
        return folder, batch_records(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    records.mkdir(parents=True)
    folder.chmod(0o777 & ~current_umask())
    atomic_write_text(records / _PLAN, plan_text)
    return folder, {}


def _other_plan(folder: Path, held: str, plan: dict[str, Any]) -> str:
    """Why ``resume`` refuses the interrupted run in ``folder`` (its plan ``held``), in
    the library's words (the CLI says ``--resume``, ``--batch-members``)."""
    try:
        version = json.loads(held).get("creditsim")
    except (ValueError, AttributeError):
        version = None
    if version != plan["creditsim"]:
        made = f"creditsim {version}" if version else "another creditsim"
        return (f"resume: {folder} holds an interrupted run made by {made}, and this is "
                f"creditsim {plan['creditsim']}; its batches may differ from this version's: "
                "run without resume=True to start again")  # fmt: skip
    return (f"resume: {folder} holds an interrupted run of another scenario, seed or "
            "batch_members; run without resume=True to start again")  # fmt: skip


def _keep_only_batches(folder: Path) -> None:
    """Remove from a staging folder all but its parts and batch records.

    The rest (``reports/``, ``plots/``, ``report.html``, ``scenario.yaml``,
    ``summary.json``, ``run.json``, temporary ``.*.tmp`` files) is what the end
    of an interrupted run may have left half-written; a resumed run writes it
    all again (:func:`simulator.runner.write_run`), so none of it is published
    stale.
    """
    for path in folder.iterdir():
        if path.name == _RECORDS and path.is_dir():
            # A record or plan being written (.batch-00003.json.XXXX.tmp), a worker's probe.
            for leftover in [*path.glob("*.tmp"), *path.glob(".probe-*")]:
                leftover.unlink()
        elif path.name in PARTS and path.is_dir():
            keep = set(parts(folder, path.name))
            for leftover in path.iterdir():
                if leftover not in keep:
                    _remove(leftover)
        else:
            _remove(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def plan_of(scenario_yaml: str, batch_members: int, members: int) -> dict[str, Any]:
    """What makes a run's batches the same: its scenario (as written), batch size, members,
    and the creditsim that simulates them."""
    digest = hashlib.sha256(scenario_yaml.encode("utf-8")).hexdigest()
    return {"format_version": FORMAT_VERSION, "creditsim": __version__,
            "scenario_sha256": digest, "batch_members": batch_members,
            "members": members}  # fmt: skip


def write_record(folder: str | Path, index: int, record: dict[str, Any]) -> None:
    """Mark batch ``index`` done, once its parts are on the disk (:func:`write_parts`): its
    range, rows and sums, and the size of each part, by which :func:`batch_records`
    knows the parts for whole when the run is resumed."""
    sizes = {name: part_path(folder, name, index).stat().st_size for name in PARTS}
    text = json.dumps({**record, "bytes": sizes}, default=_encode, sort_keys=True)
    atomic_write_text(Path(folder) / _RECORDS / f"batch-{index:05d}.json", text)


def batch_records(folder: str | Path) -> dict[int, dict[str, Any]]:
    """The records of the batches finished in a staging folder whose parts are whole.

    A batch's parts are whole when each is there with the size its record
    gives and each Parquet part's footer gives the rows its record gives. A
    batch without a readable record, or whose parts are not whole (a crash
    of the machine can cut a file short), is simply simulated again.
    """
    done: dict[int, dict[str, Any]] = {}
    for path in sorted((Path(folder) / _RECORDS).glob("batch-*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"), object_hook=_decode)
            index = int(record["index"])
            whole = _parts_whole(folder, index, record["rows"], record["bytes"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable: that batch is simply run again
        if whole:
            done[index] = record
    return done


def _parts_whole(
    folder: str | Path, index: int, rows: dict[str, int], sizes: dict[str, int]
) -> bool:
    for name in PARTS:
        path = part_path(folder, name, index)
        if not path.is_file() or path.stat().st_size != sizes[name]:
            return False
        if name != "history":
            try:
                if part_footer(path)[0] != rows[name]:
                    return False
            except InputError:
                return False
    return True


def drop_records(folder: str | Path) -> None:
    """Remove the batch records once the run is complete (they are not part of the format)."""
    shutil.rmtree(Path(folder) / _RECORDS, ignore_errors=True)


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"__array__": str(value.dtype), "values": value.tolist()}
    if isinstance(value, np.integer | np.floating):
        return value.item()
    raise TypeError(f"cannot record {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if "__array__" in obj:
        return np.array(obj["values"], dtype=obj["__array__"])
    return obj


def history_text(paths: Iterable[Path]) -> pa.Table:
    """History parts read as they are written: every column text, empty cells empty."""
    options = pacsv.ConvertOptions(
        strings_can_be_null=False, column_types={c: pa.string() for c in HISTORY_COLUMNS}
    )
    tables = [pacsv.read_csv(p, convert_options=options) for p in paths]
    if not tables:
        return pa.table({c: pa.array([], pa.string()) for c in HISTORY_COLUMNS})
    return pa.concat_tables(tables)
