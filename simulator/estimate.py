"""How much memory a run will take, and refusing runs the machine cannot hold.

:func:`estimate_run_bytes` predicts the peak resident memory of ``creditsim
run`` (simulation, tables, summary and writing the run directory; reports
excluded) from what a scenario says before anything runs: members, send
rates, the simulated span (warm-up included), the share of free sends, the
refund mode and which tiers get grants. :func:`check_memory` compares it with
:func:`available_memory_bytes` and raises a one-line
:class:`~simulator.errors.UsageError` unless forced.

The model is linear in the sizes of the run's tables::

    bytes = BASE + PER_INMAIL * inmails + PER_LEDGER_ENTRY * ledger + PER_MEMBER * members

Where the constants come from: peak RSS of the whole process tree (sampled
every 0.1 s) of ``creditsim run scenarios/baseline.yaml --no-report``, at
commit 85092d8 on the project's standard machine (x86_64, 2 cores, 24 GiB,
Python 3.11.7), over six runs: the baseline scaled to 3,000, 6,000 and 12,000
members, 6,000 members under ``inmail-2015``, 12,000 members sending a tenth
as much and 3,000 members sending four times as much (117 k to 1.1 M InMails,
384 k to 2.2 M ledger entries, 521 MiB to 1.8 GiB). A least-squares fit of the
measured peaks on the runs' actual counts gives the constants below, within
1 % of every measured peak.

The counts are predicted from the scenario: InMails as the planned sends
(members x ``inmails_per_month`` x simulated months), which the runs attempted
80-97 % of; ledger entries as one spend per paid send, one refund per send
expected to earn its credit back, and two entries (a grant and its expiry or
forfeit) per premium member-month, which came to 103-120 % of the entries the
runs wrote. So the estimate errs high: 2-16 % above the measured peak of each
run above (3 % to 21 % with 2 workers); for runs of a few hundred members the
fixed part dominates and it is up to 60 % high, which matters to no machine.

Open populations (``arrivals``) were checked on the shipped baseline
(3,000 members at the start, 6,016 in all over 1,095 days, after_cancel
``leave``): the estimate, 1,264 MiB, was 6 % above its measured peak of
1,189 MiB (2026-12-04; ``tests/unit/test_estimate.py``).

More workers cost more: each extra worker process holds an interpreter and
its libraries, and the shards' columns are held twice while they are merged.
Measured with 2 workers: +241 MiB (3,000 members) to +818 MiB (12,000
members) over 1 worker; modelled as :data:`PER_WORKER_BYTES` for each extra worker
plus :data:`SHARDING_SHARE` of the data part once.

That is the model of a run held in memory (the Python API's ``cs.run``,
:func:`estimate_run_bytes`). ``creditsim run`` holds no run's tables: each
process simulates one batch of members at a time and writes its parts
(:func:`estimate_batch_bytes`, :func:`estimate_written_run_bytes`). A
batch's peak follows its heaviest members, not the run's mean: members are
batched by global index, so a batch can be all of the busiest cohort. It is
modelled as the fixed part (:data:`BATCH_BASE_BYTES`, the roster of the
whole run at :data:`PER_ROSTER_MEMBER_BYTES` a member) plus
:data:`BATCH_SHARE` of what the ``batch_members`` busiest members (those of
the heaviest cohort first, then the next) cost in a run held in memory.
Fitted on ``scenarios/bench.yaml`` (100,000 members, ``--workers 1
--no-report``, peak RSS of every process sampled every 0.2 s, 2026-12-05,
the standard machine): batches of 1,000,
2,500 and 10,000 members peaked at 854, 1,639 and 4,288 MiB; the model gives
911, 1,678 and 5,512 MiB (7 %, 2 % and 29 % high). With several workers each
process holds its own batch, and the parent (which only merges sums) about
150 MiB. ``scenarios/baseline.yaml`` (6,016 members over 1,095 days, batches
of 2,500) peaked at 732 MiB with one worker and 727 MiB per process with two;
the model gives 1,080 MiB (48 % high: its busiest cohort has fewer members
than a batch, and its batches mix cohorts).

With its reports, each worker also reduces its batch to the batch's report
sums (:mod:`simulator.reports.sums`) while it holds the tables: modelled as
:data:`REPORT_BATCH_SHARE` more of the batch's data part. Fitted on
``bench.yaml --workers 1`` with its reports (same sampler, 2026-12-05):
1,890 MiB against 1,632 MiB without (+16 %); the model gives 1,932 MiB
(2 % high). The parent only adds sums and draws the plots, and ``creditsim
report`` reads one batch's parts at a time (1,225 MiB on the same run): the
reports no longer grow with the run.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.errors import UsageError
from simulator.population import monthly_arrival_rates
from simulator.timeutil import MEAN_MONTH_DAYS

if TYPE_CHECKING:
    from simulator.scenario import Scenario

__all__ = [
    "BASE_BYTES",
    "BATCH_BASE_BYTES",
    "BATCH_SHARE",
    "PARENT_BYTES",
    "PER_INMAIL_BYTES",
    "PER_LEDGER_ENTRY_BYTES",
    "PER_MEMBER_BYTES",
    "PER_ROSTER_MEMBER_BYTES",
    "PER_WORKER_BYTES",
    "REPORT_BATCH_SHARE",
    "SHARDING_SHARE",
    "available_memory_bytes",
    "check_disk",
    "check_memory",
    "cohort_counts",
    "estimate_batch_bytes",
    "estimate_output_bytes",
    "estimate_run_bytes",
    "estimate_run_seconds",
    "estimate_written_run_bytes",
    "expected_counts",
    "free_disk_bytes",
    "readable_bytes",
]

MIB = 1 << 20
GIB = 1 << 30
# Fitted on the six runs described in the module docstring.
BASE_BYTES = 298 * MIB  # interpreter, numpy/pandas/pyarrow/simpy, and fixed buffers
PER_INMAIL_BYTES = 896  # an attempted InMail: its plan, its row, its history rows
PER_LEDGER_ENTRY_BYTES = 268  # a ledger entry, as typed columns and in ledger.parquet
PER_MEMBER_BYTES = 2_161  # a member's SimPy process, generator and members row
# Measured with --workers 2 (module docstring).
PER_WORKER_BYTES = 250 * MIB
SHARDING_SHARE = 0.35
# creditsim run, one batch at a time per process (module docstring).
BATCH_BASE_BYTES = 400 * MIB  # interpreter and libraries, pools kept between batches
PER_ROSTER_MEMBER_BYTES = 100  # the whole run's roster and member ids, in every process
BATCH_SHARE = 0.8
PARENT_BYTES = 150 * MIB  # the parent of the workers: roster, the batches' sums
REPORT_BATCH_SHARE = 0.16  # a batch's report sums, computed while its tables are held

_DAY = 86_400


def expected_counts(scenario: Scenario) -> dict[str, float]:
    """The run's expected InMails, ledger entries and members (see the module docstring)."""
    totals = {"inmails": 0.0, "ledger_entries": 0.0, "members": 0.0}
    for counts in cohort_counts(scenario):
        for key in totals:
            totals[key] += counts[key]
    return totals


def cohort_counts(scenario: Scenario) -> list[dict[str, float]]:
    """:func:`expected_counts` of each cohort, in the scenario's order.

    Members present are counted month by month: each cohort's members at the
    start plus its arrivals (:func:`simulator.population.monthly_arrival_rates`,
    counted from the end of the month they arrive in), less, for a cohort whose
    members leave on cancel (``after_cancel: leave``), its monthly departures
    (:meth:`~simulator.scenario.Decisions.leave_probability`). Members who stay
    keep sending after a cancel, so none leave.
    """
    months = (scenario.end + 1 - scenario.sim_start) / _DAY / MEAN_MONTH_DAYS
    policy = scenario.policy
    p = scenario.recipients.response_probability
    refund_share = {"no_response_within": 1 - p, "response_within": p}.get(policy.refund.mode, 0)
    out = []
    whole = math.ceil(months)
    for index, c in enumerate(scenario.population):
        arrivals = monthly_arrival_rates(scenario, index, whole)
        leave = c.decisions.leave_probability() if c.after_cancel == "leave" else 0.0
        present, member_months = float(c.members), 0.0
        for m in range(whole):
            member_months += present * min(1.0, months - m)
            present = present * (1.0 - leave) + float(arrivals[m])
        sends = member_months * c.sending.inmails_per_month
        paid = sends * (1 - c.sending.free_share)
        tier = policy.tiers.get(c.tier)
        premium_months = member_months if tier is not None and tier.monthly_credits > 0 else 0
        out.append({
            "inmails": sends,
            "ledger_entries": paid * (1 + refund_share) + 2 * premium_months,
            "members": c.members + float(arrivals.sum()),
        })  # fmt: skip
    return out


def _data_bytes(counts: dict[str, float]) -> float:
    """What ``counts`` cost in a run held in memory, over the base (module docstring)."""
    return (
        PER_INMAIL_BYTES * counts["inmails"]
        + PER_LEDGER_ENTRY_BYTES * counts["ledger_entries"]
        + PER_MEMBER_BYTES * counts["members"]
    )


def estimate_batch_bytes(scenario: Scenario, batch_members: int, reports: bool = False) -> int:
    """Predicted peak resident memory of one process simulating ``scenario`` a batch of
    ``batch_members`` members at a time (the heaviest batch it may get), and with
    ``reports`` reducing it to its report sums too."""
    cohorts = cohort_counts(scenario)
    members = sum(c["members"] for c in cohorts)
    # The heaviest batch there could be: the busiest members first, whatever their order.
    per_member = sorted(((_data_bytes(c) / c["members"], c["members"]) for c in cohorts
                         if c["members"] > 0), reverse=True)  # fmt: skip
    left, data = float(batch_members), 0.0
    for cost, count in per_member:
        taken = min(left, count)
        data += cost * taken
        left -= taken
    share = BATCH_SHARE + (REPORT_BATCH_SHARE if reports else 0.0)
    return int(BATCH_BASE_BYTES + PER_ROSTER_MEMBER_BYTES * members + share * data)


def estimate_written_run_bytes(
    scenario: Scenario, workers: int = 1, batch_members: int = 1_000, reports: bool = True
) -> int:
    """Predicted peak memory of ``creditsim run`` (every process together): ``workers``
    processes each simulating a batch (and with ``reports`` reducing it to its report
    sums), and their parent."""
    batch = estimate_batch_bytes(scenario, batch_members, reports)
    return batch if workers <= 1 else workers * batch + PARENT_BYTES


def estimate_run_bytes(scenario: Scenario, workers: int = 1) -> int:
    """Predicted peak resident memory of a run of ``scenario`` held in memory (the Python
    API's ``cs.run``, a sweep's kept runs) with ``workers`` processes."""
    data = _data_bytes(expected_counts(scenario))
    total = BASE_BYTES + data
    if workers > 1:
        total += (workers - 1) * PER_WORKER_BYTES + SHARDING_SHARE * data
    return int(total)


def available_memory_bytes() -> int:
    """Memory this process can still use: MemAvailable, lowered by a cgroup limit; 0 if unknown.

    Reads ``/proc/meminfo`` (Linux), else ``os.sysconf`` (available physical
    pages). Under a cgroup v2 memory limit (containers, batch schedulers) the
    room left below the limit counts when it is smaller.
    """
    found = _meminfo_available(_read("/proc/meminfo"))
    if found is None:
        found = _sysconf_available()
    room = _cgroup_room(_read("/sys/fs/cgroup/memory.max"), _read("/sys/fs/cgroup/memory.current"))
    if room is not None and (found is None or room < found):
        found = room
    return max(0, found or 0)


def readable_bytes(n: float) -> str:
    """A size in binary units, one decimal: 521.0 MiB, 6.1 TiB, never a 10-digit GiB figure."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
    size, unit = float(n), 0
    while abs(size) >= 1024 and unit < len(units) - 1:
        size, unit = size / 1024, unit + 1
    return f"{size:.1f} {units[unit]}" if unit else f"{int(size)} B"


#: One worker's pace, end to end with the tables built: about 60,000 InMails a
#: second (issue #12's measurement of ``bench.yaml --workers 1`` on the standard
#: machine), and a fixed cost per run of a sweep (start, summary, record: the
#: 800-member runs of ``benchmarks/sweep_bench.py`` took 0.23 s each, about half of it
#: fixed). A rough guide for "how long will this take", not a promise.
INMAILS_PER_SECOND = 60_000
RUN_FIXED_SECONDS = 0.1


def estimate_run_seconds(scenario: Scenario) -> float:
    """Rough CPU seconds of one run of ``scenario`` (reports excluded)."""
    return RUN_FIXED_SECONDS + expected_counts(scenario)["inmails"] / INMAILS_PER_SECOND


# What a run directory takes on disk, per expected count (expected_counts): the
# shipped baseline (seed 20140101, 2026-12-05) wrote 141.7 MB with its reports for
# 686,257 InMails, 1,429,208 ledger entries and 6,016 members: inmails.parquet
# 30 B an InMail and history.csv 117 B (about 1.2 rows an InMail: sends,
# responses, actions), ledger.parquet 26 B an entry, members.parquet and
# billing.parquet 142 B a member, reports, plots and report.html 2.5 MB. From the
# expected counts (712,812 InMails, 1,345,744 entries) and 5 MiB for the reports
# (room to spare) this gives 147.2 MB (140.4 MiB), 4 % above what was written.
OUTPUT_PER_INMAIL_BYTES = 147
OUTPUT_PER_LEDGER_ENTRY_BYTES = 27
OUTPUT_PER_MEMBER_BYTES = 142
OUTPUT_FIXED_BYTES = 5 * MIB  # reports, plots, report.html, with room to spare


def estimate_output_bytes(scenario: Scenario) -> int:
    """Bytes the run directory of ``scenario`` will take, reports included."""
    counts = expected_counts(scenario)
    return int(
        OUTPUT_FIXED_BYTES
        + OUTPUT_PER_INMAIL_BYTES * counts["inmails"]
        + OUTPUT_PER_LEDGER_ENTRY_BYTES * counts["ledger_entries"]
        + OUTPUT_PER_MEMBER_BYTES * counts["members"]
    )


def free_disk_bytes(folder: str | os.PathLike[str]) -> int:
    """Free bytes on the disk that holds ``folder`` (or its nearest existing parent)."""
    here = Path(folder).absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    try:
        return shutil.disk_usage(here).free
    except OSError:
        return -1


def check_disk(scenario: Scenario, out: str | os.PathLike[str], force: bool) -> None:
    """Raise :class:`UsageError` when the run's files would not fit on ``out``'s disk.

    Checked after the memory (a run refused for memory says so first); nothing
    is checked with ``force`` or when the free space cannot be read. An
    existing ``out`` (an earlier run being overwritten) will be replaced, so
    its size counts as free.
    """
    if force:
        return
    free = free_disk_bytes(out)
    if free >= 0 and Path(out).is_dir():
        free += sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
    need = estimate_output_bytes(scenario)
    if 0 <= free < need:
        raise UsageError(
            f"{scenario.source}: its run directory needs about {readable_bytes(need)}, but the "
            f"disk of {out} has {readable_bytes(free)} free; free some space, choose another "
            "out, or pass force=True to run anyway"
        )


def check_memory(
    scenario: Scenario,
    force: bool,
    workers: int = 1,
    batch_members: int = 1_000,
    reports: bool = True,
) -> None:
    """Raise :class:`UsageError` when ``creditsim run``'s estimate exceeds the memory available.

    The estimate is :func:`estimate_written_run_bytes` (a batch per process,
    with its report sums unless ``reports`` is false). Nothing is checked
    with ``force``, or when the available memory cannot be found. The message
    names the scenario file and both figures, and says when the run fits only
    without its reports.
    """
    if force:
        return
    available = available_memory_bytes()
    if available <= 0:
        return
    estimate = estimate_written_run_bytes(scenario, workers, batch_members, reports)
    if estimate > available:
        who = f" ({workers} workers)" if workers > 1 else ""
        hint = ""
        if reports and estimate_written_run_bytes(scenario, workers, batch_members, False) <= (
            available
        ):
            hint = "; it fits without its reports: reports=False runs it"
        raise UsageError(
            f"{scenario.source}: estimated memory {readable_bytes(estimate)}{who} exceeds the"
            f" {readable_bytes(available)} available; pass force=True to run anyway{hint}"
        )


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def _meminfo_available(text: str | None) -> int | None:
    """``MemAvailable`` from /proc/meminfo text, in bytes."""
    for line in (text or "").splitlines():
        name, _, rest = line.partition(":")
        if name == "MemAvailable":
            parts = rest.split()
            if parts and parts[0].isdigit():
                unit = parts[1].lower() if len(parts) > 1 else "b"
                return int(parts[0]) * {"kb": 1024, "mb": MIB, "gb": GIB}.get(unit, 1)
    return None


def _sysconf_available() -> int | None:
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def _cgroup_room(limit: str | None, current: str | None) -> int | None:
    """Bytes left below a cgroup v2 ``memory.max`` (None when unlimited or unknown)."""
    if limit is None or current is None:
        return None
    limit, current = limit.strip(), current.strip()
    if not limit.isdigit() or not current.isdigit():
        return None  # "max": no limit
    return max(0, int(limit) - int(current))
