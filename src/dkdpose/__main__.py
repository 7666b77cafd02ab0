"""`python -m dkdpose` runs the command line."""

import sys

from dkdpose.cli import main

sys.exit(main())
