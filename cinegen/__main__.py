"""`python -m cinegen` runs the CLI (same as the `cinegen` console script)."""

import sys

from cinegen.cli import main

sys.exit(main())
