"""`python -m client.cli`: the same as the `waerr` script."""

import sys

from client.cli.commands import main

sys.exit(main())
