"""`waerr`, the command line: commands (argparse and dispatch), tables (how
answers print), files (JSON Lines in and out with a progress bar)."""

from whatsapp_errors.client.cli.commands import main

__all__ = ["main"]
