"""--scheduler addresses are checked before anything starts (executors.scheduler_problem)."""

from __future__ import annotations

import pytest

from simulator.executors import scheduler_problem


@pytest.mark.parametrize(
    "address",
    ["tcp://10.0.0.5:8786", "10.0.0.5:8786", "tls://sched.example.org:8786",
     "tcp://[::1]:8786", "ws://host:1", "tcp://host:65535"],
)  # fmt: skip
def test_well_formed_addresses_pass(address: str) -> None:
    assert scheduler_problem(address) is None


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("localhost", "needs a port from 1 to 65535"),
        ("tcp://host", "needs a port"),
        ("tcp://host:0", "needs a port"),
        ("tcp://host:65536", "needs a port"),
        ("tcp://host:http", "needs a port"),
        ("foo://host:8786", "unknown scheme 'foo'"),
        ("inproc://host:8786", "unknown scheme 'inproc'"),
        ("tcp://:8786", "has no valid host"),
        ("tcp://a b:8786", "has no valid host"),
        ("tcp://user@host:8786", "has no valid host"),
    ],
)
def test_malformed_addresses_are_named(address: str, says: str) -> None:
    problem = scheduler_problem(address)
    assert problem is not None and says in problem and repr(address) in problem
