"""``python -m hub_core.cli``: the ``hub`` command."""

import sys

from hub_core.cli.main import main

sys.exit(main())
