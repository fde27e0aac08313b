"""``python -m symdiff.cli``: the same as the ``symdiff`` command."""

import sys

from symdiff.cli.main import main

sys.exit(main())
