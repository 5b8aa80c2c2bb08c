"""`python -m lab.mxlab up|down|exec ...`: see lab.mxlab.cli."""

import sys

from lab.mxlab.cli import main

sys.exit(main())
