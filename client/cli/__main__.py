"""`python -m whatsapp_errors.client.cli`: the same as the `waerr` script."""

import sys

from whatsapp_errors.client.cli.commands import main

sys.exit(main())
