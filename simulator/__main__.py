"""``python -m simulator`` runs the ``creditsim`` command line."""

import sys

from simulator.cli import main

sys.exit(main())
