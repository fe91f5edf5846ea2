"""Entry point for `python -m netwatch`."""

import sys

from netwatch.cli import main

sys.exit(main())
