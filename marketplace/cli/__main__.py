"""`python -m marketplace.cli`: the same as the `marketplace` console script."""

import sys

from marketplace.cli import main

sys.exit(main())
