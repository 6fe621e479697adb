"""`python -m netflow` runs the netflow command."""

import sys

from netflow.cli import main

sys.exit(main())
