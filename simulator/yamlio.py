"""Reading YAML written by users: safely, with one clear line per problem.

Scenario and policy files are loaded with a *safe* loader (no Python object
tags, nothing is ever executed), as UTF-8 text, with implicit timestamps left
as text (instants are parsed by :mod:`simulator.timeutil`, so ``2024-01-01``
and ``2024-01-01T00:00:00Z`` mean exactly what RULES.md says), and with a
bound on how far aliases may expand, so a "billion laughs" file is refused
instead of exhausting memory when the data is walked.

Failures raise the error class the caller names, with a message that starts
with the file name and says where (line and column) the YAML is broken.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from simulator.errors import InputError

__all__ = ["MAX_EXPANDED_NODES", "dump_yaml", "load_yaml_file", "load_yaml_text"]

MAX_EXPANDED_NODES = 1_000_000


class _Loader(yaml.SafeLoader):
    """SafeLoader without the implicit timestamp type: dates stay text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes the document has once every alias is expanded."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a cycle (recursive alias) counts once; its walk is bounded below
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            total += _expanded_size(item, memo)
            if total > MAX_EXPANDED_NODES:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, memo) + _expanded_size(v, memo)
            if total > MAX_EXPANDED_NODES:
                break
    memo[key] = total
    return total


def _has_cycle(node: yaml.Node, active: set[int], done: set[int]) -> bool:
    key = id(node)
    if key in active:
        return True
    if key in done or isinstance(node, yaml.ScalarNode):
        return False
    active.add(key)
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            children.extend((k, v))
    found = any(_has_cycle(child, active, done) for child in children)
    active.discard(key)
    done.add(key)
    return found


def load_yaml_text(text: str, source: str, error: type[InputError] = InputError) -> Any:
    """Parse one YAML document from ``text``; ``source`` names it in errors."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _has_cycle(node, set(), set()):
                raise error(f"{source}: YAML aliases refer to themselves (a recursive structure)")
            if _expanded_size(node, {}) > MAX_EXPANDED_NODES:
                raise error(
                    f"{source}: YAML aliases expand to more than {MAX_EXPANDED_NODES:,} nodes"
                    " (an alias bomb?)"
                )
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = exc.problem or exc.context or "invalid YAML"
        if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in str(what):
            what = f"{what} (only plain YAML data is allowed)"
        raise error(f"{source}: {where}{what}") from None
    except yaml.YAMLError as exc:
        raise error(f"{source}: invalid YAML: {exc}") from None
    except RecursionError:
        raise error(f"{source}: YAML nested too deeply") from None


def load_yaml_file(path: str | Path, error: type[InputError] = InputError) -> Any:
    """Read and parse a YAML file; empty files, non-UTF-8 bytes and bad YAML are errors."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{source}: no such file") from None
    except IsADirectoryError:
        raise error(f"{source}: is a directory, not a file") from None
    except OSError as exc:
        raise error(f"{source}: cannot read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{source}: not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise error(f"{source}: file is empty")
    return load_yaml_text(text.removeprefix("\ufeff"), source, error)


def dump_yaml(data: Any) -> str:
    """Plain, block-style YAML with keys in the order given."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True)
