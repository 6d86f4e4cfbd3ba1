"""`python -m loadtest ...`: see cli.py and README.md."""

import sys

from loadtest.cli import main

sys.exit(main())
