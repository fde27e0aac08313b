"""``python -m symdiff``: the command line."""

import sys

from symdiff.cli.main import main

sys.exit(main())
