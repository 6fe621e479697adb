"""`python -m netflow` runs the netflow command."""

import sys

from netflow.cli import main

if __name__ == "__main__":
    sys.exit(main())
