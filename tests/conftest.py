"""Shared test configuration.

Hypothesis runs derandomized under CI (``CI=true``) so that a green run stays
green; locally it explores new examples every run.
"""

import os
import signal

from hypothesis import HealthCheck, settings

# A shell that starts a job in the background (`pytest &`, nohup, some CI
# runners) starts it with SIGINT ignored, and children inherit an ignored
# signal through exec: the tests that press Ctrl-C on a run or a sweep would
# then find it finishing instead. A handled signal is reset to the default on
# exec, so handling it here gives every child Python its KeyboardInterrupt.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")
