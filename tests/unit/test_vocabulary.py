"""The words of a run's tables are declared once, in simulator.vocabulary (issue 12, item 5)."""

from __future__ import annotations

import ast
from pathlib import Path

from simulator import vocabulary as v
from simulator.engine.core import KINDS, REASONS
from simulator.model import REASON_CODES

PACKAGE = Path(__file__).resolve().parents[2] / "simulator"
DECLARED = {
    "LEDGER_KINDS": v.LEDGER_KINDS,
    "SEND_REASONS": v.SEND_REASONS,
    "PURCHASE_REASONS": v.PURCHASE_REASONS,
    "RESPONSE_KINDS": v.RESPONSE_KINDS,
    "LENGTH_BUCKETS": v.LENGTH_BUCKETS,
    "REPORT_LENGTH_BUCKETS": v.REPORT_LENGTH_BUCKETS,
}


def test_no_module_spells_a_vocabulary_again() -> None:
    """No tuple literal anywhere else in the package equals a declared vocabulary, and no
    module computes its own "no instant" (``np.iinfo(np.int64).min``)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "vocabulary.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple | ast.List) and node.elts:
                try:
                    value = tuple(ast.literal_eval(node))
                except ValueError:
                    continue
                found += [f"{path.name}:{node.lineno} {name}" for name, words
                          in DECLARED.items() if value == words]  # fmt: skip
            if isinstance(node, ast.Attribute) and node.attr == "min":
                text = ast.unparse(node)
                if "iinfo" in text and "int64" in text:
                    found.append(f"{path.name}:{node.lineno} {text}")
    assert found == []


def test_the_codes_agree_with_the_words() -> None:
    """The engine's ledger codes and the model's send-reason codes index the same words."""
    assert KINDS == v.LEDGER_KINDS and REASONS == v.LEDGER_REASONS
    for reason, code in REASON_CODES.items():
        assert REASONS[code] == (reason or "")
    assert v.NO_INSTANT == -(2**63)  # int64's minimum: a null timestamp's seconds
