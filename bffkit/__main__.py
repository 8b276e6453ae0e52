"""``python -m bffkit``: the same command line as the ``bffkit`` script."""

import sys

from .cli import main

sys.exit(main())
