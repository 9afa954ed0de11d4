"""``python -m memoryweave_core.cli``: the same as the ``memoryweave`` command."""

import sys

from . import main

sys.exit(main())
