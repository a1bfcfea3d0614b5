"""Reading scenarios: from a file, from a parsed document, with ``--set`` overrides or a
command's block.

These are the public entry points (:func:`load_scenario`,
:func:`scenario_from_dict`, ...). They read YAML safely
(:mod:`simulator.yamlio`) and hand the document to
:func:`~simulator.scenario.build.build_scenario`; messages name the file as
it was given, and relative files inside it are read from its folder. When a
file and its overrides are both wrong, the problems of both come in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path as FilePath
from typing import Any, TypeVar

from simulator.engine.schema import Checker, Path
from simulator.errors import InputError, ScenarioError, format_path
from simulator.scenario.build import Scenario, build_scenario
from simulator.scenario.defaults import COMMAND_BLOCKS
from simulator.scenario.keypaths import key_path, plain, set_path
from simulator.yamlio import load_yaml_file

__all__ = [
    "load_scenario",
    "load_scenario_with_block",
    "load_scenario_with_overrides",
    "scenario_from_dict",
]

_T = TypeVar("_T")


def load_scenario_with_block(
    path: str | FilePath, block: str, parse: Callable[[Any], _T]
) -> tuple[Scenario, _T | None]:
    """A scenario file and its command's block (``sweep``, ``sensitivity``) parsed by
    ``parse``, None without one. The block is taken out before the scenario is
    validated; the problems of both (``parse`` raises :class:`ScenarioError`) are
    reported together."""
    if block not in COMMAND_BLOCKS:
        raise ValueError(f"not a command's block: {block!r}")
    source = str(path)
    raw = load_yaml_file(path, ScenarioError)
    if not (isinstance(raw, dict) and block in raw):
        return scenario_from_dict(raw, source=source), None
    raw = dict(raw)
    problems: list[str] = []
    parsed = None
    try:
        parsed = parse(raw.pop(block))
    except ScenarioError as exc:
        problems.extend(exc.problems)
    try:
        scenario = scenario_from_dict(raw, source=source)
    except InputError as exc:
        raise ScenarioError(*exc.problems, *problems) from None
    if problems:
        raise ScenarioError(*problems)
    return scenario, parsed


def load_scenario(path: str | FilePath) -> Scenario:
    """Read, parse and validate a scenario file.

    Raises :class:`ScenarioError` (or :class:`PolicyError` when every problem
    is in the ``policy`` block) with one line per problem. Messages name the
    file as ``path`` was given.
    """
    source = str(path)
    return scenario_from_dict(load_yaml_file(path, ScenarioError), source=source)


def load_scenario_with_overrides(
    path: str | FilePath, overrides: Mapping[str | Path, Any], source: str
) -> tuple[Scenario, Scenario]:
    """The scenario file as written, and with ``overrides`` (``--set``) applied.

    Problems of the file and of the overrides come in one pass: when the file
    itself is invalid, the overrides are still placed on its document and
    checked, and the lines about them (``source``: the overrides' name in
    messages) are reported with the file's own. Raises :class:`ScenarioError`.
    """
    try:
        written = load_scenario(path)
    except ScenarioError as exc:
        if not overrides:
            raise
        raise ScenarioError(*exc.problems, *_override_problems(path, overrides, source)) from None
    if not overrides:
        return written, written
    return written, written.with_overrides(overrides, source=source)


def _override_problems(
    path: str | FilePath, overrides: Mapping[str | Path, Any], source: str
) -> list[str]:
    """The problems at the overrides' own paths, placed on an invalid file's document.

    Problems elsewhere in the document are the file's, reported from the file;
    a problem counts as the override's when its path and the override's are one
    a prefix of the other (a misspelt key is reported at its own level).
    """
    try:
        raw = load_yaml_file(path, ScenarioError)
    except ScenarioError:
        return []  # the file is not YAML: nothing to place them on
    check = Checker(source)
    raw = plain(raw) if isinstance(raw, dict) else {}
    texts: list[str] = []
    for key, value in overrides.items():
        try:
            where = key_path(key)
        except ValueError as exc:
            check.fail((), str(exc))
            continue
        texts.append(format_path(where))
        set_path(check, raw, where, plain(value), raw)
    problems = list(check.problems)
    try:
        build_scenario(raw, source, FilePath(str(path)).parent, FilePath(str(path)).stem, source)
    except InputError as exc:
        for line in exc.problems:
            at = line.removeprefix(f"{source}: ").split(": ", 1)[0]
            if any(t.startswith(at) or at.startswith(t) for t in texts if at != "<top level>"):
                problems.append(line)
    return problems


def scenario_from_dict(raw: Any, source: str = "<scenario>") -> Scenario:
    """Validate an already-parsed scenario document; ``source`` names it in messages.

    Relative file names inside it (an empirical delay CSV) are read relative to
    the folder of ``source``.
    """
    return build_scenario(raw, source, FilePath(source).parent, FilePath(source).stem, source)
