"""The errors creditsim raises on purpose.

Every error a user can cause derives from :class:`CreditsimError`. The CLI turns
these into one line per problem on standard error and exit status 2, so their
messages are part of the interface: each names the file and the place (a key
path or a line number) and says what is wrong. Tests pin their texts.
"""

from __future__ import annotations

__all__ = [
    "CreditsimError",
    "ExecutionError",
    "HistoryError",
    "InputError",
    "InvariantError",
    "PolicyError",
    "ScenarioError",
    "UsageError",
    "format_path",
]


class CreditsimError(Exception):
    """Root of every error creditsim raises deliberately."""

    exit_code = 2

    def __init__(self, *problems: str) -> None:
        if not problems:
            raise ValueError("an error needs at least one problem")
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("\n".join(self.problems))

    def lines(self) -> tuple[str, ...]:
        """One line per problem, as the CLI prints them."""
        return self.problems


class ExecutionError(CreditsimError):
    """Work that had started could not be finished (a cluster lost its workers).

    Exit status 1, like a run that fails after starting; nothing half-done is
    published, and the message says how to finish.
    """

    exit_code = 1


class InputError(CreditsimError):
    """A file the user gave cannot be read or parsed."""


class PolicyError(InputError):
    """A policy block breaks RULES.md section 7."""


class ScenarioError(InputError):
    """A scenario file breaks its schema."""


class HistoryError(InputError):
    """A replay history breaks RULES.md section 8."""


class UsageError(CreditsimError):
    """The command line itself is wrong (an unknown option, a bad value)."""


class InvariantError(CreditsimError):
    """A finished run broke an invariant of the credit rules: never a result.

    Carries the history (an Arrow table of the failing batches' actions, or
    None) needed to write the offending members' histories.
    """

    exit_code = 3

    def __init__(self, *problems: str, history: object = None, scenario: object = None) -> None:
        super().__init__(*problems)
        self.history = history
        self.scenario = scenario


#: How many characters of one key an error line shows.
KEY_CHARS = 80


def format_path(path: tuple[str | int, ...]) -> str:
    """Render a key path the way users write it: ``population[2].sends_per_month``.

    Every key creditsim knows is plain ASCII, so a key with any other character
    is shown with it escaped (``popul\\u0430tion``: a Cyrillic a; ``\\ufeff``: a
    byte-order mark), or a look-alike would read as the key it imitates. A key
    longer than :data:`KEY_CHARS` is cut, with its length.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = visible_key(part)
            out += f".{text}" if out else text
    return out or "<top level>"


def visible_key(key: str) -> str:
    """``key`` with characters outside printable ASCII escaped, cut to :data:`KEY_CHARS`."""
    key = str(key)
    cut = f"... ({len(key):,} characters)" if len(key) > KEY_CHARS else ""
    key = key[:KEY_CHARS]
    if not (key.isascii() and key.isprintable()):
        key = "".join(
            c if c.isascii() and c.isprintable() else c.encode("unicode_escape").decode("ascii")
            for c in key
        )
    return key + cut
