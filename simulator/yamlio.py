"""Reading YAML written by users: safely, with one clear line per problem.

Scenario and policy files are loaded with a *safe* loader (no Python object
tags, nothing is ever executed), as UTF-8 text, with implicit timestamps left
as text (instants are parsed by :mod:`simulator.timeutil`, so ``2024-01-01``
and ``2024-01-01T00:00:00Z`` mean exactly what RULES.md says), with numbers in
exponent form read as YAML 1.2 reads them (``1e-3`` and ``1.5e300`` are
numbers, not the text YAML 1.1 makes of them), and with a
bound on how far aliases may expand, so a "billion laughs" file is refused
instead of exhausting memory when the data is walked.

Failures raise the error class the caller names, with a message that starts
with the file name and says where (line and column) the YAML is broken.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from simulator.errors import InputError
from simulator.userfiles import read_user_text

__all__ = ["MAX_EXPANDED_NODES", "dump_yaml", "load_yaml_file", "load_yaml_text"]

MAX_EXPANDED_NODES = 1_000_000


class _Loader(yaml.SafeLoader):
    """SafeLoader without the implicit timestamp type: dates stay text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# YAML 1.1 (PyYAML) wants a dot and a signed exponent: 1e-3 and 1.0e308 would be
# text. Accept the YAML 1.2 forms too; plain integers still resolve as int first.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


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


_INT_TAG = "tag:yaml.org,2002:int"
MAX_INT_DIGITS = 4300  # Python refuses to convert longer digit strings to int


def _plain_problems(node: yaml.Node) -> tuple[yaml.Mark, str] | None:
    """The first duplicate mapping key or over-long integer in the document, if any.

    PyYAML's safe loader lets a repeated key silently win; here it is an error,
    since a scenario with two ``seed:`` lines is almost surely a mistake.
    """
    seen: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, yaml.ScalarNode):
            if n.tag == _INT_TAG:
                digits = sum(c.isdigit() for c in n.value)
                if digits > MAX_INT_DIGITS:
                    return n.start_mark, (
                        f"a whole number of {digits} digits is too long (at most {MAX_INT_DIGITS})"
                    )
        elif isinstance(n, yaml.MappingNode):
            first: dict[str, yaml.Mark] = {}
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.value in first:
                        return k.start_mark, (
                            f"duplicate key {k.value!r} (first on line {first[k.value].line + 1})"
                        )
                    first[k.value] = k.start_mark
                stack.extend((k, v))
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
    return None


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
            found = _plain_problems(node)
            if found is not None:
                at, what = found
                raise error(f"{source}: line {at.line + 1}, column {at.column + 1}: {what}")
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = exc.problem or exc.context or "invalid YAML"
        if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in str(what):
            what = f"{what} (only plain YAML data is allowed)"
        elif exc.context and exc.context.startswith("while scanning") and exc.context_mark:
            # Say where the unfinished thing began (an unclosed quote, say).
            start = exc.context_mark
            what = (
                f"{what} ({exc.context} that starts at line {start.line + 1}, "
                f"column {start.column + 1})"
            )
        raise error(f"{source}: {where}{what}") from None
    except yaml.reader.ReaderError as exc:
        # A character YAML does not allow (NUL, other control characters).
        line, column = _line_column(text, exc.position)
        raise error(
            f"{source}: line {line}, column {column}: unacceptable character "
            f"#x{exc.character:04x}: special characters are not allowed"
            if isinstance(exc.character, int)
            else f"{source}: line {line}, column {column}: {exc.reason}"
        ) from None
    except yaml.YAMLError as exc:
        raise error(f"{source}: invalid YAML: {exc}") from None
    except RecursionError:
        raise error(f"{source}: YAML nested too deeply") from None


def _line_column(text: str, position: int) -> tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def load_yaml_file(path: str | Path, error: type[InputError] = InputError) -> Any:
    """Read and parse a YAML file; empty files, non-UTF-8 bytes and bad YAML are errors."""
    source = str(path)
    text = read_user_text(path, error, csv=False)
    if not text.strip():
        raise error(f"{source}: file is empty")
    return load_yaml_text(text, source, error)


def dump_yaml(data: Any) -> str:
    """Plain, block-style YAML with keys in the order given."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True)
